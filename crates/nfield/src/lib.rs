//! # nfield
//!
//! Neural fields — SIREN, Fourier-feature MLPs and Instant-NGP hash grids — fitted to images,
//! trained and rendered fast on any machine. This crate holds everything that is not tied to a
//! device:
//!
//! | module | what |
//! |---|---|
//! | [`model`] | architectures ([`ModelSpec`]), the flat parameter layout, initialisation, coordinates |
//! | [`format`] | the seed's JSON model files (read + write), optimizer checkpoints, atomic writes |
//! | [`data`] | image loading (EXIF orientation, down-scaling) and PNG output |
//! | [`train`] | options, Adam settings and state, PSNR / SSIM |
//! | [`engine`] | the [`Engine`] trait every engine implements |
//! | [`reference`] | the float64 oracle: plain loops, written to be read |
//! | [`cpu`] | the CPU engine (f32, rayon, SIMD-friendly fused chunks) |
//! | [`rng`] | the counter-based random numbers all engines share |
//!
//! GPU engines live in their own crates (`nfield-cuda`, `nfield-wgpu`) and implement [`Engine`].
//!
//! ```no_run
//! use nfield::{cpu::CpuEngine, data::Image, model::*, train::TrainOptions, Engine};
//! let image = Image::load("photo.png".as_ref(), Some(256))?;
//! let model = Model::new(ModelSpec::Siren(SirenSpec::default()), 0)?;
//! let mut engine = CpuEngine::new();
//! engine.load(&model, Some(&image), &TrainOptions::default())?;
//! let stats = engine.train(500)?;
//! println!("loss {} PSNR {:.2} dB", stats.loss, engine.evaluate()?.psnr_db);
//! # Ok::<(), nfield::Error>(())
//! ```

#![deny(missing_docs)]

pub mod cpu;
pub mod data;
pub mod engine;
mod error;
pub mod format;
pub mod model;
pub mod reference;
pub mod rng;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod train;

pub use engine::{Engine, InferOptions, Precision, Query, Strategy};
pub use error::{Error, Result};
pub use model::{Model, ModelKind, ModelSpec};

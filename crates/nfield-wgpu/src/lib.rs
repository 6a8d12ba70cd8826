//! nfield's wgpu engine: the seed's GPU rendering and training on every GPU API wgpu speaks
//! (Vulkan, Metal, DX12), and a small embedding API for applications that already own a wgpu
//! device.
//!
//! - [`WgpuEngine`] implements [`nfield::Engine`]: training (sampling, forward, backward and
//!   Adam in compute shaders, steps chained on the GPU) and inference in four strategies:
//!   per-pixel (one invocation per pixel, the MLP in private memory; in the compute kernel,
//!   SIREN and Fourier MLPs up to width 64 take two neighbouring pixels per invocation so that
//!   each weight load serves both), cooperative (a workgroup
//!   stages each layer's weights in workgroup memory and evaluates a tile of samples
//!   together; with [`nfield::Precision::Fp16`], where the adapter has f16 cooperative
//!   matrices, the same on the tensor cores: fp16 matrix inputs, f32 accumulation) and
//!   fragment (a render pass whose fragment shader evaluates the field); and baked
//!   ([`baked`]: per-pixel with the MLP's weights compiled into the shader as literals).
//! - [`FieldRenderer`] renders a model into a texture of a device you own, at any resolution,
//!   each frame (see `examples/render_texture.rs`).
//!
//! Shaders live in `shaders/*.wgsl`, one file per primitive, specialised per model by a
//! generated header of constants ([`codegen`]).

pub mod baked;
pub mod codegen;
mod context;
mod engine;
mod infer;
mod infer_matrix;
mod render;
pub mod train;

pub use context::{Gpu, NO_COOPERATIVE_MATRIX, NO_FUSED_LAYERS};
pub use engine::WgpuEngine;
pub use render::{FieldRenderer, clear_pass, fullscreen_pipeline};

/// The engine's name in logs and benchmark records.
pub const NAME: &str = "nfield-wgpu";

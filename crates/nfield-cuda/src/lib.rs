//! # nfield-cuda
//!
//! The CUDA engine of nfield. Kernels live in `kernels/*.cu`, are embedded in the binary and
//! compiled by NVRTC at first use for the GPU in hand (a CUBIN, cached in memory and on disk),
//! with the model's widths and depth as compile-time constants. The driver and NVRTC are
//! loaded at run time (cudarc's dynamic loading), so one binary runs with or without CUDA.
//!
//! | CPU engine ([`nfield::cpu`]) | CUDA engine |
//! |---|---|
//! | 64-sample chunks per thread | 16 samples per warp, up to 128 per block, persistent grid |
//! | 6×16 FMA register blocks | `mma.sync` m16n8k16 bf16/fp16 with fp32 accumulation, or 4×4 FFMA blocks in fp32 |
//! | slice partials summed in order | block partials summed in order by the Adam kernel |
//! | one `train` call per step | a CUDA graph per step, replayed |
//!
//! Training steps ([`kernels::train_step`] picks one): `mlp_train.cu`, fused, every hidden
//! weight in shared memory and SIREN's derivatives in registers (widths ≤ 64 that fit);
//! `mlp_train_wide.cu`, one layer's weights at a time (any width 16–256, any depth);
//! `mlp_train_fp32.cu`, fp32 on the SIMT cores. Inference: `mlp_infer.cu` (per-pixel and
//! cooperative). [`matbench`]: the seed's matrix micro-benchmarks.

#![deny(missing_docs)]

mod engine;
mod error;
pub mod kernels;
pub mod matbench;
pub mod nvrtc;
pub mod runtime;
pub mod selftest;

pub use engine::{CudaEngine, trains_on_cuda};
pub use error::{Error, Result};
pub use runtime::Gpu;

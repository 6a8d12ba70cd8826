//! # nfield-cuda
//!
//! The CUDA engine of nfield. Kernels live in `kernels/*.cu`, are embedded in the binary and
//! compiled by NVRTC at first use for the GPU in hand (a CUBIN, cached in memory and on disk),
//! with the model's widths and depth as compile-time constants. The driver and NVRTC are
//! loaded at run time (cudarc's dynamic loading), so one binary runs with or without CUDA.
//!
//! | CPU engine ([`nfield::cpu`]) | CUDA engine |
//! |---|---|
//! | 64-sample chunks per thread | 16 samples per warp, 64 per block, persistent grid |
//! | 6×16 FMA register blocks | `mma.sync` m16n8k16 bf16/fp16, fp32 accumulation |
//! | slice partials summed in order | block partials summed in order by the Adam kernel |
//! | one `train` call per step | a CUDA graph per step, replayed |

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

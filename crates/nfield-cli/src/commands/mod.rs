//! One module per subcommand.

pub mod bench;
pub mod bench_cuda;
pub mod bench_hash;
pub mod bench_wgpu;
pub mod eval;
pub mod info;
pub mod matbench;
pub mod render;
pub mod selftest;
pub mod target;
pub mod train;
pub mod view;

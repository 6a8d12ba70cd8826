//! Development aid: compiles the fused SIREN training step without a GPU and writes its PTX, to
//! read the instruction mix, and prints ptxas's resource use (registers, spills, shared memory).
//!
//! `cargo run -p nfield-cuda --example dump_train_ptx -- [WIDTH] [DEPTH] [bf16|fp16] [OUT.ptx]`
//! (defaults: the seed's SIREN 64×8, fp16, `train.ptx`). Needs NVRTC (see the README).
use nfield::Precision;
use nfield::model::{ModelSpec, SirenSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = SirenSpec::default();
    if let Some(w) = args.first() {
        spec.width = w.parse()?;
    }
    if let Some(d) = args.get(1) {
        spec.hidden_layers = d.parse()?;
    }
    let precision = match args.get(2).map(String::as_str) {
        None | Some("fp16") => Precision::Fp16,
        Some("bf16") => Precision::Bf16,
        Some(other) => return Err(format!("precision must be bf16 or fp16, got {other}").into()),
    };
    let out = args.get(3).map_or("train.ptx", String::as_str);

    nfield_cuda::nvrtc::ensure()?;
    // 227 KiB: the H100's opt-in shared memory per block.
    let (kernel, shape) = nfield_cuda::kernels::train_step(&ModelSpec::Siren(spec), precision, 232_448)?;
    println!("{} warps per block, {} bytes of shared memory", shape.warps, shape.smem);
    // SAFETY: single-threaded; set before the compiler reads it.
    unsafe { std::env::set_var("NFIELD_NVRTC_EXTRA", "-Xptxas -v") };
    nfield_cuda::nvrtc::compile_cubin("mlp_train", &kernel.file.source(), "sm_90a", &kernel.defines)?;

    let mut opts = cudarc::nvrtc::CompileOptions { arch: Some("sm_90a"), ..Default::default() };
    opts.options.push("--std=c++17".into());
    opts.options.push("--device-as-default-execution-space".into());
    opts.options.extend(kernel.defines.iter().map(|(name, value)| format!("-D{name}={value}")));
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(kernel.file.source(), opts)?;
    std::fs::write(out, ptx.to_src())?;
    println!("wrote {out}");
    Ok(())
}

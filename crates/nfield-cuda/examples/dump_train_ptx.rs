//! Development aid: compiles a SIREN training step without a GPU and writes its PTX, to read the
//! instruction mix, and its CUBIN (for `nvdisasm`), and prints ptxas's resource use (registers,
//! spills, shared memory).
//!
//! `cargo run -p nfield-cuda --example dump_train_ptx -- [WIDTH] [DEPTH] [bf16|fp16|tf32|fp32] [OUT.ptx] [auto|wide|coop]`
//! (defaults: the seed's SIREN 64×8, fp16, `train.ptx`, the step the engine picks; `wide` forces
//! the weight-streaming step, mlp_train_wide.cu; `coop` dumps the cooperative inference kernel instead; fp32 takes mlp_train_fp32.cu, tf32 the weight-streaming step). A width of
//! `fourier` takes the default Fourier MLP instead, `hash` tiny-cuda-nn's image hash grid. Needs NVRTC (see the README).
use nfield::Precision;
use nfield::model::{FourierSpec, HashGridSpec, ModelSpec, SirenSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut spec = SirenSpec::default();
    let fourier = args.first().is_some_and(|w| w == "fourier");
    let hash = args.first().is_some_and(|w| w == "hash");
    if let Some(w) = args.first().filter(|_| !fourier && !hash) {
        spec.width = w.parse()?;
    }
    if let Some(d) = args.get(1) {
        spec.hidden_layers = d.parse()?;
    }
    let precision = match args.get(2).map(String::as_str) {
        None | Some("fp16") => Precision::Fp16,
        Some("bf16") => Precision::Bf16,
        Some("fp32") => Precision::Fp32,
        Some("tf32") => Precision::Tf32,
        Some(other) => return Err(format!("precision must be bf16, fp16, tf32 or fp32, got {other}").into()),
    };
    let out = args.get(3).map_or("train.ptx", String::as_str);
    let (wide, coop) = match args.get(4).map(String::as_str) {
        None | Some("auto") => (false, false),
        Some("wide") => (true, false),
        Some("coop") => (false, true),
        Some(other) => return Err(format!("the kernel must be auto, wide or coop, got {other}").into()),
    };

    nfield_cuda::nvrtc::ensure()?;
    // 227 KiB: the H100's opt-in shared memory per block.
    let spec = if fourier {
        ModelSpec::Fourier(FourierSpec::default())
    } else if hash {
        ModelSpec::HashGrid(HashGridSpec::tiny_cuda_nn_image())
    } else {
        ModelSpec::Siren(spec)
    };
    let (kernel, shape) = if coop {
        let k = nfield_cuda::kernels::infer_coop(&spec, precision)?;
        let smem = nfield_cuda::kernels::infer_coop_smem(&spec);
        (k, nfield_cuda::kernels::TrainShape { warps: nfield_cuda::kernels::coop_layout(&spec).0, tile: 16, smem })
    } else if wide {
        nfield_cuda::kernels::train_step_wide(&spec, precision, 232_448)?
    } else {
        nfield_cuda::kernels::train_step(&spec, precision, 232_448)?
    };
    println!(
        "{}: {} warps per block, {} samples per tile, {} bytes of shared memory",
        kernel.file.name(),
        shape.warps,
        shape.tile,
        shape.smem
    );
    // SAFETY: single-threaded; set before the compiler reads it.
    unsafe { std::env::set_var("NFIELD_NVRTC_EXTRA", "-Xptxas -v") };
    let cubin =
        nfield_cuda::nvrtc::compile_cubin(kernel.file.name(), &kernel.file.source(), "sm_90a", &kernel.defines)?;
    // The CUBIN beside the PTX, for `nvdisasm -c` (the SASS: where spills and stalls are).
    let cubin_path = std::path::Path::new(out).with_extension("cubin");
    std::fs::write(&cubin_path, cubin)?;

    let mut opts = cudarc::nvrtc::CompileOptions { arch: Some("sm_90a"), ..Default::default() };
    opts.options.push("--std=c++17".into());
    opts.options.push("--device-as-default-execution-space".into());
    opts.options.extend(kernel.defines.iter().map(|(name, value)| format!("-D{name}={value}")));
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(kernel.file.source(), opts)?;
    std::fs::write(out, ptx.to_src())?;
    println!("wrote {out} and {}", cubin_path.display());
    Ok(())
}

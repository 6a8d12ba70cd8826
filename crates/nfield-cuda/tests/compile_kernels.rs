//! Every kernel, in every specialisation the tests and benchmarks use, compiles with NVRTC to a
//! CUBIN for sm_80 and sm_90a (so ptxas runs and inline-PTX errors fail here). Needs no GPU:
//! NVRTC comes from the CUDA toolkit or the `nvidia-cuda-nvrtc` pip wheel (NFIELD_NVRTC_PATH).
//! Without NVRTC it prints a visible skip, except under CI=true, where it fails.

use nfield_cuda::{kernels, nvrtc};

#[test]
fn every_kernel_compiles_to_cubin_for_sm80_and_sm90a() {
    if let Err(e) = nvrtc::ensure() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{e}; CI must install the nvidia-cuda-nvrtc wheel (scripts/test.sh does)");
        }
        eprintln!("skipped: compile_kernels: {e}");
        return;
    }
    let specs = kernels::test_specializations();
    assert!(specs.len() > 20, "only {} specialisations", specs.len());
    let jobs: Vec<(&str, &kernels::Specialization)> =
        ["sm_80", "sm_90a"].into_iter().flat_map(|arch| specs.iter().map(move |s| (arch, s))).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let jobs = &jobs;
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for (arch, spec) in jobs.iter().skip(t).step_by(threads) {
                        match nvrtc::compile_cubin(spec.file.name(), &spec.file.source(), arch, &spec.defines) {
                            Ok(cubin) if cubin.len() > 1000 => {}
                            Ok(cubin) => {
                                failed.push(format!("{} for {arch}: a {}-byte CUBIN", spec.file.name(), cubin.len()))
                            }
                            Err(e) => failed.push(format!("{} {:?} for {arch}: {e}", spec.file.name(), spec.defines)),
                        }
                    }
                    failed
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("compile thread")).collect()
    });
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n\n"));
    println!("compiled {} specialisations for sm_80 and sm_90a", specs.len());
}

#[test]
fn a_compile_error_keeps_the_nvrtc_log() {
    if nvrtc::ensure().is_err() {
        eprintln!("skipped: compile_kernels: no NVRTC");
        return;
    }
    let err =
        nvrtc::compile_cubin("broken.cu", "extern \"C\" __global__ void k() { undefined_thing(); }", "sm_80", &[])
            .expect_err("must not compile");
    let msg = err.to_string();
    assert!(msg.contains("broken.cu") && msg.contains("undefined_thing"), "{msg}");
    // An inline-PTX typo is caught by ptxas, which a PTX-only compile would not run.
    let ptx_typo = "extern \"C\" __global__ void k(float* x) { asm volatile(\"add.f33 %0, %0, %0;\" : \"+f\"(x[0])); }";
    let err = nvrtc::compile_cubin("typo.cu", ptx_typo, "sm_90a", &[]).expect_err("ptxas must reject .f33");
    assert!(err.to_string().contains("typo.cu"), "{err}");
}

//! The CUDA engine on a real GPU: the conformance suite and the self-test. On a machine
//! without a CUDA device every test prints `skipped: no CUDA device` and returns.

use nfield::Precision;
use nfield::testing::{Conformance, Tolerance};
use nfield_cuda::{CudaEngine, Gpu, selftest};
use std::sync::Arc;

fn gpu() -> Option<Arc<Gpu>> {
    match Gpu::open(0) {
        Ok(g) => Some(Arc::new(g)),
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

fn cuda() -> Option<CudaEngine> {
    gpu().map(|g| CudaEngine::on(g, Precision::Bf16))
}

nfield::engine_conformance_tests!(
    cuda,
    Conformance { forward: Tolerance::F32_FORWARD, eval_rel: 0.05, trains: |s| selftest::trains(s, 160 * 1024) }
);

#[test]
fn gpu_selftest() {
    let Some(gpu) = gpu() else { return };
    let data = std::env::var_os("NFIELD_SEED_DATA").map(std::path::PathBuf::from);
    let checks = selftest::run(gpu, data.as_deref());
    let failed: Vec<_> = checks.iter().filter(|c| !c.passed).collect();
    for c in &checks {
        println!("{} {}: {}", if c.passed { "ok  " } else { "FAIL" }, c.name, c.detail);
    }
    assert!(failed.is_empty(), "{} of {} checks failed", failed.len(), checks.len());
}

//! The matrix micro-benchmarks' kernels on a real GPU: every GEMM case and four of the seed's
//! GEMV cases pass their CPU checks (and the seed's ≤ 1 ULP agreement) with a few timed launches.
//! On a machine without a CUDA device it prints `skipped: no CUDA device` and returns.

use nfield_cuda::Gpu;
use nfield_cuda::matbench::{self, GEMM_CASES, GEMV_CASES};

#[test]
fn matbench_kernels_match_the_cpu() {
    let gpu = match Gpu::open(0) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("skipped: no CUDA device ({e})");
            return;
        }
    };
    for case in GEMM_CASES {
        let r = matbench::run_gemm(&gpu, case, 1, 2).expect("gemm runs");
        for o in &r.outcomes {
            assert!(o.check.passed, "gemm {case:?} {}: {}", o.variant.name(), o.check.detail);
            assert!(o.timing.is_some_and(|t| t.ms > 0.0));
        }
    }
    for case in [GEMV_CASES[0], GEMV_CASES[4], GEMV_CASES[9], GEMV_CASES[11]] {
        let r = matbench::run_gemv(&gpu, case, 1, 2).expect("gemv runs");
        for o in &r.outcomes {
            assert!(o.check.passed, "gemv {case:?} {}: {}", o.variant.name(), o.check.detail);
        }
        assert!(r.ulp_passed(), "gemv {case:?}: SIMT and tensor results {} ULP apart", r.ulp_diff);
    }
}

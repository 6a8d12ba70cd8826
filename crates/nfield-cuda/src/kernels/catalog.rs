//! The catalogue of models and kernel specialisations that the tests compile and run: the GPU
//! suite's models (`nfield selftest`), and every specialisation CI compiles through NVRTC
//! (tests/compile_kernels.rs).

use super::*;

/// The models the GPU tests and benchmarks use (the conformance suite's small models, the
/// seed's, and the benchmark widths).
pub fn test_models() -> Vec<ModelSpec> {
    use nfield::model::{FourierSpec, HashGridSpec, SirenSpec};
    let siren = |width, hidden_layers| ModelSpec::Siren(SirenSpec { width, hidden_layers, ..Default::default() });
    let mut v = nfield::testing::test_specs();
    v.extend([
        siren(64, 8),
        siren(16, 8),
        siren(32, 8),
        siren(128, 8),
        siren(256, 8),
        // Deep and narrow: its weights alone (196 KB in 16 bits) overflow the fused step.
        siren(64, 24),
        // Widths whose rows are not a power of two of 16-byte chunks (the swizzle's mask).
        siren(48, 4),
        siren(96, 3),
        ModelSpec::Fourier(FourierSpec { frequencies: 24, sigma: 3.0, width: 48, hidden_layers: 2, train_b: false }),
        ModelSpec::Siren(SirenSpec { width: 32, hidden_layers: 3, omega0: 12.0, omega_hidden: 2.0 }),
        ModelSpec::Fourier(FourierSpec::default()),
        ModelSpec::Fourier(FourierSpec { frequencies: 16, sigma: 2.0, width: 32, hidden_layers: 3, train_b: false }),
        ModelSpec::HashGrid(HashGridSpec::default()),
        ModelSpec::HashGrid(HashGridSpec::tiny_cuda_nn_image()),
    ]);
    v
}

/// Every specialisation the tests and benchmarks compile (CI builds each one for sm_80 and
/// sm_90a): per-pixel and cooperative inference, the fused, weight-streaming and fp32 training
/// steps where the model fits them (H100 and A100 shared memory), Adam, the evaluation reduction.
pub fn test_specializations() -> Vec<Specialization> {
    let mut v = vec![Specialization::plain(KernelFile::Adam), Specialization::plain(KernelFile::Eval)];
    for spec in test_models() {
        // The variant the engine picks on an H100 (227 KB of shared memory per block).
        v.push(infer_per_pixel(&spec, per_pixel_smem(&spec) <= 227 * 1024));
        for p in [Precision::Bf16, Precision::Fp16, Precision::Tf32] {
            if let Ok(k) = infer_coop(&spec, p) {
                v.push(k);
            }
            if let Ok((k, _)) = train_step(&spec, p, 227 * 1024) {
                if matches!(spec, ModelSpec::HashGrid(_)) {
                    v.push(deterministic_step(k.clone()));
                }
                v.push(k);
            }
            // The weight-streaming step too where the fused one serves (the self-test compares them).
            if let Ok((k, _)) = train_step_wide(&spec, p, 227 * 1024) {
                v.push(k);
            }
        }
        for smem in [227 * 1024, 163 * 1024] {
            if let Ok((k, _)) = train_step_fp32(&spec, smem) {
                v.push(k);
            }
        }
    }
    v.extend(crate::matbench::test_specializations());
    v.sort_by(|a, b| format!("{:?}", a).cmp(&format!("{:?}", b)));
    v.dedup();
    v
}

//! Adam's step-size schedule on the GPU (adam.cu: bias corrections and the learning rate's
//! step decay, computed from the step counter inside the replayed CUDA graph) against the CPU
//! engine's.

use crate::{CudaEngine, Gpu};
use nfield::cpu::CpuEngine;
use nfield::model::{ModelSpec, SirenSpec};
use nfield::testing::{test_image, test_model};
use nfield::train::{AdamConfig, LrDecay, TrainOptions};
use nfield::{Engine, Precision};
use std::sync::Arc;

/// Four fp32 steps of a small SIREN with the rate halved every step from step 2: the GPU's
/// parameter updates (after − before) match the CPU engine's within relative L2 1e-3 (the fp32
/// step's gradient is within 1e-5 of f64, so the updates agree far closer than that); a wrong
/// or missing decay makes steps 2-4 move 2-8× too far, an O(1) difference.
pub(super) fn decayed_steps_match_the_cpu_engine(gpu: &Arc<Gpu>) -> Result<String, String> {
    let image = test_image(40, 30);
    let model = test_model(ModelSpec::Siren(SirenSpec { width: 32, hidden_layers: 2, ..Default::default() }), 5);
    let decay = LrDecay { start: 1, every: 1, factor: 0.5 };
    let opts = TrainOptions {
        batch: 4000,
        seed: 3,
        adam: AdamConfig { lr: 1e-3, decay, ..Default::default() },
        ..Default::default()
    };
    let update = |e: &mut dyn Engine| -> Result<Vec<f64>, String> {
        e.load(&model, Some(&image), &opts).map_err(|x| x.to_string())?;
        e.train(4).map_err(|x| x.to_string())?;
        let after = e.model().map_err(|x| x.to_string())?.params;
        Ok(after.iter().zip(&model.params).map(|(&a, &b)| a as f64 - b as f64).collect())
    };
    let gpu_update = update(&mut CudaEngine::on(gpu.clone(), Precision::Fp32))?;
    let cpu_update = update(&mut CpuEngine::new())?;
    let num: f64 = gpu_update.iter().zip(&cpu_update).map(|(g, c)| (g - c).powi(2)).sum();
    let den: f64 = cpu_update.iter().map(|c| c * c).sum();
    let r = (num / den.max(f64::MIN_POSITIVE)).sqrt();
    let detail = format!("4 steps, rate halved each step from step 2: update relative L2 difference {r:.1e}");
    if r.is_nan() || r > 1e-3 { Err(detail) } else { Ok(detail) }
}

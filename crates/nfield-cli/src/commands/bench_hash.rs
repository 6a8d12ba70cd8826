//! `nfield bench --engine cuda`: the hash-grid cases of the hash-grid issue, in tiny-cuda-nn's
//! image configuration (16 levels × 2 features, table 2^19, base 16, ×1.5 per level, 64-wide
//! MLP with 2 hidden ReLU layers, linear output; Adam lr 1e-2, β2 0.99, ε 1e-15; batch 2^18),
//! the same grid with dense coarse levels (tiny-cuda-nn's own storage), the seed's own
//! configuration (table 2^12, floor-log scales, one hidden layer, sigmoid) on the same recipe,
//! and the PyTorch hash-grid peer with DESIGN.md's pinned command lines.

use super::bench_cuda::{
    Recipe, infer_model_case, peer_records, precision_name, run_peer_script, sync, time_to_quality,
};
use anyhow::Result;
use nfield::data::Image;
use nfield::model::{HashGridSpec, Model, ModelKind, ModelSpec};
use nfield::train::{AdamConfig, TrainOptions};
use nfield::{Engine, Precision, Strategy};
use nfield_cuda::CudaEngine;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

const BATCH: u32 = 1 << 18;

/// Runs one named benchmark case (a closure returning its record) and reports the record.
pub type Record<'r> = dyn FnMut(&str, &mut dyn FnMut() -> Result<Value>) + 'r;

fn recipe(batch: u32) -> TrainOptions {
    TrainOptions {
        batch,
        seed: 0,
        adam: AdamConfig { lr: 1e-2, beta2: 0.99, eps: 1e-15, ..Default::default() },
        ..Default::default()
    }
}

fn tcnn_model() -> Result<Model> {
    Ok(Model::new(ModelSpec::HashGrid(HashGridSpec::tiny_cuda_nn_image()), 0)?)
}

/// tiny-cuda-nn's grid as tiny-cuda-nn and `nfield train`'s GPU defaults store it: the coarse
/// levels whose grid fits the table densely.
fn tcnn_dense_model() -> Result<Model> {
    Ok(Model::new(ModelSpec::HashGrid(HashGridSpec { dense_coarse: true, ..HashGridSpec::tiny_cuda_nn_image() }), 0)?)
}

/// The seed's hash grid (SPEC §3.3: table 2^12, floor-log scales 16…2048, one hidden layer,
/// sigmoid output).
fn seed_model() -> Result<Model> {
    Ok(Model::new(ModelSpec::HashGrid(HashGridSpec::default()), 0)?)
}

/// Training throughput of `model` (named `name` in the record) at 2^18 (timed over `steps`
/// steps after 10), then the full-image PSNR after 1000 steps in all.
fn train_case(e: &mut CudaEngine, image: &Image, model: &Model, name: &str, steps: u32) -> Result<Value> {
    e.load(model, Some(image), &recipe(BATCH))?;
    e.train(10)?;
    sync(e)?;
    let t = Instant::now();
    e.train(steps)?;
    let dt = t.elapsed().as_secs_f64() / steps as f64;
    e.train(1000 - 10 - steps)?;
    let psnr = e.evaluate()?.psnr_db;
    Ok(json!({
        "name": format!("train/{name}/b{BATCH}"),
        "precision": precision_name(e.precision()),
        "batch": BATCH,
        "steps": steps,
        "samples_per_s": (BATCH as f64 / dt).round(),
        "ms_per_step": (dt * 1e6).round() / 1e3,
        "psnr_db": (psnr * 100.0).round() / 100.0,
        "psnr_after_steps": 1000,
    }))
}

/// The peer's pinned recipe for the time to 40 dB: batch 2^18, lr 1e-2, the whole image
/// evaluated every 25 steps.
const PEER_RECIPE: Recipe = Recipe { batch: BATCH, lr: 1e-2, eval_every: Some(25) };

/// Time to 40 dB on the whole image with `recipe` (the rest of it the peer's: β2 0.99, ε
/// 1e-15), giving up after 2000 · 2^18 training samples.
fn to_quality_case(e: &mut CudaEngine, image: &Image, model: &Model, label: &str, r: Recipe) -> Result<Value> {
    let opts = TrainOptions { adam: AdamConfig { lr: r.lr, ..recipe(r.batch).adam }, ..recipe(r.batch) };
    let max_steps = ((2000u64 * BATCH as u64) / r.batch as u64) as u32;
    time_to_quality(e, image, model, label, &opts, 40.0, r.eval_every, max_steps)
}

/// Time to 40 dB the way `nfield train photo.jpg --model hash-grid --target-psnr 40` runs on
/// CUDA: its default recipe for `seed` (batch 2^18 unless `batch` is given, lr 1e-2, β2 0.99,
/// ε 1e-15; 2000 steps at most) and its evaluation schedule.
fn cli_to_quality_case(
    e: &mut CudaEngine,
    image: &Image,
    model: &Model,
    label: &str,
    seed: u64,
    batch: Option<u32>,
) -> Result<Value> {
    let defaults = super::train::default_options(ModelKind::HashGrid, true, seed);
    let opts = TrainOptions { batch: batch.unwrap_or(defaults.batch), ..defaults };
    time_to_quality(e, image, model, label, &opts, 40.0, None, 2000)
}

/// Runs the hash-grid cases (fp16) through `record` (which filters by name and reports errors).
pub fn run(gpu_engine: &CudaEngine, image: &Image, quick: bool, record: &mut Record<'_>) {
    let mut e = CudaEngine::on(gpu_engine.gpu().clone(), Precision::Fp16);
    let steps = if quick { 20 } else { 100 };
    record(&format!("train/hash-grid/b{BATCH}"), &mut || train_case(&mut e, image, &tcnn_model()?, "hash-grid", steps));
    record(&format!("train/hash-grid-dense/b{BATCH}"), &mut || {
        train_case(&mut e, image, &tcnn_dense_model()?, "hash-grid-dense", steps)
    });
    record(&format!("train/hash-grid-seed/b{BATCH}"), &mut || {
        train_case(&mut e, image, &seed_model()?, "hash-grid-seed", steps)
    });
    record("to-quality/hash-grid/40dB", &mut || {
        to_quality_case(&mut e, image, &tcnn_model()?, "hash-grid", PEER_RECIPE)
    });
    // `nfield train --target-psnr 40`'s recipe and schedule on both storages (dense: the CLI's
    // GPU default), and with --batch 131072 (fewer samples to 40 dB: ~161 steps of 0.32 ms
    // against ~127 of 0.50 at 2^18, H100, 2026-11-27); five seeds each.
    let seeds = if quick { 1 } else { 5 };
    for seed in 0..seeds {
        record("to-quality/hash-grid-dense/40dB", &mut || {
            cli_to_quality_case(&mut e, image, &tcnn_dense_model()?, "hash-grid-dense", seed, None)
        });
        record("to-quality/hash-grid/40dB", &mut || {
            cli_to_quality_case(&mut e, image, &tcnn_model()?, "hash-grid", seed, None)
        });
        record("to-quality/hash-grid-dense/40dB", &mut || {
            cli_to_quality_case(&mut e, image, &tcnn_dense_model()?, "hash-grid-dense", seed, Some(1 << 17))
        });
    }
    record("infer/hash-grid/full-image/per-pixel", &mut || {
        infer_model_case(&mut e, image, &tcnn_model()?, "hash-grid", Strategy::PerPixel, Precision::Fp32)
    });
    record("infer/hash-grid/full-image/cooperative", &mut || {
        infer_model_case(&mut e, image, &tcnn_model()?, "hash-grid", Strategy::Cooperative, Precision::Fp16)
    });
    record("infer/hash-grid-seed/full-image/cooperative", &mut || {
        infer_model_case(&mut e, image, &seed_model()?, "hash-grid-seed", Strategy::Cooperative, Precision::Fp16)
    });
}

/// Runs the PyTorch hash-grid peer (`peer_torch_hashgrid.py` in `peers`, unchanged) with
/// DESIGN.md's two pinned command lines and turns its JSON into records.
pub fn run_peer(peers: &Path, image: &Path, python: &str, emit: &mut dyn FnMut(Value)) {
    let script = peers.join("peer_torch_hashgrid.py");
    let img = image.display().to_string();
    for extra in [vec!["--compile"], vec!["--compile", "--target-psnr", "40", "--eval-every", "25"]] {
        if let Some((v, common)) = run_peer_script(python, &script, &img, &extra, "pytorch-compile-fp32", emit) {
            peer_records(&v, &common, "hash-grid", 40.0, emit);
        }
    }
}

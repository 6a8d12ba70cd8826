//! `nfield bench --engine cuda`: the hash-grid cases of the hash-grid issue, in tiny-cuda-nn's
//! image configuration (16 levels × 2 features, table 2^19, base 16, ×1.5 per level, 64-wide
//! MLP with 2 hidden ReLU layers, linear output; Adam lr 1e-2, β2 0.99, ε 1e-15; batch 2^18),
//! and the PyTorch hash-grid peer with DESIGN.md's pinned command lines.

use super::bench_cuda::{infer_model_case, precision_name, sync};
use anyhow::Result;
use nfield::data::Image;
use nfield::model::{HashGridSpec, Model, ModelSpec};
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
        subset: None,
    }
}

fn tcnn_model() -> Result<Model> {
    Ok(Model::new(ModelSpec::HashGrid(HashGridSpec::tiny_cuda_nn_image()), 0)?)
}

/// Training throughput at 2^18 (timed over `steps` steps after 10), then the full-image PSNR
/// after 1000 steps in all.
fn train_case(e: &mut CudaEngine, image: &Image, steps: u32) -> Result<Value> {
    let model = tcnn_model()?;
    e.load(&model, Some(image), &recipe(BATCH))?;
    e.train(10)?;
    sync(e)?;
    let t = Instant::now();
    e.train(steps)?;
    let dt = t.elapsed().as_secs_f64() / steps as f64;
    e.train(1000 - 10 - steps)?;
    let psnr = e.evaluate()?.psnr_db;
    Ok(json!({
        "name": format!("train/hash-grid/b{BATCH}"),
        "precision": precision_name(e.precision()),
        "batch": BATCH,
        "steps": steps,
        "samples_per_s": (BATCH as f64 / dt).round(),
        "ms_per_step": (dt * 1e6).round() / 1e3,
        "psnr_db": (psnr * 100.0).round() / 100.0,
        "psnr_after_steps": 1000,
    }))
}

/// Time to 40 dB on the whole image, evaluating every 25 steps as the peer's pinned command
/// does (every evaluation on the clock; compilation and graph capture before it).
fn to_quality_case(e: &mut CudaEngine, image: &Image) -> Result<Value> {
    let (target_db, eval_every, max_steps) = (40.0, 25u32, 2000u32);
    let model = tcnn_model()?;
    e.load(&model, Some(image), &recipe(BATCH))?;
    e.train(1)?;
    e.evaluate()?;
    e.load(&model, Some(image), &recipe(BATCH))?;
    let t = Instant::now();
    let (mut steps, mut psnr) = (0u32, 0.0);
    while steps < max_steps && psnr < target_db {
        e.train(eval_every)?;
        steps += eval_every;
        psnr = e.evaluate()?.psnr_db;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(json!({
        "name": "to-quality/hash-grid/40dB",
        "precision": precision_name(e.precision()),
        "batch": BATCH,
        "lr": 1e-2,
        "eval_every": eval_every,
        "target_psnr_db": target_db,
        "psnr_db": (psnr * 100.0).round() / 100.0,
        "reached": psnr >= target_db,
        "seconds_to_target": (secs * 1000.0).round() / 1000.0,
        "steps_to_target": steps,
    }))
}

/// Runs the hash-grid cases (fp16) through `record` (which filters by name and reports errors).
pub fn run(gpu_engine: &CudaEngine, image: &Image, quick: bool, record: &mut Record<'_>) {
    let mut e = CudaEngine::on(gpu_engine.gpu().clone(), Precision::Fp16);
    let steps = if quick { 20 } else { 100 };
    record(&format!("train/hash-grid/b{BATCH}"), &mut || train_case(&mut e, image, steps));
    record("to-quality/hash-grid/40dB", &mut || to_quality_case(&mut e, image));
    record("infer/hash-grid/full-image/per-pixel", &mut || {
        infer_model_case(&mut e, image, &tcnn_model()?, "hash-grid", Strategy::PerPixel, Precision::Fp32)
    });
    record("infer/hash-grid/full-image/cooperative", &mut || {
        infer_model_case(&mut e, image, &tcnn_model()?, "hash-grid", Strategy::Cooperative, Precision::Fp16)
    });
}

/// Runs the PyTorch hash-grid peer (`peer_torch_hashgrid.py` in `peers`, unchanged) with
/// DESIGN.md's two pinned command lines and turns its JSON into records.
pub fn run_peer(peers: &Path, image: &Path, python: &str, emit: &mut dyn FnMut(Value)) {
    let script = peers.join("peer_torch_hashgrid.py");
    let img = image.display().to_string();
    for extra in [vec!["--compile"], vec!["--compile", "--target-psnr", "40", "--eval-every", "25"]] {
        let command = format!("{} {} {}", script.display(), img, extra.join(" "));
        let out = match std::process::Command::new(python).arg(&script).arg(&img).args(&extra).output() {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("").to_string();
                emit(json!({"name": "peer", "engine": "pytorch-compile-fp32", "command": command, "error": why}));
                continue;
            }
            Err(err) => {
                emit(
                    json!({"name": "peer", "engine": "pytorch-compile-fp32", "command": command, "error": err.to_string()}),
                );
                continue;
            }
        };
        let Some(v) = out.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok()) else { continue };
        let common =
            json!({"engine": "pytorch-compile-fp32", "device": v["gpu"], "command": command, "torch": v["torch"]});
        let with = |mut r: Value| {
            if let (Some(o), Some(c)) = (r.as_object_mut(), common.as_object()) {
                o.extend(c.clone());
            }
            r
        };
        if let Some(secs) = v["seconds_to_target"].as_f64() {
            emit(with(json!({"name": "to-quality/hash-grid/40dB", "seconds_to_target": secs,
                "steps_to_target": v["steps_to_target"], "psnr_db": v["psnr"], "reached": v["reached"], "target_psnr_db": 40})));
            continue;
        }
        emit(with(json!({"name": format!("train/hash-grid/b{BATCH}"), "batch": v["batch"],
            "samples_per_s": v["train_samples_per_s"], "ms_per_step": v["ms_per_step"], "psnr_db": v["psnr_after"],
            "psnr_after_steps": v["steps"]})));
        emit(with(json!({"name": "infer/hash-grid/full-image", "samples_per_s": v["infer_samples_per_s"],
            "ms_per_image": v["infer_ms_full_image"]})));
    }
}

//! `nfield bench --engine cuda`: the CUDA cases of the benchmark, and the PyTorch peer run in
//! the same invocation with DESIGN.md's pinned command lines.

use super::target::TargetSchedule;
use anyhow::{Context, Result};
use nfield::data::Image;
use nfield::model::{Model, ModelSpec, SirenSpec, View};
use nfield::train::{AdamConfig, TrainOptions};
use nfield::{Engine, InferOptions, Precision, Query, Strategy};
use nfield_cuda::CudaEngine;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Measured H100 ceilings (DESIGN.md): mma.sync bf16 → fp32 and the special-function unit.
const MMA_FLOPS: f64 = 640e12;
const MUFU_OPS: f64 = 4.13e12;
/// The H100's fp32 FMA ceiling as DESIGN.md measured it: the bound of fp32 training, whose
/// sin/cos are FMA polynomials too (and of every wgpu case: no tensor cores there).
pub(super) const FFMA_FLOPS: f64 = 59e12;

fn siren(width: usize) -> ModelSpec {
    ModelSpec::Siren(SirenSpec { width, hidden_layers: 8, ..Default::default() })
}

/// The binding ceiling of SIREN training in samples/s and its name: matrix work (forward,
/// input deltas, weight gradients) on `mma.sync`, or sin + cos on the special-function unit; in
/// fp32, the matrix work on FFMA.
fn training_ceiling(spec: &ModelSpec, precision: Precision) -> (f64, &'static str) {
    let mlp = spec.mlp();
    let flops = 6.0 * mlp.macs_per_sample() as f64;
    if precision == Precision::Fp32 {
        return (FFMA_FLOPS / flops, "FFMA fp32");
    }
    let sines = 2.0 * mlp.layers.iter().take(mlp.layers.len() - 1).map(|l| l.outputs).sum::<usize>() as f64;
    // tf32 runs the tensor cores at half the 16-bit rate (NVIDIA's H100 datasheet; not measured here).
    let (mma, name) = if precision == Precision::Tf32 {
        (MMA_FLOPS / 2.0 / flops, "mma.sync tf32 (half the bf16 rate)")
    } else {
        (MMA_FLOPS / flops, "mma.sync bf16")
    };
    let mufu = MUFU_OPS / sines;
    if mma < mufu { (mma, name) } else { (mufu, "MUFU sin/cos") }
}

pub(super) fn precision_name(p: Precision) -> String {
    format!("{p:?}").to_lowercase()
}

pub(super) fn sync(e: &CudaEngine) -> Result<()> {
    e.gpu().stream.synchronize().context("synchronising the GPU")?;
    Ok(())
}

fn train_case(e: &mut CudaEngine, image: &Image, width: usize, batch: u32, steps: u32) -> Result<Value> {
    let spec = siren(width);
    let model = Model::new(spec.clone(), 0)?;
    let opts =
        TrainOptions { batch, seed: 0, adam: AdamConfig { lr: 1e-4, ..Default::default() }, ..Default::default() };
    e.load(&model, Some(image), &opts)?;
    e.train(10)?; // compile, capture, warm up
    let t = Instant::now();
    e.train(steps)?;
    let dt = t.elapsed().as_secs_f64() / steps as f64;
    let rate = batch as f64 / dt;
    let (ceiling, bound) = training_ceiling(&spec, e.precision());
    Ok(json!({
        "name": format!("train/siren-{width}x8/b{batch}"),
        "precision": precision_name(e.precision()),
        "batch": batch,
        "steps": steps,
        "samples_per_s": rate.round(),
        "ms_per_step": (dt * 1e6).round() / 1e3,
        "limit_fraction": (rate / ceiling * 1000.0).round() / 1000.0,
        "bound": bound,
    }))
}

fn infer_case(e: &mut CudaEngine, image: &Image, strategy: Strategy, precision: Precision) -> Result<Value> {
    infer_model_case(e, image, &Model::new(siren(64), 0)?, "siren-64x8", strategy, precision)
}

/// Full-image inference of `model` on `image`'s grid (20 timed runs after one warm-up), as
/// record `infer/{label}/full-image/{strategy}`.
pub(super) fn infer_model_case(
    e: &mut CudaEngine,
    image: &Image,
    model: &Model,
    label: &str,
    strategy: Strategy,
    precision: Precision,
) -> Result<Value> {
    e.load(model, None, &TrainOptions::default())?;
    let q = Query::Grid { width: image.width, height: image.height, coords: model.coords, view: View::FULL };
    let opts = InferOptions { strategy, precision };
    e.infer(&q, &opts)?;
    sync(e)?;
    let runs = 20;
    let t = Instant::now();
    for _ in 0..runs {
        e.infer(&q, &opts)?;
    }
    sync(e)?;
    let dt = t.elapsed().as_secs_f64() / runs as f64;
    let n = image.pixel_count() as f64;
    Ok(json!({
        "name": format!("infer/{label}/full-image/{}", strategy.name()),
        "precision": precision_name(precision),
        "samples_per_s": (n / dt).round(),
        "ms_per_image": (dt * 1e5).round() / 100.0,
    }))
}

/// A training recipe for the time-to-quality case.
#[derive(Clone, Copy, Debug)]
pub(super) struct Recipe {
    pub(super) batch: u32,
    pub(super) lr: f32,
    /// Steps between evaluations of the whole image (each one on the clock); `None`: where
    /// `nfield train --target-psnr` places them (commands/target.rs).
    pub(super) eval_every: Option<u32>,
}

/// The PyTorch peer's pinned recipe: batch 2^18, lr 3e-3, the whole image evaluated every 100
/// steps.
const PEER_RECIPE: Recipe = Recipe { batch: 1 << 18, lr: 3e-3, eval_every: Some(100) };

/// Smaller batches take more, cheaper steps; the whole-image evaluation (1.6 MP) stays under
/// ~15 % of the clock by spacing it in proportion.
const RECIPES: [Recipe; 6] = [
    Recipe { batch: 1 << 16, lr: 3e-3, eval_every: Some(200) },
    Recipe { batch: 1 << 16, lr: 5e-3, eval_every: Some(200) },
    Recipe { batch: 1 << 15, lr: 3e-3, eval_every: Some(250) },
    Recipe { batch: 1 << 15, lr: 5e-3, eval_every: Some(250) },
    Recipe { batch: 1 << 14, lr: 3e-3, eval_every: Some(400) },
    Recipe { batch: 1 << 14, lr: 2e-3, eval_every: Some(400) },
];

/// SIREN-64×8's time to a PSNR with `recipe`, giving up after 5000 · 2^18 training samples.
fn to_quality_case(e: &mut CudaEngine, image: &Image, target_db: f64, recipe: Recipe) -> Result<Value> {
    let opts = TrainOptions {
        batch: recipe.batch,
        seed: 0,
        adam: AdamConfig { lr: recipe.lr, ..Default::default() },
        ..Default::default()
    };
    let max_steps = ((5000u64 << 18) / recipe.batch as u64) as u32;
    time_to_quality(e, image, &Model::new(siren(64), 0)?, "siren-64x8", &opts, target_db, recipe.eval_every, max_steps)
}

/// Time for `model` trained with `opts` to reach `target_db` on the whole image, evaluated every
/// `eval_every` steps or (`None`) where `nfield train --target-psnr` evaluates (every evaluation
/// on the clock; compilation and graph capture before it), giving up after `max_steps`; record
/// `to-quality/{label}/{target}dB`.
#[allow(clippy::too_many_arguments)]
pub(super) fn time_to_quality(
    e: &mut CudaEngine,
    image: &Image,
    model: &Model,
    label: &str,
    opts: &TrainOptions,
    target_db: f64,
    eval_every: Option<u32>,
    max_steps: u32,
) -> Result<Value> {
    e.load(model, Some(image), opts)?;
    e.train(1)?; // compile and capture outside the clock, then start again
    e.evaluate()?;
    e.load(model, Some(image), opts)?;
    let mut schedule = TargetSchedule::new(target_db, max_steps as u64);
    let t = Instant::now();
    let (mut steps, mut psnr) = (0u32, 0.0);
    while steps < max_steps && psnr < target_db {
        let next = match eval_every {
            Some(n) => steps + n,
            None => schedule.next_eval().min(max_steps as u64) as u32,
        };
        e.train(next - steps)?;
        steps = next;
        psnr = e.evaluate()?.psnr_db;
        schedule.record(steps as u64, psnr);
    }
    let secs = t.elapsed().as_secs_f64();
    Ok(json!({
        "name": format!("to-quality/{label}/{target_db:.0}dB"),
        "precision": precision_name(e.precision()),
        "batch": opts.batch,
        "lr": (opts.adam.lr as f64 * 1e6).round() / 1e6,
        "seed": opts.seed,
        "eval_every": eval_every,
        "evaluations": schedule.evaluations(),
        "target_psnr_db": target_db,
        "psnr_db": (psnr * 100.0).round() / 100.0,
        "reached": psnr >= target_db,
        "seconds_to_target": (secs * 1000.0).round() / 1000.0,
        "steps_to_target": steps,
    }))
}

/// Runs the CUDA cases; each record (or the error of a case) goes to `emit`. Training runs in
/// both 16-bit tensor-core precisions on the seed's SIREN-64×8 (and in fp32 and tf32 at batch
/// 2¹⁸, tf32 also at 2048, to 22 dB and at width 128), in `e`'s precision otherwise.
pub fn run(e: &mut CudaEngine, image: &Image, quick: bool, only: &[String], emit: &mut dyn FnMut(Value)) {
    let steps = if quick { 20 } else { 100 };
    let mut record = |name: &str, case: &mut dyn FnMut() -> Result<Value>| {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            return;
        }
        match case() {
            Ok(v) => emit(v),
            Err(err) => emit(json!({ "name": name, "error": format!("{err:#}") })),
        }
    };
    let mut other = CudaEngine::on(
        e.gpu().clone(),
        if e.precision() == Precision::Fp16 { Precision::Bf16 } else { Precision::Fp16 },
    );
    for engine in [&mut *e, &mut other] {
        record("train/siren-64x8/b262144", &mut || train_case(engine, image, 64, 1 << 18, steps));
        record("train/siren-64x8/b2048", &mut || train_case(engine, image, 64, 2048, 10 * steps));
        record("to-quality/siren-64x8/22dB", &mut || to_quality_case(engine, image, 22.0, PEER_RECIPE));
    }
    if !quick {
        for recipe in RECIPES {
            record("to-quality/siren-64x8/22dB", &mut || to_quality_case(e, image, 22.0, recipe));
        }
    }
    for w in [16, 32, 128, 256] {
        record(&format!("train/siren-{w}x8/b262144"), &mut || train_case(e, image, w, 1 << 18, steps));
    }
    // fp32 on the SIMT cores (mlp_train_fp32.cu), beside the tensor-core records.
    let mut fp32 = CudaEngine::on(e.gpu().clone(), Precision::Fp32);
    record("train/siren-64x8/b262144", &mut || train_case(&mut fp32, image, 64, 1 << 18, steps));
    // tf32 on the tensor cores (mlp_train_wide.cu).
    let mut tf32 = CudaEngine::on(e.gpu().clone(), Precision::Tf32);
    record("train/siren-64x8/b262144", &mut || train_case(&mut tf32, image, 64, 1 << 18, steps));
    record("train/siren-64x8/b2048", &mut || train_case(&mut tf32, image, 64, 2048, 10 * steps));
    record("train/siren-128x8/b262144", &mut || train_case(&mut tf32, image, 128, 1 << 18, steps));
    record("to-quality/siren-64x8/22dB", &mut || to_quality_case(&mut tf32, image, 22.0, PEER_RECIPE));
    record("infer/siren-64x8/full-image/per-pixel", &mut || infer_case(e, image, Strategy::PerPixel, Precision::Fp32));
    for p in [Precision::Bf16, Precision::Fp16] {
        record("infer/siren-64x8/full-image/cooperative", &mut || infer_case(e, image, Strategy::Cooperative, p));
    }
    super::bench_hash::run(e, image, quick, &mut record);
}

/// Runs the PyTorch SIREN peer (`peer_torch_siren.py` in `peers`, unchanged) with DESIGN.md's
/// pinned command lines and turns its JSON into records.
pub fn run_peer(peers: &Path, image: &Path, python: &str, emit: &mut dyn FnMut(Value)) {
    let script = peers.join("peer_torch_siren.py");
    let img = image.display().to_string();
    let runs: [(&str, Vec<&str>); 4] = [
        ("pytorch-compile-bf16", vec!["--precision", "bf16", "--compile", "reduce-overhead", "--steps", "300"]),
        (
            "pytorch-compile-tf32",
            vec![
                "--batch",
                "2048",
                "--precision",
                "tf32",
                "--compile",
                "reduce-overhead",
                "--steps",
                "500",
                "--lr",
                "1e-3",
            ],
        ),
        (
            "pytorch-eager-fp32",
            vec!["--lr", "3e-3", "--target-psnr", "22", "--eval-every", "100", "--max-steps", "5000"],
        ),
        ("pytorch-eager-fp32", vec![]),
    ];
    for (engine, extra) in runs {
        if let Some((v, common)) = run_peer_script(python, &script, &img, &extra, engine, emit) {
            peer_records(&v, &common, "siren-64x8", 22.0, emit);
        }
    }
}

/// Runs one peer command line; on failure emits an error record and returns None. On success,
/// returns the peer's last JSON line and the fields every record of it carries (engine, device,
/// command, torch version).
pub(super) fn run_peer_script(
    python: &str,
    script: &Path,
    img: &str,
    extra: &[&str],
    engine: &str,
    emit: &mut dyn FnMut(Value),
) -> Option<(Value, Value)> {
    let command = format!("{} {} {}", script.display(), img, extra.join(" "));
    let error = |why: String| json!({"name": "peer", "engine": engine, "command": command, "error": why});
    let out = match std::process::Command::new(python).arg(script).arg(img).args(extra).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => {
            emit(error(String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("").to_string()));
            return None;
        }
        Err(err) => {
            emit(error(err.to_string()));
            return None;
        }
    };
    let v = out.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok())?;
    let common = json!({"engine": engine, "device": v["gpu"], "command": command, "torch": v["torch"]});
    Some((v, common))
}

/// The records of one peer run (`v`, its last JSON line; `common`, the fields every record
/// carries): time to `target_db` when it ran to a target, else training and inference.
pub(super) fn peer_records(v: &Value, common: &Value, label: &str, target_db: f64, emit: &mut dyn FnMut(Value)) {
    let with = |mut r: Value| {
        if let (Some(o), Some(c)) = (r.as_object_mut(), common.as_object()) {
            o.extend(c.clone());
        }
        r
    };
    if let Some(secs) = v["seconds_to_target"].as_f64() {
        emit(with(json!({"name": format!("to-quality/{label}/{target_db:.0}dB"), "seconds_to_target": secs,
            "steps_to_target": v["steps_to_target"], "psnr_db": v["psnr"], "reached": v["reached"],
            "target_psnr_db": target_db})));
        return;
    }
    let batch = v["batch"].as_u64().unwrap_or(0);
    emit(with(json!({"name": format!("train/{label}/b{batch}"), "batch": batch,
        "samples_per_s": v["train_samples_per_s"], "ms_per_step": v["ms_per_step"], "psnr_db": v["psnr_after"],
        "psnr_after_steps": v["steps"]})));
    emit(with(json!({"name": format!("infer/{label}/full-image"), "samples_per_s": v["infer_samples_per_s"],
        "ms_per_image": v["infer_ms_full_image"]})));
}

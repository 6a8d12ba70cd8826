//! `nfield bench --engine wgpu`: full-image inference of every model in each of the four
//! strategies, baked included (its record adds `compile_s`, the first render's compile), and the
//! cooperative one in fp16 where the adapter has f16 cooperative matrices,
//! and training throughput of SIREN-64×8 and the hash grid, on the wgpu engine.
//!
//! Ceilings: without tensor cores the fp32 FMA rate binds (the H100's 59 TFLOP/s, DESIGN.md);
//! a sample costs 2·MACs to infer and ~6·MACs to train.

use super::bench_cuda::{FFMA_FLOPS, precision_name};
use anyhow::Result;
use nfield::data::Image;
use nfield::model::{FourierSpec, HashGridSpec, Model, ModelSpec, SirenSpec, View};
use nfield::train::{AdamConfig, TrainOptions};
use nfield::{Engine, InferOptions, Precision, Query, Strategy};
use nfield_wgpu::WgpuEngine;
use serde_json::{Value, json};
use std::time::Instant;

/// Adds the fraction of the fp32 FMA ceiling that `rate` samples/s reach, at `flops_per_mac`
/// FLOPs per multiply-add of the MLP (2 to infer, ~6 to train), to `record`; hash grids, bound
/// by their table's memory traffic instead, get none.
fn with_ffma_limit(mut record: Value, spec: &ModelSpec, rate: f64, flops_per_mac: f64) -> Value {
    if !matches!(spec, ModelSpec::HashGrid(_)) {
        let ceiling = FFMA_FLOPS / (flops_per_mac * spec.mlp().macs_per_sample() as f64);
        record["limit_fraction"] = json!((rate / ceiling * 1000.0).round() / 1000.0);
        record["bound"] = json!("FFMA fp32");
    }
    record
}

fn models() -> Vec<(&'static str, ModelSpec)> {
    vec![
        ("siren-64x8", ModelSpec::Siren(SirenSpec { width: 64, hidden_layers: 8, ..Default::default() })),
        ("fourier-seed", ModelSpec::Fourier(FourierSpec::default())),
        ("hash-grid-seed", ModelSpec::HashGrid(HashGridSpec::default())),
        (
            "hash-grid-tcnn",
            ModelSpec::HashGrid(HashGridSpec { dense_coarse: true, ..HashGridSpec::tiny_cuda_nn_image() }),
        ),
    ]
}

fn infer_case(
    e: &mut WgpuEngine,
    image: &Image,
    label: &str,
    spec: &ModelSpec,
    s: Strategy,
    precision: Precision,
    runs: u32,
) -> Result<Value> {
    let model = Model::new(spec.clone(), 0)?;
    e.load(&model, None, &TrainOptions::default())?;
    let q = Query::Grid { width: image.width, height: image.height, coords: model.coords, view: View::FULL };
    let opts = InferOptions { strategy: s, precision };
    let compile = Instant::now();
    e.infer(&q, &opts)?; // compile and warm up
    e.gpu().wait()?;
    let compile_s = compile.elapsed().as_secs_f64();
    // Keep the GPU busy for a while first: after a compile of seconds (baked) it idled at a low
    // clock, and the next case timed ~2.4× slow on an H100 before this warm-up existed.
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < 0.5 {
        e.infer(&q, &opts)?;
        e.gpu().wait()?;
    }
    let dt = best_of_three(|| {
        for _ in 0..runs {
            e.infer(&q, &opts)?;
        }
        e.gpu().wait()?;
        Ok(())
    })? / runs as f64;
    let rate = image.pixel_count() as f64 / dt;
    let mut r = json!({
        "name": infer_name(label, s, precision),
        "precision": precision_name(precision),
        "samples_per_s": rate.round(),
        "ms_per_image": (dt * 1e5).round() / 100.0,
    });
    if s == Strategy::Baked {
        // the first render compiles the weights into the pipeline: the strategy's price
        r["compile_s"] = json!((compile_s * 100.0).round() / 100.0);
    }
    Ok(if precision == Precision::Fp32 { with_ffma_limit(r, spec, rate, 2.0) } else { r })
}

/// The fastest of three runs of `run`, in seconds (`run` waits for its GPU work).
fn best_of_three(mut run: impl FnMut() -> nfield::Result<()>) -> nfield::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        run()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// `infer/{label}/full-image/{strategy}`, with `-fp16` for the cooperative-matrix path.
fn infer_name(label: &str, s: Strategy, precision: Precision) -> String {
    format!("infer/{label}/full-image/{}{}", s.name(), precision_suffix(precision))
}

/// `-fp16` for the paths on cooperative matrices, nothing for fp32.
fn precision_suffix(precision: Precision) -> &'static str {
    if precision == Precision::Fp32 { "" } else { "-fp16" }
}

fn train_case(
    e: &mut WgpuEngine,
    image: &Image,
    label: &str,
    spec: &ModelSpec,
    batch: u32,
    steps: u32,
    precision: Precision,
) -> Result<Value> {
    let lr = if matches!(spec, ModelSpec::HashGrid(_)) { 1e-2 } else { 1e-4 };
    let opts = TrainOptions { batch, seed: 0, adam: AdamConfig { lr, ..Default::default() }, ..Default::default() };
    e.set_training_precision(precision)?;
    let loaded = e.load(&Model::new(spec.clone(), 0)?, Some(image), &opts);
    e.set_training_precision(Precision::Fp32)?;
    loaded?;
    e.train(2)?; // compile and warm up
    // the best of three timings: single timings of a fresh trainer measured up to 2× slow
    // now and then on an H100 (the passes' own GPU times, `pass_us`, did not move); train()
    // reads back the last loss, so the clock includes all the work
    let dt = best_of_three(|| e.train(steps).map(|_| ()))? / steps as f64;
    let rate = batch as f64 / dt;
    let fp16 = precision == Precision::Fp16;
    // where a step's time goes (one more step, each pass between timestamps)
    let passes: serde_json::Map<String, Value> = match e.profile_training_step() {
        Ok(p) => p.into_iter().map(|(label, us)| (label.to_string(), json!((us * 10.0).round() / 10.0))).collect(),
        Err(_) => serde_json::Map::new(),
    };
    let r = json!({
        "name": train_name(label, batch, precision),
        "precision": if fp16 { "fp16" } else { "fp32" },
        "batch": batch,
        "steps": steps,
        "timings": 3,
        "samples_per_s": rate.round(),
        "ms_per_step": (dt * 1e6).round() / 1e3,
        "pass_us": passes,
    });
    // the FFMA ceiling bounds fp32 only (fp16's products run on the tensor cores)
    Ok(if fp16 { r } else { with_ffma_limit(r, spec, rate, 6.0) })
}

/// `train/{label}/b{batch}`, with `-fp16` for training on cooperative matrices.
fn train_name(label: &str, batch: u32, precision: Precision) -> String {
    format!("train/{label}/b{batch}{}", precision_suffix(precision))
}

/// Runs the wgpu cases; each record (or a case's error) goes to `emit`.
pub fn run(e: &mut WgpuEngine, image: &Image, quick: bool, only: &[String], emit: &mut dyn FnMut(Value)) {
    let (runs, steps) = if quick { (3, 3) } else { (10, 20) };
    let mut record = |name: &str, case: &mut dyn FnMut() -> Result<Value>| {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            return;
        }
        let t = Instant::now();
        match case() {
            Ok(r) => emit(r),
            Err(err) => emit(json!({ "name": name, "error": format!("{err:#}") })),
        }
        eprintln!("bench: {name} took {:.1} s", t.elapsed().as_secs_f64());
    };
    for (label, spec) in models() {
        let cases = [
            (Strategy::PerPixel, Precision::Fp32),
            (Strategy::Cooperative, Precision::Fp32),
            (Strategy::Fragment, Precision::Fp32),
            (Strategy::Baked, Precision::Fp32),
            (Strategy::Cooperative, Precision::Fp16),
        ];
        for (s, precision) in cases {
            if precision == Precision::Fp16 && !e.gpu().cooperative_matrix_f16 {
                continue; // tensor cores only (fp16 cooperative matrices)
            }
            let name = infer_name(label, s, precision);
            record(&name, &mut || infer_case(e, image, label, &spec, s, precision, runs));
        }
    }
    for (label, spec) in models() {
        if label == "fourier-seed" || label == "hash-grid-seed" {
            continue;
        }
        let fp16 = nfield_wgpu::train::fp16_support(e.gpu()).is_ok();
        for batch in [1u32 << 16, 1 << 18] {
            for precision in [Precision::Fp32, Precision::Fp16] {
                if precision == Precision::Fp16 && !fp16 {
                    continue; // cooperative matrices only
                }
                let name = train_name(label, batch, precision);
                record(&name, &mut || train_case(e, image, label, &spec, batch, steps, precision));
            }
        }
    }
}

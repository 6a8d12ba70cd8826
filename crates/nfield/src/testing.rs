//! Test support shared by every engine crate (feature `testing`): tolerances, a comparison that
//! prints what went wrong, small deterministic test data, and the conformance suite generic
//! over [`Engine`], stamped into each engine's tests with [`engine_conformance_tests!`].
//!
//! The oracle is [`crate::reference`] (f64). The CPU engine is the reference *engine*: GPU
//! engines train against it end to end.

use crate::data::Image;
use crate::engine::{Engine, InferOptions, Query};
use crate::model::{Coords, FourierSpec, Growth, HashGridSpec, Model, ModelSpec, OutputActivation, SirenSpec, View};
use crate::reference;
use crate::rng::{self, Stream};
use crate::train::{AdamConfig, TrainOptions};
use std::path::PathBuf;

/// The seed's data folder (`siren.json`, `fourier.json`, `instant_ngp.json`, `target.jpeg`):
/// `$NFIELD_SEED_DATA`, else `../shared/seed/data` beside the project root. Where neither
/// exists it prints a visible `skipped:` line naming `test` and returns `None`, except under
/// `CI=true`, where a missing folder fails the test.
pub fn seed_data_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("NFIELD_SEED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/seed/data"));
    if dir.join("siren.json").is_file() {
        return Some(dir);
    }
    let msg = format!("the seed data folder {} is missing (set NFIELD_SEED_DATA)", dir.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {msg}; CI must have it");
    }
    eprintln!("skipped: {test}: {msg}");
    None
}

/// A comparison tolerance: `got` matches `want` when `|got − want| ≤ max(rel·|got + want|, abs)`
/// (burn's formula: `rel` bounds the relative error of both values, `abs` covers values near 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative bound R.
    pub rel: f64,
    /// Absolute floor A.
    pub abs: f64,
}

impl Tolerance {
    /// f32 engines against the f64 oracle, forward values (DESIGN.md): 1e-5 relative, 1e-6 absolute.
    pub const F32_FORWARD: Tolerance = Tolerance { rel: 1e-5, abs: 1e-6 };
    /// f32 engines against the f64 oracle, gradients: 1e-4 relative, with an absolute floor of
    /// 1e-4 × the largest |gradient| of the tensor (see [`Tolerance::scaled`]): gradient entries
    /// are sums of many signed terms and can cancel to values far below f32's relative precision
    /// of the terms.
    pub const F32_GRADIENT: Tolerance = Tolerance { rel: 1e-4, abs: 1e-4 };
    /// bf16 / fp16 tensor-core paths, outputs and gradients (DESIGN.md): 2e-2 relative.
    pub const HALF: Tolerance = Tolerance { rel: 2e-2, abs: 2e-3 };

    /// This tolerance with `abs` multiplied by the largest magnitude in `want`.
    pub fn scaled(self, want: &[f64]) -> Tolerance {
        let peak = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        Tolerance { abs: self.abs * peak.max(f64::MIN_POSITIVE), ..self }
    }

    /// Whether one value matches.
    pub fn matches(&self, got: f64, want: f64) -> bool {
        (got - want).abs() <= (self.rel * (got + want).abs()).max(self.abs)
    }
}

/// Compares `got` with the oracle's `want`. On failure the error shows the first elements with
/// OK / NOT OK, the number of mismatches and the worst one (llm.c's `check_tensor`).
pub fn compare(name: &str, got: &[f32], want: &[f64], tol: Tolerance) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{name}: length {} vs oracle {}", got.len(), want.len()));
    }
    let bad: Vec<usize> = (0..got.len()).filter(|&i| !tol.matches(got[i] as f64, want[i])).collect();
    if bad.is_empty() {
        return Ok(());
    }
    let worst = bad.iter().copied().max_by(|&a, &b| {
        let (ea, eb) = ((got[a] as f64 - want[a]).abs(), (got[b] as f64 - want[b]).abs());
        ea.total_cmp(&eb)
    });
    let mut msg = format!("{name}: {} of {} values outside {tol:?}\n", bad.len(), got.len());
    let show: Vec<usize> = (0..got.len().min(5)).chain(bad.iter().copied().take(5)).collect();
    for i in show {
        let ok = if tol.matches(got[i] as f64, want[i]) { "OK" } else { "NOT OK" };
        msg += &format!("  [{i:>7}] got {:>14.8e}  oracle {:>14.8e}  {ok}\n", got[i], want[i]);
    }
    if let Some(w) = worst {
        msg += &format!("  worst at [{w}]: |Δ| = {:.3e}", (got[w] as f64 - want[w]).abs());
    }
    Err(msg)
}

/// A smooth, colourful `width × height` test image (deterministic, no files needed).
pub fn test_image(width: u32, height: u32) -> Image {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for j in 0..height {
        for i in 0..width {
            let (u, v) = (i as f32 / width as f32, j as f32 / height as f32);
            rgb.push(0.5 + 0.4 * (6.0 * u + 2.0 * v).sin());
            rgb.push(0.5 + 0.4 * (5.0 * v - 3.0 * u * v).cos());
            rgb.push(if ((i / 8) + (j / 8)) % 2 == 0 { 0.8 } else { 0.2 });
        }
    }
    Image { width, height, rgb }
}

/// `n` seeded positions in `[lo, hi]²`, `(n, 2)`.
pub fn test_points(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    (0..2 * n as u32).map(|i| lo + (hi - lo) * rng::unit_f32(rng::draw(seed, Stream::Init, 99, i)[0])).collect()
}

/// Small models of every kind that exercise every code path (non-default widths, ω, trained B,
/// colliding hash tables, both growth rules and output activations, a hash grid whose coarsest
/// level is stored densely).
pub fn test_specs() -> Vec<ModelSpec> {
    vec![
        ModelSpec::Siren(SirenSpec { width: 32, hidden_layers: 3, omega0: 30.0, omega_hidden: 1.0 }),
        ModelSpec::Siren(SirenSpec { width: 20, hidden_layers: 1, omega0: 12.0, omega_hidden: 2.0 }),
        ModelSpec::Fourier(FourierSpec { frequencies: 16, sigma: 2.0, width: 24, hidden_layers: 3, train_b: true }),
        ModelSpec::HashGrid(HashGridSpec {
            levels: 8,
            log2_table_size: 8,
            width: 32,
            hidden_layers: 2,
            ..Default::default()
        }),
        ModelSpec::HashGrid(HashGridSpec {
            levels: 4,
            features_per_level: 4,
            log2_table_size: 10,
            growth: Growth::Geometric { per_level_scale: 2.0 },
            output: OutputActivation::Linear,
            width: 16,
            hidden_layers: 1,
            // Level 0's 17 × 17 corners fit the 2^10 entries: dense; levels 1-3 (33² …) hashed.
            dense_coarse: true,
            ..Default::default()
        }),
    ]
}

/// A model of `spec` with seeded parameters, perturbed so that hash tables are not near zero.
pub fn test_model(spec: ModelSpec, seed: u64) -> Model {
    let mut m = Model::new(spec, seed).expect("test specs are valid");
    let enc = m.layout().encoding;
    if matches!(m.spec, ModelSpec::HashGrid(_)) {
        for (k, v) in m.params[enc.clone()].iter_mut().enumerate() {
            *v = 0.5 * (rng::unit_f32(rng::draw(seed, Stream::Init, 98, k as u32)[0]) - 0.5);
        }
    }
    m
}

/// Conformance: inference at explicit points and on a letterboxed grid matches the oracle.
pub fn check_infer_matches_oracle<E: Engine>(engine: &mut E, tol: Tolerance) -> Result<(), String> {
    check_infer_with(engine, tol, &InferOptions::default(), true)
}

/// [`check_infer_matches_oracle`] with given inference options; `points`: whether the strategy
/// takes explicit points (a fragment shader renders grids only).
pub fn check_infer_with<E: Engine>(
    engine: &mut E,
    tol: Tolerance,
    opts: &InferOptions,
    points: bool,
) -> Result<(), String> {
    for (i, spec) in test_specs().into_iter().enumerate() {
        let model = test_model(spec.clone(), 100 + i as u64);
        engine.load(&model, None, &TrainOptions::default()).map_err(|e| e.to_string())?;
        if points {
            let (lo, hi) = match model.coords.range {
                crate::model::CoordRange::MinusOneOne => (-1.0, 1.0),
                crate::model::CoordRange::ZeroOne => (0.0, 1.0),
            };
            let points = test_points(333, lo, hi, i as u64);
            let n = engine.infer(&Query::Points(&points), opts).map_err(|e| e.to_string())?;
            let mut out = vec![0.0; 3 * n];
            engine.read_output(&mut out).map_err(|e| e.to_string())?;
            let want = reference::forward(&spec, &reference::params_f64(&model), &points);
            compare(&format!("{} at points ({opts:?})", spec.describe()), &out, &want, tol)?;
        }

        // A 37×23 grid with the seed's letterbox for a square training image.
        let (w, h) = (37u32, 23u32);
        let view = View::aspect_fit(10, 10, w, h);
        let coords = Coords { range: model.coords.range, grid: crate::model::PixelGrid::Centers };
        let n = engine.infer(&Query::Grid { width: w, height: h, coords, view }, opts).map_err(|e| e.to_string())?;
        let mut out = vec![0.0; 3 * n];
        engine.read_output(&mut out).map_err(|e| e.to_string())?;
        let mut pos = vec![0.0; 2 * n];
        let mut inside = vec![false; n];
        crate::model::grid_positions(coords, view, w, h, &mut pos, &mut inside);
        let mut want = reference::forward(&spec, &reference::params_f64(&model), &pos);
        for (k, is_in) in inside.iter().enumerate() {
            if !is_in {
                want[3 * k..3 * k + 3].fill(0.0);
            }
        }
        compare(&format!("{} on a letterboxed grid ({opts:?})", spec.describe()), &out, &want, tol)?;
    }
    Ok(())
}

/// What an engine promises the conformance suite.
#[derive(Clone, Copy, Debug)]
pub struct Conformance {
    /// Inference at `InferOptions::default()` against the oracle.
    pub forward: Tolerance,
    /// Relative error of `evaluate()`'s MSE against the oracle's.
    pub eval_rel: f64,
    /// The models the engine trains (others are skipped by the training checks).
    pub trains: fn(&ModelSpec) -> bool,
}

impl Conformance {
    /// An f32 engine that trains every model (the CPU engine's promise).
    pub const F32: Conformance = Conformance { forward: Tolerance::F32_FORWARD, eval_rel: 1e-5, trains: |_| true };
}

/// Conformance: `evaluate` equals the oracle's full-image MSE within `eval_rel`, and `model()`
/// hands back the loaded parameters exactly.
pub fn check_evaluate_and_model<E: Engine>(engine: &mut E, eval_rel: f64) -> Result<(), String> {
    let image = test_image(45, 31);
    for (i, spec) in test_specs().into_iter().enumerate() {
        let model = test_model(spec.clone(), 200 + i as u64);
        engine.load(&model, Some(&image), &TrainOptions::default()).map_err(|e| e.to_string())?;
        let back = engine.model().map_err(|e| e.to_string())?;
        if back.params != model.params {
            return Err(format!("{}: model() differs from the loaded parameters", spec.describe()));
        }
        let eval = engine.evaluate().map_err(|e| e.to_string())?;
        let n = image.pixel_count();
        let mut pos = vec![0.0; 2 * n];
        let mut inside = vec![false; n];
        crate::model::grid_positions(model.coords, View::FULL, image.width, image.height, &mut pos, &mut inside);
        let mut pred = reference::forward(&spec, &reference::params_f64(&model), &pos);
        pred.iter_mut().for_each(|y| *y = y.clamp(0.0, 1.0)); // evaluate() clamps to [0, 1]
        let target: Vec<f64> = image.rgb.iter().map(|&v| v as f64).collect();
        let mse = reference::loss::mse(&pred, &target);
        if (eval.mse - mse).abs() > eval_rel * mse + 1e-9 {
            return Err(format!("{}: evaluate() mse {} vs oracle {}", spec.describe(), eval.mse, mse));
        }
    }
    Ok(())
}

/// Conformance: training an engine and the CPU engine with the same seed, recipe and steps ends
/// within `bound_db` dB of PSNR, for every model the engine trains, and both improve on the
/// initial model.
pub fn check_training_matches_cpu<E: Engine>(
    engine: &mut E,
    steps: u32,
    bound_db: f64,
    trains: fn(&ModelSpec) -> bool,
) -> Result<(), String> {
    let image = test_image(48, 40);
    for (i, spec) in test_specs().into_iter().enumerate().filter(|(_, s)| trains(s)) {
        let model = Model::new(spec.clone(), 300 + i as u64).map_err(|e| e.to_string())?;
        let lr = if matches!(spec, ModelSpec::HashGrid(_)) { 1e-2 } else { 2e-3 };
        let opts =
            TrainOptions { batch: 1000, seed: 7, adam: AdamConfig { lr, ..Default::default() }, ..Default::default() };
        let mut cpu = crate::cpu::CpuEngine::new();
        let mut psnr = [0.0; 2];
        for (k, e) in [engine as &mut dyn Engine, &mut cpu as &mut dyn Engine].into_iter().enumerate() {
            e.load(&model, Some(&image), &opts).map_err(|e| e.to_string())?;
            let before = e.evaluate().map_err(|e| e.to_string())?.psnr_db;
            e.train(steps).map_err(|e| e.to_string())?;
            psnr[k] = e.evaluate().map_err(|e| e.to_string())?.psnr_db;
            if psnr[k] < before + 1.0 {
                return Err(format!(
                    "{} on {}: PSNR went from {before:.2} to {:.2} dB",
                    spec.describe(),
                    e.name(),
                    psnr[k]
                ));
            }
        }
        if (psnr[0] - psnr[1]).abs() > bound_db {
            return Err(format!(
                "{}: {} reached {:.3} dB, the CPU engine {:.3} dB (bound {bound_db} dB)",
                spec.describe(),
                engine.name(),
                psnr[0],
                psnr[1]
            ));
        }
    }
    Ok(())
}

/// Conformance: resuming from `model()` + `optimizer_state()` continues exactly like an
/// uninterrupted run (same parameters after the same total number of steps).
pub fn check_resume_is_exact<E: Engine>(make: impl Fn() -> E) -> Result<(), String> {
    let image = test_image(24, 20);
    let spec = test_specs().swap_remove(0);
    let model = Model::new(spec, 5).map_err(|e| e.to_string())?;
    let opts = TrainOptions { batch: 300, seed: 3, ..Default::default() };
    let mut straight = make();
    straight.load(&model, Some(&image), &opts).map_err(|e| e.to_string())?;
    straight.train(10).map_err(|e| e.to_string())?;
    let mut first = make();
    first.load(&model, Some(&image), &opts).map_err(|e| e.to_string())?;
    first.train(4).map_err(|e| e.to_string())?;
    let (mid, state) = (first.model().map_err(|e| e.to_string())?, first.optimizer_state().map_err(|e| e.to_string())?);
    let mut second = make();
    second.load(&mid, Some(&image), &opts).map_err(|e| e.to_string())?;
    second.set_optimizer_state(&state).map_err(|e| e.to_string())?;
    let stats = second.train(6).map_err(|e| e.to_string())?;
    if stats.step != 10 {
        return Err(format!("resumed run reports step {} after 4 + 6 steps", stats.step));
    }
    let (a, b) = (straight.model().map_err(|e| e.to_string())?, second.model().map_err(|e| e.to_string())?);
    if a.params != b.params {
        let diff = a.params.iter().zip(&b.params).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        return Err(format!("resumed parameters differ from an uninterrupted run (max |Δ| {diff:e})"));
    }
    Ok(())
}

/// Conformance: misuse gives errors, not panics.
pub fn check_errors<E: Engine>(engine: &mut E) -> Result<(), String> {
    let model = test_model(test_specs().swap_remove(0), 1);
    engine.load(&model, None, &TrainOptions::default()).map_err(|e| e.to_string())?;
    if engine.train(1).is_ok() {
        return Err("train() without a target succeeded".into());
    }
    if engine.evaluate().is_ok() {
        return Err("evaluate() without a target succeeded".into());
    }
    if engine.set_optimizer_state(&crate::train::AdamState::zeros(3)).is_ok() {
        return Err("an optimizer state of the wrong length was accepted".into());
    }
    let mut bad = model.clone();
    bad.params.pop();
    if engine.load(&bad, None, &TrainOptions::default()).is_ok() {
        return Err("a model with a short parameter vector was accepted".into());
    }
    Ok(())
}

/// Stamps the conformance suite into an engine crate's tests:
/// `nfield::engine_conformance_tests!(make_engine, conformance);` where `make_engine` is a
/// `fn() -> Option<E>` that returns `None` (after printing `skipped: <why>`) where the engine's
/// device is missing, so a missing device is a visible skip, never a silent pass, and
/// `conformance` is a [`Conformance`].
#[macro_export]
macro_rules! engine_conformance_tests {
    ($make:path, $conf:expr) => {
        #[test]
        fn conformance_infer_matches_oracle() {
            let Some(mut e) = $make() else { return };
            if let Err(msg) = $crate::testing::check_infer_matches_oracle(&mut e, $conf.forward) {
                panic!("{msg}");
            }
        }
        #[test]
        fn conformance_evaluate_and_model() {
            let Some(mut e) = $make() else { return };
            if let Err(msg) = $crate::testing::check_evaluate_and_model(&mut e, $conf.eval_rel) {
                panic!("{msg}");
            }
        }
        #[test]
        fn conformance_training_matches_cpu_engine() {
            let Some(mut e) = $make() else { return };
            if let Err(msg) = $crate::testing::check_training_matches_cpu(&mut e, 60, 0.3, $conf.trains) {
                panic!("{msg}");
            }
        }
        #[test]
        fn conformance_resume_is_exact() {
            if $make().is_none() {
                return;
            }
            if let Err(msg) = $crate::testing::check_resume_is_exact(|| $make().expect("the device disappeared")) {
                panic!("{msg}");
            }
        }
        #[test]
        fn conformance_errors() {
            let Some(mut e) = $make() else { return };
            if let Err(msg) = $crate::testing::check_errors(&mut e) {
                panic!("{msg}");
            }
        }
    };
}

//! The wgpu trainer against the f64 oracle (gradients, loss) and the CPU engine (Adam, whole
//! training runs), plus determinism, resumption, chunking of large batches and the errors of
//! what does not fit. Runs on any adapter (lavapipe in CI).

use nfield::Engine;
use nfield::Precision;
use nfield::cpu::CpuEngine;
use nfield::data::Image;
use nfield::model::{FourierSpec, Model, ModelSpec, SirenSpec};
use nfield::reference;
use nfield::rng;
use nfield::testing::{Tolerance, compare, test_image, test_model, test_specs};
use nfield::train::{AdamConfig, AdamState, TrainOptions};
use nfield_wgpu::Gpu;
use nfield_wgpu::train::{Trainer, fp16_support};
use std::sync::Arc;

/// The test GPU, or `None` (printing `skipped: …`) where no adapter exists; under `CI=true` a
/// missing adapter fails the test (CI installs lavapipe).
fn gpu() -> Option<Arc<Gpu>> {
    match Gpu::open() {
        Ok(g) => Some(g),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("no wgpu adapter under CI: {e}");
            }
            eprintln!("skipped: no adapter ({e})");
            None
        }
    }
}

/// `gpu` with its limits replaced (forces chunking or the binding error) or without subgroups.
fn limited(gpu: &Arc<Gpu>, max_binding: u64, subgroups: bool) -> Arc<Gpu> {
    let mut g = (**gpu).clone();
    g.max_binding = max_binding;
    g.subgroups = g.subgroups && subgroups;
    Arc::new(g)
}

fn trainer(gpu: &Arc<Gpu>, model: &Model, image: &Image, opts: &TrainOptions) -> Trainer {
    trainer_in(gpu, model, image, opts, Precision::Fp32)
}

fn trainer_in(gpu: &Arc<Gpu>, model: &Model, image: &Image, opts: &TrainOptions, precision: Precision) -> Trainer {
    let params = gpu.storage_init("params", &model.params).expect("params buffer");
    Trainer::with_precision(gpu.clone(), model, image, opts, params, precision).expect("trainer")
}

/// The precisions `gpu` trains in: fp32, and fp16 where it has cooperative matrices. Where it
/// has not, the fp16 refusal is checked and a `skipped: …` line says so.
fn precisions(gpu: &Arc<Gpu>) -> Vec<Precision> {
    match fp16_support(gpu) {
        Ok(()) => vec![Precision::Fp32, Precision::Fp16],
        Err(why) => {
            let model = test_model(test_specs().swap_remove(0), 1);
            let params = gpu.storage_init("params", &model.params).expect("params buffer");
            let opts = TrainOptions::default();
            let err = Trainer::with_precision(gpu.clone(), &model, &test_image(8, 8), &opts, params, Precision::Fp16)
                .err()
                .expect("fp16 refused");
            assert!(err.to_string().contains("cooperative matrices"), "{err}");
            eprintln!("skipped: fp16 training ({why})");
            vec![Precision::Fp32]
        }
    }
}

/// ‖got − want‖ / ‖want‖.
fn relative_l2(got: &[f32], want: &[f64]) -> f64 {
    let diff: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).powi(2)).sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    (diff / norm.max(f64::MIN_POSITIVE)).sqrt()
}

/// The model with the trainer's current parameters.
fn read_model(gpu: &Gpu, t: &Trainer, model: &Model) -> Model {
    let mut m = model.clone();
    m.params = gpu.read_f32(t.params(), 0, model.params.len()).expect("read params");
    m
}

/// The oracle's loss and gradient of step `step` (the samples the sampler draws for it).
fn oracle(model: &Model, image: &Image, opts: &TrainOptions, step: u64) -> (f64, Vec<f64>) {
    let (w, h) = (image.width, image.height);
    let mut x = Vec::new();
    let mut t = Vec::new();
    for s in 0..opts.batch {
        let p = rng::train_pixel(opts.seed, step, s, w * h);
        x.push(model.coords.axis(p % w, w));
        x.push(model.coords.axis(p / w, h));
        t.extend(image.pixel(p as usize).iter().map(|&c| c as f64));
    }
    reference::loss_and_grad(&model.spec, &reference::params_f64(model), &x, &t)
}

fn check(result: Result<(), String>) {
    if let Err(msg) = result {
        panic!("{msg}");
    }
}

/// Hash tables: entries are sums of few terms but the f32 scatter adds them in any order; all
/// but 0.1% must meet F32_GRADIENT (scaled), and every one 1e-3 × the peak.
fn check_table(name: &str, got: &[f32], want: &[f64]) {
    let tol = Tolerance::F32_GRADIENT.scaled(want);
    let bad = got.iter().zip(want).filter(|&(&g, &w)| !tol.matches(g as f64, w)).count();
    let peak = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max);
    eprintln!("{name}: {bad} of {} outside {tol:?}, worst |Δ| {worst:.3e} (peak {peak:.3e})", got.len());
    assert!(bad * 1000 <= got.len(), "{name}: {bad} of {} values outside {tol:?}", got.len());
    assert!(worst <= 1e-3 * peak, "{name}: worst |Δ| {worst:e} above 1e-3 × peak {peak:e}");
}

#[test]
fn gradient_and_loss_match_the_oracle() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(40, 30);
    for (k, spec) in test_specs().into_iter().enumerate() {
        let model = test_model(spec.clone(), 40 + k as u64);
        let opts = TrainOptions { batch: 300, seed: 77, ..Default::default() };
        let (loss64, want) = oracle(&model, &image, &opts, 0);
        let mut t = trainer(&gpu, &model, &image, &opts);
        let got = t.gradient().expect("gradient");
        assert_eq!(t.step(), 0, "gradient() does not advance the step");
        let layout = model.layout();
        let mlp = 0..layout.encoding.start;
        let name = spec.describe();
        check(compare(
            &format!("{name} MLP gradient"),
            &got[mlp.clone()],
            &want[mlp.clone()],
            Tolerance::F32_GRADIENT.scaled(&want[mlp]),
        ));
        let enc = layout.encoding.clone();
        match spec {
            ModelSpec::HashGrid(_) => check_table(&format!("{name} table gradient"), &got[enc.clone()], &want[enc]),
            _ if layout.encoding_trainable => check(compare(
                &format!("{name} B gradient"),
                &got[enc.clone()],
                &want[enc.clone()],
                Tolerance::F32_GRADIENT.scaled(&want[enc]),
            )),
            _ => assert!(got[enc].iter().all(|&g| g == 0.0)),
        }
        // The loss of the step through both reductions (subgroups where offered, and the tree).
        for subgroups in [true, false] {
            let g = limited(&gpu, gpu.max_binding, subgroups);
            let mut t = trainer(&g, &model, &image, &opts);
            let loss = t.train(1).expect("train");
            assert!(
                Tolerance::F32_FORWARD.matches(loss as f64, loss64),
                "{name}: loss {loss} vs oracle {loss64} (subgroups {})",
                g.subgroups
            );
        }
    }
}

/// Widths the test models do not have: 96 units (several 64 × 64 weight-gradient tiles each way,
/// the second partial, in one dispatch with the narrow first and last layers' tiles) and 10
/// (no 16-byte accesses anywhere: the scalar paths of the products and of the output layer
/// fused into the loss).
#[test]
fn uneven_widths_match_the_oracle() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(40, 30);
    for width in [96, 10] {
        let spec = ModelSpec::Siren(SirenSpec { width, hidden_layers: 2, omega0: 30.0, omega_hidden: 1.0 });
        let model = test_model(spec.clone(), 9);
        let opts = TrainOptions { batch: 300, seed: 5, ..Default::default() };
        let (_, want) = oracle(&model, &image, &opts, 0);
        let got = trainer(&gpu, &model, &image, &opts).gradient().expect("gradient");
        let mlp = 0..model.layout().encoding.start;
        check(compare(
            &format!("{} MLP gradient", spec.describe()),
            &got[mlp.clone()],
            &want[mlp.clone()],
            Tolerance::F32_GRADIENT.scaled(&want[mlp]),
        ));
    }
}

/// Runs of equal-width hidden layers run fused (train_fused.wgsl: one dispatch per pass): SIREN
/// at 64 units (the benchmark's width: tiles of 64 samples in lavapipe's 32 KiB, of 128 on
/// NVIDIA), 32 (tiles of 128 samples with the loss fused, the H100's shape at width 64) and 20
/// (4-unit blocks), and a ReLU Fourier MLP at 48 (6 invocations across). Each gradient matches the
/// oracle fused, and unfused on the same device (`Gpu::fused_layers` off: the layer-by-layer
/// products), and the two agree with each other; so does the loss, which the fused forward pass
/// computes after the run (the output layer sits right above it).
#[test]
fn fused_layer_runs_match_the_oracle() {
    let Some(gpu) = gpu() else { return };
    let mut layered = (*gpu).clone();
    layered.fused_layers = false;
    let layered = Arc::new(layered);
    let image = test_image(40, 30);
    let specs = [
        ModelSpec::Siren(SirenSpec { width: 64, hidden_layers: 3, omega0: 30.0, omega_hidden: 1.0 }),
        ModelSpec::Siren(SirenSpec { width: 32, hidden_layers: 3, omega0: 30.0, omega_hidden: 1.0 }),
        ModelSpec::Siren(SirenSpec { width: 20, hidden_layers: 4, omega0: 20.0, omega_hidden: 2.0 }),
        ModelSpec::Fourier(FourierSpec { frequencies: 8, sigma: 2.0, width: 48, hidden_layers: 3, train_b: false }),
    ];
    for (k, spec) in specs.into_iter().enumerate() {
        let model = test_model(spec.clone(), 60 + k as u64);
        let opts = TrainOptions { batch: 600, seed: 8, ..Default::default() };
        let (loss64, want) = oracle(&model, &image, &opts, 0);
        let mlp = 0..model.layout().encoding.start;
        let tol = Tolerance::F32_GRADIENT.scaled(&want[mlp.clone()]);
        // the fused forward pass computes the loss too (its partial sums per 16 samples)
        for (how, g) in [("fused", &gpu), ("layered", &layered)] {
            let loss = trainer(g, &model, &image, &opts).train(1).expect("train");
            let name = spec.describe();
            assert!(Tolerance::F32_FORWARD.matches(loss as f64, loss64), "{name} {how}: loss {loss} vs {loss64}");
        }
        let mut got = Vec::new();
        for (how, g) in [("fused", &gpu), ("layered", &layered)] {
            let mut t = trainer(g, &model, &image, &opts);
            let hidden = 1..spec.layout().layers.len() - 1;
            assert_eq!(t.fused_layers(), (how == "fused").then_some(hidden), "{}", spec.describe());
            let grad = t.gradient().expect("gradient");
            let name = format!("{} MLP gradient, {how}", spec.describe());
            check(compare(&name, &grad[mlp.clone()], &want[mlp.clone()], tol));
            got.push(grad);
        }
        let diff =
            relative_l2(&got[0][mlp.clone()], &got[1][mlp.clone()].iter().map(|&v| v as f64).collect::<Vec<_>>());
        eprintln!("{}: fused vs layered relative L2 {diff:.2e}", spec.describe());
        assert!(diff < 1e-5, "{}: fused and layered gradients differ by {diff:e}", spec.describe());
    }
}

/// Training's matrix products compile without naga's bounds checks (`Gpu::product_pipeline`),
/// which is sound only if none of their indices leaves its array or binding: a clamped index
/// would read another value and change the result. Every model, the uneven widths (scalar
/// paths, several weight-gradient tiles) and a fused run give the same bits with and without
/// the checks.
#[test]
fn bounds_checks_do_not_change_a_bit() {
    let Some(gpu) = gpu() else { return };
    let with = |checks: bool| {
        let mut g = (*gpu).clone();
        g.bounds_checks = checks;
        Arc::new(g)
    };
    let (unchecked, checked) = (with(false), with(true));
    let image = test_image(40, 30);
    let siren =
        |width, hidden_layers| ModelSpec::Siren(SirenSpec { width, hidden_layers, omega0: 30.0, omega_hidden: 1.0 });
    let specs = test_specs().into_iter().chain([siren(96, 2), siren(10, 2), siren(64, 3)]);
    for (k, spec) in specs.enumerate() {
        let model = test_model(spec.clone(), 70 + k as u64);
        let opts = TrainOptions { batch: 600, seed: 4, ..Default::default() };
        let got = trainer(&unchecked, &model, &image, &opts).gradient().expect("gradient");
        let want = trainer(&checked, &model, &image, &opts).gradient().expect("gradient");
        let differ = got.iter().zip(&want).filter(|(g, w)| g.to_bits() != w.to_bits()).count();
        assert_eq!(differ, 0, "{}: {differ} of {} gradients change with bounds checks", spec.describe(), got.len());
    }
}

#[test]
fn adam_step_matches_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(40, 30);
    for (k, spec) in test_specs().into_iter().enumerate() {
        let model = test_model(spec.clone(), 50 + k as u64);
        let adam = AdamConfig { lr: 1e-3, ..Default::default() };
        let opts = TrainOptions { batch: 300, seed: 5, adam, ..Default::default() };
        let mut cpu = CpuEngine::new();
        cpu.load(&model, Some(&image), &opts).expect("load");
        cpu.train(2).expect("cpu train");
        let want = cpu.model().expect("model").params;
        let mut t = trainer(&gpu, &model, &image, &opts);
        t.train(2).expect("train");
        let got = read_model(&gpu, &t, &model).params;
        // After two steps a parameter has moved by at most ≈ 2·lr; with gradients equal to
        // ~1e-4 relative the moves agree to far better than lr, except where a gradient
        // cancels to ~0 (its sign is then noise): allow 0.1% of those.
        let far = got.iter().zip(&want).filter(|&(g, w)| (g - w).abs() > 1e-2 * adam.lr).count();
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0f32, f32::max);
        eprintln!("{}: {far} of {} beyond 1e-2·lr, worst |Δ| {worst:.3e}", spec.describe(), got.len());
        assert!(far * 1000 <= got.len(), "{}: {far} parameters differ by more than 1e-2·lr", spec.describe());
        assert!(worst <= 4.0 * adam.lr, "{}: worst |Δ| {worst}", spec.describe());
        assert_eq!(t.step(), 2);
        let state = t.adam_state().expect("state");
        assert_eq!(state.step, 2);
        if !model.layout().encoding_trainable {
            let enc = model.layout().encoding;
            assert!(state.m[enc.clone()].iter().all(|&m| m == 0.0), "frozen B has no moments");
            assert_eq!(got[enc.clone()], model.params[enc], "frozen B is untouched");
        }
    }
}

#[test]
fn training_is_deterministic() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(24, 20);
    // every model, hash grids included (their table gradient is added as 64-bit fixed point)
    let precisions = precisions(&gpu);
    for (spec, &precision) in test_specs().into_iter().flat_map(|s| precisions.iter().map(move |p| (s.clone(), p))) {
        let model = test_model(spec.clone(), 3);
        let opts = TrainOptions { batch: 700, seed: 9, ..Default::default() };
        let runs: Vec<Vec<f32>> = (0..2)
            .map(|_| {
                let mut t = trainer_in(&gpu, &model, &image, &opts, precision);
                t.train(5).expect("train");
                read_model(&gpu, &t, &model).params
            })
            .collect();
        assert!(runs[0] == runs[1], "{} {precision:?}: two runs differ", spec.describe());
        assert!(runs[0] != model.params, "training moved the parameters");
    }
}

/// A profiled step is a real step (the same parameters as `train(1)`) and names every pass;
/// where the device has no timestamp queries it is an error saying so.
#[test]
fn a_profiled_step_is_a_step() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(24, 20);
    let model = test_model(test_specs().swap_remove(3), 6); // a hash grid: every kind of pass
    let opts = TrainOptions { batch: 300, seed: 4, ..Default::default() };
    let mut profiled = trainer(&gpu, &model, &image, &opts);
    let passes = match profiled.profile_step() {
        Ok(p) => p,
        Err(e) => {
            assert!(e.to_string().contains("timestamp"), "{e}");
            eprintln!("skipped: {e}");
            return;
        }
    };
    let names: Vec<&str> = passes.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["sample", "encode", "forward", "loss", "backward", "weight_grad", "encoding_grad", "adam"]);
    assert!(passes.iter().all(|(_, us)| us.is_finite() && *us >= 0.0), "{passes:?}");
    assert_eq!(profiled.step(), 1);
    let mut plain = trainer(&gpu, &model, &image, &opts);
    plain.train(1).expect("train");
    assert!(read_model(&gpu, &profiled, &model).params == read_model(&gpu, &plain, &model).params);
}

#[test]
fn resume_is_exact() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(24, 20);
    let model = Model::new(test_specs().swap_remove(0), 5).expect("model");
    let opts = TrainOptions { batch: 300, seed: 3, ..Default::default() };
    let mut straight = trainer(&gpu, &model, &image, &opts);
    straight.train(10).expect("train");
    let mut first = trainer(&gpu, &model, &image, &opts);
    first.train(4).expect("train");
    let (mid, state) = (read_model(&gpu, &first, &model), first.adam_state().expect("state"));
    let mut second = trainer(&gpu, &mid, &image, &opts);
    second.set_adam_state(&state).expect("state");
    second.train(6).expect("train");
    assert_eq!(second.step(), 10);
    assert!(read_model(&gpu, &straight, &model).params == read_model(&gpu, &second, &model).params);
    let err = second.set_adam_state(&AdamState::zeros(3)).expect_err("wrong length");
    assert!(err.to_string().contains("3 first"), "{err}");
}

#[test]
fn training_matches_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    for precision in precisions(&gpu) {
        training_matches_the_cpu_engine_in(&gpu, precision);
    }
}

/// 60 steps of every test model within 0.3 dB of the CPU engine's fp32 run (same seed and
/// recipe), in `precision`.
fn training_matches_the_cpu_engine_in(gpu: &Arc<Gpu>, precision: Precision) {
    let image = test_image(48, 40);
    for (i, spec) in test_specs().into_iter().enumerate() {
        let model = Model::new(spec.clone(), 300 + i as u64).expect("model");
        let lr = if matches!(spec, ModelSpec::HashGrid(_)) { 1e-2 } else { 2e-3 };
        let opts =
            TrainOptions { batch: 1000, seed: 7, adam: AdamConfig { lr, ..Default::default() }, ..Default::default() };
        let mut cpu = CpuEngine::new();
        cpu.load(&model, Some(&image), &opts).expect("load");
        let before = cpu.evaluate().expect("eval").psnr_db;
        cpu.train(60).expect("cpu train");
        let want = cpu.evaluate().expect("eval").psnr_db;
        let mut t = trainer_in(gpu, &model, &image, &opts, precision);
        let start = std::time::Instant::now();
        t.train(60).expect("train");
        let trained = read_model(gpu, &t, &model);
        let secs = start.elapsed().as_secs_f64();
        let mut eval = CpuEngine::new();
        eval.load(&trained, Some(&image), &opts).expect("load");
        let got = eval.evaluate().expect("eval").psnr_db;
        eprintln!(
            "{} {precision:?}: PSNR {before:.2} → wgpu {got:.3} dB, CPU {want:.3} dB; {:.2} ms/step on {}",
            spec.describe(),
            1e3 * secs / 60.0,
            gpu.describe()
        );
        assert!(got > before + 1.0, "{}: PSNR went from {before:.2} to {got:.2}", spec.describe());
        assert!((got - want).abs() <= 0.3, "{} {precision:?}: wgpu {got:.3} dB vs CPU {want:.3} dB", spec.describe());
    }
}

/// fp16 training's gradient (the weight gradients' products with f16 operands and f32
/// accumulation) against the f64 oracle, by relative L2 error per tensor (the MLP, a trained
/// Fourier B or hash table): within 1e-3, the loss within 1e-5 relative (its forward pass is
/// f32). Measured on an H100 through Vulkan: MLPs 1e-5 to 1.6e-4 (SIREN-32×3 the largest), B
/// and tables ≤ 1.3e-5 (they reach f16 only through the MLP's weights).
#[test]
fn fp16_gradient_is_close_to_the_oracle() {
    let Some(gpu) = gpu() else { return };
    if !precisions(&gpu).contains(&Precision::Fp16) {
        return;
    }
    let image = test_image(40, 30);
    for (k, spec) in test_specs().into_iter().enumerate() {
        let model = test_model(spec.clone(), 40 + k as u64);
        let opts = TrainOptions { batch: 300, seed: 77, ..Default::default() };
        let (loss64, want) = oracle(&model, &image, &opts, 0);
        let got = trainer_in(&gpu, &model, &image, &opts, Precision::Fp16).gradient().expect("gradient");
        let layout = model.layout();
        let mut parts = vec![("MLP", 0..layout.encoding.start)];
        if layout.encoding_trainable {
            parts.push(("encoding", layout.encoding.clone()));
        }
        for (part, range) in parts {
            let err = relative_l2(&got[range.clone()], &want[range]);
            eprintln!("{} fp16 {part} gradient: relative L2 error {err:.2e}", spec.describe());
            assert!(err <= 1e-3, "{} fp16 {part} gradient: relative L2 error {err:e}", spec.describe());
        }
        let loss = trainer_in(&gpu, &model, &image, &opts, Precision::Fp16).train(1).expect("train") as f64;
        assert!(
            Tolerance::F32_FORWARD.matches(loss, loss64),
            "{}: fp16 loss {loss} vs oracle {loss64}",
            spec.describe()
        );
    }
}

/// Steps recorded many to a submission read each its own step record (a slot of one buffer):
/// 40 steps in one `train` call (two submissions, slots 0‥31 then 0‥7) give the same bits as 40
/// calls of one step each (slot 0 every time), for a step of one chunk (one compute pass) and
/// one of several (the chunk records copied in).
#[test]
fn steps_of_one_submission_read_their_own_records() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(24, 20);
    let model = test_model(test_specs().swap_remove(0), 8);
    let opts = TrainOptions { batch: 600, seed: 2, ..Default::default() };
    for g in [gpu.clone(), limited(&gpu, 256 << 10, true)] {
        let mut batched = trainer(&g, &model, &image, &opts);
        let chunks = opts.batch.div_ceil(batched.chunk_size());
        batched.train(40).expect("train");
        let mut single = trainer(&g, &model, &image, &opts);
        for _ in 0..40 {
            single.train(1).expect("train");
        }
        assert_eq!((batched.step(), single.step()), (40, 40));
        let (a, b) = (read_model(&g, &batched, &model).params, read_model(&g, &single, &model).params);
        assert!(a == b, "{chunks} chunk(s) a step: 40 steps at once differ from 40 single steps");
        assert!(a != model.params, "training moved the parameters");
        eprintln!("{chunks} chunk(s) a step: identical");
    }
}

#[test]
fn large_batches_are_chunked_and_too_small_limits_are_errors() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(40, 30);
    let spec = test_specs().swap_remove(2); // Fourier with a trained B
    let model = test_model(spec, 6);
    let opts = TrainOptions { batch: 1500, seed: 4, ..Default::default() };
    let whole = trainer(&gpu, &model, &image, &opts).gradient().expect("gradient");
    // A 256 KiB binding limit forces chunks of 256 samples: the same gradient, summed per chunk.
    let small = limited(&gpu, 256 << 10, true);
    let mut t = trainer(&small, &model, &image, &opts);
    assert!(t.chunk_size() < opts.batch, "chunk {} for batch {}", t.chunk_size(), opts.batch);
    let chunked = t.gradient().expect("gradient");
    let whole64: Vec<f64> = whole.iter().map(|&v| v as f64).collect();
    check(compare("chunked gradient", &chunked, &whole64, Tolerance::F32_GRADIENT.scaled(&whole64)));
    let loss = t.train(1).expect("chunked step");
    let (loss64, _) = oracle(&model, &image, &opts, 0);
    assert!(Tolerance::F32_FORWARD.matches(loss as f64, loss64), "chunked loss {loss} vs {loss64}");

    // A batch of 2^22 fits lavapipe's 128 MiB bindings in chunks.
    let big = TrainOptions { batch: 1 << 22, ..opts.clone() };
    let t = trainer(&gpu, &model, &image, &big);
    assert!(t.chunk_size() < big.batch);

    // Nothing fits a 4 KiB binding: an error naming the batch and the limit, not a panic.
    let tiny = limited(&gpu, 4 << 10, true);
    let params = gpu.storage_init("params", &model.params).expect("params");
    let err = Trainer::new(tiny, &model, &image, &opts, params).err().expect("too small");
    let msg = err.to_string();
    assert!(msg.contains("batch of 1500") && msg.contains("MiB"), "{msg}");
}

/// Timing, not a check (`cargo test --release --test train -- --ignored --nocapture`):
/// milliseconds per step of SIREN 64×8 at a few batch sizes on this adapter.
#[test]
#[ignore]
fn step_timing() {
    let Some(gpu) = gpu() else { return };
    let image = test_image(256, 256);
    let spec = ModelSpec::Siren(nfield::model::SirenSpec::default());
    let model = Model::new(spec, 1).expect("model");
    let batches: Vec<u32> = std::env::var("NFIELD_TIMING_BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|b| b.parse().ok()).collect())
        .unwrap_or_else(|| vec![1 << 10, 1 << 12, 1 << 14]);
    for batch in batches {
        let opts = TrainOptions { batch, ..Default::default() };
        let mut t = trainer(&gpu, &model, &image, &opts);
        t.train(2).expect("warm-up");
        let steps = 10;
        let start = std::time::Instant::now();
        t.train(steps).expect("train");
        let ms = 1e3 * start.elapsed().as_secs_f64() / steps as f64;
        eprintln!(
            "SIREN 64×8, batch {batch} (chunks of {}): {ms:.2} ms/step, {:.4} G samples/s on {}",
            t.chunk_size(),
            batch as f64 / ms / 1e6,
            gpu.describe()
        );
    }
}

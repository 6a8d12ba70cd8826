//! The wgpu engine against the f64 oracle and the CPU engine, on whatever adapter exists: Mesa's
//! lavapipe (CPU Vulkan) in CI, the NVIDIA Vulkan driver on the GPU machine. Without an adapter
//! every test prints `skipped: no adapter` (under `CI=true` it fails instead: CI installs
//! lavapipe).

use nfield::Engine;
use nfield::engine::{InferOptions, Precision, Query, Strategy};
use nfield::model::View;
use nfield::testing::{self, Conformance, Tolerance};
use nfield::train::TrainOptions;
use nfield_wgpu::{FieldRenderer, Gpu, WgpuEngine};
use std::sync::{Arc, OnceLock};

/// The adapter, opened once per test binary.
fn gpu() -> Option<Arc<Gpu>> {
    static GPU: OnceLock<Result<Arc<Gpu>, String>> = OnceLock::new();
    match GPU.get_or_init(|| Gpu::open().map_err(|e| e.to_string())) {
        Ok(g) => Some(g.clone()),
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI must have a wgpu adapter (lavapipe): {why}");
            }
            eprintln!("skipped: no adapter ({why})");
            None
        }
    }
}

fn engine() -> Option<WgpuEngine> {
    gpu().map(WgpuEngine::on)
}

/// fp32 everywhere, like the CPU engine; the evaluation sums per-workgroup partials in f32.
const WGPU: Conformance = Conformance { forward: Tolerance::F32_FORWARD, eval_rel: 1e-5, trains: |_| true };

nfield::engine_conformance_tests!(engine, WGPU);

fn strategy(s: Strategy) -> InferOptions {
    InferOptions { strategy: s, precision: Precision::Fp32 }
}

#[test]
fn per_pixel_matches_the_oracle() {
    let Some(mut e) = engine() else { return };
    testing::check_infer_with(&mut e, Tolerance::F32_FORWARD, &strategy(Strategy::PerPixel), true)
        .unwrap_or_else(|m| panic!("{m}"));
}

#[test]
fn cooperative_matches_the_oracle() {
    let Some(mut e) = engine() else { return };
    testing::check_infer_with(&mut e, Tolerance::F32_FORWARD, &strategy(Strategy::Cooperative), true)
        .unwrap_or_else(|m| panic!("{m}"));
}

/// fp16 matrix inputs with f32 accumulation on cooperative matrices (tensor cores): DESIGN.md's
/// half-precision tolerance. Adapters without f16 cooperative matrices (lavapipe) refuse the
/// request with a reason instead.
#[test]
fn fp16_cooperative_matches_the_oracle() {
    let Some(mut e) = engine() else { return };
    let fp16 = InferOptions { strategy: Strategy::Cooperative, precision: Precision::Fp16 };
    if !e.gpu().cooperative_matrix_f16 {
        eprintln!("skipped: {} has no f16 cooperative matrices", e.gpu().describe());
        let model = testing::test_model(testing::test_specs().swap_remove(0), 1);
        e.load(&model, None, &TrainOptions::default()).expect("load");
        let err = e.infer(&Query::Points(&[0.0, 0.0]), &fp16).expect_err("fp16 without cooperative matrices");
        assert!(err.to_string().contains("cooperative matrices"), "{err}");
        return;
    }
    testing::check_infer_with(&mut e, Tolerance::HALF, &fp16, true).unwrap_or_else(|m| panic!("{m}"));
}

/// The MLP's weights compiled into the shader as literals (every test model: SIREN, Fourier and
/// hash grids, dense levels included).
#[test]
fn baked_matches_the_oracle() {
    let Some(mut e) = engine() else { return };
    testing::check_infer_with(&mut e, Tolerance::F32_FORWARD, &strategy(Strategy::Baked), true)
        .unwrap_or_else(|m| panic!("{m}"));
}

/// After training changes the weights, the baked pipeline is rebuilt: its render then matches
/// the per-pixel kernel's, which reads the parameter buffer, and differs from the first render.
#[test]
fn baked_follows_training() {
    let Some(mut e) = engine() else { return };
    let spec = testing::test_specs().swap_remove(2); // Fourier: B is read from the buffer too
    let opts = TrainOptions { batch: 256, ..Default::default() };
    e.load(&testing::test_model(spec, 5), Some(&testing::test_image(24, 16)), &opts).expect("load");
    let points = testing::test_points(97, -1.0, 1.0, 3);
    let render = |e: &mut WgpuEngine, s: Strategy| {
        let n = e.infer(&Query::Points(&points), &strategy(s)).expect("infer");
        let mut out = vec![0.0; 3 * n];
        e.read_output(&mut out).expect("read");
        out
    };
    let before = render(&mut e, Strategy::Baked);
    e.train(20).expect("train");
    let (baked, per_pixel) = (render(&mut e, Strategy::Baked), render(&mut e, Strategy::PerPixel));
    let want: Vec<f64> = per_pixel.iter().map(|&v| v as f64).collect();
    testing::compare("baked after training", &baked, &want, Tolerance::F32_FORWARD).unwrap_or_else(|m| panic!("{m}"));
    let moved = before.iter().zip(&baked).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-4, "20 steps of training left the baked render unchanged (max change {moved})");
}

#[test]
fn fragment_matches_the_oracle() {
    let Some(mut e) = engine() else { return };
    testing::check_infer_with(&mut e, Tolerance::F32_FORWARD, &strategy(Strategy::Fragment), false)
        .unwrap_or_else(|m| panic!("{m}"));
}

#[test]
fn wide_and_deep_models_render_in_every_strategy() {
    // Width 200 (not a multiple of the 64-output chunks or 32-input weight chunks) and 5
    // hidden layers: the cooperative kernel stages each layer in several chunks.
    let Some(mut e) = engine() else { return };
    let spec = nfield::model::ModelSpec::Siren(nfield::model::SirenSpec {
        width: 200,
        hidden_layers: 5,
        omega0: 30.0,
        omega_hidden: 1.0,
    });
    let model = testing::test_model(spec.clone(), 9);
    e.load(&model, None, &TrainOptions::default()).expect("load");
    let points = testing::test_points(257, -1.0, 1.0, 4);
    let want = nfield::reference::forward(&spec, &nfield::reference::params_f64(&model), &points);
    for s in [Strategy::PerPixel, Strategy::Cooperative, Strategy::Auto] {
        let result = e.infer(&Query::Points(&points), &strategy(s));
        if s == Strategy::PerPixel && e.gpu().is_software() {
            // lavapipe's known bug (shaders/mlp_forward.wgsl): refused with a reason, not wrong.
            let err = result.expect_err("per-pixel past 64 Ki MLP parameters on a CPU adapter");
            assert!(err.to_string().contains("cooperative"), "{err}");
            continue;
        }
        let n = result.expect("infer");
        let mut out = vec![0.0; 3 * n];
        e.read_output(&mut out).expect("read");
        testing::compare(&format!("SIREN 200×5 {s:?}"), &out, &want, Tolerance::F32_FORWARD)
            .unwrap_or_else(|m| panic!("{m}"));
    }
}

#[test]
fn misuse_is_an_error() {
    let Some(mut e) = engine() else { return };
    let model = testing::test_model(testing::test_specs().swap_remove(0), 1);
    e.load(&model, None, &TrainOptions::default()).expect("load");
    let points = [0.0f32, 0.0];
    let err = e.infer(&Query::Points(&points), &strategy(Strategy::Fragment)).expect_err("points to a fragment shader");
    assert!(err.to_string().contains("pixel grids"), "{err}");
    for precision in [Precision::Bf16, Precision::Tf32] {
        let opts = InferOptions { strategy: Strategy::Auto, precision };
        assert!(e.infer(&Query::Points(&points), &opts).is_err(), "{precision:?} on wgpu");
    }
    for s in [Strategy::PerPixel, Strategy::Baked] {
        let fp16 = InferOptions { strategy: s, precision: Precision::Fp16 };
        let err = e.infer(&Query::Points(&points), &fp16).expect_err("fp16 per pixel");
        assert!(err.to_string().contains("cooperative"), "{err}");
    }
    let mut short = vec![0.0; 2];
    e.infer(&Query::Points(&points), &InferOptions::default()).expect("infer");
    assert!(e.read_output(&mut short).is_err(), "a short output slice is an error");
}

/// The embedding API draws into an 8-bit texture of the application's device; its bytes match
/// the CPU engine's render of the same model (an independent code path), up to the 8-bit
/// rounding of the texture (the GPU rounds to nearest).
#[test]
fn field_renderer_matches_the_cpu_engine() {
    let Some(gpu) = gpu() else { return };
    let mut model = testing::test_model(testing::test_specs().swap_remove(2), 3);
    model.image = Some(nfield::model::ImageSize { width: 40, height: 30 });
    let (w, h) = (64u32, 36u32);
    for format in [wgpu::TextureFormat::Rgba8Unorm, wgpu::TextureFormat::Rgba8UnormSrgb] {
        let mut field = FieldRenderer::new(gpu.device.clone(), gpu.queue.clone(), &model, format).expect("renderer");
        field.render_texture(w, h).expect("render");
        let bytes = field.read_texture().expect("read");
        let mut cpu = nfield::cpu::CpuEngine::new();
        cpu.load(&model, None, &TrainOptions::default()).expect("cpu load");
        let view = View::aspect_fit(40, 30, w, h);
        let n = cpu.infer(&Query::Grid { width: w, height: h, coords: model.coords, view }, &InferOptions::default());
        let mut rgb = vec![0.0; 3 * n.expect("cpu infer")];
        cpu.read_output(&mut rgb).expect("cpu read");
        let mut worst = 0.0f32;
        for (px, want) in bytes.chunks_exact(4).zip(rgb.chunks_exact(3)) {
            for c in 0..3 {
                worst = worst.max((px[c] as f32 / 255.0 - want[c].clamp(0.0, 1.0)).abs());
            }
            assert_eq!(px[3], 255);
        }
        // Vulkan converts floats to 8-bit UNORM within 0.6 of a step (NVIDIA: 0.56 measured);
        // an sRGB target's encode is the hardware's approximation (lavapipe: 0.63): one step.
        let bound = if format.is_srgb() { 1.0 / 255.0 } else { 0.6 / 255.0 };
        assert!(worst <= bound, "{format:?}: worst channel error {worst} exceeds {bound}");
    }
}

#[test]
fn renderer_follows_new_parameters_and_views() {
    let Some(gpu) = gpu() else { return };
    let model = testing::test_model(testing::test_specs().swap_remove(0), 4);
    let mut field = FieldRenderer::on(gpu, &model, wgpu::TextureFormat::Rgba32Float).expect("renderer");
    let first: Vec<u8> = {
        field.render_texture(16, 16).expect("render");
        field.read_texture().expect("read")
    };
    let mut changed = model.params.clone();
    let last = changed.len() - 1;
    changed[last] += 1.0; // the blue output bias
    field.set_params(&changed).expect("same length");
    field.render_texture(16, 16).expect("render");
    assert_ne!(field.read_texture().expect("read"), first, "new parameters change the picture");
    // the compute strategies into a buffer: baked agrees with per-pixel, and is baked again
    // after new parameters
    let buffer_of = |field: &mut FieldRenderer, s: Strategy| -> Vec<f64> {
        let buffer = field.render_buffer(16, 16, s).expect("render_buffer").clone();
        let v = field.gpu().read_f32(&buffer, 0, 3 * 16 * 16).expect("read");
        v.into_iter().map(f64::from).collect()
    };
    for params in [&changed, &model.params] {
        field.set_params(params).expect("same length");
        let per_pixel = buffer_of(&mut field, Strategy::PerPixel);
        let baked: Vec<f32> = buffer_of(&mut field, Strategy::Baked).into_iter().map(|v| v as f32).collect();
        testing::compare("baked FieldRenderer", &baked, &per_pixel, Tolerance::F32_FORWARD)
            .unwrap_or_else(|m| panic!("{m}"));
    }
    field.set_view(Some(View { x0: 0.25, y0: 0.25, x1: 0.75, y1: 0.75 }));
    field.render_texture(16, 16).expect("render");
    assert_ne!(field.read_texture().expect("read"), first, "a zoomed view shows another part of the field");
    assert!(field.set_params(&[0.0; 3]).is_err());
}

/// A view that reaches past the image (zoomed out, letterboxed): pixels outside it are black
/// and the rest match the CPU engine, in every compute strategy (the per-pixel kernels leave
/// such pixels by an early exit).
#[test]
fn pixels_outside_the_image_are_black() {
    let Some(mut e) = engine() else { return };
    let model = testing::test_model(testing::test_specs().swap_remove(2), 6);
    let grid = Query::Grid {
        width: 13,
        height: 9,
        coords: model.coords,
        view: View { x0: -0.5, y0: -0.25, x1: 1.5, y1: 1.25 },
    };
    let mut cpu = nfield::cpu::CpuEngine::new();
    cpu.load(&model, None, &TrainOptions::default()).expect("cpu load");
    let n = cpu.infer(&grid, &InferOptions::default()).expect("cpu infer");
    let mut want = vec![0.0; 3 * n];
    cpu.read_output(&mut want).expect("cpu read");
    let black = want.chunks_exact(3).filter(|p| p.iter().all(|&v| v == 0.0)).count();
    assert!(black > 13 && black + 13 < n, "{black} of {n} pixels outside the image");
    let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
    e.load(&model, None, &TrainOptions::default()).expect("load");
    for s in [Strategy::PerPixel, Strategy::Baked, Strategy::Cooperative] {
        e.infer(&grid, &strategy(s)).expect("infer");
        let mut got = vec![0.0; 3 * n];
        e.read_output(&mut got).expect("read");
        testing::compare(&format!("{s:?} past the image"), &got, &want, Tolerance::F32_FORWARD)
            .unwrap_or_else(|m| panic!("{m}"));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((*w != 0.0) || *g == 0.0, "{s:?}: value {i} is {g} outside the image");
        }
    }
}

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
    let fp16_per_pixel = InferOptions { strategy: Strategy::PerPixel, precision: Precision::Fp16 };
    let err = e.infer(&Query::Points(&points), &fp16_per_pixel).expect_err("fp16 per pixel");
    assert!(err.to_string().contains("cooperative"), "{err}");
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
    field.set_params(&model.params).expect("restore");
    field.set_view(Some(View { x0: 0.25, y0: 0.25, x1: 0.75, y1: 0.75 }));
    field.render_texture(16, 16).expect("render");
    assert_ne!(field.read_texture().expect("read"), first, "a zoomed view shows another part of the field");
    assert!(field.set_params(&[0.0; 3]).is_err());
}

//! Every CPU primitive against the f64 oracle, with the tolerances of [`Tolerance`], and the
//! fused step against the composition of the oracle's primitives.

use super::mlp::{self, CHUNK, ChunkScratch, MlpPlan};
use super::*;
use crate::model::{EncodingSpec, HashGridSpec, ModelSpec};
use crate::reference;
use crate::rng;
use crate::testing::{Tolerance, compare, test_image, test_model, test_points, test_specs};
use crate::train::AdamConfig;

fn check(result: Result<(), String>) {
    if let Err(msg) = result {
        panic!("{msg}");
    }
}

/// `(n, d)` f64 → `(CHUNK, d)` f32, zero-padded.
fn padded(x: &[f64], d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; d * CHUNK];
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v as f32;
    }
    out
}

fn run_both<R>(f: impl Fn(bool) -> R) -> [R; 2] {
    [f(false), f(true)]
}

#[test]
fn mlp_forward_and_backward_match_the_oracle() {
    for (k, spec) in test_specs().into_iter().enumerate() {
        let model = test_model(spec.clone(), k as u64);
        let layout = model.layout();
        let mlp_spec = spec.mlp();
        let plan = MlpPlan::new(&mlp_spec, &layout);
        let params64 = reference::params_f64(&model);
        let d0 = mlp_spec.input_dim();
        let n = CHUNK - 5; // a partial chunk
        let x: Vec<f64> =
            test_points(n * d0 / 2 + 1, -1.0, 1.0, k as u64).iter().take(n * d0).map(|&v| v as f64).collect();
        let trace = reference::mlp::forward(&mlp_spec, &layout, &params64, &x, n);
        let d_out: Vec<f64> = (0..3 * n).map(|i| ((i as f64) * 0.7).sin() * 0.01).collect();
        let mut grad64 = vec![0.0; layout.total];
        let d_x = reference::mlp::backward(&mlp_spec, &layout, &params64, &trace, &d_out, &mut grad64);

        for fma in [false, true] {
            let input = padded(&x, d0);
            let mut wt = vec![0.0; plan.wt_len];
            mlp::transpose_weights(&plan, &model.params, &mut wt);
            let mut scratch = ChunkScratch::new(&plan);
            if fma {
                mlp::forward_chunk::<true, true>(
                    &plan,
                    &model.params,
                    &wt,
                    &input,
                    &mut scratch.acts,
                    &mut scratch.derivs,
                );
            } else {
                mlp::forward_chunk::<false, true>(
                    &plan,
                    &model.params,
                    &wt,
                    &input,
                    &mut scratch.acts,
                    &mut scratch.derivs,
                );
            }
            let y = &scratch.acts[plan.output_offset()..plan.output_offset() + 3 * n];
            check(compare(
                &format!("{} forward (fma {fma})", spec.describe()),
                y,
                &trace.output,
                Tolerance::F32_FORWARD,
            ));

            // ∂L/∂z of the output layer from the oracle's d_out and activation.
            let last = mlp_spec.layers.len() - 1;
            let act = mlp_spec.layers[last].activation;
            let dz: Vec<f64> =
                (0..3 * n).map(|i| d_out[i] * act.derivative_f64(trace.pre[last][i], trace.output[i])).collect();
            scratch.delta[..3 * CHUNK].copy_from_slice(&padded(&dz, 3));
            let mut grad = vec![0.0f32; layout.total];
            let mut d_in = vec![0.0f32; d0 * CHUNK];
            if fma {
                mlp::backward_chunk::<true>(&plan, &model.params, &input, &mut scratch, &mut grad, Some(&mut d_in));
            } else {
                mlp::backward_chunk::<false>(&plan, &model.params, &input, &mut scratch, &mut grad, Some(&mut d_in));
            }
            let mlp_len = layout.encoding.start;
            let tol = Tolerance::F32_GRADIENT.scaled(&grad64[..mlp_len]);
            check(compare(&format!("{} weight gradients", spec.describe()), &grad[..mlp_len], &grad64[..mlp_len], tol));
            let d_in = &d_in[..n * d0];
            check(compare(
                &format!("{} input gradients", spec.describe()),
                d_in,
                &d_x,
                Tolerance::F32_GRADIENT.scaled(&d_x),
            ));
        }
    }
}

#[test]
fn fourier_features_match_the_oracle() {
    let m = 16;
    let b: Vec<f32> = (0..2 * m).map(|i| ((i as f32) * 1.3).sin() * 2.0).collect();
    let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    let pos = test_points(CHUNK, -1.0, 1.0, 4);
    let want = reference::fourier::forward(&b64, m, &pos);
    let d_f: Vec<f64> = (0..CHUNK * 2 * m).map(|i| ((i as f64) * 0.3).cos()).collect();
    let want_db = reference::fourier::backward(&b64, m, &pos, &d_f);
    let [plain, fused] = run_both(|fma| {
        let mut out = vec![0.0f32; 2 * m * CHUNK];
        if fma {
            fourier::forward_chunk::<true>(&b, m, &pos, &mut out);
        } else {
            fourier::forward_chunk::<false>(&b, m, &pos, &mut out);
        }
        out
    });
    for out in [&plain, &fused] {
        check(compare("Fourier features", out, &want, Tolerance::F32_FORWARD));
        let mut db = vec![0.0f32; 2 * m];
        fourier::backward_chunk(m, &pos, out, &padded(&d_f, 2 * m), &mut db);
        check(compare("Fourier ∂L/∂B", &db, &want_db, Tolerance::F32_GRADIENT.scaled(&want_db)));
    }
}

#[test]
fn hash_encoding_and_scatter_match_the_oracle() {
    for spec in test_specs().into_iter().filter(|s| matches!(s, ModelSpec::HashGrid(_))) {
        let model = test_model(spec.clone(), 9);
        let EncodingSpec::HashGrid(enc) = spec.encoding() else { unreachable!() };
        let table = &model.params[model.layout().encoding];
        let table64: Vec<f64> = table.iter().map(|&v| v as f64).collect();
        let n = 3 * CHUNK;
        let pos = test_points(n, 0.0, 1.0, 5);
        let want = reference::hash_grid::forward(&enc, &table64, &pos);
        let width = enc.levels * enc.features;
        let mut got = Vec::new();
        for c in 0..3 {
            let mut out = vec![0.0f32; width * CHUNK];
            hash_grid::encode_chunk(&enc, table, &pos[c * 2 * CHUNK..(c + 1) * 2 * CHUNK], &mut out);
            got.extend(out);
        }
        check(compare(&format!("{} encoding", spec.describe()), &got, &want, Tolerance::F32_FORWARD));

        let valid = n - 7;
        let d_enc64: Vec<f64> =
            (0..n * width).map(|i| if i < valid * width { ((i as f64) * 0.77).sin() } else { 0.0 }).collect();
        let want_grad = reference::hash_grid::backward(&enc, &pos[..2 * valid], &d_enc64[..valid * width]);
        let d_enc: Vec<f32> = d_enc64.iter().map(|&v| v as f32).collect();
        let level_len = enc.table_size as usize * enc.features;
        let mut grad = vec![0.0f32; table.len()];
        for (l, g) in grad.chunks_mut(level_len).enumerate() {
            hash_grid::scatter_level(&enc, l, &pos, &d_enc, valid, g);
        }
        check(compare(
            &format!("{} table gradient", spec.describe()),
            &grad,
            &want_grad,
            Tolerance::F32_GRADIENT.scaled(&want_grad),
        ));
    }
}

#[test]
fn adam_matches_the_oracle_with_and_without_bias_correction() {
    let spec = ModelSpec::Fourier(crate::model::FourierSpec {
        frequencies: 8,
        width: 8,
        hidden_layers: 2,
        ..Default::default()
    });
    let layout = spec.layout();
    let n = layout.total;
    for bias_correction in [true, false] {
        // With a step decay (halving from step 3): every step moves by the decayed rate.
        let decay = crate::train::LrDecay { start: 1, every: 2, factor: 0.5 };
        let cfg = AdamConfig { lr: 0.01, bias_correction, decay, ..Default::default() };
        let mut p: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).sin()).collect();
        let mut p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        let (mut m64, mut v64) = (vec![0.0f64; n], vec![0.0f64; n]);
        for t in 1..=5u64 {
            let g64: Vec<f64> = (0..n).map(|i| ((i as f64 + t as f64) * 0.37).cos() * 1e-2).collect();
            let mut g: Vec<f32> = g64.iter().map(|&x| x as f32).collect();
            adam::step(&cfg, t, &mut p, &mut g, &mut m, &mut v, layout.encoding.clone());
            reference::adam::step(&cfg, t, &layout, &mut p64, &g64, &mut m64, &mut v64);
            assert!(g.iter().all(|&x| x == 0.0), "Adam clears the gradient");
        }
        check(compare(
            &format!("Adam parameters (bias correction {bias_correction})"),
            &p,
            &p64,
            Tolerance::F32_FORWARD,
        ));
    }
}

/// The fused step (sampling → encoding → MLP → loss → backward → scatter) against the oracle's
/// `loss_and_grad` on the same pixels.
#[test]
fn fused_gradient_equals_the_composition_of_oracle_primitives() {
    let image = test_image(40, 30);
    let mut specs = test_specs();
    specs.push(ModelSpec::HashGrid(HashGridSpec {
        levels: 2,
        log2_table_size: 4,
        width: 8,
        hidden_layers: 1,
        ..Default::default()
    }));
    for (k, spec) in specs.into_iter().enumerate() {
        let model = test_model(spec.clone(), 40 + k as u64);
        let batch = 2 * CHUNK + 17;
        let opts = TrainOptions { batch: batch as u32, seed: 77, ..Default::default() };
        let mut engine = CpuEngine::new();
        engine.load(&model, Some(&image), &opts).expect("load");
        let loaded = engine.loaded.as_mut().expect("loaded");
        loaded.adam.step = 3; // any step: the sampler is counter-based
        let loss = loaded.gradient().expect("gradient");
        let grad = loaded.train.as_ref().expect("buffers").grad.clone();

        let target = loaded.target.as_ref().expect("target");
        let n_px = image.pixel_count() as u32;
        let mut x = Vec::new();
        let mut t = Vec::new();
        for s in 0..batch as u32 {
            let p = rng::train_pixel(77, 3, s, n_px) as usize;
            x.extend_from_slice(&target.position(p));
            t.extend(image.pixel(p).iter().map(|&c| c as f64));
        }
        let (loss64, grad64) = reference::loss_and_grad(&spec, &reference::params_f64(&model), &x, &t);
        assert!(
            Tolerance::F32_FORWARD.matches(loss as f64, loss64),
            "{}: loss {loss} vs oracle {loss64}",
            spec.describe()
        );
        let layout = model.layout();
        let mlp = 0..layout.encoding.start;
        check(compare(
            &format!("{} fused MLP gradient", spec.describe()),
            &grad[mlp.clone()],
            &grad64[mlp.clone()],
            Tolerance::F32_GRADIENT.scaled(&grad64[mlp]),
        ));
        let enc = layout.encoding.clone();
        if layout.encoding_trainable {
            check(compare(
                &format!("{} fused encoding gradient", spec.describe()),
                &grad[enc.clone()],
                &grad64[enc.clone()],
                Tolerance::F32_GRADIENT.scaled(&grad64[enc]),
            ));
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let image = test_image(33, 21);
    for spec in test_specs() {
        let model = test_model(spec.clone(), 8);
        let opts = TrainOptions { batch: 5000, seed: 2, ..Default::default() };
        let mut runs = Vec::new();
        for threads in [1, 3] {
            let mut e = CpuEngine::with_threads(threads).expect("pool");
            e.load(&model, Some(&image), &opts).expect("load");
            e.train(3).expect("train");
            runs.push(e.model().expect("model").params);
        }
        assert!(runs[0] == runs[1], "{}: 1 and 3 threads differ", spec.describe());
    }
}

#[test]
fn divergence_is_reported_not_hidden() {
    let image = test_image(16, 16);
    let mut model = test_model(test_specs().swap_remove(0), 1);
    model.params[0] = f32::MAX;
    let mut e = CpuEngine::new();
    e.load(&model, Some(&image), &TrainOptions::default()).expect("load");
    let err = e.train(1).unwrap_err();
    assert!(err.to_string().contains("diverged"), "{err}");
}

#[test]
fn subset_training_samples_only_the_subset() {
    let image = test_image(20, 20);
    let model = test_model(test_specs().swap_remove(0), 1);
    let subset: Vec<u32> = (0..50).map(|k| k * 7).collect();
    let opts = TrainOptions { batch: 256, subset: Some(subset), ..Default::default() };
    let mut e = CpuEngine::new();
    e.load(&model, Some(&image), &opts).expect("load");
    let before = e.evaluate().expect("eval").psnr_db;
    e.train(30).expect("train");
    assert!(e.evaluate().expect("eval").psnr_db > before + 1.0);
    let bad = TrainOptions { subset: Some(vec![400]), ..Default::default() };
    assert!(e.load(&model, Some(&image), &bad).is_err(), "an index outside the image is rejected");
}

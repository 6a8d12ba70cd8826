//! The oracle checked against finite differences and hand-computed values.

use super::*;
use crate::model::{FourierSpec, Growth, HashGridSpec, Model, OutputActivation, SirenSpec};
use crate::rng;
use crate::train::AdamConfig;

fn points(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    (0..2 * n as u32).map(|i| lo + (hi - lo) * rng::unit_f32(rng::draw(seed, rng::Stream::Init, 77, i)[0])).collect()
}

fn targets(n: usize, seed: u64) -> Vec<f64> {
    (0..3 * n as u32).map(|i| rng::unit_f32(rng::draw(seed, rng::Stream::Init, 78, i)[0]) as f64).collect()
}

/// Central finite differences of the loss for every parameter, against the analytic gradient.
fn check_gradient(spec: ModelSpec, lo: f32, hi: f32) {
    let model = Model::new(spec.clone(), 11).expect("valid spec");
    let params = params_f64(&model);
    let x = points(7, lo, hi, 3);
    let t = targets(7, 4);
    let (_, grad) = loss_and_grad(&spec, &params, &x, &t);
    let layout = spec.layout();
    let h = 1e-6;
    let mut worst = 0.0f64;
    let mut p = params.clone();
    for i in 0..params.len() {
        p[i] = params[i] + h;
        let (up, _) = loss_and_grad(&spec, &p, &x, &t);
        p[i] = params[i] - h;
        let (down, _) = loss_and_grad(&spec, &p, &x, &t);
        p[i] = params[i];
        let fd = if !layout.encoding_trainable && layout.encoding.contains(&i) { 0.0 } else { (up - down) / (2.0 * h) };
        let err = (fd - grad[i]).abs();
        assert!(
            err <= 1e-7 + 1e-5 * grad[i].abs(),
            "{}: parameter {i}: analytic {:.9e}, finite difference {:.9e}",
            spec.describe(),
            grad[i],
            fd
        );
        worst = worst.max(err);
    }
    assert!(grad.iter().any(|g| g.abs() > 1e-6), "gradient is not all zero");
}

#[test]
fn siren_gradient_matches_finite_differences() {
    check_gradient(
        ModelSpec::Siren(SirenSpec { width: 8, hidden_layers: 2, omega0: 30.0, omega_hidden: 1.0 }),
        -1.0,
        1.0,
    );
}

#[test]
fn siren_with_hidden_omega_gradient_matches_finite_differences() {
    check_gradient(
        ModelSpec::Siren(SirenSpec { width: 6, hidden_layers: 1, omega0: 10.0, omega_hidden: 2.5 }),
        -1.0,
        1.0,
    );
}

#[test]
fn fourier_gradient_matches_finite_differences_including_b() {
    let spec = FourierSpec { frequencies: 4, sigma: 1.0, width: 8, hidden_layers: 2, train_b: true };
    check_gradient(ModelSpec::Fourier(spec.clone()), -1.0, 1.0);
    check_gradient(ModelSpec::Fourier(FourierSpec { train_b: false, ..spec }), -1.0, 1.0);
}

#[test]
fn hash_grid_gradient_matches_finite_differences() {
    // 2^4 entries per level: the finer levels collide, which the scatter must handle.
    let spec = HashGridSpec { levels: 3, log2_table_size: 4, width: 8, hidden_layers: 2, ..Default::default() };
    check_gradient(ModelSpec::HashGrid(spec.clone()), 0.0, 1.0);
    let tcnn = HashGridSpec {
        growth: Growth::Geometric { per_level_scale: 2.0 },
        output: OutputActivation::Linear,
        features_per_level: 4,
        ..spec
    };
    check_gradient(ModelSpec::HashGrid(tcnn), 0.0, 1.0);
}

#[test]
fn hash_encoding_interpolates_bilinearly() {
    // One level, scale e^2 → cells of width 1/7.389; at a corner the weight is all on one entry.
    let spec = HashGridSpec { levels: 1, features_per_level: 1, log2_table_size: 4, ..Default::default() };
    let enc = match ModelSpec::HashGrid(spec).encoding() {
        EncodingSpec::HashGrid(h) => h,
        _ => unreachable!(),
    };
    let table: Vec<f64> = (0..16).map(|i| i as f64).collect();
    assert_eq!(hash_grid::forward(&enc, &table, &[0.0, 0.0]), vec![0.0]);
    // x exactly on cell (1, 0): index 1
    let x1 = 1.0 / enc.scales[0];
    let v = hash_grid::forward(&enc, &table, &[x1, 0.0])[0];
    assert!((v - 1.0).abs() < 1e-5, "{v}");
    // halfway between cells 0 and 1 along x: mean of entries 0 and 1
    let v = hash_grid::forward(&enc, &table, &[0.5 * x1, 0.0])[0];
    assert!((v - 0.5).abs() < 1e-5, "{v}");
}

#[test]
fn adam_first_step_moves_by_lr() {
    // With bias correction the first step is lr·g/(|g| + ε) ≈ lr·sign(g).
    let layout = ModelSpec::Siren(SirenSpec { width: 1, hidden_layers: 0, omega0: 30.0, omega_hidden: 1.0 }).layout();
    let n = layout.total;
    let mut p = vec![1.0; n];
    let g: Vec<f64> = (0..n).map(|i| if i % 2 == 0 { 0.5 } else { -2.0 }).collect();
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let cfg = AdamConfig { lr: 0.1, ..Default::default() };
    adam::step(&cfg, 1, &layout, &mut p, &g, &mut m, &mut v);
    for i in 0..n {
        let expect = if i % 2 == 0 { 0.9 } else { 1.1 };
        assert!((p[i] - expect).abs() < 1e-6, "param {i}: {}", p[i]);
    }
    // Without bias correction (MLX) the first step is lr·(0.1 g)/(√(0.001) |g|) ≈ 0.316 lr.
    let mut p2 = vec![1.0; n];
    let (mut m2, mut v2) = (vec![0.0; n], vec![0.0; n]);
    let mlx = AdamConfig { bias_correction: false, ..cfg };
    adam::step(&mlx, 1, &layout, &mut p2, &g, &mut m2, &mut v2);
    let (lr, b1, b2, eps) = (mlx.lr as f64, mlx.beta1 as f64, mlx.beta2 as f64, mlx.eps as f64);
    let expect = 1.0 - lr * ((1.0 - b1) * 0.5) / (((1.0 - b2) * 0.25).sqrt() + eps);
    assert!((p2[0] - expect).abs() < 1e-12, "{} vs {expect}", p2[0]);
}

#[test]
fn adam_skips_a_frozen_encoding() {
    let spec = ModelSpec::Fourier(FourierSpec { frequencies: 2, width: 2, hidden_layers: 1, ..Default::default() });
    let layout = spec.layout();
    let n = layout.total;
    let mut p = vec![1.0; n];
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    adam::step(&AdamConfig::default(), 1, &layout, &mut p, &vec![1.0; n], &mut m, &mut v);
    assert!(p[layout.encoding.clone()].iter().all(|&x| x == 1.0));
    assert!(p[..layout.encoding.start].iter().all(|&x| x < 1.0));
}

#[test]
fn loss_gradient_is_the_derivative_of_the_mean() {
    let (l, g) = loss::mse_with_grad(&[1.0, 2.0, 3.0, 4.0], &[0.0, 2.0, 3.0, 2.0]);
    assert!((l - 1.25).abs() < 1e-15);
    assert_eq!(g, vec![0.5, 0.0, 0.0, 1.0]);
}

/// With layer 1's inputs rounded, the gradient of every parameter downstream of the rounding
/// (layers 1 and up; the rounded values do not move with them) still matches finite differences
/// of the rounded model's loss, and the rounding really reaches the loss.
#[test]
fn rounded_oracle_differentiates_the_rounded_model() {
    let spec = ModelSpec::Siren(SirenSpec { width: 8, hidden_layers: 2, ..Default::default() });
    let model = Model::new(spec.clone(), 5).expect("valid spec");
    let params = params_f64(&model);
    let (x, t) = (points(9, 0.0, 1.0, 6), targets(9, 7));
    let round = |l: usize, v: f64| if l == 1 { (v * 16.0).round() / 16.0 } else { v };
    let (loss, grad) = loss_and_grad_rounded(&spec, &params, &x, &t, &round);
    let (exact_loss, _) = loss_and_grad(&spec, &params, &x, &t);
    assert!((loss - exact_loss).abs() > 1e-6, "the rounding must change the loss");
    let h = 1e-6;
    let mut p = params.clone();
    for i in spec.layout().layers[1].weights..params.len() {
        p[i] = params[i] + h;
        let (up, _) = loss_and_grad_rounded(&spec, &p, &x, &t, &round);
        p[i] = params[i] - h;
        let (down, _) = loss_and_grad_rounded(&spec, &p, &x, &t, &round);
        p[i] = params[i];
        let fd = (up - down) / (2.0 * h);
        assert!((fd - grad[i]).abs() <= 1e-7 + 1e-5 * grad[i].abs(), "parameter {i}: {} vs {fd}", grad[i]);
    }
}

/// The delta hook acts exactly where it says: zeroing layer 1's deltas zeroes the weight
/// gradients of layers 0 and 1 (nothing flows below layer 1), leaves layer 1's bias gradient and
/// every gradient above layer 1 as in the exact oracle, and the loss is untouched.
#[test]
fn delta_rounding_reaches_the_products_not_the_bias() {
    let spec = ModelSpec::Siren(SirenSpec { width: 8, hidden_layers: 2, ..Default::default() });
    let model = Model::new(spec.clone(), 9).expect("valid spec");
    let params = params_f64(&model);
    let (x, t) = (points(11, 0.0, 1.0, 3), targets(11, 4));
    let (exact_loss, exact) = loss_and_grad(&spec, &params, &x, &t);
    let zero_layer_1 = |l: usize, v: f64| if l == 1 { 0.0 } else { v };
    let (loss, grad) = loss_and_grad_mixed(&spec, &params, &x, &t, &|_, v| v, &zero_layer_1);
    assert_eq!(loss, exact_loss);
    let layers = spec.layout().layers;
    let w1 = layers[1].weights..layers[1].biases;
    let b1 = layers[1].biases..layers[1].biases + layers[1].outputs;
    for i in 0..layers[1].biases {
        let expect_zero = i < layers[0].biases + layers[0].outputs || w1.contains(&i);
        if expect_zero {
            assert_eq!(grad[i], 0.0, "parameter {i}");
        }
    }
    assert!(exact[w1.clone()].iter().any(|&g| g != 0.0), "the exact layer-1 weight gradient is not zero");
    assert_eq!(&grad[b1.clone()], &exact[b1]);
    assert_eq!(&grad[layers[2].weights..], &exact[layers[2].weights..]);
}

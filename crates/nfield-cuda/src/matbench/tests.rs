//! Unit tests of the host side: tiles, tuning, inputs, the reference and the tolerance.

use super::*;

#[test]
fn every_case_has_tiles_and_the_seed_gemv_cases_fit_the_contract() {
    let tiles: Vec<GemmTiles> = GEMM_CASES.iter().map(|&c| tiles_for(c).expect("tiles")).collect();
    assert_eq!(tiles, [TILES[1], TILES[2], TILES[0]]);
    assert!(tiles_for(GemmCase { m: 48, n: 32, k: 32 }).is_err());
    assert!(GEMV_CASES.iter().all(|c| c.rows % 16 == 0 && c.cols % 32 == 0));
    assert_eq!(TILES[0].tensor_smem(), 3 * 2 * (128 * 40 + 32 * 136));
}

#[test]
fn seed_gemv_tuning() {
    assert_eq!(simt_gemv_launch(128, 512), (1, 2));
    assert_eq!(simt_gemv_launch(2048, 4096), (4, 8));
    assert_eq!(simt_gemv_launch(640, 1024), (3, 4));
    assert_eq!(simt_gemv_launch(16, 4096), (1, 8));
    assert_eq!(simt_gemv_launch(4, 4096), (1, 4));
    assert_eq!(seed_warmup(8), 2);
    assert_eq!(seed_warmup(16), 4);
}

#[test]
fn ulp_distance_crosses_zero_and_counts_steps() {
    assert_eq!(max_ulp_diff(&[0x3c00], &[0x3c01]), 1);
    assert_eq!(max_ulp_diff(&[0x0001], &[0x8001]), 2);
    assert_eq!(max_ulp_diff(&[0x3c00, 0x4000], &[0x3c00, 0x4003]), 3);
}

#[test]
fn inputs_are_deterministic_fp16_in_range() {
    let v = inputs(1, 1000, -1.0, 1.0);
    assert_eq!(v, inputs(1, 1000, -1.0, 1.0));
    assert_ne!(v, inputs(2, 1000, -1.0, 1.0));
    let f = to_f32(&v);
    assert!(f.iter().all(|x| (-1.0..=1.0).contains(x)));
    let mean = f.iter().sum::<f32>() / f.len() as f32;
    assert!(mean.abs() < 0.1, "{mean}");
}

#[test]
fn reference_rows_and_columns_agree_and_the_check_catches_a_layout_error() {
    let c = GemmCase { m: 64, n: 32, k: 48 };
    let (a, b) = (to_f32(&inputs(1, c.m * c.k, -1.0, 1.0)), to_f32(&inputs(2, c.k * c.n, -1.0, 1.0)));
    let by_rows = gemm_reference(&a, &b, c, &(0..c.m).collect::<Vec<_>>(), &[]);
    let by_cols = gemm_reference(&a, &b, c, &[], &(0..c.n).collect::<Vec<_>>());
    let mut full = vec![0.0; c.m * c.n];
    for &(i, v, _) in &by_rows {
        full[i] = v;
    }
    for &(i, v, _) in &by_cols {
        assert!((full[i] - v).abs() < 1e-12, "{i}");
    }
    // Computed in f32 (another order), the result passes; with B's columns swapped in
    // pairs (a fragment-layout error), or one output unwritten, it fails.
    let f32_result = |b: &[f32]| -> Vec<f64> {
        (0..c.m * c.n)
            .map(|i| {
                let (r, j) = (i / c.n, i % c.n);
                (0..c.k).rev().map(|kk| a[r * c.k + kk] * b[kk * c.n + j]).sum::<f32>() as f64
            })
            .collect()
    };
    assert!(check(&f32_result(&b), &by_rows, c.k, 0.0).passed);
    let swapped: Vec<f32> = (0..b.len()).map(|i| b[i ^ 1]).collect();
    assert!(!check(&f32_result(&swapped), &by_rows, c.k, 0.0).passed);
    // One lost 16-deep k-slice (an mma skipped) fails.
    let mut lost = b.clone();
    lost[16 * c.n..32 * c.n].iter_mut().for_each(|v| *v = 0.0);
    assert!(!check(&f32_result(&lost), &by_rows, c.k, 0.0).passed);
    // Rounded to fp16 (the GEMV output), the f32 result passes with u = 2⁻¹¹, not with 0.
    let halved: Vec<f64> = f32_result(&b).iter().map(|&v| f64::from(half::f16::from_f64(v))).collect();
    assert!(check(&halved, &by_rows, c.k, 2f64.powi(-11)).passed);
    assert!(!check(&halved, &by_rows, c.k, 0.0).passed);
    let mut unwritten = f32_result(&b);
    unwritten[100] = f64::NAN;
    assert!(!check(&unwritten, &by_rows, c.k, 0.0).passed);
    assert!(spread(4096, 64).len() >= 64 && spread(4096, 64).iter().all(|&i| i < 4096));
}

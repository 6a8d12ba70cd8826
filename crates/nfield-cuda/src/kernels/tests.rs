//! Unit tests of the kernel selection (no GPU): which step and layout each model and precision
//! gets, shared-memory sizes, and the refusals.
use super::*;
use nfield::model::SirenSpec;

#[test]
fn seed_siren_fits_the_fused_step_with_eight_warps() {
    let spec = ModelSpec::Siren(SirenSpec::default());
    let (_, shape) = train_step(&spec, Precision::Bf16, 227 * 1024).expect("fits");
    assert_eq!(shape.warps, 8);
    assert!(shape.smem <= 227 * 1024, "{}", shape.smem);
}

#[test]
fn wide_models_take_the_weight_streaming_step() {
    let siren = |width, hidden_layers| ModelSpec::Siren(SirenSpec { width, hidden_layers, ..Default::default() });
    for (spec, warps, tile) in [(siren(128, 8), 8, 64), (siren(256, 8), 8, 16), (siren(64, 24), 8, 64)] {
        let (k, shape) = train_step(&spec, Precision::Bf16, 227 * 1024).expect("fits");
        assert_eq!(k.file, KernelFile::MlpTrainWide, "{}", spec.describe());
        assert_eq!((shape.warps, shape.tile), (warps, tile), "{}", spec.describe());
        assert!(shape.smem <= 227 * 1024, "{}", shape.smem);
        assert!(k.defines.contains(&d("TILE", tile)));
    }
    // The A100's 163 KB: SIREN-256×8 does not fit, and says so.
    let err = train_step(&siren(256, 8), Precision::Bf16, 163 * 1024).expect_err("too big");
    assert!(err.to_string().contains("weight-streaming"), "{err}");
}

#[test]
fn narrow_models_keep_the_fused_step_unless_forced() {
    let spec = ModelSpec::Siren(SirenSpec { width: 32, hidden_layers: 3, ..Default::default() });
    let (k, shape) = train_step(&spec, Precision::Fp16, 227 * 1024).expect("fits");
    assert_eq!(k.file, KernelFile::MlpTrain);
    assert_eq!(shape.tile, 16 * shape.warps);
    {
        let _wide = force_wide();
        let (k, shape) = train_step(&spec, Precision::Fp16, 227 * 1024).expect("fits");
        assert_eq!(k.file, KernelFile::MlpTrainWide);
        assert_eq!((shape.warps, shape.tile), (8, 128));
    }
    assert_eq!(train_step(&spec, Precision::Fp16, 227 * 1024).expect("fits").0.file, KernelFile::MlpTrain);
}

#[test]
fn tf32_takes_the_weight_streaming_step_with_32_bit_matrices() {
    let siren = |width, hidden_layers| ModelSpec::Siren(SirenSpec { width, hidden_layers, ..Default::default() });
    let (k, shape) = train_step(&siren(64, 8), Precision::Tf32, 227 * 1024).expect("fits");
    assert_eq!(k.file, KernelFile::MlpTrainWide);
    assert!(k.defines.contains(&d("TF32", 1)) && k.defines.contains(&d("FAST_SINCOS", 1)));
    let (_, bf16) = train_step_wide(&siren(64, 8), Precision::Bf16, 227 * 1024).expect("fits");
    let tf32 = train_wide_smem(&siren(64, 8), Precision::Tf32, bf16.warps, bf16.tile);
    assert!(tf32 > bf16.smem && tf32 < 2 * bf16.smem, "{tf32} vs {}", bf16.smem);
    assert!(shape.smem <= 227 * 1024);
    assert!(train_step(&siren(128, 8), Precision::Tf32, 227 * 1024).is_ok());
    // One 256 × 256 layer in tf32 is 256 KB: more than any GPU's shared memory, and said so.
    let err = train_step(&siren(256, 8), Precision::Tf32, 227 * 1024).expect_err("too big");
    assert!(err.to_string().contains("weight-streaming"), "{err}");
    let err = train_step_fused(&siren(64, 8), Precision::Tf32, 227 * 1024).expect_err("fused is 16-bit");
    assert!(err.to_string().contains("tf32 mlp_train_wide.cu"), "{err}");
    let odd = ModelSpec::Siren(SirenSpec { width: 40, hidden_layers: 2, ..Default::default() });
    let err = train_step(&odd, Precision::Tf32, 227 * 1024).expect_err("width 40");
    assert!(err.to_string().contains("the tf32 training step needs a width divisible by 16"), "{err}");
}

#[test]
fn hash_grids_train_fused_in_fp16_and_weight_streaming_in_tf32() {
    use nfield::model::HashGridSpec;
    let spec = ModelSpec::HashGrid(HashGridSpec::tiny_cuda_nn_image());
    for (p, file) in [(Precision::Fp16, KernelFile::MlpTrain), (Precision::Tf32, KernelFile::MlpTrainWide)] {
        let (k, shape) = train_step(&spec, p, 227 * 1024).expect("trains");
        assert_eq!(k.file, file);
        assert!(k.defines.contains(&d("MODEL", 2)) && shape.smem <= 227 * 1024);
    }
    // Two blocks of the fused step fit an SM (the kernel asks for two: its gathers wait on memory).
    let (_, fused) = train_step(&spec, Precision::Fp16, 227 * 1024).expect("trains");
    assert!(2 * fused.smem <= 227 * 1024, "{fused:?}");
    for (p, says) in [(Precision::Bf16, "loses quality"), (Precision::Fp32, "tensor cores")] {
        let err = train_step(&spec, p, 227 * 1024).expect_err("refused");
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn wide_layouts_fill_the_warps_with_column_groups_of_at_most_64() {
    for width in (16..=256).step_by(16) {
        let layouts = wide_layouts(width);
        assert!(layouts.iter().any(|&(_, tile)| tile == 16), "width {width}: {layouts:?}");
        for (warps, tile) in layouts {
            let col_groups = (warps / (tile / 16)) as usize;
            assert_eq!(col_groups * (tile / 16) as usize, warps as usize);
            assert!(warps <= 16);
            assert!(width % (16 * col_groups) == 0 && width / col_groups <= 64, "{width} {warps} {tile}");
        }
    }
}

#[test]
fn float_literals_round_trip() {
    assert_eq!(float_literal(30.0), "3e1f");
    assert_eq!(float_literal(0.5).parse::<f32>().ok(), None, "the f suffix is C's");
    assert_eq!(float_literal(1.0e-4).trim_end_matches('f').parse::<f32>().ok(), Some(1.0e-4));
}

#[test]
fn the_fused_hash_step_pre_reduces_the_coarse_levels_that_fit_two_blocks() {
    use nfield::model::HashGridSpec;
    let tcnn = HashGridSpec::tiny_cuda_nn_image();
    // Geometric scales 15, 23, 35, 53, 80: dense grids of 17², 25², 37² corners (2 features)
    // fit beside two blocks of a 90 KB step.
    assert_eq!(coarse_levels(&tcnn, 90 * 1024, 227 * 1024, 16), (3, 2 * (17 * 17 + 25 * 25 + 37 * 37)));
    assert_eq!(coarse_levels(&tcnn, 112 * 1024, 227 * 1024, 16), (0, 0), "no room: none");
    // Never a level whose grid has more than 2048 corners, however much room there is.
    let (levels, _) = coarse_levels(&tcnn, 0, 1 << 30, 16);
    assert_eq!(coarse_levels(&tcnn, 0, 1 << 30, 2), (2, 2 * (17 * 17 + 25 * 25)));
    assert_eq!(levels, 3, "dims 17, 25, 37; the next (55) is past 2048 corners");
    let (k, shape) = train_step(&ModelSpec::HashGrid(tcnn), Precision::Fp16, 227 * 1024).expect("trains");
    assert!(k.defines.contains(&d("COARSE_LEVELS", 3)), "{:?}", k.defines);
    assert!(2 * shape.smem + 2048 <= 228 * 1024, "{shape:?}");
}

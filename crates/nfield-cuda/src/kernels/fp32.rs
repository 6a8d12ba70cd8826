//! The fp32 training step's layout (mlp_train_fp32.cu: SIMT FFMA, fp32 everywhere): shape
//! checks, shared memory, tile and weight-chunk choice.

use super::{KernelFile, Specialization, TrainShape, check_trainable, d, model_defines, precision_defines};
use crate::{Error, Result};
use nfield::Precision;
use nfield::model::ModelSpec;

/// The fp32 step's shape constraints: widths (and the Fourier encoding width) divisible by 4.
pub(super) fn check_fp32(spec: &ModelSpec) -> Result<()> {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    if !w.is_multiple_of(4) {
        return Err(Error::Unsupported(format!("fp32 CUDA training needs a width divisible by 4, got {w}")));
    }
    if !matches!(spec, ModelSpec::Siren(_)) && !mlp.input_dim().is_multiple_of(4) {
        return Err(Error::Unsupported(format!(
            "fp32 CUDA training needs an encoding width divisible by 4, got {}",
            mlp.input_dim()
        )));
    }
    Ok(())
}

/// Shared memory of the fp32 step (mlp_train_fp32.cu) with tiles of `tile` samples and weight
/// chunks of `wchunk` rows: the weight chunk, every hidden layer's activations (SIREN: its
/// pre-activations) at row stride width + 4, SIREN's scratch activation or the Fourier
/// encodings (row stride in_dim + 4), the sample buffer, the loss slots and the small
/// parameters.
pub fn train_fp32_smem(spec: &ModelSpec, tile: u32, wchunk: usize) -> usize {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    let n_hidden = mlp.layers.len() - 2;
    let in_dim = mlp.input_dim();
    let fourier = matches!(spec, ModelSpec::Fourier(_));
    let t = tile as usize;
    let extra = if fourier { t * (in_dim + 4) } else { t * (w + 4) };
    let small_len = if fourier { 3 * w + 4 } else { 6 * w + 4 };
    let floats = wchunk * w + (n_hidden + 1) * t * (w + 4) + extra + t * 8 + t + small_len;
    4 * floats
}

/// The fp32 step's weight chunk: the most rows (≤ 64, a multiple of 4) dividing the width and,
/// for the Fourier MLP, the encoding width.
fn fp32_chunks(spec: &ModelSpec) -> Vec<usize> {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    let in_dim = if matches!(spec, ModelSpec::Siren(_)) { w } else { mlp.input_dim() };
    (1..=16).rev().map(|q| 4 * q).filter(|&c| w.is_multiple_of(c) && in_dim.is_multiple_of(c)).collect()
}

/// The fp32 step's layouts, best first: (warps, samples per tile). Every thread owns the same
/// number (1-4) of 4 × 4 output blocks of a tile × width product; larger tiles first (fewer
/// weight refills per sample), then more warps.
fn fp32_layouts(width: usize) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for tile in [128u32, 64, 32, 16, 8, 4] {
        let units = tile as usize * width / 16;
        if !(tile as usize * width).is_multiple_of(16) {
            continue;
        }
        for warps in (1..=8u32).rev() {
            let threads = 32 * warps as usize;
            if units.is_multiple_of(threads) && (1..=4).contains(&(units / threads)) {
                v.push((warps, tile));
            }
        }
    }
    v
}

/// The fp32 step (mlp_train_fp32.cu: SIMT FFMA, fp32 activations, weights streamed in chunks),
/// or why the model does not fit it.
pub fn train_step_fp32(spec: &ModelSpec, smem_limit: usize) -> Result<(Specialization, TrainShape)> {
    check_trainable(spec, Precision::Fp32)?;
    let width = spec.mlp().layers[0].outputs;
    let layouts = fp32_layouts(width);
    let chunks = fp32_chunks(spec);
    let cap = std::env::var("NFIELD_TRAIN_TILE").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(u32::MAX);
    let found = layouts.iter().filter(|&&(_, tile)| tile <= cap).find_map(|&(warps, tile)| {
        chunks
            .iter()
            .map(|&c| (c, train_fp32_smem(spec, tile, c)))
            .find(|&(_, smem)| smem <= smem_limit)
            .map(|(wchunk, smem)| (TrainShape { warps, tile, smem }, wchunk))
    });
    let (shape, wchunk) = found.ok_or_else(|| {
        let least = layouts
            .iter()
            .flat_map(|&(_, t)| chunks.iter().map(move |&c| train_fp32_smem(spec, t, c)))
            .min()
            .unwrap_or(usize::MAX);
        Error::Unsupported(format!(
            "{} needs {} KB of shared memory per block in the fp32 CUDA training step \
             (every hidden activation of a tile in fp32; this GPU allows {} KB); \
             use fewer or narrower layers, or --engine cpu",
            spec.describe(),
            least.div_ceil(1024),
            smem_limit / 1024
        ))
    })?;
    let mut defines = model_defines(spec);
    defines.extend(precision_defines(Precision::Fp32));
    defines.push(d("TRAIN_WARPS", shape.warps));
    defines.push(d("TILE", shape.tile));
    defines.push(d("WCHUNK", wchunk));
    Ok((Specialization { file: KernelFile::MlpTrainFp32, defines }, shape))
}

#[cfg(test)]
mod tests {
    use super::super::{train_step, train_step_fused, train_step_wide};
    use super::*;
    use nfield::model::SirenSpec;

    #[test]
    fn fp32_takes_the_simt_step_and_fits_the_h100_and_a100() {
        use nfield::model::FourierSpec;
        let siren = |width, hidden_layers| ModelSpec::Siren(SirenSpec { width, hidden_layers, ..Default::default() });
        for spec in [siren(64, 8), siren(128, 8), siren(256, 8), ModelSpec::Fourier(FourierSpec::default())] {
            let (k, shape) = train_step(&spec, Precision::Fp32, 227 * 1024).expect("fits the H100");
            assert_eq!(k.file, KernelFile::MlpTrainFp32, "{}", spec.describe());
            assert!(shape.smem <= 227 * 1024, "{}", shape.smem);
            let units = shape.tile as usize * spec.mlp().layers[0].outputs / 16;
            assert_eq!(units % (32 * shape.warps as usize), 0);
            assert!(k.defines.contains(&d("FAST_SINCOS", 0)));
        }
        for spec in [siren(64, 8), siren(128, 8), ModelSpec::Fourier(FourierSpec::default())] {
            let (_, shape) = train_step(&spec, Precision::Fp32, 163 * 1024).expect("fits the A100");
            assert!(shape.smem <= 163 * 1024, "{}", shape.smem);
        }
        let (_, shape) = train_step(&siren(64, 8), Precision::Fp32, 227 * 1024).expect("fits");
        assert_eq!((shape.warps, shape.tile), (8, 64));
        assert!(train_step_wide(&siren(64, 8), Precision::Fp32, 227 * 1024).is_err());
        assert!(train_step_fused(&siren(64, 8), Precision::Fp32, 227 * 1024).is_err());
    }
}

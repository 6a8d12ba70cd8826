//! The kernel sources and their specialisations: every kernel is compiled for the model in hand,
//! with widths, depth, activation and encoding sizes as `-D` constants (the seed's TODO,
//! "replace hard-coded #defines with compile-time values", done properly).

use crate::{Error, Result};
use nfield::Precision;
use nfield::model::{HashGridSpec, ModelSpec, OutputActivation};

mod catalog;
mod fp32;
pub use catalog::{test_models, test_specializations};
pub use fp32::{train_fp32_smem, train_step_fp32};

const COMMON: &str = include_str!("../kernels/common.cuh");
const ENCODING: &str = include_str!("../kernels/encoding.cuh");
const TRAIN_COMMON: &str = include_str!("../kernels/train_common.cuh");

/// A kernel source file of `kernels/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelFile {
    /// `mlp_infer.cu`: per-pixel and cooperative inference.
    MlpInfer,
    /// `mlp_train.cu`: the fused training step.
    MlpTrain,
    /// `adam.cu`: gradient reduction, Adam, the step counter.
    Adam,
    /// `eval.cu`: squared-error reduction.
    Eval,
    /// `mlp_train_wide.cu`: the training step of models whose weights or register tiles do not
    /// fit the fused step (widths 128-256, deep models): weights streamed layer by layer.
    MlpTrainWide,
    /// `matbench.cu`: the matrix micro-benchmarks (GEMM and GEMV, SIMT and tensor-core).
    MatBench,
    /// `mlp_train_fp32.cu`: the fp32 training step (SIMT FFMA, fp32 everywhere), weights
    /// streamed in chunks of rows.
    MlpTrainFp32,
}

impl KernelFile {
    /// The file name.
    pub fn name(self) -> &'static str {
        match self {
            KernelFile::MlpInfer => "mlp_infer.cu",
            KernelFile::MlpTrain => "mlp_train.cu",
            KernelFile::Adam => "adam.cu",
            KernelFile::Eval => "eval.cu",
            KernelFile::MlpTrainWide => "mlp_train_wide.cu",
            KernelFile::MatBench => "matbench.cu",
            KernelFile::MlpTrainFp32 => "mlp_train_fp32.cu",
        }
    }

    /// The whole translation unit: the shared headers, then the file.
    pub fn source(self) -> String {
        let body = match self {
            KernelFile::MlpInfer => include_str!("../kernels/mlp_infer.cu"),
            KernelFile::MlpTrain => include_str!("../kernels/mlp_train.cu"),
            KernelFile::Adam => include_str!("../kernels/adam.cu"),
            KernelFile::Eval => include_str!("../kernels/eval.cu"),
            KernelFile::MlpTrainWide => include_str!("../kernels/mlp_train_wide.cu"),
            KernelFile::MatBench => include_str!("../kernels/matbench.cu"),
            KernelFile::MlpTrainFp32 => include_str!("../kernels/mlp_train_fp32.cu"),
        };
        let training = matches!(self, KernelFile::MlpTrain | KernelFile::MlpTrainWide | KernelFile::MlpTrainFp32);
        let model_header = training || self == KernelFile::MlpInfer;
        let mut s = String::with_capacity(COMMON.len() + ENCODING.len() + TRAIN_COMMON.len() + body.len() + 64);
        s += COMMON;
        if model_header {
            s += ENCODING;
        }
        if training {
            s += TRAIN_COMMON;
        }
        s += body;
        s
    }
}

/// A kernel file with its `-D` constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Specialization {
    /// The file.
    pub file: KernelFile,
    /// `(NAME, VALUE)` pairs, in a fixed order.
    pub defines: Vec<(String, String)>,
}

impl Specialization {
    /// A file with no constants beyond the defaults of the shared header.
    pub fn plain(file: KernelFile) -> Specialization {
        Specialization { file, defines: vec![d("FAST_SINCOS", 0), d("HALF_BF16", 1)] }
    }

    /// A stable 64-bit key (FNV-1a) of the source, the constants, the target and the compiler.
    pub fn key(&self, arch: &str, compiler: (i32, i32)) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        eat(self.file.source().as_bytes());
        for (k, v) in &self.defines {
            eat(k.as_bytes());
            eat(v.as_bytes());
        }
        eat(arch.as_bytes());
        eat(format!("{}.{}", compiler.0, compiler.1).as_bytes());
        h
    }
}

fn d(name: &str, value: impl ToString) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// A float as a C literal that round-trips (`3.0e1f`).
fn float_literal(v: f32) -> String {
    format!("{v:e}f")
}

/// The `-D` constants of a model's MLP and encoding (encoding.cuh, mlp_*.cu).
pub fn model_defines(spec: &ModelSpec) -> Vec<(String, String)> {
    let mlp = spec.mlp();
    let width = mlp.layers[0].outputs;
    let n_hidden = mlp.layers.len() - 2;
    let mut v = vec![d("IN_DIM", mlp.input_dim()), d("WIDTH", width), d("N_HIDDEN", n_hidden)];
    match spec {
        ModelSpec::Siren(s) => {
            v.push(d("MODEL", 0));
            v.push(d("OMEGA0", float_literal(s.omega0)));
            v.push(d("OMEGA", float_literal(s.omega_hidden)));
            v.push(d("OUT_LINEAR", 0));
        }
        ModelSpec::Fourier(s) => {
            v.push(d("MODEL", 1));
            v.push(d("FREQS", s.frequencies));
            v.push(d("OUT_LINEAR", 0));
        }
        ModelSpec::HashGrid(s) => {
            v.push(d("MODEL", 2));
            v.push(d("LEVELS", s.levels));
            v.push(d("FEATURES", s.features_per_level));
            v.push(d("TABLE_SIZE", format!("{}u", s.table_size())));
            v.push(d("HASH_OFFSET", float_literal(s.position_offset())));
            v.push(d("OUT_LINEAR", u8::from(s.output == OutputActivation::Linear)));
            // Scales never decrease with the level, so the dense levels are the leading ones.
            v.push(d("DENSE_LEVELS", s.dense_dims().iter().take_while(|&&dim| dim > 0).count()));
        }
    }
    v
}

/// A hash-grid training step made deterministic: the table gradient in 64-bit fixed point
/// (`DETERMINISTIC`, encoding.cuh table_grad_add) instead of float atomics.
pub fn deterministic_step(mut step: Specialization) -> Specialization {
    step.defines.push(d("DETERMINISTIC", 1));
    step
}

/// Whether a training step gathers the hash table from its fp16 copy (`TABLE16`).
pub fn gathers_table16(step: &Specialization) -> bool {
    step.defines.contains(&d("TABLE16", 1))
}

/// Whether a precision runs on the tensor cores with 16-bit operands.
pub fn is_half(p: Precision) -> bool {
    matches!(p, Precision::Bf16 | Precision::Fp16)
}

/// Constants of the precision mode.
pub fn precision_defines(p: Precision) -> Vec<(String, String)> {
    vec![
        // The special-function unit's sin/cos (~4e-7 absolute) wherever products round to 10 bits or fewer.
        d("FAST_SINCOS", u8::from(p != Precision::Fp32)),
        d("HALF_BF16", u8::from(p != Precision::Fp16)),
        d("TF32", u8::from(p == Precision::Tf32)),
    ]
}

/// The cooperative inference kernel's layout for a model: (warps per block, tiles of 16 samples
/// a warp carries through the layers together). Widths ≤ 64: 16 warps × 2 tiles (SIREN-64×8 on
/// an H100: 0.49 ms per 1.63 MP image, against 0.54 for 8 × 1 and 0.64 for 4 × 1; ptxas caps 16
/// warps at 128 registers, and 2 tiles of a 64-wide model spill 40 bytes there, which costs less
/// than the interleaving gains). Wider: 4 warps × 1 tile (128 columns of accumulators and A
/// fragments need ~130 registers a tile). `NFIELD_COOP_WARPS` (1-16) and `NFIELD_COOP_TPW` (1-4)
/// override each, for measuring.
pub fn coop_layout(spec: &ModelSpec) -> (u32, u32) {
    let env = |name: &str, max: u32| {
        std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok()).filter(|w| (1..=max).contains(w))
    };
    let (warps, tiles) = if spec.mlp().layers[0].outputs <= 64 { (16, 2) } else { (4, 1) };
    (env("NFIELD_COOP_WARPS", 16).unwrap_or(warps), env("NFIELD_COOP_TPW", 4).unwrap_or(tiles))
}

/// Threads of a per-pixel inference block.
pub const PER_PIXEL_THREADS: u32 = 128;

/// The per-pixel inference kernel; `smem_weights` stages the MLP in shared memory.
pub fn infer_per_pixel(spec: &ModelSpec, smem_weights: bool) -> Specialization {
    let mut defines = model_defines(spec);
    defines.extend(precision_defines(Precision::Fp32));
    defines.push(d("SMEM_WEIGHTS", u8::from(smem_weights)));
    let width = spec.mlp().layers[0].outputs;
    defines.push(d("PP_UNROLL", if width <= 64 { width.max(spec.mlp().input_dim()).max(64) } else { 4 }));
    Specialization { file: KernelFile::MlpInfer, defines }
}

/// Shared memory the per-pixel kernel needs to stage the MLP, in bytes.
pub fn per_pixel_smem(spec: &ModelSpec) -> usize {
    4 * spec.mlp().param_count()
}

/// The cooperative (tensor-core) inference kernel in a 16-bit precision.
pub fn infer_coop(spec: &ModelSpec, precision: Precision) -> Result<Specialization> {
    check_coop(spec, precision)?;
    let mut defines = model_defines(spec);
    defines.extend(precision_defines(precision));
    defines.push(d("SMEM_WEIGHTS", 0));
    let (warps, tiles) = coop_layout(spec);
    defines.push(d("COOP_WARPS", warps));
    defines.push(d("TPW", tiles));
    Ok(Specialization { file: KernelFile::MlpInfer, defines })
}

/// Shared memory of the cooperative inference kernel, in bytes.
pub fn infer_coop_smem(spec: &ModelSpec) -> usize {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    let hidden = (mlp.layers.len() - 2) * w * (w + 8);
    let first = if matches!(spec, ModelSpec::Siren(_)) { 0 } else { w * (mlp.input_dim() + 8) };
    2 * (hidden + first)
}

/// Whether the cooperative kernel serves `spec` in `precision` within `smem_limit` bytes.
pub fn coop_fits(spec: &ModelSpec, precision: Precision, smem_limit: usize) -> bool {
    check_coop(spec, precision).is_ok() && infer_coop_smem(spec) <= smem_limit
}

fn check_coop(spec: &ModelSpec, precision: Precision) -> Result<()> {
    if !is_half(precision) {
        return Err(Error::Unsupported(format!(
            "the cooperative CUDA kernels run on the tensor cores in bf16 or fp16, not {precision:?}; use --precision bf16|fp16 or --strategy per-pixel"
        )));
    }
    check_mma_shape(spec, "the cooperative CUDA kernels need")
}

/// Why `spec` does not fit products of 16-column tensor-core tiles (width, and the encoding
/// width of non-SIREN models, divisible by 16); `who_needs` starts the error ("the … need").
fn check_mma_shape(spec: &ModelSpec, who_needs: &str) -> Result<()> {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    if !w.is_multiple_of(16) {
        return Err(Error::Unsupported(format!("{who_needs} a width divisible by 16, got {w}")));
    }
    if !matches!(spec, ModelSpec::Siren(_)) && !mlp.input_dim().is_multiple_of(16) {
        return Err(Error::Unsupported(format!(
            "{who_needs} an encoding width divisible by 16, got {}",
            mlp.input_dim()
        )));
    }
    Ok(())
}

/// Floats per block in the fused step's gradient partials: the MLP's parameters rounded up to 4
/// (mlp_train.cu's PARTIAL_STRIDE).
pub fn partial_stride(spec: &ModelSpec) -> usize {
    spec.mlp().param_count().next_multiple_of(4)
}

/// The training step's layout for a model: warps per block, samples per tile and shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainShape {
    /// Warps per block.
    pub warps: u32,
    /// Samples per tile (a block's unit of work: the grid has at most ⌈batch / tile⌉ blocks).
    pub tile: u32,
    /// Dynamic shared memory per block.
    pub smem: usize,
}

/// Shared memory of the fused training step with `warps` warps (mlp_train.cu's `Smem`): the
/// hidden weights, the tile's activations (δ goes over them in the backward), layer 0's
/// weights and the tile's encodings (Fourier, hash grid), the sample buffer and the block's
/// gradient sums.
pub fn train_smem(spec: &ModelSpec, warps: u32) -> usize {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    let n_hidden = mlp.layers.len() - 2;
    let in_dim = mlp.input_dim();
    let siren = matches!(spec, ModelSpec::Siren(_));
    let t = 16 * warps as usize;
    let halves = n_hidden * w * w + if siren { 0 } else { w * in_dim + t * in_dim } + (n_hidden + 1) * t * w;
    let acc_len = (n_hidden + 1 + 3) * w + 4 + if siren { 2 * w } else { 0 };
    // Per-warp staging of those sums (mlp_train.cu's STAGE_LEN).
    let stage_len = 4 * w + 4 + if siren && n_hidden == 0 { 2 * w } else { 0 };
    // Two sample buffers (this tile's, the next one's) of 5 floats per sample.
    let floats = 2 * t * 5 + warps as usize + acc_len + warps as usize * stage_len;
    (2 * halves).next_multiple_of(16) + 4 * floats
}

/// Shared memory of the weight-streaming step (mlp_train_wide.cu) with `warps` warps and tiles
/// of `tile` samples: one layer's weights, every hidden activation of the tile, the Fourier
/// encodings, then the fp32 sample buffer, output stage, loss, small parameters and row-group
/// stage.
pub fn train_wide_smem(spec: &ModelSpec, precision: Precision, warps: u32, tile: u32) -> usize {
    let mlp = spec.mlp();
    let w = mlp.layers[0].outputs;
    let n_hidden = mlp.layers.len() - 2;
    let in_dim = mlp.input_dim();
    let encoded = !matches!(spec, ModelSpec::Siren(_)); // an encoding buffer: Fourier or hash grid
    let (t, row_groups) = (tile as usize, tile as usize / 16);
    let col_groups = warps as usize / row_groups;
    let wbuf_cols = match (encoded, n_hidden > 0) {
        (true, true) => w.max(in_dim),
        (true, false) => in_dim,
        (false, true) => w,
        (false, false) => 0,
    };
    let halves = w * wbuf_cols + (n_hidden + 1) * t * w + if encoded { t * in_dim } else { 0 };
    // The output layer and SIREN's layer 0 (SMALL_LEN), then the per-row-group sums (STAGE_LEN).
    let small_len = match spec {
        ModelSpec::Siren(_) => 6 * w + 4,
        ModelSpec::Fourier(_) => 3 * w + 4,
        ModelSpec::HashGrid(_) => 3 * w + 4 + w * in_dim, // + W_0 in fp32
    };
    let stage_len = if encoded { 4 * w } else { 6 * w };
    let floats = t * 8 + col_groups * t * 3 + t + small_len + row_groups * stage_len;
    let element = if precision == Precision::Tf32 { 4 } else { 2 };
    (element * halves).next_multiple_of(16) + 4 * floats
}

/// The weight-streaming step's layouts for a width, best first: (warps, samples per tile), the
/// tile's 16-row groups × column groups of 16-64 columns filling the warps. At most 8 warps where
/// the width allows (widths of 11 or 13 × 16 need 11 or 13 column groups), then larger tiles
/// first (fewer weight refills and partial updates per sample), then more warps.
fn wide_layouts(width: usize) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for tile in [128u32, 64, 32, 16] {
        let row_groups = tile / 16;
        for col_groups in 1..=16u32 {
            let cg = col_groups as usize;
            if width.is_multiple_of(16 * cg) && width / cg <= 64 && row_groups * col_groups <= 16 {
                v.push((row_groups * col_groups, tile));
            }
        }
    }
    v.sort_by_key(|&(warps, tile)| (warps > 8, std::cmp::Reverse(tile), std::cmp::Reverse(warps)));
    v
}

thread_local! {
    static FORCE_WIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While alive, [`train_step`] on this thread picks the weight-streaming kernel for every model
/// that kernel can run (the self-test's comparison of the two kernels on the same model).
#[derive(Debug)]
pub struct ForceWide {
    previous: bool,
}

/// Routes this thread's training steps through mlp_train_wide.cu until the guard drops.
pub fn force_wide() -> ForceWide {
    ForceWide { previous: FORCE_WIDE.with(|f| f.replace(true)) }
}

impl Drop for ForceWide {
    fn drop(&mut self) {
        FORCE_WIDE.with(|f| f.set(self.previous));
    }
}

/// Why CUDA cannot train `spec` in `precision` at all (model kind, precision, tensor-core shape).
fn check_trainable(spec: &ModelSpec, precision: Precision) -> Result<()> {
    match spec {
        ModelSpec::Siren(_) => {}
        ModelSpec::Fourier(f) if !f.train_b => {}
        ModelSpec::Fourier(_) => {
            return Err(Error::Unsupported(
                "training Fourier B (--train-b) is not implemented on CUDA yet; use --engine cpu".into(),
            ));
        }
        ModelSpec::HashGrid(_) if precision == Precision::Fp32 => {
            return Err(Error::Unsupported(
                "hash-grid training on CUDA runs its MLP on the tensor cores: use --precision fp16, bf16 or tf32, \
                 or --engine cpu"
                    .into(),
            ));
        }
        // Measured 2026-11-26: a 4-level hash grid trained in bf16 ended 0.6 dB under the CPU
        // engine after 60 steps (fp16 and tf32 within 0.3 dB): bf16's 8-bit mantissa on the
        // encoding and its deltas costs quality, so it is refused rather than silently worse.
        ModelSpec::HashGrid(_) if precision == Precision::Bf16 => {
            return Err(Error::Unsupported(
                "hash-grid training on CUDA in bf16 loses quality (0.6 dB on the GPU test model); \
                 use --precision fp16 (the default) or tf32"
                    .into(),
            ));
        }
        ModelSpec::HashGrid(_) => {}
    }
    match precision {
        Precision::Fp32 => fp32::check_fp32(spec),
        Precision::Bf16 | Precision::Fp16 => check_coop(spec, precision),
        Precision::Tf32 => check_mma_shape(spec, "the tf32 training step needs"),
    }
}

/// Why the tensor-core steps (fused: bf16, fp16; weight-streaming: bf16, fp16, tf32) cannot
/// train `spec` in `precision`.
fn check_tensor_core_training(spec: &ModelSpec, precision: Precision, fused: bool) -> Result<()> {
    check_trainable(spec, precision)?;
    if !is_half(precision) && (fused || precision != Precision::Tf32) {
        return Err(Error::Unsupported(format!(
            "the {} CUDA training step runs on the tensor cores in {}, not {precision:?} \
             (fp32 takes mlp_train_fp32.cu{})",
            if fused { "fused" } else { "weight-streaming" },
            if fused { "bf16 or fp16" } else { "bf16, fp16 or tf32" },
            if fused { ", tf32 mlp_train_wide.cu" } else { "" }
        )));
    }
    Ok(())
}

/// The fused step (mlp_train.cu: every hidden weight in shared memory, activation derivatives
/// in registers), or why the model does not fit it.
pub fn train_step_fused(
    spec: &ModelSpec,
    precision: Precision,
    smem_limit: usize,
) -> Result<(Specialization, TrainShape)> {
    check_tensor_core_training(spec, precision, true)?;
    // NFIELD_TRAIN_WARPS caps the warps per block (measuring the layout against the batch).
    let cap = std::env::var("NFIELD_TRAIN_WARPS").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(8);
    let shape = [8u32, 4, 2, 1]
        .into_iter()
        .filter(|&warps| warps <= cap)
        .map(|warps| TrainShape { warps, tile: 16 * warps, smem: train_smem(spec, warps) })
        .find(|s| s.smem <= smem_limit)
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "{} needs {} KB of shared memory per block in the fused CUDA training step (this GPU allows {} KB); \
                 use fewer or narrower layers, or --engine cpu",
                spec.describe(),
                train_smem(spec, 1) / 1024,
                smem_limit / 1024
            ))
        })?;
    let mut defines = model_defines(spec);
    defines.extend(precision_defines(precision));
    defines.push(d("TRAIN_WARPS", shape.warps));
    let mut shape = shape;
    if let ModelSpec::HashGrid(h) = spec {
        // NFIELD_COARSE_LEVELS caps them (measuring the pre-reduction level by level).
        let cap = std::env::var("NFIELD_COARSE_LEVELS").ok().and_then(|v| v.parse::<usize>().ok());
        let (levels, floats) = coarse_levels(h, shape.smem, smem_limit, cap.unwrap_or(usize::MAX));
        defines.push(d("COARSE_LEVELS", levels));
        defines.push(d("COARSE_FLOATS", floats));
        shape.smem += 4 * (floats + 2 * levels);
        // In fp16 it gathers from an fp16 copy of its table (half the bytes: tiny-cuda-nn's 2^19
        // table then fits the L2); NFIELD_TABLE32=1 gathers from the fp32 parameters instead.
        if precision == Precision::Fp16 && std::env::var("NFIELD_TABLE32").is_err() {
            defines.push(d("TABLE16", 1));
        }
    }
    Ok((Specialization { file: KernelFile::MlpTrain, defines }, shape))
}

/// The hash grid's coarse levels that the fused step pre-reduces in shared memory
/// (encoding.cuh COARSE_LEVELS): the leading levels whose dense grid of ⌊scale + offset⌋ + 2
/// corners per side has at most 2048 corners (a block's ~1000 samples touch 4000 corners per
/// level; on the H100, tiny-cuda-nn's grid: step kernel 497 µs without, 445 / 441 / 432 µs
/// with 1 / 2 / 3 levels (17², 25², 37²), 530 µs with the fourth, 55²), as many as keep two
/// blocks of `base_smem` bytes per SM, and at most `max_levels`. Returns (levels, floats of the dense copies).
pub fn coarse_levels(spec: &HashGridSpec, base_smem: usize, smem_limit: usize, max_levels: usize) -> (usize, usize) {
    let budget = ((smem_limit.saturating_sub(1024)) / 2).saturating_sub(base_smem);
    let (mut levels, mut floats) = (0, 0);
    for dim in spec.level_dims().into_iter().take(max_levels) {
        let dim = dim as usize;
        let more = dim * dim * spec.features_per_level;
        if dim * dim > 2048 || 4 * (floats + more + 2 * (levels + 1)) > budget {
            break;
        }
        (levels, floats) = (levels + 1, floats + more);
    }
    (levels, floats)
}

/// The weight-streaming step (mlp_train_wide.cu: one layer's weights in shared memory at a
/// time), or why the model does not fit it.
pub fn train_step_wide(
    spec: &ModelSpec,
    precision: Precision,
    smem_limit: usize,
) -> Result<(Specialization, TrainShape)> {
    check_tensor_core_training(spec, precision, false)?;
    let width = spec.mlp().layers[0].outputs;
    let layouts = wide_layouts(width);
    // NFIELD_TRAIN_TILE caps the samples per tile (measuring the layout against the batch).
    let cap = std::env::var("NFIELD_TRAIN_TILE").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(u32::MAX);
    let shape = layouts
        .iter()
        .filter(|&&(_, tile)| tile <= cap)
        .map(|&(warps, tile)| TrainShape { warps, tile, smem: train_wide_smem(spec, precision, warps, tile) })
        .find(|s| s.smem <= smem_limit)
        .ok_or_else(|| {
            let least =
                layouts.iter().map(|&(w, t)| train_wide_smem(spec, precision, w, t)).min().unwrap_or(usize::MAX);
            Error::Unsupported(format!(
                "{} needs {} KB of shared memory per block in the weight-streaming CUDA training step \
                 (one layer's weights and a 16-sample tile's activations; this GPU allows {} KB); \
                 use fewer or narrower layers, or --engine cpu",
                spec.describe(),
                least.div_ceil(1024),
                smem_limit / 1024
            ))
        })?;
    let mut defines = model_defines(spec);
    defines.extend(precision_defines(precision));
    defines.push(d("TRAIN_WARPS", shape.warps));
    defines.push(d("TILE", shape.tile));
    Ok((Specialization { file: KernelFile::MlpTrainWide, defines }, shape))
}

/// The training step's specialisation and layout, or why CUDA cannot train the model: in fp32
/// the SIMT step; in bf16/fp16 the fused step for widths ≤ 64 where it fits, else the
/// weight-streaming step (any width 16-256 divisible by 16, any depth, within the shared memory
/// of `smem_limit`); in tf32 the weight-streaming step (tf32 matrices take twice the shared
/// memory of bf16's).
pub fn train_step(spec: &ModelSpec, precision: Precision, smem_limit: usize) -> Result<(Specialization, TrainShape)> {
    check_trainable(spec, precision)?;
    if precision == Precision::Fp32 {
        return train_step_fp32(spec, smem_limit);
    }
    let forced = FORCE_WIDE.with(|f| f.get())
        || std::env::var("NFIELD_CUDA_STEP").is_ok_and(|v| v == "wide")
        || precision == Precision::Tf32;
    if spec.mlp().layers[0].outputs <= 64 && !forced {
        if let Ok(fused) = train_step_fused(spec, precision, smem_limit) {
            return Ok(fused);
        }
    }
    train_step_wide(spec, precision, smem_limit)
}

#[cfg(test)]
mod tests;

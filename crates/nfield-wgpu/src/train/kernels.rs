//! The training step's pipelines and bind groups, built once per trainer: WGSL sources
//! assembled per model ([`crate::codegen::assemble`]), one bind group per dispatch, and the
//! ordered list of dispatches of one chunk ([`Kernels::chunk`]) and of the optimizer
//! ([`Kernels::adam`]).

use super::plan::{LOSS_GROUP, LayerRecord, Plan};
use crate::Gpu;
use crate::codegen::{self, files, float_literal};
use nfield::Result;
use nfield::model::{ModelSpec, ParamLayout};
use nfield::train::TrainOptions;

/// The training shader files, embedded at build time.
pub mod sources {
    /// StepInfo and Chunk records.
    pub const BATCH: &str = include_str!("../../shaders/train_batch.wgsl");
    /// The Layer record.
    pub const LAYER: &str = include_str!("../../shaders/train_layer.wgsl");
    /// What both matrix-product cores share: the operands' reading, the result block.
    pub const GEMM_OPERANDS: &str = include_str!("../../shaders/train_gemm_operands.wgsl");
    /// The tiled matrix product in f32.
    pub const GEMM: &str = include_str!("../../shaders/train_gemm.wgsl");
    /// The tiled matrix product on cooperative matrices (f16 operands, f32 accumulation).
    pub const GEMM_MATRIX: &str = include_str!("../../shaders/train_gemm_matrix.wgsl");
    /// Sampling.
    pub const SAMPLE: &str = include_str!("../../shaders/train_sample.wgsl");
    /// SIREN's identity encoding.
    pub const ENCODE_IDENTITY: &str = include_str!("../../shaders/train_encode_identity.wgsl");
    /// Fourier and hash-grid encodings.
    pub const ENCODE: &str = include_str!("../../shaders/train_encode.wgsl");
    /// Forward layers.
    pub const FORWARD: &str = include_str!("../../shaders/train_forward.wgsl");
    /// Loss and output delta.
    pub const LOSS: &str = include_str!("../../shaders/train_loss.wgsl");
    /// The loss's workgroup sum with subgroup operations.
    pub const REDUCE_SUBGROUP: &str = include_str!("../../shaders/train_reduce_subgroup.wgsl");
    /// The loss's workgroup sum in workgroup memory.
    pub const REDUCE_TREE: &str = include_str!("../../shaders/train_reduce_tree.wgsl");
    /// Deltas of the layer below.
    pub const BACKWARD: &str = include_str!("../../shaders/train_backward.wgsl");
    /// Weight and bias gradients.
    pub const WEIGHT_GRAD: &str = include_str!("../../shaders/train_weight_grad.wgsl");
    /// Fourier B and hash-table gradients.
    pub const ENCODING_GRAD: &str = include_str!("../../shaders/train_encoding_grad.wgsl");
    /// The optimizer.
    pub const ADAM: &str = include_str!("../../shaders/adam.wgsl");
}

/// Every buffer a training step touches (allocated once; see [`super::plan`] for layouts).
pub struct Buffers {
    /// The model's parameters (the engine's buffer).
    pub params: wgpu::Buffer,
    /// `[xs | ys | colours]` of the target.
    pub target: wgpu::Buffer,
    /// The pixel subset (or one unused 0).
    pub subset: wgpu::Buffer,
    /// The chunk's positions and colours.
    pub batch: wgpu::Buffer,
    /// The chunk's encoding and layer outputs.
    pub acts: wgpu::Buffer,
    /// The chunk's activation derivatives, overwritten by the deltas (plan module).
    pub derivs: wgpu::Buffer,
    /// Per-split weight-gradient sums.
    pub partials: wgpu::Buffer,
    /// The hash table's gradient (a 16-byte stub for other models).
    pub table_grad: wgpu::Buffer,
    /// Adam's `[m | v]`.
    pub moments: wgpu::Buffer,
    /// The step's squared-error partial sums.
    pub loss_partials: wgpu::Buffer,
    /// The current step's record.
    pub step_info: wgpu::Buffer,
    /// The current chunk's record.
    pub chunk_info: wgpu::Buffer,
}

/// One compute dispatch: pipeline, its bind group and workgroup counts.
pub struct Dispatch {
    /// What it computes (the pass's name; [`super::Trainer::profile_step`] adds up by it).
    pub label: &'static str,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
}

impl Dispatch {
    /// Records the dispatch into `pass`.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }
}

/// The dispatches of a step.
pub struct Kernels {
    /// One chunk: sample, encode, forward, loss, backward, encoding gradient.
    pub chunk: Vec<Dispatch>,
    /// The optimizer step.
    pub adam: Dispatch,
    /// Layer records kept alive with their bind groups.
    _layer_records: Vec<wgpu::Buffer>,
}

/// A WGSL `u32` constant.
fn u(v: impl std::fmt::Display) -> String {
    format!("{v}u")
}

/// A WGSL `f32` constant equal to `v` exactly.
fn f(v: f32) -> String {
    format!("f32({})", float_literal(v))
}

/// The factor a hash table's gradient is scaled by before its 64-bit fixed point (units of
/// 2⁻³², shaders/common.wgsl) and divided by after: the batch rounded up to a power of two.
/// Contributions carry the loss's 1/batch, so this keeps their resolution at 2⁻³² of a
/// per-sample term whatever the batch; sums up to 2³¹/scale (8192 at 2^18) are representable.
pub fn table_grad_scale(batch: u32) -> f32 {
    batch.next_power_of_two() as f32
}

/// The training constants every training shader sees (after the model header).
fn constants(
    spec: &ModelSpec,
    layout: &ParamLayout,
    plan: &Plan,
    opts: &TrainOptions,
    target: &TargetShape,
) -> Vec<(&'static str, String)> {
    let n_layers = plan.dims.len();
    let adam = &opts.adam;
    let hash = matches!(spec, ModelSpec::HashGrid(_));
    let frozen = if layout.encoding_trainable { layout.total..layout.total } else { layout.encoding.clone() };
    vec![
        ("CHUNK_SIZE", u(plan.chunk)),
        ("BATCH_COLORS", u(2 * plan.chunk)),
        ("GRAD_LEN", u(plan.grad_len)),
        ("GRAD_SPLITS", u(plan.splits)),
        ("K_SPLIT", u(plan.k_split)),
        ("D_ENCODED", u(plan.delta_offset(None))),
        ("OUTPUT_OFFSET", u(plan.act_offsets[n_layers - 1])),
        ("OUTPUT_DELTA", u(plan.delta_offset(Some(n_layers - 1)))),
        ("LOSS_SCALE", f(2.0 / (3.0 * plan.batch as f32))),
        ("TARGET_WIDTH", u(target.width)),
        ("TARGET_HEIGHT", u(target.height)),
        ("N_PIXELS", u(target.n_pixels)),
        ("HAS_SUBSET", target.has_subset.to_string()),
        ("SEED_LO", u(opts.seed as u32)),
        ("SEED_HI", u((opts.seed >> 32) as u32)),
        ("BETA1", f(adam.beta1)),
        ("BETA2", f(adam.beta2)),
        ("ONE_MINUS_BETA1", f(1.0 - adam.beta1)),
        ("ONE_MINUS_BETA2", f(1.0 - adam.beta2)),
        ("EPS", f(adam.eps)),
        ("HASH_TABLE", hash.to_string()),
        ("TABLE_GRAD_SCALE", f(table_grad_scale(plan.batch))),
        // deltas carry the loss's 1/batch: scaled by the batch's power of two they are O(1)
        // when rounded to f16 for the cooperative-matrix products (train_gemm_matrix.wgsl)
        ("DELTA_SCALE", f(table_grad_scale(plan.batch))),
        ("WG_TILES_M", u(weight_grad_tiles(plan)[0])),
        ("WG_TILES_N", u(weight_grad_tiles(plan)[1])),
        ("FROZEN_START", u(frozen.start)),
        ("FROZEN_END", u(frozen.end)),
    ]
}

/// What the sampler needs to know about the target.
pub struct TargetShape {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixels sampled from (the subset's length or width × height).
    pub n_pixels: u32,
    /// Whether a subset is given.
    pub has_subset: bool,
}

/// The tiling of one GEMM pipeline (train_gemm.wgsl): a `tile_m × tile_n` tile of the product
/// per workgroup, a `tm × tn` block per invocation, `k_groups` invocation groups splitting every
/// k chunk, `vec`: 16-byte operand and result accesses, and `matrix`: the products on
/// cooperative matrices (train_gemm_matrix.wgsl, one shape: [`GemmShape::MATRIX`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmShape {
    /// Rows of the tile.
    pub tile_m: u32,
    /// Columns of the tile.
    pub tile_n: u32,
    /// Rows per invocation (a multiple of 4).
    pub tm: u32,
    /// Columns per invocation (a multiple of 4).
    pub tn: u32,
    /// 1, or 2 halves of the workgroup each summing half of every k chunk.
    pub k_groups: u32,
    /// Whether every operand row and offset is a multiple of 4 floats.
    pub vec: bool,
    /// Whether the products run on cooperative matrices in f16 (train_gemm_matrix.wgsl).
    pub matrix: bool,
}

/// Floats of k staged per chunk (train_gemm.wgsl `TILE_K`).
const TILE_K: u32 = 16;
/// Values of k staged per chunk on cooperative matrices (train_gemm_matrix.wgsl `TILE_K`,
/// single-buffered).
const MATRIX_TILE_K: u32 = 16;
/// Parameters an invocation of adam.wgsl updates per iteration, all loaded before any is stored.
const ADAM_BATCH: u32 = 8;

/// The subgroup width train_gemm_matrix.wgsl is written for (four subgroups a workgroup).
pub const MATRIX_SUBGROUP: u32 = 32;

impl GemmShape {
    /// The cooperative-matrix core's one shape: 64 × 64 tiles, 128 invocations (four subgroups
    /// of 32, each a 32 × 32 quarter), read back as 4 × 8 blocks per invocation.
    pub const MATRIX: GemmShape =
        GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec: false, matrix: true };

    fn tile_k(&self) -> u32 {
        if self.matrix { MATRIX_TILE_K } else { TILE_K }
    }

    /// Invocations per workgroup.
    pub fn threads(&self) -> u32 {
        self.k_groups * (self.tile_m / self.tm) * (self.tile_n / self.tn)
    }

    /// Bytes of workgroup memory: two buffers of a chunk of both operands, plus the parked row
    /// sums of `k_groups = 2` (f32); on cooperative matrices one buffer of both f16 operands
    /// (rows padded by 8 halves; the larger of the two layouts), the f32 result tile (rows
    /// padded by 4) and every invocation's row sums.
    pub fn workgroup_bytes(&self, row_sums: bool) -> u32 {
        if self.matrix {
            let k = self.tile_k();
            let staged = |rows: u32| (rows * (k + 8)).max(k * (rows + 8));
            return 2 * (staged(self.tile_m) + staged(self.tile_n))
                + 4 * self.tile_m * (self.tile_n + 4)
                + 16 * self.parked_rows(row_sums);
        }
        2 * TILE_K * (self.tile_m + self.tile_n) * 4 + 16 * self.parked_rows(row_sums)
    }

    /// 16-byte row sums parked by the second k group, or by every invocation on cooperative
    /// matrices (the `PARK_ROWS` lines of the shaders).
    fn parked_rows(&self, row_sums: bool) -> u32 {
        match (self.park_rows(row_sums), self.matrix) {
            (false, _) => 0,
            (true, true) => self.threads(),
            (true, false) => self.threads() / self.k_groups * self.tm / 4,
        }
    }

    fn park_rows(&self, row_sums: bool) -> bool {
        (self.k_groups > 1 || self.matrix) && row_sums
    }

    /// The constants train_gemm.wgsl reads.
    fn constants(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TILE_M", u(self.tile_m)),
            ("TILE_N", u(self.tile_n)),
            ("TM", u(self.tm)),
            ("TN", u(self.tn)),
            ("K_GROUPS", u(self.k_groups)),
            ("VEC", self.vec.to_string()),
        ]
    }

    /// The `//#unroll` counts of train_gemm.wgsl and its includers.
    fn unroll_counts(&self) -> [(&'static str, usize); 6] {
        let t = self.threads();
        [
            ("LOADS_A", (self.tile_m * self.tile_k() / 4 / t) as usize),
            ("LOADS_B", (self.tile_n * self.tile_k() / 4 / t) as usize),
            ("ROW_VECS", (self.tm / 4) as usize),
            ("COL_VECS", (self.tn / 4) as usize),
            ("ACC", (self.tm * self.tn / 4) as usize),
            ("ROWS", self.tm as usize),
        ]
    }

    /// Checks the divisibility the shader assumes (and the matrix core's one shape).
    fn valid(&self) -> bool {
        if self.matrix {
            return GemmShape { vec: false, ..*self } == GemmShape::MATRIX;
        }
        let t = self.threads();
        let fits_parking = self.k_groups == 1
            || (self.k_groups == 2 && self.tile_m * self.tile_n <= 2 * TILE_K * (self.tile_m + self.tile_n));
        self.tm.is_multiple_of(4)
            && self.tn.is_multiple_of(4)
            && self.tile_m.is_multiple_of(self.tm)
            && self.tile_n.is_multiple_of(self.tn)
            && (self.tile_m * TILE_K / 4).is_multiple_of(t)
            && (self.tile_n * TILE_K / 4).is_multiple_of(t)
            && fits_parking
    }

    /// Workgroups for an `m × n` product (times `z` splits).
    fn groups(&self, m: u32, n: u32, z: u32) -> [u32; 3] {
        [n.div_ceil(self.tile_n), m.div_ceil(self.tile_m), z]
    }
}

/// The constants of the output layer fused into the loss (train_loss.wgsl): its input's offset
/// and width, where the delta of the layer below goes, whether it is multiplied by that
/// layer's derivatives and whether it is needed at all (`encoding_grad`: the encoding takes
/// ∂L/∂E when the output layer is layer 0).
fn output_constants(plan: &Plan, layout: &ParamLayout, encoding_grad: bool) -> Vec<(&'static str, String)> {
    let last = plan.dims.len() - 1;
    let w_aligned = layout.layers[last].weights.is_multiple_of(4);
    let inputs = plan.dims[last].0;
    let in_off = plan.input_offset(last);
    let back_off = plan.delta_offset(last.checked_sub(1));
    vec![
        ("OUT_IN", u(inputs)),
        ("OUT_IN_OFF", u(in_off)),
        ("OUT_BACK", (last > 0 || encoding_grad).to_string()),
        ("OUT_BACK_MUL", (last > 0).to_string()),
        ("OUT_BACK_OFF", u(back_off)),
        (
            "OUT_VEC",
            (w_aligned && inputs.is_multiple_of(4) && in_off.is_multiple_of(4) && back_off.is_multiple_of(4))
                .to_string(),
        ),
    ]
}

/// The most 64 × 64 weight-gradient tiles of any layer, `[outputs, inputs]`
/// (train_weight_grad.wgsl `WG_TILES_M`, `WG_TILES_N`; every weight-gradient shape is 64 × 64).
fn weight_grad_tiles(plan: &Plan) -> [u32; 2] {
    let most = |f: fn(&(u32, u32)) -> u32| plan.dims.iter().map(f).max().unwrap_or(1).div_ceil(64).max(1);
    [most(|d| d.1), most(|d| d.0)]
}

/// Whether a layer's operands and results allow 16-byte accesses: both widths and every offset
/// it reads or writes a multiple of 4 floats.
fn vec_layer(r: &LayerRecord) -> bool {
    [r.inputs, r.outputs, r.a_off, r.out_off, r.aux_off, r.w_off, r.bias_off].iter().all(|v| v.is_multiple_of(4))
}

/// The forward and backward passes' tiling: 128 samples × 64 units, 4 × 8 per invocation (256
/// invocations, 24 KiB of workgroup memory), or 64 × 64 (128 invocations, 16 KiB) where the
/// device offers less. 8 × 8 per invocation halves the workgroup-memory loads per FMA but
/// measured slower on an H100 through Vulkan: SIREN-64×8 training at batch 2^18, 18.7 M
/// samples/s against 53.3 with 4 × 8 while naga bounded every loop (the 64 accumulators
/// spilled), and still 54 against 63 without (forward 2037 against 1646 µs a step; also
/// 64 × 64 tiles of 8 × 8, 256 × 64 of 8 × 8 and 128 × 64 of 8 × 4: no better). The weight
/// gradients likewise gained nothing from 8 × 8 blocks or from one k group.
/// With `matrix`, the cooperative-matrix shape instead.
fn layer_shape(gpu: &Gpu, vec: bool, matrix: bool) -> GemmShape {
    if matrix {
        return GemmShape { vec, ..GemmShape::MATRIX };
    }
    let big = layer_shape_big(vec);
    if big.workgroup_bytes(false) <= gpu.workgroup_memory { big } else { GemmShape { tile_m: 64, ..big } }
}

fn layer_shape_big(vec: bool) -> GemmShape {
    GemmShape { tile_m: 128, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec, matrix: false }
}

/// The weight gradients' tiling: 64 outputs × 64 inputs, 4 × 8 per invocation, two groups of
/// 128 invocations splitting each k chunk (256 invocations, 16 KiB + 2 KiB); with `matrix`, the
/// cooperative-matrix shape.
fn weight_grad_shape(vec: bool, matrix: bool) -> GemmShape {
    if matrix {
        return GemmShape { vec, ..GemmShape::MATRIX };
    }
    GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 2, vec, matrix: false }
}

/// Which passes of a training step run their products on cooperative matrices in fp16
/// training. Measured per pass on an H100 through Vulkan (SIREN-64×8 at batch 2^18, µs a step,
/// f32 core vs cooperative matrices): forward 1809 vs 1802, deltas 1545 vs 1682, weight
/// gradients 1548 vs 1285. Only the weight gradients (k = the batch's samples: long sums of
/// few outputs) gain; forward and deltas are bound by their per-element work and memory
/// traffic, not by the products, so they stay in f32, which also keeps the ReLU MLPs' units
/// from flipping with f16 rounding (the hash table's gradient was 2.1e-2 off the oracle in
/// relative L2 with all three passes in f16).
#[derive(Clone, Copy, Debug)]
pub struct MatrixPasses {
    /// The layers' forward products.
    pub forward: bool,
    /// The deltas of the layer below.
    pub backward: bool,
    /// The weight and bias gradients.
    pub weight_grad: bool,
}

impl MatrixPasses {
    /// fp32 training: no pass.
    pub const NONE: MatrixPasses = MatrixPasses { forward: false, backward: false, weight_grad: false };
    /// fp16 training (see the type's documentation).
    pub const FP16: MatrixPasses = MatrixPasses { forward: false, backward: false, weight_grad: true };
}

/// Whether `gpu` can run the training products on cooperative matrices (fp16 training):
/// f16 cooperative matrices ([`Gpu::cooperative_matrix_f16`]), subgroups of exactly
/// [`MATRIX_SUBGROUP`] invocations, and the workgroup memory of [`GemmShape::MATRIX`]. `Err`
/// says what is missing.
pub fn matrix_training(gpu: &Gpu) -> std::result::Result<(), String> {
    let (lo, hi) = (gpu.info.subgroup_min_size, gpu.info.subgroup_max_size);
    let need = GemmShape::MATRIX.workgroup_bytes(true);
    if !gpu.cooperative_matrix_f16 {
        Err(format!("{} offers no f16 cooperative matrices (tensor cores through wgpu)", gpu.describe()))
    } else if (lo, hi) != (MATRIX_SUBGROUP, MATRIX_SUBGROUP) {
        Err(format!("{} has subgroups of {lo}..={hi} invocations, not exactly {MATRIX_SUBGROUP}", gpu.describe()))
    } else if gpu.workgroup_memory < need {
        Err(format!("{} has {} bytes of workgroup memory, fewer than {need}", gpu.describe(), gpu.workgroup_memory))
    } else {
        Ok(())
    }
}

/// The source of a GEMM pipeline: the model header and training constants, `shape`'s
/// constants, the shared operand reading, the core `shape` selects and the pass `pass`
/// (train_forward, train_backward or train_weight_grad), preprocessed and unrolled for `shape`.
fn gemm_source(
    spec: &ModelSpec,
    consts: &[(&'static str, String)],
    pass: &str,
    shape: GemmShape,
    row_sums: bool,
) -> String {
    use sources::*;
    debug_assert!(shape.valid(), "{shape:?}");
    let mut all = consts.to_vec();
    all.extend(shape.constants());
    let core = if shape.matrix { GEMM_MATRIX } else { GEMM };
    let source = codegen::assemble(spec, &all, &[files::COMMON, BATCH, LAYER, GEMM_OPERANDS, core, pass]);
    let mut flags = Vec::new();
    if shape.park_rows(row_sums) {
        flags.push("PARK_ROWS");
    }
    if shape.matrix {
        flags.push("MATRIX");
    }
    let source = codegen::unroll(&codegen::preprocess(&source, &flags), &shape.unroll_counts());
    if shape.matrix {
        // enable directives come before every declaration
        format!("enable f16;\nenable wgpu_cooperative_matrix;\n{source}")
    } else {
        source
    }
}

fn bind(
    gpu: &Gpu,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    entries: &[(u32, &wgpu::Buffer)],
) -> Result<wgpu::BindGroup> {
    gpu.bind(label, &pipeline.get_bind_group_layout(0), entries)
}

impl Kernels {
    /// Compiles every pipeline of `spec`'s step and binds it to `bufs`; the products of the
    /// passes in `matrix` run on cooperative matrices in f16 ([`GemmShape::MATRIX`]; the caller
    /// checks that the device has them, [`matrix_training`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        spec: &ModelSpec,
        layout: &ParamLayout,
        plan: &Plan,
        opts: &TrainOptions,
        target: &TargetShape,
        bufs: &Buffers,
        matrix: MatrixPasses,
    ) -> Result<Kernels> {
        use sources::*;
        let consts = constants(spec, layout, plan, opts, target);
        let src = |parts: &[&str]| codegen::assemble(spec, &consts, parts);
        // A GEMM pipeline of `shape` for the pass in `pass` (train_forward, …): its constants,
        // its core, and its loops over the invocation's block unrolled (so that `acc` is indexed
        // by constants and stays in registers).
        let gemm_pipeline = |label: &str, entry: &str, pass: &str, shape: GemmShape, row_sums: bool| {
            let source = gemm_source(spec, &consts, pass, shape, row_sums);
            gpu.compute_pipeline(label, &source, entry)
        };
        let common = files::COMMON;
        let enc = files::ENCODING;
        let c = plan.chunk;
        let n_layers = plan.dims.len();
        let siren = matches!(spec, ModelSpec::Siren(_));
        let mut chunk = Vec::new();
        let mut records = Vec::new();

        let sample = gpu.compute_pipeline("train_sample", &src(&[common, BATCH, SAMPLE]), "train_sample")?;
        let bg = bind(
            gpu,
            "train_sample",
            &sample,
            &[(0, &bufs.target), (1, &bufs.subset), (2, &bufs.batch), (3, &bufs.step_info), (4, &bufs.chunk_info)],
        )?;
        chunk.push(Dispatch { label: "sample", pipeline: sample, bind_group: bg, groups: [c / LOSS_GROUP, 1, 1] });

        let (entry, units) = match spec {
            ModelSpec::Siren(_) => ("train_encode_identity", 1),
            ModelSpec::Fourier(s) => ("train_encode_fourier", s.frequencies as u32),
            ModelSpec::HashGrid(s) => ("train_encode_hash", s.levels as u32),
        };
        let encode = if siren {
            gpu.compute_pipeline(entry, &src(&[common, BATCH, ENCODE_IDENTITY]), entry)?
        } else {
            gpu.compute_pipeline(entry, &src(&[common, enc, BATCH, ENCODE]), entry)?
        };
        let bg = if siren {
            bind(gpu, entry, &encode, &[(1, &bufs.batch), (2, &bufs.acts)])?
        } else {
            bind(gpu, entry, &encode, &[(0, &bufs.params), (1, &bufs.batch), (2, &bufs.acts)])?
        };
        chunk.push(Dispatch { label: "encode", pipeline: encode, bind_group: bg, groups: [c.div_ceil(64), units, 1] });

        let siren_first = if siren {
            let shape = layer_shape(gpu, false, false);
            Some(gemm_pipeline("train_siren_first", "train_siren_first", FORWARD, shape, false)?)
        } else {
            None
        };
        // pipelines by shape (at most two per pass: with and without 16-byte accesses)
        let mut forward: Vec<(GemmShape, wgpu::ComputePipeline)> = Vec::new();
        let mut backward: Vec<(GemmShape, wgpu::ComputePipeline)> = Vec::new();
        let mut weight_grad: Vec<(GemmShape, wgpu::ComputePipeline)> = Vec::new();
        let cached = |cache: &mut Vec<(GemmShape, wgpu::ComputePipeline)>,
                      entry: &str,
                      pass: &str,
                      shape: GemmShape,
                      row_sums: bool|
         -> Result<wgpu::ComputePipeline> {
            if let Some((_, p)) = cache.iter().find(|(s, _)| *s == shape) {
                return Ok(p.clone());
            }
            let p = gemm_pipeline(entry, entry, pass, shape, row_sums)?;
            cache.push((shape, p.clone()));
            Ok(p)
        };
        let mut layer_record = |label: &str, r: LayerRecord| -> wgpu::Buffer {
            let b = gpu.uniform(label, &r);
            records.push(b.clone());
            b
        };
        // the output layer runs inside the loss dispatch, forward and backward (train_loss.wgsl)
        let fuse_output = n_layers >= 2 && !matrix.forward && !matrix.backward;
        for (l, slot) in layout.layers.iter().enumerate() {
            if fuse_output && l + 1 == n_layers {
                break;
            }
            let (inputs, outputs) = plan.dims[l];
            let act = if l + 1 == n_layers {
                2
            } else if siren {
                0
            } else {
                1
            };
            let r = LayerRecord {
                dims_m: c,
                dims_n: outputs,
                dims_k: inputs,
                a_off: plan.input_offset(l),
                out_off: plan.act_offsets[l],
                act,
                w_off: slot.weights as u32,
                bias_off: slot.biases as u32,
                inputs,
                outputs,
                ..Default::default()
            };
            let shape = layer_shape(gpu, vec_layer(&r), matrix.forward);
            let rb = layer_record("train_forward layer", r);
            let (pipeline, groups) = match (&siren_first, l) {
                (Some(p), 0) => (p.clone(), [outputs.div_ceil(64), c.div_ceil(64), 1]),
                _ => (cached(&mut forward, "train_forward", FORWARD, shape, false)?, shape.groups(c, outputs, 1)),
            };
            let bg = bind(
                gpu,
                "train_forward",
                &pipeline,
                &[(0, &bufs.params), (1, &bufs.acts), (2, &bufs.derivs), (3, &rb)],
            )?;
            chunk.push(Dispatch { label: "forward", pipeline, bind_group: bg, groups });
        }

        let reduce = if gpu.subgroups { REDUCE_SUBGROUP } else { REDUCE_TREE };
        let fourier_b = layout.encoding_trainable && matches!(spec, ModelSpec::Fourier(_));
        let hash = matches!(spec, ModelSpec::HashGrid(_));
        let loss_source = [consts.clone(), output_constants(plan, layout, fourier_b || hash)].concat();
        let loss_source = codegen::assemble(spec, &loss_source, &[common, BATCH, LOSS, reduce]);
        let loss_source = codegen::preprocess(&loss_source, if fuse_output { &["FUSE_OUTPUT"] } else { &[] });
        let loss = gpu.compute_pipeline("train_loss", &loss_source, "train_loss")?;
        let mut entries =
            vec![(0, &bufs.acts), (1, &bufs.batch), (2, &bufs.derivs), (3, &bufs.loss_partials), (4, &bufs.chunk_info)];
        if fuse_output {
            entries.push((5, &bufs.params));
        }
        let bg = bind(gpu, "train_loss", &loss, &entries)?;
        chunk.push(Dispatch { label: "loss", pipeline: loss, bind_group: bg, groups: [c / LOSS_GROUP, 1, 1] });

        let mut weight_grad_groups: Vec<(GemmShape, Vec<LayerRecord>)> = Vec::new();
        for (l, slot) in layout.layers.iter().enumerate().rev() {
            let (inputs, outputs) = plan.dims[l];
            let r = LayerRecord {
                dims_m: outputs,
                dims_n: inputs,
                dims_k: c,
                k_split: plan.k_split,
                a_off: plan.delta_offset(Some(l)),
                aux_off: plan.input_offset(l),
                w_off: slot.weights as u32,
                bias_off: slot.biases as u32,
                inputs,
                outputs,
                ..Default::default()
            };
            let shape = weight_grad_shape(vec_layer(&r), matrix.weight_grad);
            debug_assert_eq!((shape.tile_m, shape.tile_n), (64, 64), "weight_grad_tiles counts 64 × 64 tiles");
            match weight_grad_groups.iter_mut().find(|(s, _)| *s == shape) {
                Some((_, group)) => group.push(r),
                None => weight_grad_groups.push((shape, vec![r])),
            }
            if (l == 0 && !(fourier_b || hash)) || (fuse_output && l + 1 == n_layers) {
                continue;
            }
            let (out_off, aux_off, act) = if l > 0 {
                (plan.delta_offset(Some(l - 1)), plan.act_offsets[l - 1], 1)
            } else {
                (plan.delta_offset(None), 0, 0)
            };
            let r = LayerRecord {
                dims_m: c,
                dims_n: inputs,
                dims_k: outputs,
                a_off: plan.delta_offset(Some(l)),
                out_off,
                aux_off,
                act,
                w_off: slot.weights as u32,
                bias_off: slot.biases as u32,
                inputs,
                outputs,
                ..Default::default()
            };
            let shape = layer_shape(gpu, vec_layer(&r), matrix.backward);
            let rb = layer_record("train_backward layer", r);
            let pipeline = cached(&mut backward, "train_backward", BACKWARD, shape, false)?;
            let bg = bind(gpu, "train_backward", &pipeline, &[(0, &bufs.params), (1, &bufs.derivs), (3, &rb)])?;
            chunk.push(Dispatch { label: "backward", pipeline, bind_group: bg, groups: shape.groups(c, inputs, 1) });
        }

        // The weight gradients of all layers after the backward pass, one dispatch per tiling
        // (16-byte accesses or not): a layer alone filled a quarter of an H100 (256 splits of
        // one 64 × 64 tile).
        for (shape, group) in &weight_grad_groups {
            let pipeline = cached(&mut weight_grad, "train_weight_grad", WEIGHT_GRAD, *shape, true)?;
            let rb = gpu.storage_init("train_weight_grad layers", group)?;
            let bg = bind(
                gpu,
                "train_weight_grad",
                &pipeline,
                &[(0, &bufs.partials), (1, &bufs.derivs), (2, &bufs.acts), (3, &rb), (4, &bufs.chunk_info)],
            )?;
            let tiles = weight_grad_tiles(plan);
            let groups = [tiles[0] * tiles[1], group.len() as u32, plan.splits];
            chunk.push(Dispatch { label: "weight_grad", pipeline, bind_group: bg, groups });
            records.push(rb);
        }

        if fourier_b || hash {
            let (entry, groups) = match spec {
                ModelSpec::HashGrid(s) => ("train_hash_scatter", [c.div_ceil(64), s.levels as u32, 1]),
                ModelSpec::Fourier(s) => ("train_fourier_grad", [(s.frequencies as u32).div_ceil(64), plan.splits, 1]),
                ModelSpec::Siren(_) => ("", [0, 0, 0]),
            };
            let pipeline = gpu.compute_pipeline(entry, &src(&[common, enc, BATCH, ENCODING_GRAD]), entry)?;
            let bg = if hash {
                bind(
                    gpu,
                    entry,
                    &pipeline,
                    &[(2, &bufs.batch), (4, &bufs.derivs), (5, &bufs.chunk_info), (6, &bufs.table_grad)],
                )?
            } else {
                bind(
                    gpu,
                    entry,
                    &pipeline,
                    &[(1, &bufs.partials), (2, &bufs.batch), (3, &bufs.acts), (4, &bufs.derivs), (5, &bufs.chunk_info)],
                )?
            };
            chunk.push(Dispatch { label: "encoding_grad", pipeline, bind_group: bg, groups });
        }

        let adam_source = codegen::unroll(&src(&[common, BATCH, ADAM]), &[("BATCH", ADAM_BATCH as usize)]);
        let adam_source = format!("const BATCH: u32 = {ADAM_BATCH}u;\n{adam_source}");
        let adam = gpu.compute_pipeline("adam_step", &adam_source, "adam_step")?;
        let bg = bind(
            gpu,
            "adam_step",
            &adam,
            &[(0, &bufs.params), (1, &bufs.partials), (2, &bufs.table_grad), (3, &bufs.moments), (4, &bufs.step_info)],
        )?;
        let groups = (layout.total as u32).div_ceil(256).clamp(1, 4096);
        let adam = Dispatch { label: "adam", pipeline: adam, bind_group: bg, groups: [groups, 1, 1] };
        Ok(Kernels { chunk, adam, _layer_records: records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfield::testing::test_specs;

    /// Every pass of every test model through both cores, compiled to SPIR-V by naga: the
    /// cooperative-matrix core cannot run on CI's lavapipe, so this is where CI checks it.
    #[test]
    fn gemm_pipelines_compile_to_spirv() {
        for spec in test_specs() {
            let layout = spec.layout();
            let plan = Plan::for_binding(1 << 31, &spec, &layout, 1 << 12).expect("plan");
            let target = TargetShape { width: 64, height: 64, n_pixels: 4096, has_subset: false };
            let consts = constants(&spec, &layout, &plan, &TrainOptions::default(), &target);
            for pass in [sources::FORWARD, sources::BACKWARD, sources::WEIGHT_GRAD] {
                let row_sums = pass == sources::WEIGHT_GRAD;
                let scalar = if row_sums { weight_grad_shape(true, false) } else { layer_shape_big(true) };
                for shape in [GemmShape::MATRIX, GemmShape { vec: true, ..GemmShape::MATRIX }, scalar] {
                    let label = format!("{} {shape:?}", spec.describe());
                    codegen::compile_to_spirv(&label, &gemm_source(&spec, &consts, pass, shape, row_sums));
                }
            }
        }
    }

    /// The loss with and without the output layer fused, both reductions, every test model
    /// (lavapipe runs only the fused one: every test model has hidden layers).
    #[test]
    fn loss_pipelines_compile_to_spirv() {
        for spec in test_specs() {
            let layout = spec.layout();
            let plan = Plan::for_binding(1 << 31, &spec, &layout, 1 << 12).expect("plan");
            let target = TargetShape { width: 64, height: 64, n_pixels: 4096, has_subset: false };
            let consts = [
                constants(&spec, &layout, &plan, &TrainOptions::default(), &target),
                output_constants(&plan, &layout, true),
            ]
            .concat();
            for reduce in [sources::REDUCE_SUBGROUP, sources::REDUCE_TREE] {
                let source = codegen::assemble(&spec, &consts, &[files::COMMON, sources::BATCH, sources::LOSS, reduce]);
                for flags in [&["FUSE_OUTPUT"][..], &[]] {
                    let label = format!("{} loss {flags:?}", spec.describe());
                    codegen::compile_to_spirv(&label, &codegen::preprocess(&source, flags));
                }
            }
        }
    }

    #[test]
    fn matrix_shape_fits_nvidia_workgroup_memory() {
        assert!(GemmShape::MATRIX.valid());
        assert_eq!(GemmShape::MATRIX.threads(), 4 * MATRIX_SUBGROUP);
        // 2 · (64 · 24 + 64 · 24) + 4 · 64 · 68 + 16 · 128 bytes: fits lavapipe's 32 KiB too
        assert_eq!(GemmShape::MATRIX.workgroup_bytes(true), 6144 + 17408 + 2048);
        assert!(GemmShape::MATRIX.workgroup_bytes(true) <= 32 << 10);
    }

    #[test]
    fn gemm_shapes_are_valid_and_fit_32_kib() {
        for vec in [false, true] {
            let big = layer_shape_big(vec);
            for (shape, row_sums) in
                [(big, false), (GemmShape { tile_m: 64, ..big }, false), (weight_grad_shape(vec, false), true)]
            {
                assert!(shape.valid(), "{shape:?}");
                assert!(shape.workgroup_bytes(row_sums) <= 32 << 10, "{shape:?}");
            }
        }
        assert_eq!(weight_grad_shape(true, false).threads(), 256);
        assert_eq!(weight_grad_shape(true, false).workgroup_bytes(true), 18 << 10);
        assert!(
            GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec: true, matrix: false }
                .workgroup_bytes(false)
                <= 16 << 10
        );
    }
}

//! The training step's pipelines and bind groups, built once per trainer: WGSL sources
//! assembled per model ([`crate::codegen::assemble`]), one bind group per dispatch, and the
//! ordered list of dispatches of one chunk ([`Kernels::chunk`]) and of the optimizer
//! ([`Kernels::adam`]).

use super::dispatch::{Dispatch, per_step};
use super::fused::FusedRun;
use super::gemm::{GemmShape, MatrixPasses, gemm_source, layer_shape, vec_layer, weight_grad_shape, weight_grad_tiles};
use super::loss::{loss_source, output_constants};
use super::plan::{LOSS_GROUP, LayerRecord, MIN_LOSS_GROUP, Plan};
use super::thin;
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
    /// Fourier and hash-grid encodings.
    pub const ENCODE: &str = include_str!("../../shaders/train_encode.wgsl");
    /// A forward unit's activation and derivative (train_forward and the fused pass).
    pub const ACTIVATION: &str = include_str!("../../shaders/train_activation.wgsl");
    /// Forward layers.
    pub const FORWARD: &str = include_str!("../../shaders/train_forward.wgsl");
    /// Loss and output delta.
    pub const LOSS: &str = include_str!("../../shaders/train_loss.wgsl");
    /// The output layer's sums and deltas (train_loss and the fused pass).
    pub const OUTPUT: &str = include_str!("../../shaders/train_output.wgsl");
    /// The loss's workgroup sum with subgroup operations.
    pub const REDUCE_SUBGROUP: &str = include_str!("../../shaders/train_reduce_subgroup.wgsl");
    /// The loss's workgroup sum in workgroup memory.
    pub const REDUCE_TREE: &str = include_str!("../../shaders/train_reduce_tree.wgsl");
    /// A run of equal-width hidden layers, forward and backward, in one dispatch each.
    pub const FUSED: &str = include_str!("../../shaders/train_fused.wgsl");
    /// Deltas of the layer below.
    pub const BACKWARD: &str = include_str!("../../shaders/train_backward.wgsl");
    /// Weight and bias gradients.
    pub const WEIGHT_GRAD: &str = concat!(
        include_str!("../../shaders/train_weight_grad.wgsl"),
        include_str!("../../shaders/train_partials.wgsl")
    );
    /// Weight and bias gradients of thin layers (a side of at most 4 units).
    pub const WEIGHT_GRAD_THIN: &str = concat!(
        include_str!("../../shaders/train_weight_grad_thin.wgsl"),
        include_str!("../../shaders/train_partials.wgsl")
    );
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
    /// [`super::dispatch::STEP_SLOTS`] step records ([`super::plan::StepRecord`]), slot `i` at
    /// `i ·` [`Buffers::step_stride`]: the steps of one submission, each read through a bind
    /// group of its slot (a copy into one record before each step cost ~35 µs a step of
    /// SIREN-64×8 at 2^18 on an H100, the copy and the pass boundary it forces).
    pub step_records: wgpu::Buffer,
    /// Bytes between step records: the device's uniform-offset alignment.
    pub step_stride: u64,
    /// The current chunk's record (written once where a step is one chunk, else copied in
    /// before each chunk).
    pub chunk_info: wgpu::Buffer,
}

/// The dispatches of a step.
pub struct Kernels {
    /// One chunk: sample, encode, forward, loss, backward, encoding gradient.
    pub chunk: Vec<Dispatch>,
    /// The optimizer step.
    pub adam: Dispatch,
    /// The layers whose forward and backward passes run fused (train_fused.wgsl), if any.
    pub fused: Option<std::ops::Range<usize>>,
    /// Samples per loss partial sum ([`LOSS_GROUP`], or [`MIN_LOSS_GROUP`] where the fused
    /// forward pass computes the loss: [`FusedRun::loss`]).
    pub loss_group: u32,
    /// The thin layers' partials, each in a buffer of its own (read by Adam).
    pub thin: Vec<thin::Region>,
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
pub(super) fn constants(
    spec: &ModelSpec,
    layout: &ParamLayout,
    plan: &Plan,
    opts: &TrainOptions,
    target: &TargetShape,
) -> Vec<(&'static str, String)> {
    let n_layers = plan.dims.len();
    let adam = &opts.adam;
    let hash = matches!(spec, ModelSpec::HashGrid(_));
    let wg_tiles = weight_grad_tiles(plan);
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
        ("WG_TILES_M", u(wg_tiles[0])),
        ("WG_TILES_N", u(wg_tiles[1])),
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

/// Parameters an invocation of adam.wgsl updates per iteration, all loaded before any is stored.
const ADAM_BATCH: u32 = 8;

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
    /// checks that the device has them, [`super::gemm::matrix_training`]).
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
        // `forward_act`: train_forward's activation (gemm_source), None for the other passes.
        let gemm_pipeline = |label: &str, entry: &str, pass: &str, shape: GemmShape, row_sums: bool, forward_act| {
            let source = gemm_source(spec, &consts, pass, shape, row_sums, forward_act);
            if shape.matrix {
                gpu.nfield_pipeline(label, &source, entry)
            } else {
                gpu.product_pipeline(label, &source, entry)
            }
        };
        let common = files::COMMON;
        let enc = files::ENCODING;
        let c = plan.chunk;
        let n_layers = plan.dims.len();
        let siren = matches!(spec, ModelSpec::Siren(_));
        let mut chunk = Vec::new();
        let mut records = Vec::new();

        // SIREN's identity encoding: the sampler writes the positions into `acts` too
        let flags: &[&str] = if siren { &["POSITIONS_TO_ACTS"] } else { &[] };
        let source = codegen::preprocess(&src(&[common, BATCH, SAMPLE]), flags);
        let sample = gpu.nfield_pipeline("train_sample", &source, "train_sample")?;
        let mut entries = vec![(0, &bufs.target), (1, &bufs.subset), (2, &bufs.batch), (4, &bufs.chunk_info)];
        if siren {
            entries.push((5, &bufs.acts));
        }
        let bg = per_step(gpu, "train_sample", &sample, &entries, 3, &bufs.step_records, bufs.step_stride)?;
        chunk.push(Dispatch { label: "sample", pipeline: sample, bind_group: bg, groups: [c / LOSS_GROUP, 1, 1] });

        let encoding = match spec {
            ModelSpec::Siren(_) => None,
            ModelSpec::Fourier(s) => Some(("train_encode_fourier", s.frequencies as u32)),
            ModelSpec::HashGrid(s) => Some(("train_encode_hash", s.levels as u32)),
        };
        if let Some((entry, units)) = encoding {
            let encode = gpu.nfield_pipeline(entry, &src(&[common, enc, BATCH, ENCODE]), entry)?;
            let bg = bind(gpu, entry, &encode, &[(0, &bufs.params), (1, &bufs.batch), (2, &bufs.acts)])?;
            chunk.push(Dispatch {
                label: "encode",
                pipeline: encode,
                bind_group: bg.into(),
                groups: [c.div_ceil(64), units, 1],
            });
        }

        // pipelines by shape and forward activation (at most two shapes per pass: with and
        // without 16-byte accesses; the activation is the hidden layers' or the output's, a
        // constant of the forward pipeline, not a branch on the layer record: 7.5 % faster)
        let mut forward: Vec<((GemmShape, Option<u32>), wgpu::ComputePipeline)> = Vec::new();
        let mut backward: Vec<((GemmShape, Option<u32>), wgpu::ComputePipeline)> = Vec::new();
        let mut weight_grad: Vec<((GemmShape, Option<u32>), wgpu::ComputePipeline)> = Vec::new();
        let cached = |cache: &mut Vec<((GemmShape, Option<u32>), wgpu::ComputePipeline)>,
                      entry: &str,
                      pass: &str,
                      shape: GemmShape,
                      row_sums: bool,
                      forward_act: Option<u32>|
         -> Result<wgpu::ComputePipeline> {
            if let Some((_, p)) = cache.iter().find(|(k, _)| *k == (shape, forward_act)) {
                return Ok(p.clone());
            }
            let p = gemm_pipeline(entry, entry, pass, shape, row_sums, forward_act)?;
            cache.push(((shape, forward_act), p.clone()));
            Ok(p)
        };
        // the output layer runs inside the loss dispatch, forward and backward (train_loss.wgsl)
        let fuse_output = n_layers >= 2 && !matrix.forward && !matrix.backward;
        // a run of equal-width hidden layers in one dispatch per pass (train_fused.wgsl)
        let fused = if fuse_output { FusedRun::find(gpu, spec, plan, layout) } else { None };
        let (fused_run, mut fused_forward, mut fused_backward) = match fused {
            Some(run) => {
                let source = run.source(spec, &consts, if siren { 0 } else { 1 });
                let forward = gpu.product_pipeline("train_forward_fused", &source, "train_forward_fused")?;
                let backward = gpu.product_pipeline("train_backward_fused", &source, "train_backward_fused")?;
                let transpose = gpu.nfield_pipeline("train_transpose_fused", &source, "train_transpose_fused")?;
                let rb = gpu.storage_init("train_fused layers", &run.records(plan, layout))?;
                let w_fwd = gpu.storage("train_fused transposed weights", run.transposed_bytes())?;
                let (params, acts, derivs) = (&bufs.params, &bufs.acts, &bufs.derivs);
                let mut entries = vec![(0, params), (1, acts), (2, derivs), (3, &rb), (4, &w_fwd)];
                if run.loss.is_some() {
                    entries.extend([(5, &bufs.batch), (6, &bufs.loss_partials), (7, &bufs.chunk_info)]);
                }
                let fwd_bg = bind(gpu, "train_forward_fused", &forward, &entries)?;
                let bwd_bg =
                    bind(gpu, "train_backward_fused", &backward, &[(0, params), (2, derivs), (3, &rb), (4, &w_fwd)])?;
                let tr_bg = bind(gpu, "train_transpose_fused", &transpose, &[(0, params), (3, &rb), (4, &w_fwd)])?;
                records.extend([rb, w_fwd]);
                let groups = run.groups(plan);
                let forward = vec![
                    // the run's W transposed, each chunk (after the last step's Adam)
                    Dispatch {
                        label: "forward",
                        pipeline: transpose,
                        bind_group: tr_bg.into(),
                        groups: run.transpose_groups(),
                    },
                    Dispatch { label: "forward", pipeline: forward, bind_group: fwd_bg.into(), groups },
                ];
                (
                    Some(run),
                    forward,
                    Some(Dispatch { label: "backward", pipeline: backward, bind_group: bwd_bg.into(), groups }),
                )
            }
            None => (None, Vec::new(), None),
        };
        // SIREN's first layer, unless the fused forward pass computes it
        let siren_first = if siren && !fused_run.is_some_and(|r| r.forward_covers(0)) {
            let shape = layer_shape(gpu, false, false);
            Some(gemm_pipeline("train_siren_first", "train_siren_first", FORWARD, shape, false, Some(0))?)
        } else {
            None
        };
        let mut layer_record = |label: &str, r: LayerRecord| -> wgpu::Buffer {
            let b = gpu.uniform(label, &r);
            records.push(b.clone());
            b
        };
        for (l, slot) in layout.layers.iter().enumerate() {
            if fuse_output && l + 1 == n_layers {
                break;
            }
            if fused_run.is_some_and(|r| r.forward_covers(l)) {
                // the fused dispatch at the first layer it computes
                chunk.append(&mut fused_forward);
                continue;
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
                _ => (
                    cached(&mut forward, "train_forward", FORWARD, shape, false, Some(act))?,
                    shape.groups(c, outputs, 1),
                ),
            };
            let bg = bind(
                gpu,
                "train_forward",
                &pipeline,
                &[(0, &bufs.params), (1, &bufs.acts), (2, &bufs.derivs), (3, &rb)],
            )?;
            chunk.push(Dispatch { label: "forward", pipeline, bind_group: bg.into(), groups });
        }

        let fourier_b = layout.encoding_trainable && matches!(spec, ModelSpec::Fourier(_));
        let hash = matches!(spec, ModelSpec::HashGrid(_));
        let loss_group = match fused_run.and_then(|r| r.loss) {
            // the fused forward pass computes the loss
            Some(_) => MIN_LOSS_GROUP,
            None => {
                let consts = [consts.clone(), output_constants(plan, layout, fourier_b || hash)].concat();
                let source = loss_source(spec, &consts, gpu.subgroups, fuse_output);
                let loss = gpu.nfield_pipeline("train_loss", &source, "train_loss")?;
                let mut entries = vec![
                    (0, &bufs.acts),
                    (1, &bufs.batch),
                    (2, &bufs.derivs),
                    (3, &bufs.loss_partials),
                    (4, &bufs.chunk_info),
                ];
                if fuse_output {
                    entries.push((5, &bufs.params));
                }
                let bg = bind(gpu, "train_loss", &loss, &entries)?;
                chunk.push(Dispatch {
                    label: "loss",
                    pipeline: loss,
                    bind_group: bg.into(),
                    groups: [c / LOSS_GROUP, 1, 1],
                });
                LOSS_GROUP
            }
        };

        let mut weight_grad_groups: Vec<(GemmShape, Vec<LayerRecord>)> = Vec::new();
        let mut thin_layers: Vec<LayerRecord> = Vec::new();
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
            if thin::is_thin(&r) {
                thin_layers.push(r);
            } else {
                let shape = weight_grad_shape(vec_layer(&r), matrix.weight_grad);
                debug_assert_eq!((shape.tile_m, shape.tile_n), (64, 64), "weight_grad_tiles counts 64 × 64 tiles");
                match weight_grad_groups.iter_mut().find(|(s, _)| *s == shape) {
                    Some((_, group)) => group.push(r),
                    None => weight_grad_groups.push((shape, vec![r])),
                }
            }
            if (l == 0 && !(fourier_b || hash)) || (fuse_output && l + 1 == n_layers) {
                continue;
            }
            if let Some(run) = fused_run.filter(|r| r.contains(l)) {
                if l == run.last() {
                    chunk.extend(fused_backward.take());
                }
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
            let pipeline = cached(&mut backward, "train_backward", BACKWARD, shape, false, None)?;
            let bg = bind(gpu, "train_backward", &pipeline, &[(0, &bufs.params), (1, &bufs.derivs), (3, &rb)])?;
            chunk.push(Dispatch {
                label: "backward",
                pipeline,
                bind_group: bg.into(),
                groups: shape.groups(c, inputs, 1),
            });
        }

        // The weight gradients of all layers after the backward pass, one dispatch per tiling
        // (16-byte accesses or not): a layer alone filled a quarter of an H100 (256 splits of
        // one 64 × 64 tile).
        let [tiles_m, tiles_n] = weight_grad_tiles(plan);
        for (shape, group) in &weight_grad_groups {
            let pipeline = cached(&mut weight_grad, "train_weight_grad", WEIGHT_GRAD, *shape, true, None)?;
            let rb = gpu.storage_init("train_weight_grad layers", group)?;
            let bg = bind(
                gpu,
                "train_weight_grad",
                &pipeline,
                &[(0, &bufs.partials), (1, &bufs.derivs), (2, &bufs.acts), (3, &rb), (4, &bufs.chunk_info)],
            )?;
            let groups = [tiles_m * tiles_n, group.len() as u32, plan.splits];
            chunk.push(Dispatch { label: "weight_grad", pipeline, bind_group: bg.into(), groups });
            records.push(rb);
        }
        // thin layers, a pipeline per shape (train_weight_grad_thin.wgsl), partials in a buffer
        // of their own each (thin::Region)
        let mut thin_pipelines: Vec<(thin::Shape, wgpu::ComputePipeline)> = Vec::new();
        let mut thin_regions = Vec::new();
        for r in thin_layers {
            let shape = thin::Shape::of(&r);
            let pipeline = match thin_pipelines.iter().find(|(s, _)| *s == shape) {
                Some((_, p)) => p.clone(),
                None => {
                    let p = gpu.nfield_pipeline(
                        "train_weight_grad_thin",
                        &thin::source(spec, &consts, shape),
                        thin::ENTRY,
                    )?;
                    thin_pipelines.push((shape, p.clone()));
                    p
                }
            };
            let region = thin::Region::new(gpu, r, plan.splits)?;
            let rb = gpu.uniform("train_weight_grad_thin layer", &region.own_record());
            let bg = bind(
                gpu,
                thin::ENTRY,
                &pipeline,
                &[(0, &region.buffer), (1, &bufs.derivs), (2, &bufs.acts), (3, &rb), (4, &bufs.chunk_info)],
            )?;
            thin_regions.push(region);
            chunk.push(Dispatch { label: "weight_grad", pipeline, bind_group: bg.into(), groups: [plan.splits, 1, 1] });
            records.push(rb);
        }

        if fourier_b || hash {
            let (entry, groups) = match spec {
                ModelSpec::HashGrid(s) => ("train_hash_scatter", [c.div_ceil(64), s.levels as u32, 1]),
                ModelSpec::Fourier(s) => ("train_fourier_grad", [(s.frequencies as u32).div_ceil(64), plan.splits, 1]),
                ModelSpec::Siren(_) => ("", [0, 0, 0]),
            };
            let pipeline = gpu.nfield_pipeline(entry, &src(&[common, enc, BATCH, ENCODING_GRAD]), entry)?;
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
            chunk.push(Dispatch { label: "encoding_grad", pipeline, bind_group: bg.into(), groups });
        }

        let adam_source = codegen::unroll(&src(&[common, BATCH, ADAM]), &[("BATCH", ADAM_BATCH as usize)]);
        let adam_source =
            format!("const BATCH: u32 = {ADAM_BATCH}u;\n{adam_source}\n{}", thin::adam_source(&thin_regions));
        let adam = gpu.nfield_pipeline("adam_step", &adam_source, "adam_step")?;
        let mut entries = vec![(0, &bufs.params), (1, &bufs.partials), (2, &bufs.table_grad), (3, &bufs.moments)];
        entries.extend(thin_regions.iter().enumerate().map(|(j, r)| (5 + j as u32, &r.buffer)));
        let bg = per_step(gpu, "adam_step", &adam, &entries, 4, &bufs.step_records, bufs.step_stride)?;
        let groups = (layout.total as u32).div_ceil(256).clamp(1, 4096);
        let adam = Dispatch { label: "adam", pipeline: adam, bind_group: bg, groups: [groups, 1, 1] };
        let fused = fused_run.map(|r| r.first..r.first + r.len);
        Ok(Kernels { chunk, adam, fused, loss_group, thin: thin_regions, _layer_records: records })
    }
}

/// A test model, its layout, plan and training constants.
#[cfg(test)]
pub(super) type TestSetup = (ModelSpec, ParamLayout, Plan, Vec<(&'static str, String)>);

/// Every test model with the plan of a 4096-sample batch and its training constants, for the
/// tests that compile shader sources.
#[cfg(test)]
pub(super) fn test_setups() -> Vec<TestSetup> {
    nfield::testing::test_specs()
        .into_iter()
        .map(|spec| {
            let layout = spec.layout();
            let plan = Plan::for_binding(1 << 31, &spec, &layout, 1 << 12).expect("plan");
            let target = TargetShape { width: 64, height: 64, n_pixels: 4096, has_subset: false };
            let consts = constants(&spec, &layout, &plan, &TrainOptions::default(), &target);
            (spec, layout, plan, consts)
        })
        .collect()
}

//! The training step's pipelines and bind groups, built once per trainer: WGSL sources
//! assembled per model ([`crate::codegen::assemble`]), one bind group per dispatch, and the
//! ordered list of dispatches of one chunk ([`Kernels::chunk`]) and of the optimizer
//! ([`Kernels::adam`]).

use super::plan::{LOSS_GROUP, LayerRecord, Plan, TILE};
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
    /// The tiled matrix product.
    pub const GEMM: &str = include_str!("../../shaders/train_gemm.wgsl");
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
    /// The chunk's activation derivatives.
    pub derivs: wgpu::Buffer,
    /// The chunk's deltas (two halves).
    pub deltas: wgpu::Buffer,
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

fn bind(
    gpu: &Gpu,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    entries: &[(u32, &wgpu::Buffer)],
) -> Result<wgpu::BindGroup> {
    gpu.bind(label, &pipeline.get_bind_group_layout(0), entries)
}

impl Kernels {
    /// Compiles every pipeline of `spec`'s step and binds it to `bufs`.
    pub fn new(
        gpu: &Gpu,
        spec: &ModelSpec,
        layout: &ParamLayout,
        plan: &Plan,
        opts: &TrainOptions,
        target: &TargetShape,
        bufs: &Buffers,
    ) -> Result<Kernels> {
        use sources::*;
        let consts = constants(spec, layout, plan, opts, target);
        // (the GEMM kernels' epilogues are unrolled over the 4 × 4 block and its 4 rows)
        let src =
            |parts: &[&str]| codegen::unroll(&codegen::assemble(spec, &consts, parts), &[("ACC", 16), ("ROWS", 4)]);
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
        chunk.push(Dispatch { pipeline: sample, bind_group: bg, groups: [c / LOSS_GROUP, 1, 1] });

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
        chunk.push(Dispatch { pipeline: encode, bind_group: bg, groups: [c.div_ceil(64), units, 1] });

        let forward_src = src(&[common, BATCH, LAYER, GEMM, FORWARD]);
        let forward = gpu.compute_pipeline("train_forward", &forward_src, "train_forward")?;
        let siren_first = if siren {
            Some(gpu.compute_pipeline("train_siren_first", &forward_src, "train_siren_first")?)
        } else {
            None
        };
        let mut layer_record = |label: &str, r: LayerRecord| -> wgpu::Buffer {
            let b = gpu.uniform(label, &r);
            records.push(b.clone());
            b
        };
        for (l, slot) in layout.layers.iter().enumerate() {
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
            let rb = layer_record("train_forward layer", r);
            let pipeline = match (&siren_first, l) {
                (Some(p), 0) => p.clone(),
                _ => forward.clone(),
            };
            let bg = bind(
                gpu,
                "train_forward",
                &pipeline,
                &[(0, &bufs.params), (1, &bufs.acts), (2, &bufs.derivs), (3, &rb)],
            )?;
            chunk.push(Dispatch { pipeline, bind_group: bg, groups: [outputs.div_ceil(TILE), c.div_ceil(TILE), 1] });
        }

        let reduce = if gpu.subgroups { REDUCE_SUBGROUP } else { REDUCE_TREE };
        let loss = gpu.compute_pipeline("train_loss", &src(&[common, BATCH, LOSS, reduce]), "train_loss")?;
        let bg = bind(
            gpu,
            "train_loss",
            &loss,
            &[(0, &bufs.acts), (1, &bufs.batch), (2, &bufs.deltas), (3, &bufs.loss_partials), (4, &bufs.chunk_info)],
        )?;
        chunk.push(Dispatch { pipeline: loss, bind_group: bg, groups: [c / LOSS_GROUP, 1, 1] });

        let backward =
            gpu.compute_pipeline("train_backward", &src(&[common, BATCH, LAYER, GEMM, BACKWARD]), "train_backward")?;
        let weight_grad = gpu.compute_pipeline(
            "train_weight_grad",
            &src(&[common, BATCH, LAYER, GEMM, WEIGHT_GRAD]),
            "train_weight_grad",
        )?;
        let fourier_b = layout.encoding_trainable && matches!(spec, ModelSpec::Fourier(_));
        let hash = matches!(spec, ModelSpec::HashGrid(_));
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
            let rb = layer_record("train_weight_grad layer", r);
            let bg = bind(
                gpu,
                "train_weight_grad",
                &weight_grad,
                &[(0, &bufs.partials), (1, &bufs.deltas), (2, &bufs.acts), (3, &rb), (4, &bufs.chunk_info)],
            )?;
            chunk.push(Dispatch {
                pipeline: weight_grad.clone(),
                bind_group: bg,
                groups: [inputs.div_ceil(TILE), outputs.div_ceil(TILE), plan.splits],
            });
            if l == 0 && !(fourier_b || hash) {
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
            let rb = layer_record("train_backward layer", r);
            let bg = bind(
                gpu,
                "train_backward",
                &backward,
                &[(0, &bufs.params), (1, &bufs.deltas), (2, &bufs.derivs), (3, &rb)],
            )?;
            chunk.push(Dispatch {
                pipeline: backward.clone(),
                bind_group: bg,
                groups: [inputs.div_ceil(TILE), c.div_ceil(TILE), 1],
            });
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
                    &[(2, &bufs.batch), (4, &bufs.deltas), (5, &bufs.chunk_info), (6, &bufs.table_grad)],
                )?
            } else {
                bind(
                    gpu,
                    entry,
                    &pipeline,
                    &[(1, &bufs.partials), (2, &bufs.batch), (3, &bufs.acts), (4, &bufs.deltas), (5, &bufs.chunk_info)],
                )?
            };
            chunk.push(Dispatch { pipeline, bind_group: bg, groups });
        }

        let adam = gpu.compute_pipeline("adam_step", &src(&[common, BATCH, ADAM]), "adam_step")?;
        let bg = bind(
            gpu,
            "adam_step",
            &adam,
            &[(0, &bufs.params), (1, &bufs.partials), (2, &bufs.table_grad), (3, &bufs.moments), (4, &bufs.step_info)],
        )?;
        let groups = (layout.total as u32).div_ceil(256).clamp(1, 4096);
        let adam = Dispatch { pipeline: adam, bind_group: bg, groups: [groups, 1, 1] };
        Ok(Kernels { chunk, adam, _layer_records: records })
    }
}

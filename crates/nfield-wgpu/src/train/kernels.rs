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

/// The tiling of one GEMM pipeline (train_gemm.wgsl): a `tile_m × tile_n` tile of the product
/// per workgroup, a `tm × tn` block per invocation, `k_groups` invocation groups splitting every
/// k chunk, and `vec`: 16-byte operand and result accesses.
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
}

/// Floats of k staged per chunk (train_gemm.wgsl `TILE_K`).
const TILE_K: u32 = 16;

impl GemmShape {
    /// Invocations per workgroup.
    pub fn threads(&self) -> u32 {
        self.k_groups * (self.tile_m / self.tm) * (self.tile_n / self.tn)
    }

    /// Bytes of workgroup memory: two buffers of a chunk of both operands, plus the parked row
    /// sums of `k_groups = 2`.
    pub fn workgroup_bytes(&self, row_sums: bool) -> u32 {
        2 * TILE_K * (self.tile_m + self.tile_n) * 4 + 16 * self.parked_rows(row_sums)
    }

    /// 16-byte row sums parked by the second k group (the `PARK_ROWS` lines of the shader).
    fn parked_rows(&self, row_sums: bool) -> u32 {
        if self.park_rows(row_sums) { self.threads() / self.k_groups * self.tm / 4 } else { 0 }
    }

    fn park_rows(&self, row_sums: bool) -> bool {
        self.k_groups > 1 && row_sums
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
            ("LOADS_A", (self.tile_m * TILE_K / 4 / t) as usize),
            ("LOADS_B", (self.tile_n * TILE_K / 4 / t) as usize),
            ("ROW_VECS", (self.tm / 4) as usize),
            ("COL_VECS", (self.tn / 4) as usize),
            ("ACC", (self.tm * self.tn / 4) as usize),
            ("ROWS", self.tm as usize),
        ]
    }

    /// Checks the divisibility the shader assumes.
    fn valid(&self) -> bool {
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

/// Whether a layer's operands and results allow 16-byte accesses: both widths and every offset
/// it reads or writes a multiple of 4 floats.
fn vec_layer(r: &LayerRecord) -> bool {
    [r.inputs, r.outputs, r.a_off, r.out_off, r.aux_off, r.w_off, r.bias_off].iter().all(|v| v.is_multiple_of(4))
}

/// The forward and backward passes' tiling: 128 samples × 64 units, 4 × 8 per invocation (256
/// invocations, 24 KiB of workgroup memory), or 64 × 64 (128 invocations, 16 KiB) where the
/// device offers less. 8 × 8 per invocation halves the workgroup-memory loads per FMA but
/// measured 2.8× slower on an H100 through Vulkan (SIREN-64×8 training at batch 2^18: 18.7 M
/// samples/s against 53.3 with 4 × 8; the driver spills the 64 accumulators).
fn layer_shape(gpu: &Gpu, vec: bool) -> GemmShape {
    let big = layer_shape_big(vec);
    if big.workgroup_bytes(false) <= gpu.workgroup_memory { big } else { GemmShape { tile_m: 64, ..big } }
}

fn layer_shape_big(vec: bool) -> GemmShape {
    GemmShape { tile_m: 128, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec }
}

/// The weight gradients' tiling: 64 outputs × 64 inputs, 4 × 8 per invocation, two groups of
/// 128 invocations splitting each k chunk (256 invocations, 16 KiB + 2 KiB).
fn weight_grad_shape(vec: bool) -> GemmShape {
    GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 2, vec }
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
        let src = |parts: &[&str]| codegen::assemble(spec, &consts, parts);
        // A GEMM pipeline of `shape`: its constants, and its loops over the invocation's block
        // unrolled (so that `acc` is indexed by constants and stays in registers).
        let gemm_pipeline = |label: &str, entry: &str, parts: &[&str], shape: GemmShape, row_sums: bool| {
            debug_assert!(shape.valid(), "{shape:?}");
            let mut all = consts.clone();
            all.extend(shape.constants());
            let flags: &[&str] = if shape.park_rows(row_sums) { &["PARK_ROWS"] } else { &[] };
            let source = codegen::assemble(spec, &all, parts);
            let source = codegen::unroll(&codegen::preprocess(&source, flags), &shape.unroll_counts());
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

        let forward_parts = [common, BATCH, LAYER, GEMM, FORWARD];
        let siren_first = if siren {
            let shape = layer_shape(gpu, false);
            Some(gemm_pipeline("train_siren_first", "train_siren_first", &forward_parts, shape, false)?)
        } else {
            None
        };
        // pipelines by shape (at most two per pass: with and without 16-byte accesses)
        let mut forward: Vec<(GemmShape, wgpu::ComputePipeline)> = Vec::new();
        let mut backward: Vec<(GemmShape, wgpu::ComputePipeline)> = Vec::new();
        let mut weight_grad: Vec<(GemmShape, wgpu::ComputePipeline)> = Vec::new();
        let cached = |cache: &mut Vec<(GemmShape, wgpu::ComputePipeline)>,
                      entry: &str,
                      parts: &[&str],
                      shape: GemmShape,
                      row_sums: bool|
         -> Result<wgpu::ComputePipeline> {
            if let Some((_, p)) = cache.iter().find(|(s, _)| *s == shape) {
                return Ok(p.clone());
            }
            let p = gemm_pipeline(entry, entry, parts, shape, row_sums)?;
            cache.push((shape, p.clone()));
            Ok(p)
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
            let shape = layer_shape(gpu, vec_layer(&r));
            let rb = layer_record("train_forward layer", r);
            let (pipeline, groups) = match (&siren_first, l) {
                (Some(p), 0) => (p.clone(), [outputs.div_ceil(64), c.div_ceil(64), 1]),
                _ => {
                    (cached(&mut forward, "train_forward", &forward_parts, shape, false)?, shape.groups(c, outputs, 1))
                }
            };
            let bg = bind(
                gpu,
                "train_forward",
                &pipeline,
                &[(0, &bufs.params), (1, &bufs.acts), (2, &bufs.derivs), (3, &rb)],
            )?;
            chunk.push(Dispatch { pipeline, bind_group: bg, groups });
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

        let backward_parts = [common, BATCH, LAYER, GEMM, BACKWARD];
        let weight_grad_parts = [common, BATCH, LAYER, GEMM, WEIGHT_GRAD];
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
            let shape = weight_grad_shape(vec_layer(&r));
            let rb = layer_record("train_weight_grad layer", r);
            let pipeline = cached(&mut weight_grad, "train_weight_grad", &weight_grad_parts, shape, true)?;
            let bg = bind(
                gpu,
                "train_weight_grad",
                &pipeline,
                &[(0, &bufs.partials), (1, &bufs.deltas), (2, &bufs.acts), (3, &rb), (4, &bufs.chunk_info)],
            )?;
            chunk.push(Dispatch { pipeline, bind_group: bg, groups: shape.groups(outputs, inputs, plan.splits) });
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
            let shape = layer_shape(gpu, vec_layer(&r));
            let rb = layer_record("train_backward layer", r);
            let pipeline = cached(&mut backward, "train_backward", &backward_parts, shape, false)?;
            let bg = bind(
                gpu,
                "train_backward",
                &pipeline,
                &[(0, &bufs.params), (1, &bufs.deltas), (2, &bufs.derivs), (3, &rb)],
            )?;
            chunk.push(Dispatch { pipeline, bind_group: bg, groups: shape.groups(c, inputs, 1) });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_shapes_are_valid_and_fit_32_kib() {
        for vec in [false, true] {
            let big = layer_shape_big(vec);
            for (shape, row_sums) in
                [(big, false), (GemmShape { tile_m: 64, ..big }, false), (weight_grad_shape(vec), true)]
            {
                assert!(shape.valid(), "{shape:?}");
                assert!(shape.workgroup_bytes(row_sums) <= 32 << 10, "{shape:?}");
            }
        }
        assert_eq!(weight_grad_shape(true).threads(), 256);
        assert_eq!(weight_grad_shape(true).workgroup_bytes(true), 18 << 10);
        assert!(
            GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec: true }.workgroup_bytes(false)
                <= 16 << 10
        );
    }
}

//! The training step's matrix products (train_gemm.wgsl, train_gemm_matrix.wgsl): the tilings
//! of the forward, backward and weight-gradient pipelines, which passes run on cooperative
//! matrices, and the assembled source of a GEMM pipeline.

use super::kernels::sources;
use super::plan::{LayerRecord, Plan};
use crate::Gpu;
use crate::codegen::{self, files};
use nfield::model::ModelSpec;

/// A WGSL `u32` constant.
fn u(v: impl std::fmt::Display) -> String {
    format!("{v}u")
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

    /// Bytes of workgroup memory: two buffers of a chunk of both operands (f32, whose row sums
    /// are parked in the idle tiles); on cooperative matrices one buffer of both f16 operands
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
        2 * TILE_K * (self.tile_m + self.tile_n) * 4
    }

    /// 16-byte row sums parked by every invocation on cooperative matrices (the `PARK_ROWS`
    /// lines of train_gemm_matrix.wgsl).
    fn parked_rows(&self, row_sums: bool) -> u32 {
        if self.park_rows(row_sums) { self.threads() } else { 0 }
    }

    fn park_rows(&self, row_sums: bool) -> bool {
        self.matrix && row_sums
    }

    /// Whether the row sums can be added as a is staged (train_gemm.wgsl, ROW_SUMS): one row
    /// group per invocation's every staged group (a not k-contiguous, as the weight gradients
    /// read it), 4 rows an invocation, one k group, and a running sum per invocation parked
    /// in `tile_a`.
    fn sums_rows(&self) -> bool {
        let t = self.threads();
        self.tm == 4 && self.k_groups == 1 && t.is_multiple_of(self.tile_m / 4) && t <= 2 * self.tile_m * TILE_K / 4
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
    pub(super) fn groups(&self, m: u32, n: u32, z: u32) -> [u32; 3] {
        [n.div_ceil(self.tile_n), m.div_ceil(self.tile_m), z]
    }
}

/// The most 64 × 64 weight-gradient tiles of any layer, `[outputs, inputs]`
/// (train_weight_grad.wgsl `WG_TILES_M`, `WG_TILES_N`; every weight-gradient shape is 64 × 64).
pub(super) fn weight_grad_tiles(plan: &Plan) -> [u32; 2] {
    let most = |f: fn(&(u32, u32)) -> u32| plan.dims.iter().map(f).max().unwrap_or(1).div_ceil(64).max(1);
    [most(|d| d.1), most(|d| d.0)]
}

/// Whether a layer's operands and results allow 16-byte accesses: both widths and every offset
/// it reads or writes a multiple of 4 floats.
pub(super) fn vec_layer(r: &LayerRecord) -> bool {
    [r.inputs, r.outputs, r.a_off, r.out_off, r.aux_off, r.w_off, r.bias_off].iter().all(|v| v.is_multiple_of(4))
}

/// The forward and backward passes' tiling: 128 samples × 64 units, 4 × 8 per invocation (256
/// invocations, 24 KiB of workgroup memory), or 64 × 64 (128 invocations, 16 KiB) where the
/// device offers less. 8 × 8 per invocation halves the workgroup-memory loads per FMA but
/// measured slower on an H100 through Vulkan: SIREN-64×8 training at batch 2^18, 18.7 M
/// samples/s against 53.3 with 4 × 8 while naga bounded every loop (the 64 accumulators
/// spilled), and still 54 against 63 without (forward 2037 against 1646 µs a step; also
/// 64 × 64 tiles of 8 × 8, 256 × 64 of 8 × 8 and 128 × 64 of 8 × 4: no better). The weight
/// gradients likewise gained nothing from 8 × 8 blocks ([`weight_grad_shape`]).
/// With `matrix`, the cooperative-matrix shape instead.
pub(super) fn layer_shape(gpu: &Gpu, vec: bool, matrix: bool) -> GemmShape {
    if matrix {
        return GemmShape { vec, ..GemmShape::MATRIX };
    }
    let big = layer_shape_big(vec);
    if big.workgroup_bytes(false) <= gpu.workgroup_memory { big } else { GemmShape { tile_m: 64, ..big } }
}

fn layer_shape_big(vec: bool) -> GemmShape {
    GemmShape { tile_m: 128, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec, matrix: false }
}

/// The weight gradients' tiling: 64 outputs × 64 inputs, 4 × 8 per invocation (128 invocations,
/// 16 KiB); with `matrix`, the cooperative-matrix shape. Measured on an H100 through Vulkan
/// (SIREN-64×8 at 2^18 with the fused hidden layers, µs a step, 2026-11-27): this 777; two groups
/// of 128 invocations splitting each k chunk 834 (the tiling before); 4 × 4 810; 8 × 8 1035.
pub(super) fn weight_grad_shape(vec: bool, matrix: bool) -> GemmShape {
    if matrix {
        return GemmShape { vec, ..GemmShape::MATRIX };
    }
    GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec, matrix: false }
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
/// `forward_act`: train_forward's activation (the layer record's `act`: 0 sine, 1 ReLU, 2 the
/// output's), generated as the constant `FORWARD_ACT`; `None` for the other passes.
pub(super) fn gemm_source(
    spec: &ModelSpec,
    consts: &[(&'static str, String)],
    pass: &str,
    shape: GemmShape,
    row_sums: bool,
    forward_act: Option<u32>,
) -> String {
    use sources::*;
    debug_assert!(shape.valid(), "{shape:?}");
    debug_assert!(!row_sums || shape.sums_rows(), "row sums with {shape:?}");
    let mut all = consts.to_vec();
    all.extend(shape.constants());
    if let Some(act) = forward_act {
        // train_forward's activation (LayerRecord::act), a constant of the pipeline
        all.push(("FORWARD_ACT", format!("{act}u")));
    }
    let core = if shape.matrix { GEMM_MATRIX } else { GEMM };
    let mut parts = vec![files::COMMON, BATCH, LAYER, GEMM_OPERANDS, core];
    if forward_act.is_some() {
        // train_forward's `activate`, which reads FORWARD_ACT
        parts.push(ACTIVATION);
    }
    parts.push(pass);
    let source = codegen::assemble(spec, &all, &parts);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::kernels::test_setups;

    /// Every pass of every test model through both cores, compiled to SPIR-V by naga: the
    /// cooperative-matrix core cannot run on CI's lavapipe, so this is where CI checks it.
    #[test]
    fn gemm_pipelines_compile_to_spirv() {
        for (spec, _, _, consts) in test_setups() {
            for pass in [sources::FORWARD, sources::BACKWARD, sources::WEIGHT_GRAD] {
                let row_sums = pass == sources::WEIGHT_GRAD;
                let scalar = if row_sums { weight_grad_shape(true, false) } else { layer_shape_big(true) };
                // the forward pass once per activation (sine, ReLU, output)
                let acts: &[Option<u32>] =
                    if pass == sources::FORWARD { &[Some(0), Some(1), Some(2)] } else { &[None] };
                for shape in [GemmShape::MATRIX, GemmShape { vec: true, ..GemmShape::MATRIX }, scalar] {
                    for &act in acts {
                        let label = format!("{} {shape:?} {act:?}", spec.describe());
                        codegen::compile_to_spirv(&label, &gemm_source(&spec, &consts, pass, shape, row_sums, act));
                    }
                }
            }
        }
    }

    /// train_gemm.wgsl adds the weight gradients' row sums as it stages a: only for shapes
    /// whose every staged group of an invocation holds the same rows.
    #[test]
    fn weight_gradient_shapes_sum_rows_as_they_stage() {
        for vec in [false, true] {
            assert!(weight_grad_shape(vec, false).sums_rows());
        }
        assert!(!GemmShape { k_groups: 2, tile_m: 32, tile_n: 32, ..weight_grad_shape(true, false) }.sums_rows());
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
        assert_eq!(weight_grad_shape(true, false).threads(), 128);
        assert_eq!(weight_grad_shape(true, false).workgroup_bytes(true), 16 << 10);
        assert!(
            GemmShape { tile_m: 64, tile_n: 64, tm: 4, tn: 8, k_groups: 1, vec: true, matrix: false }
                .workgroup_bytes(false)
                <= 16 << 10
        );
    }
}

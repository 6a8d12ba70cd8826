//! Fused runs of hidden layers (train_fused.wgsl): where an MLP has two or more consecutive
//! hidden layers of one width, the forward pass through all of them is one dispatch, and so is
//! the backward pass, each workgroup keeping a tile of samples in workgroup memory from layer
//! to layer instead of writing and reading back every layer's input (train_forward /
//! train_backward, one dispatch per layer). The weight gradients stay one GEMM dispatch
//! (train_weight_grad.wgsl): they read what the fused passes write, in the same layout.

use super::kernels::sources;
use super::plan::{LayerRecord, MIN_LOSS_GROUP, Plan};
use crate::Gpu;
use crate::codegen::{self, files};
use nfield::model::{ModelSpec, ParamLayout};

/// A WGSL `u32` constant.
fn u(v: impl std::fmt::Display) -> String {
    format!("{v}u")
}

/// The widest run train_fused.wgsl takes: its W (16 KiB at 64) and a tile of activations must
/// share a workgroup's memory (32 KiB on lavapipe, 48 KiB on NVIDIA Vulkan).
const MAX_WIDTH: u32 = 64;

/// Samples and units of an invocation's block. Measured on an H100 through Vulkan (SIREN-64×8
/// at 2^18, tiles of 64 samples, µs a step forward / backward, 2026-11-27): 4 × 4 1161 / 828
/// (105 registers, 256 invocations), 4 × 8 1208 / 895 (159), 8 × 4 1207 / 889 (157); tiles of
/// 32 samples: 4 × 4 1436 / 1023, 4 × 8 2134 / 1578. The layer-by-layer passes took 1251 / 1214
/// in the same run. 8 × 8 blocks (229 registers) took 2130 / 3303 in an earlier version.
const BLOCK: u32 = 4;

/// Tiles the fused passes try, the largest first: each workgroup reads every W of the run
/// once per tile, and syncs twice a layer. SIREN-64×8 at 2^18 on an H100 through Vulkan (µs a
/// step forward / backward, 2026-11-27): tiles of 128 samples (512 invocations, 48 KiB of
/// workgroup memory, one workgroup an SM) 804 / 675, tiles of 64 (256 invocations, 32 KiB, two
/// an SM) 904 / 732. lavapipe's 32 KiB takes tiles of 64 at width 64.
const TILES: [u32; 4] = [128, 64, 32, 16];

/// The most invocations a fused workgroup may have: a tile of 128 samples at width 64.
const MAX_THREADS: u32 = 512;

/// A run of hidden layers `first .. first + len`, each `width × width`, and the tiling of its
/// fused passes: `tile` samples a workgroup, blocks of `tm` samples × `tn` units an invocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FusedRun {
    /// Index of the run's first layer (≥ 1: the layer below holds derivatives).
    pub first: usize,
    /// Layers in the run (≥ 2).
    pub len: usize,
    /// Inputs and outputs of every layer of the run.
    pub width: u32,
    /// Samples a workgroup.
    pub tile: u32,
    /// Samples an invocation (4 or 8).
    pub tm: u32,
    /// Units an invocation (4 or 8).
    pub tn: u32,
    /// SIREN's first layer computed by the fused forward pass from the positions (train_fused.wgsl
    /// `FIRST_SIREN`; the run starts at layer 1): `(W0, b0, output)` offsets, or `None`.
    pub siren_first: Option<[u32; 3]>,
    /// The loss computed by the fused forward pass after the run's last layer (train_fused.wgsl
    /// `FUSE_LOSS`; the output layer sits right above the run, and train_loss's dispatch goes):
    /// the offset of the run's top delta (train_loss.wgsl `OUT_BACK_OFF`), or `None`.
    pub loss: Option<u32>,
}

impl FusedRun {
    /// The fused run of `layout` (the longest, the first of equals) on `gpu` with `plan`'s chunk,
    /// or `None`: no two consecutive hidden layers of one width (a multiple of 4, at most
    /// [`MAX_WIDTH`]) whose parameters sit at multiples of 4 floats, or a device whose workgroup
    /// memory or invocations cannot hold a tile of 16 samples, or fusion is off
    /// ([`Gpu::fused_layers`]).
    pub fn find(gpu: &Gpu, spec: &ModelSpec, plan: &Plan, layout: &ParamLayout) -> Option<FusedRun> {
        if !gpu.fused_layers {
            return None;
        }
        let n = layout.layers.len();
        let fusable = |l: usize| {
            let (i, o) = plan.dims[l];
            let slot = &layout.layers[l];
            l >= 1
                && l + 1 < n
                && i == o
                && o.is_multiple_of(4)
                && o <= MAX_WIDTH
                && slot.weights.is_multiple_of(4)
                && slot.biases.is_multiple_of(4)
        };
        let mut best: Option<(usize, usize)> = None;
        let mut l = 1;
        while l < n {
            let start = l;
            while l < n && fusable(l) && plan.dims[l] == plan.dims[start] {
                l += 1;
            }
            let len = l - start;
            if len >= 2 && best.is_none_or(|(_, b)| len > b) {
                best = Some((start, len));
            }
            l = if len == 0 { l + 1 } else { l };
        }
        let (first, len) = best?;
        let width = plan.dims[first].1;
        let l0 = &layout.layers[0];
        let siren_first = (matches!(spec, ModelSpec::Siren(_))
            && first == 1
            && l0.weights.is_multiple_of(4)
            && l0.biases.is_multiple_of(4))
        .then(|| [l0.weights as u32, l0.biases as u32, plan.act_offsets[0]]);
        let top = first + len - 1;
        let out = &layout.layers[n - 1];
        let loss = (top + 2 == n && out.weights.is_multiple_of(4) && plan.act_offsets[top].is_multiple_of(4))
            .then_some(plan.act_offsets[top]);
        // the largest tile (fewer reads of W per sample) that fits the device and the chunk
        TILES
            .into_iter()
            .map(|tile| {
                // fused_loss keeps the output layer's W and the tile's output deltas in w_t
                let loss = loss.filter(|_| 3 * width / 4 + tile <= width * width / 4);
                FusedRun { first, len, width, tile, tm: BLOCK, tn: BLOCK, siren_first, loss }
            })
            .find(|run| {
                run.workgroup_bytes() <= gpu.workgroup_memory
                    && run.threads() <= gpu.max_invocations.min(MAX_THREADS)
                    && plan.chunk.is_multiple_of(run.tile)
            })
    }

    /// Whether layer `l` is in the run.
    pub fn contains(&self, l: usize) -> bool {
        (self.first..self.first + self.len).contains(&l)
    }

    /// Whether the fused forward pass computes layer `l` (the run, and SIREN's first layer
    /// with [`FusedRun::siren_first`]).
    pub fn forward_covers(&self, l: usize) -> bool {
        self.contains(l) || (l == 0 && self.siren_first.is_some())
    }

    /// The run's last layer.
    pub fn last(&self) -> usize {
        self.first + self.len - 1
    }

    /// Invocations a workgroup.
    pub fn threads(&self) -> u32 {
        (self.tile / self.tm) * (self.width / self.tn)
    }

    /// Bytes of workgroup memory: the tile's activations and one W.
    pub fn workgroup_bytes(&self) -> u32 {
        4 * self.width * (self.tile + self.width)
    }

    /// Bytes of the run's weights transposed for the forward pass (train_fused.wgsl `w_fwd`).
    pub fn transposed_bytes(&self) -> u64 {
        4 * self.len as u64 * u64::from(self.width * self.width)
    }

    /// Workgroups of train_transpose_fused: one invocation per 16-byte group of `w_fwd`.
    pub fn transpose_groups(&self) -> [u32; 3] {
        [(self.len as u32 * self.width * self.width / 4).div_ceil(64), 1, 1]
    }

    /// Workgroups of a pass over `plan`'s chunk.
    pub fn groups(&self, plan: &Plan) -> [u32; 3] {
        [plan.chunk / self.tile, 1, 1]
    }

    /// The records train_fused.wgsl reads (`run`), in forward order.
    pub fn records(&self, plan: &Plan, layout: &ParamLayout) -> Vec<LayerRecord> {
        (self.first..=self.last())
            .map(|l| LayerRecord {
                dims_m: plan.chunk,
                dims_n: self.width,
                dims_k: self.width,
                a_off: plan.input_offset(l),
                out_off: plan.act_offsets[l],
                w_off: layout.layers[l].weights as u32,
                bias_off: layout.layers[l].biases as u32,
                inputs: self.width,
                outputs: self.width,
                ..Default::default()
            })
            .collect()
    }

    /// The source of both fused passes: the model header and training constants, the run's
    /// shape and activation (`act`: 0 sine, 1 ReLU), unrolled for the shape.
    pub fn source(&self, spec: &ModelSpec, consts: &[(&'static str, String)], act: u32) -> String {
        let mut all = consts.to_vec();
        all.extend([
            ("FH", u(self.width)),
            ("FT", u(self.tile)),
            ("FTM", u(self.tm)),
            ("FTN", u(self.tn)),
            ("F_LAYERS", u(self.len)),
            ("W_LOADS", u(self.w_loads())),
            ("FORWARD_ACT", u(act)),
            ("FIRST_SIREN", self.siren_first.is_some().to_string()),
            ("FUSE_LOSS", self.loss.is_some().to_string()),
            ("OUT_BACK_OFF", u(self.loss.unwrap_or_default())),
            ("LOSS_SPAN", u(MIN_LOSS_GROUP)),
        ]);
        let [w, b, out] = self.siren_first.unwrap_or_default();
        all.extend([("FIRST_W", u(w)), ("FIRST_B", u(b)), ("FIRST_OUT", u(out))]);
        let mut parts = vec![files::COMMON, sources::BATCH, sources::LAYER, sources::ACTIVATION, sources::FUSED];
        if self.loss.is_some() {
            // fused_loss's output layer (train_loss's functions; they read FUSE_LOSS's bindings)
            parts.push(sources::OUTPUT);
        }
        let source = codegen::assemble(spec, &all, &parts);
        // FUSE_OUTPUT: train_output.wgsl's output layer
        let flags: &[&str] = if self.loss.is_some() { &["FUSE_LOSS", "FUSE_OUTPUT"] } else { &[] };
        let source = codegen::preprocess(&source, flags);
        let (row_vecs, col_vecs) = ((self.tm / 4) as usize, (self.tn / 4) as usize);
        codegen::unroll(
            &source,
            &[
                ("W_LOADS", self.w_loads() as usize),
                ("ROW_VECS", row_vecs),
                ("COL_VECS", col_vecs),
                ("BLOCKS", row_vecs * col_vecs),
                ("ACC", 4 * row_vecs * col_vecs),
            ],
        )
    }

    /// 16-byte groups of W each invocation reads.
    fn w_loads(&self) -> u32 {
        (self.width * self.width / 4).div_ceil(self.threads())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::kernels::test_setups;

    /// Both passes of every shape the device limits can pick, for sine and ReLU, through naga.
    #[test]
    fn fused_pipelines_compile_to_spirv() {
        let (spec, _, _, consts) = test_setups().swap_remove(0);
        for (width, tm, tn) in [(64, 8, 8), (64, 4, 8), (24, 4, 8), (20, 4, 4)] {
            for tile in TILES {
                for (act, siren_first, loss) in
                    [(0, Some([0, 128, 256]), Some(512)), (0, None, None), (1, None, Some(512))]
                {
                    let run = FusedRun { first: 1, len: 3, width, tile, tm, tn, siren_first, loss };
                    codegen::compile_to_spirv(&format!("{run:?} act {act}"), &run.source(&spec, &consts, act));
                }
            }
        }
    }

    /// The shipped blocks at width 64: a tile of 128 samples and one W take 48 KiB, as much as
    /// NVIDIA Vulkan offers, with 512 invocations; a tile of 64 takes 32 KiB, as much as lavapipe
    /// offers, with 256.
    #[test]
    fn width_64_tiles_fit_nvidia_and_lavapipe() {
        let run =
            |tile| FusedRun { first: 1, len: 8, width: 64, tile, tm: BLOCK, tn: BLOCK, siren_first: None, loss: None };
        assert_eq!((run(128).workgroup_bytes(), run(64).workgroup_bytes()), (48 << 10, 32 << 10));
        assert_eq!((run(128).threads(), run(64).threads(), run(32).threads()), (MAX_THREADS, 256, 128));
        assert_eq!((run(128).w_loads(), run(64).w_loads()), (2, 4));
    }
}

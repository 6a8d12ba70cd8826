//! The weight gradients of thin layers (train_weight_grad_thin.wgsl): a layer with at most
//! [`THIN`] units on one side — SIREN's first layer (2 inputs), every output layer (3 outputs) —
//! sums its gradient over the batch with 16-byte loads along the wide side, instead of
//! train_weight_grad's 64 × 64 tiles, which are 97 % idle for such a layer and read it 4 bytes
//! at a time. Measured on an H100 through Vulkan (SIREN-64×8 at 2^18, 2026-11-27): the two thin
//! layers' gradients took 169 µs a step in the tiled GEMM and take 66 µs here (135 MB read:
//! ~2 TB/s); the step went from 104 to 109 M samples/s. Each thin layer writes its partials
//! into a buffer of its own ([`Region`]; Adam reads them through `thin_gradient`, generated
//! by [`adam_source`]): passes that write one buffer are ordered by a barrier, and apart they
//! run beside the GEMM's (2.393 → 2.343 ms a step, same device).

use super::kernels::sources;
use super::plan::LayerRecord;
use crate::Gpu;
use crate::codegen::{self, files};
use nfield::Result;
use nfield::model::ModelSpec;

/// The most units on a thin layer's narrow side (train_weight_grad_thin.wgsl `THIN_UNITS`).
pub const THIN: u32 = 4;
/// Invocations of a workgroup (train_weight_grad_thin.wgsl `THIN_THREADS`): at least one per
/// four wide units.
const THREADS: u32 = 256;
/// The entry point.
pub const ENTRY: &str = "train_weight_grad_thin";

/// Whether train_weight_grad_thin.wgsl computes the gradients of the layer whose
/// weight-gradient record is `r` (train_weight_grad's: M outputs, N inputs, Δ at `a_off`, the
/// input at `aux_off`): at most [`THIN`] units on one side, a multiple of 4 up to 4 · 256 on the
/// other, whose rows start at multiples of 4 floats.
pub fn is_thin(r: &LayerRecord) -> bool {
    let (m, n) = (r.dims_m, r.dims_n);
    let wide_off = if m >= n { r.a_off } else { r.aux_off };
    m.min(n) <= THIN && m.max(n).is_multiple_of(4) && m.max(n) <= 4 * THREADS && wide_off.is_multiple_of(4)
}

/// What a thin layer's pipeline is generated for (train_weight_grad_thin.wgsl `WIDE`,
/// `THIN_UNITS`, `WIDE_OUT`): layers of one shape share a pipeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Units on the wide side.
    pub wide: u32,
    /// Units on the thin side.
    pub thin: u32,
    /// Whether the wide side is the outputs.
    pub wide_out: bool,
}

impl Shape {
    /// The shape of thin layer `r` ([`is_thin`]).
    pub fn of(r: &LayerRecord) -> Shape {
        debug_assert!(is_thin(r), "{r:?}");
        Shape { wide: r.dims_m.max(r.dims_n), thin: r.dims_m.min(r.dims_n), wide_out: r.dims_m >= r.dims_n }
    }

    /// Floats of one split's gradient: `W` and `b` (train_weight_grad_thin.wgsl `SPLIT_LEN`).
    pub fn split_len(&self) -> u32 {
        self.wide * self.thin + if self.wide_out { self.wide } else { self.thin }
    }
}

/// A thin layer's gradient partials in a buffer of its own: `splits` splits of its `W`
/// (`outputs × inputs`) and `b`, [`Shape::split_len`] floats each, `W` first.
pub struct Region {
    /// The partials.
    pub buffer: wgpu::Buffer,
    /// The layer's weight-gradient record (model offsets of `W` and `b`).
    pub layer: LayerRecord,
}

impl Region {
    /// The partials of thin layer `layer` ([`is_thin`]) for `splits` splits.
    pub fn new(gpu: &Gpu, layer: LayerRecord, splits: u32) -> Result<Region> {
        let floats = splits as u64 * Shape::of(&layer).split_len() as u64;
        Ok(Region { buffer: gpu.storage("train thin-layer partials", 4 * floats)?, layer })
    }

    /// Floats of `W`.
    pub fn weights_len(&self) -> u32 {
        self.layer.dims_m * self.layer.dims_n
    }

    /// Floats of `b`.
    pub fn biases_len(&self) -> u32 {
        self.layer.dims_m
    }

    /// Floats of one split.
    pub fn split_len(&self) -> u32 {
        Shape::of(&self.layer).split_len()
    }

    /// The layer's record as its pass reads it: `W` at 0 and `b` after it in [`Region::buffer`].
    pub fn own_record(&self) -> LayerRecord {
        LayerRecord { w_off: 0, bias_off: self.weights_len(), ..self.layer }
    }
}

/// Adam's reading of the thin layers' partials (adam.wgsl `thin_gradient`): one read-only
/// binding per region from binding 5, and `thin_gradient(i)` = `(1, Σ_z partials)` of model
/// parameter `i` where a region holds it (splits added in order, as adam.wgsl's `gradient`
/// adds the others), else `(0, 0)`.
pub fn adam_source(regions: &[Region]) -> String {
    let mut s = String::new();
    for (j, _) in regions.iter().enumerate() {
        s += &format!("@group(0) @binding({}) var<storage, read> thin_partials_{j}: array<f32>;\n", 5 + j);
    }
    s += "fn thin_gradient(i: u32) -> vec2<f32> {\n";
    for (j, r) in regions.iter().enumerate() {
        let (len, w_len) = (r.split_len(), r.weights_len());
        for (start, count, at) in [(r.layer.w_off, w_len, 0), (r.layer.bias_off, r.biases_len(), w_len)] {
            s += &format!(
                "    if (i >= {start}u && i < {end}u) {{\n        let at = i - {start}u + {at}u;\n        \
                 var g = thin_partials_{j}[at];\n        for (var z = 1u; z < GRAD_SPLITS; z++) {{\n            \
                 g += thin_partials_{j}[z * {len}u + at];\n        }}\n        return vec2<f32>(1.0, g);\n    }}\n",
                end = start + count,
            );
        }
    }
    s += "    return vec2<f32>(0.0);\n}\n";
    s
}

/// The pipeline source for thin layers of `shape`: the model header and training constants
/// `consts`, and the shape's constants, unrolled.
pub fn source(spec: &ModelSpec, consts: &[(&'static str, String)], shape: Shape) -> String {
    let Shape { wide, thin, wide_out } = shape;
    let mut all = consts.to_vec();
    all.extend([
        ("WIDE", format!("{wide}u")),
        ("THIN_UNITS", format!("{thin}u")),
        ("WIDE_OUT", wide_out.to_string()),
        ("SPLIT_LEN", format!("{}u", shape.split_len())),
    ]);
    let source =
        codegen::assemble(spec, &all, &[files::COMMON, sources::BATCH, sources::LAYER, sources::WEIGHT_GRAD_THIN]);
    codegen::unroll(&source, &[("THIN_UNITS", thin as usize)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::kernels::test_setups;

    fn record(outputs: u32, inputs: u32, a_off: u32, aux_off: u32) -> LayerRecord {
        LayerRecord { dims_m: outputs, dims_n: inputs, a_off, aux_off, ..Default::default() }
    }

    #[test]
    fn thin_layers_are_the_narrow_first_and_last() {
        assert!(is_thin(&record(64, 2, 0, 0)), "SIREN's first layer");
        assert!(is_thin(&record(3, 64, 0, 0)), "an output layer");
        assert!(is_thin(&record(3, 1024, 0, 0)));
        assert!(!is_thin(&record(3, 1028, 0, 0)), "more wide units than four an invocation");
        assert!(!is_thin(&record(64, 64, 0, 0)), "a hidden layer");
        assert!(!is_thin(&record(10, 2, 0, 0)), "wide side not a multiple of 4");
        assert!(!is_thin(&record(64, 2, 2, 0)), "wide rows off 16-byte boundaries");
        assert!(is_thin(&record(64, 2, 0, 2)), "the thin side's offset does not matter");
        assert!(is_thin(&record(4, 4, 0, 0)));
        assert!(!is_thin(&record(5, 8, 0, 0)));
    }

    /// Both orientations, every thin count, the fewest and most wide units, through naga.
    #[test]
    fn thin_pipelines_compile_to_spirv() {
        let (spec, _, _, consts) = test_setups().swap_remove(0);
        for thin in 1..=THIN {
            for wide in [4, 64, 96, 4 * THREADS] {
                for r in [record(wide, thin, 0, 0), record(thin, wide, 0, 0)] {
                    let shape = Shape::of(&r);
                    codegen::compile_to_spirv(&format!("{shape:?}"), &source(&spec, &consts, shape));
                }
            }
        }
    }
}

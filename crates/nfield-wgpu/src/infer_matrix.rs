//! The cooperative strategy on cooperative-matrix hardware (`shaders/mlp_infer_matrix.wgsl`):
//! fp16 matrix inputs with f32 accumulation ([`nfield::Precision::Fp16`]) on 16 × 16 × 16
//! blocks, the tensor cores of an NVIDIA GPU through `VK_KHR_cooperative_matrix`.
//!
//! Per inference two dispatches: `weights_to_f16` rewrites the f16 copy of the weights from the
//! f32 parameters (so a renderer that trains in place, or an application that rewrites the
//! buffer, is always rendered with current weights; ~33 k elements for SIREN-64×8), then
//! `infer_matrix` evaluates tiles of [`MatrixShape::tile`] samples per workgroup.

use crate::codegen::{self, files};
use crate::infer::dispatch_2d;
use crate::{Gpu, NAME};
use nfield::model::{ModelSpec, ParamLayout};
use nfield::{Error, Result};

/// Invocations per workgroup of `infer_matrix` (8 subgroups of 32 on NVIDIA). With
/// [`MAX_TILE`], the fastest measured on an H100 through Vulkan (SIREN-64×8 / hash grid, tcnn
/// configuration, full image, M samples/s; workgroup size × tile):
///
/// | | tile 64 | tile 32 | tile 16 |
/// |---|---|---|---|
/// | 128 | 189 / 275 | 345 / 686 | 254 / 798 |
/// | 256 | 270 / 469 | **400 / 977** | 246 / 777 |
/// | 512 | 339 / 654 | 350 / 900 | 187 / 535 |
///
/// The bias, activation and f16 conversion between the layers' products are per element:
/// more invocations per tile share them, and smaller tiles let more workgroups hide the
/// barriers' latency.
const MATRIX_WG: u32 = 256;
/// The largest tile of samples per workgroup (see [`MATRIX_WG`]).
const MAX_TILE: u32 = 32;
/// The cooperative-matrix block edge.
const BLOCK: u32 = 16;

/// The tile of `infer_matrix` for a model on an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MatrixShape {
    /// Samples per workgroup (a multiple of 16).
    pub tile: u32,
    /// Row stride of the f16 layer inputs (padded by 8 halves: 16-byte rows, fewer bank
    /// conflicts).
    astride: u32,
    /// Row stride of the f32 accumulator staging (the width rounded up to 16, padded by 4
    /// floats).
    cstride: u32,
}

impl MatrixShape {
    fn workgroup_bytes(&self) -> u32 {
        self.tile * (2 * self.astride + 4 * self.cstride + 16)
    }
}

/// The f16 copy of the weights (`shaders/mlp_infer_matrix.wgsl`): layer 0 is
/// `width_p × kp0`, each hidden layer `width_p × width_p`, the output layer `16 × width_p`
/// (outputs × inputs, each rounded up to 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct F16Layout {
    /// Layer 0's inputs rounded up to 16.
    kp0: u32,
    /// The width rounded up to 16.
    width_p: u32,
    /// Elements in all.
    len: u32,
}

fn f16_layout(layout: &ParamLayout) -> F16Layout {
    let kp0 = (layout.layers[0].inputs as u32).next_multiple_of(BLOCK);
    let width_p = (layout.layers[0].outputs as u32).next_multiple_of(BLOCK);
    let n_hidden = layout.layers.len() as u32 - 2;
    F16Layout { kp0, width_p, len: width_p * kp0 + n_hidden * width_p * width_p + BLOCK * width_p }
}

/// The tile for `spec` on `gpu`, or why the fp16 cooperative strategy cannot run there.
pub(crate) fn matrix_shape(gpu: &Gpu, spec: &ModelSpec) -> Result<MatrixShape> {
    if !gpu.cooperative_matrix_f16 {
        return Err(Error::engine(
            NAME,
            format!(
                "fp16 inference on wgpu runs on cooperative matrices of f16 (tensor cores), which {} does not \
                 offer; use --precision fp32",
                gpu.info.name
            ),
        ));
    }
    let f16 = f16_layout(&spec.layout());
    let widest = f16.kp0.max(f16.width_p);
    let shape = |tile| MatrixShape { tile, astride: widest + 8, cstride: f16.width_p + 4 };
    for tile in [MAX_TILE, 16] {
        if shape(tile).workgroup_bytes() <= gpu.workgroup_memory {
            return Ok(shape(tile));
        }
    }
    Err(Error::engine(
        NAME,
        format!(
            "fp16 inference needs {} bytes of workgroup memory for rows of {widest} inputs; this adapter has {}",
            shape(16).workgroup_bytes(),
            gpu.workgroup_memory
        ),
    ))
}

/// The two pipelines and the f16 weights of one model.
pub(crate) struct MatrixKernels {
    convert: wgpu::ComputePipeline,
    infer: wgpu::ComputePipeline,
    w16: wgpu::Buffer,
    len: u32,
    shape: MatrixShape,
}

/// The WGSL module of both kernels for `spec` with tile `shape`.
fn source(spec: &ModelSpec, shape: MatrixShape) -> String {
    let f16 = f16_layout(&spec.layout());
    let first = if matches!(spec, ModelSpec::Siren(_)) { 1 } else { 0 };
    let extra = [
        ("MATRIX_WG", format!("{MATRIX_WG}u")),
        ("MT", format!("{}u", shape.tile)),
        ("ASTRIDE", format!("{}u", shape.astride)),
        ("CSTRIDE", format!("{}u", shape.cstride)),
        ("N_LAYERS", format!("{}u", spec.layout().layers.len())),
        ("FIRST_MATRIX_LAYER", format!("{first}u")),
        ("KP0", format!("{}u", f16.kp0)),
        ("WIDTH_P", format!("{}u", f16.width_p)),
        ("W16_LEN", format!("{}u", f16.len)),
    ];
    let kernels = codegen::unroll(files::MLP_INFER_MATRIX, &[("NB", (shape.tile / BLOCK) as usize)]);
    let body = codegen::assemble(spec, &extra, &[files::COMMON, files::ENCODING, files::INFER_QUERY, &kernels]);
    // enable directives come before every declaration
    format!("enable f16;\nenable wgpu_cooperative_matrix;\n{body}")
}

impl MatrixKernels {
    /// Compiles both pipelines for `spec` and allocates its f16 weights.
    pub fn new(gpu: &Gpu, spec: &ModelSpec) -> Result<MatrixKernels> {
        let shape = matrix_shape(gpu, spec)?;
        let src = source(spec, shape);
        let convert = gpu.nfield_pipeline("mlp_infer_matrix", &src, "weights_to_f16")?;
        let infer = gpu.nfield_pipeline("mlp_infer_matrix", &src, "infer_matrix")?;
        let len = f16_layout(&spec.layout()).len;
        let w16 = gpu.storage("nfield f16 weights", 2 * len as u64)?;
        Ok(MatrixKernels { convert, infer, w16, len, shape })
    }

    /// Records the f16 conversion of `params` and the inference of `n` samples into `encoder`;
    /// `query` holds the query's uniform, positions and output buffers (bindings 1–3).
    pub fn record(
        &self,
        gpu: &Gpu,
        params: &wgpu::Buffer,
        query: [&wgpu::Buffer; 3],
        n: u32,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<()> {
        let convert =
            gpu.bind("nfield f16 weights", &self.convert.get_bind_group_layout(0), &[(0, params), (5, &self.w16)])?;
        let [uniform, positions, output] = query;
        let infer = gpu.bind(
            "nfield matrix inference",
            &self.infer.get_bind_group_layout(0),
            &[(0, params), (1, uniform), (2, positions), (3, output), (4, &self.w16)],
        )?;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("nfield infer (cooperative matrix)"),
            timestamp_writes: None,
        });
        let (gx, gy) = dispatch_2d(self.len.div_ceil(256));
        pass.set_pipeline(&self.convert);
        pass.set_bind_group(0, &convert, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
        let (gx, gy) = dispatch_2d(n.div_ceil(self.shape.tile));
        pass.set_pipeline(&self.infer);
        pass.set_bind_group(0, &infer, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfield::model::{FourierSpec, HashGridSpec, SirenSpec};

    #[test]
    fn f16_weights_pad_every_layer_to_blocks() {
        // SIREN-64×8: 2 → 64 (inputs padded to 16), 8 × 64 → 64, 64 → 3 (outputs padded to 16)
        let l = f16_layout(&ModelSpec::Siren(SirenSpec::default()).layout());
        assert_eq!(l, F16Layout { kp0: 16, width_p: 64, len: 64 * 16 + 8 * 64 * 64 + 16 * 64 });
        // width 20 pads to 32; the hash grid's 16 levels × 2 features stay 32
        let spec = ModelSpec::HashGrid(HashGridSpec { width: 20, ..HashGridSpec::default() });
        let h = f16_layout(&spec.layout());
        assert_eq!((h.kp0, h.width_p), (32, 32));
    }

    /// The kernels cannot run without cooperative-matrix hardware (not on CI's lavapipe), but
    /// naga must accept them: parse, validate and write SPIR-V for every model kind and tile.
    #[test]
    fn matrix_kernels_compile_to_spirv() {
        let specs = [
            ModelSpec::Siren(SirenSpec::default()),
            ModelSpec::Fourier(FourierSpec::default()),
            ModelSpec::HashGrid(HashGridSpec::default()),
        ];
        for spec in specs {
            for tile in [MAX_TILE, 16] {
                let width = (spec.layout().layers[0].outputs as u32).next_multiple_of(BLOCK);
                let shape = MatrixShape { tile, astride: 264, cstride: width + 4 };
                crate::codegen::compile_to_spirv(&format!("{} tile {tile}", spec.describe()), &source(&spec, shape));
            }
        }
    }
}

//! Compute-shader inference (`shaders/mlp_infer.wgsl`) and the evaluation's squared-error
//! reduction (`shaders/evaluate.wgsl`): pipelines compiled per model on first use, and the
//! buffers of a query, grown on demand and reused across calls (a renderer calls this every
//! frame).
//!
//! A query reaches the GPU as positions: for a pixel grid only its two axes (`W + H` entries of
//! (coordinate, inside ? 1 : 0), computed on the host in f64 exactly as
//! [`nfield::model::grid_positions`] does), for explicit points one (x, y) per sample.

use crate::codegen::{self, files};
use crate::infer_matrix::MatrixKernels;
use crate::{Gpu, NAME};
use nfield::model::{Coords, ModelSpec, View};
use nfield::{Error, InferOptions, Precision, Query, Result, Strategy};
use std::sync::Arc;

/// Invocations per cooperative workgroup (16 output lanes × 4 sample lanes).
pub(crate) const COOP_WG: u32 = 64;

/// Invocations per workgroup of the baked kernel, by model, as measured on an H100 through
/// NVIDIA's Vulkan driver (M samples/s, full image of target.jpeg, 2026-11-26, workgroups of
/// 64 / 256 / 512): SIREN-64×8 445 / 444 / 440, the seed's Fourier MLP 400 / 271 / 523, the
/// seed's hash grid 2200 / 2380 / 1970, tiny-cuda-nn's 1370 / 1460 / 1340. The size changes
/// how the driver allocates registers for a straight-line program of tens of thousands of
/// instructions, not the work. Capped at the device's limit.
fn baked_workgroup(spec: &ModelSpec, max_invocations: u32) -> u32 {
    let measured = match spec {
        ModelSpec::Siren(_) => 64,
        ModelSpec::Fourier(_) => 512,
        ModelSpec::HashGrid(_) => 256,
    };
    measured.min(max_invocations).max(1)
}

/// Inputs per staged weight chunk of the cooperative kernel (64 outputs × KC). With the tile
/// capped at 32 samples this measured fastest on an H100 through Vulkan (SIREN-64×8, full image:
/// tile 64 / KC 32: 78 M samples/s; 32 / 16: 126 M/s; 32 / 8: 119; 16 / 32: 91), the smaller
/// workgroup memory letting more workgroups share an SM.
const KC: u32 = 16;
/// Samples per workgroup of the squared-error reduction.
pub(crate) const EVAL_WG: u32 = 256;
/// The most workgroups one dispatch dimension takes (WebGPU's default limit).
const MAX_GROUPS_X: u32 = 65_535;

/// A compute strategy (the fragment path is [`crate::FieldRenderer`]'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ComputeStrategy {
    /// One invocation per sample (`infer_per_pixel`).
    PerPixel,
    /// A workgroup per tile of samples (`infer_coop`).
    Cooperative,
    /// The cooperative strategy in fp16 on cooperative matrices (`infer_matrix`,
    /// [`crate::infer_matrix`]).
    Matrix,
    /// One invocation per sample with the MLP's weights compiled in ([`crate::baked`]).
    Baked,
}

/// The cooperative kernel's tile for a model on an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CoopShape {
    /// Samples per workgroup.
    pub tile: u32,
    /// Row stride of the activation tile (the widest row + 1, against bank conflicts).
    pub astride: u32,
}

impl CoopShape {
    /// Workgroup memory the kernel declares, in bytes.
    pub fn workgroup_bytes(&self) -> u32 {
        4 * (2 * self.tile * self.astride + 64 * (KC + 1)) + 16 * self.tile
    }
}

/// The largest tile (32, 16, 8 or 4 samples; see [`KC`] for why not 64) whose activations and one weight chunk fit
/// `workgroup_memory` bytes, or an error that names the width and the limit.
pub(crate) fn coop_shape(spec: &ModelSpec, workgroup_memory: u32) -> Result<CoopShape> {
    let layout = spec.layout();
    let amax = layout.layers[0].inputs.max(layout.layers[0].outputs) as u32;
    let shape = |tile| CoopShape { tile, astride: amax + 1 };
    for tile in [32, 16, 8, 4] {
        if shape(tile).workgroup_bytes() <= workgroup_memory {
            return Ok(shape(tile));
        }
    }
    Err(Error::engine(
        NAME,
        format!(
            "the cooperative strategy needs {} bytes of workgroup memory for rows of {amax} activations; this adapter \
             has {workgroup_memory}; use --strategy per-pixel",
            shape(4).workgroup_bytes()
        ),
    ))
}

/// MLP parameters past which a CPU adapter's per-pixel loads go wrong (see
/// `shaders/mlp_forward.wgsl`: a lavapipe bug with dynamically uniform loads past 64 Ki
/// elements).
const SOFTWARE_PER_PIXEL_PARAMS: usize = 1 << 16;

/// Whether the per-pixel function (the per-pixel and fragment strategies) runs `spec`
/// correctly on `gpu`, or why not.
pub(crate) fn per_pixel_supported(gpu: &Gpu, spec: &ModelSpec) -> Result<()> {
    // The loads with one address per subgroup: the MLP's weights, and Fourier's B after them
    // (a hash table's gathers are per sample).
    let layout = spec.layout();
    let n = if matches!(spec, ModelSpec::Fourier(_)) { layout.total } else { layout.encoding.start };
    if gpu.is_software() && n > SOFTWARE_PER_PIXEL_PARAMS {
        return Err(Error::engine(
            NAME,
            format!(
                "{} computes wrong per-pixel results for MLPs past {SOFTWARE_PER_PIXEL_PARAMS} parameters (this \
                 one reads {n}: a lavapipe bug); use the cooperative strategy",
                gpu.info.name
            ),
        ));
    }
    Ok(())
}

/// `(x, y)` workgroup counts covering `groups` workgroups (x ≤ 65535).
pub(crate) fn dispatch_2d(groups: u32) -> (u32, u32) {
    let x = groups.clamp(1, MAX_GROUPS_X);
    (x, groups.div_ceil(x).max(1))
}

/// The compute pipelines of one model, each compiled on first use.
pub(crate) struct InferKernels {
    gpu: Arc<Gpu>,
    spec: ModelSpec,
    per_pixel: Option<wgpu::ComputePipeline>,
    coop: Option<(wgpu::ComputePipeline, CoopShape)>,
    matrix: Option<MatrixKernels>,
    /// The baked pipeline and the version of the weights it holds.
    baked: Option<(u64, wgpu::ComputePipeline)>,
    eval: Option<wgpu::ComputePipeline>,
}

impl InferKernels {
    pub fn new(gpu: Arc<Gpu>, spec: &ModelSpec) -> InferKernels {
        InferKernels { gpu, spec: spec.clone(), per_pixel: None, coop: None, matrix: None, baked: None, eval: None }
    }

    /// The strategy `Auto` means here: cooperative where the model's rows fit the adapter's
    /// workgroup memory, per-pixel otherwise.
    pub fn auto(&self) -> ComputeStrategy {
        match coop_shape(&self.spec, self.gpu.workgroup_memory) {
            Ok(_) => ComputeStrategy::Cooperative,
            Err(_) => ComputeStrategy::PerPixel,
        }
    }

    /// The inference module with the cooperative kernel sized by `shape` (both entry points
    /// share one module, so the per-pixel kernel's module carries a valid tile too);
    /// `baked_forward`: the one-sample per-pixel kernel on this `mlp_forward` instead
    /// ([`crate::baked`]).
    fn source(&self, shape: CoopShape, baked_forward: Option<String>) -> String {
        let per_pixel_wg =
            if baked_forward.is_some() { baked_workgroup(&self.spec, self.gpu.max_invocations) } else { 64 };
        let extra = [
            ("PER_PIXEL_WG", format!("{per_pixel_wg}u")),
            ("COOP_WG", format!("{COOP_WG}u")),
            ("TILE", format!("{}u", shape.tile)),
            ("KC", format!("{KC}u")),
            ("ASTRIDE", format!("{}u", shape.astride)),
        ];
        let pair = baked_forward.is_none() && codegen::per_pixel_pair(&self.spec);
        let forward = baked_forward.unwrap_or_else(|| codegen::mlp_forward_source(&self.spec, true));
        let forward_pair = if pair { codegen::mlp_forward_pair_source(&self.spec) } else { String::new() };
        let stage = (64 * KC / COOP_WG) as usize;
        let flags: &[&str] = if pair { &["PAIR"] } else { &[] };
        let kernels = codegen::preprocess(files::MLP_INFER, flags);
        let kernels = codegen::unroll(&kernels, &[("T4", shape.tile as usize / 4), ("STAGE", stage)]);
        codegen::assemble(
            &self.spec,
            &extra,
            &[files::COMMON, files::ENCODING, files::INFER_QUERY, &forward, &forward_pair, &kernels],
        )
    }

    /// The compute strategy that runs `opts` (`None`: the fragment strategy, fp32), or why
    /// wgpu cannot: fp16 is the cooperative strategy's (on cooperative matrices), and wgpu has
    /// no tf32 or bf16.
    pub fn compute_strategy(&self, opts: &InferOptions) -> Result<Option<ComputeStrategy>> {
        match (opts.precision, opts.strategy) {
            (Precision::Fp32, Strategy::Fragment) => Ok(None),
            (Precision::Fp32, Strategy::PerPixel) => Ok(Some(ComputeStrategy::PerPixel)),
            (Precision::Fp32, Strategy::Cooperative) => Ok(Some(ComputeStrategy::Cooperative)),
            (Precision::Fp32, Strategy::Baked) => Ok(Some(ComputeStrategy::Baked)),
            (Precision::Fp32, Strategy::Auto) => Ok(Some(self.auto())),
            (Precision::Fp16, Strategy::Cooperative | Strategy::Auto) => Ok(Some(ComputeStrategy::Matrix)),
            (Precision::Fp16, _) => Err(Error::engine(
                NAME,
                "fp16 inference on wgpu is the cooperative strategy's (cooperative matrices); the per-pixel, \
                 baked and fragment strategies compute in fp32",
            )),
            (other, _) => Err(Error::engine(
                NAME,
                format!("precision {other:?} is not available on wgpu; it computes in fp32 or, cooperatively, fp16"),
            )),
        }
    }

    /// The fp16 cooperative-matrix kernels, compiled on first use.
    pub fn matrix(&mut self) -> Result<&MatrixKernels> {
        if self.matrix.is_none() {
            self.matrix = Some(MatrixKernels::new(&self.gpu, &self.spec)?);
        }
        self.matrix.as_ref().ok_or_else(|| Error::engine(NAME, "matrix kernels missing"))
    }

    /// The cooperative tile of the module a per-pixel or baked kernel is compiled in (both
    /// entry points share one module): the model's, or a small valid one for a model too wide
    /// for the cooperative tile.
    fn per_pixel_module_shape(&self) -> CoopShape {
        coop_shape(&self.spec, self.gpu.workgroup_memory).unwrap_or(CoopShape { tile: 4, astride: 1 })
    }

    /// Compiles the baked pipeline for the weights of `version` unless it holds them already;
    /// `mlp` reads those weights (the first `encoding.start` parameters) when it must.
    pub fn bake(&mut self, version: u64, mlp: impl FnOnce() -> Result<Vec<f32>>) -> Result<()> {
        if self.baked.as_ref().is_some_and(|(v, _)| *v == version) {
            return Ok(());
        }
        per_pixel_supported(&self.gpu, &self.spec)?;
        self.baked = None; // the old pipeline's memory goes before the new one compiles
        let forward = crate::baked::mlp_forward_source(&self.spec, &mlp()?)?;
        let src = self.source(self.per_pixel_module_shape(), Some(forward));
        self.baked = Some((version, self.gpu.nfield_pipeline("mlp_infer baked", &src, "infer_per_pixel")?));
        Ok(())
    }

    /// The pipeline of a per-pixel, cooperative or baked (after [`InferKernels::bake`])
    /// `strategy` and the samples each of its workgroups covers.
    pub fn pipeline(&mut self, strategy: ComputeStrategy) -> Result<(&wgpu::ComputePipeline, u32)> {
        match strategy {
            ComputeStrategy::PerPixel => {
                if self.per_pixel.is_none() {
                    per_pixel_supported(&self.gpu, &self.spec)?;
                    let src = self.source(self.per_pixel_module_shape(), None);
                    self.per_pixel = Some(self.gpu.nfield_pipeline("mlp_infer", &src, "infer_per_pixel")?);
                }
                let p = self.per_pixel.as_ref().ok_or_else(|| Error::engine(NAME, "per-pixel pipeline missing"))?;
                Ok((p, if codegen::per_pixel_pair(&self.spec) { 128 } else { 64 }))
            }
            ComputeStrategy::Cooperative => {
                if self.coop.is_none() {
                    let s = coop_shape(&self.spec, self.gpu.workgroup_memory)?;
                    let src = self.source(s, None);
                    self.coop = Some((self.gpu.nfield_pipeline("mlp_infer", &src, "infer_coop")?, s));
                }
                let (p, s) = self.coop.as_ref().ok_or_else(|| Error::engine(NAME, "cooperative pipeline missing"))?;
                Ok((p, s.tile))
            }
            ComputeStrategy::Baked => {
                let (_, p) =
                    self.baked.as_ref().ok_or_else(|| Error::engine(NAME, "the baked pipeline is not built"))?;
                Ok((p, baked_workgroup(&self.spec, self.gpu.max_invocations)))
            }
            ComputeStrategy::Matrix => Err(Error::engine(NAME, "the matrix strategy records its own passes")),
        }
    }

    /// The squared-error reduction (subgroups where the device has them).
    pub fn eval_pipeline(&mut self) -> Result<&wgpu::ComputePipeline> {
        if self.eval.is_none() {
            let flags: &[&str] = if self.gpu.subgroups { &["SUBGROUPS"] } else { &[] };
            let body = codegen::preprocess(files::EVALUATE, flags);
            let src = format!("const EVAL_WG: u32 = {EVAL_WG}u;\n{body}");
            self.eval = Some(self.gpu.nfield_pipeline("evaluate", &src, "squared_error")?);
        }
        self.eval.as_ref().ok_or_else(|| Error::engine(NAME, "evaluation pipeline missing"))
    }
}

/// The two axes of a `width × height` grid showing `view` in `coords`: `width` x entries then
/// `height` y entries, each (model coordinate, inside the image ? 1 : 0).
pub fn grid_axes(coords: Coords, view: View, width: u32, height: u32) -> Vec<[f32; 2]> {
    let axis = |n: u32, lo: f64, hi: f64| {
        (0..n).map(move |i| {
            let u = lo + (hi - lo) * coords.unit(i, n);
            [coords.map_unit(u), if (0.0..=1.0).contains(&u) { 1.0 } else { 0.0 }]
        })
    };
    axis(width, view.x0, view.x1).chain(axis(height, view.y0, view.y1)).collect()
}

/// A query as the shaders take it.
pub(crate) struct PreparedQuery {
    /// Samples.
    pub n: u32,
    /// Grid columns, 0 for points.
    pub grid_width: u32,
    /// Axes (grid) or points.
    pub positions: Vec<[f32; 2]>,
}

impl PreparedQuery {
    pub fn new(query: &Query<'_>) -> Result<PreparedQuery> {
        let too_many = |n: usize| Error::engine(NAME, format!("a query of {n} samples exceeds 2^32 − 1"));
        match *query {
            Query::Grid { width, height, coords, view } => {
                let n = width as u64 * height as u64;
                let n = u32::try_from(n).map_err(|_| too_many(n as usize))?;
                Ok(PreparedQuery { n, grid_width: width, positions: grid_axes(coords, view, width, height) })
            }
            Query::Points(points) => {
                if points.len() % 2 != 0 {
                    return Err(Error::engine(NAME, format!("points must be (N, 2); got {} values", points.len())));
                }
                let n = u32::try_from(points.len() / 2).map_err(|_| too_many(points.len() / 2))?;
                let positions = points.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
                Ok(PreparedQuery { n, grid_width: 0, positions })
            }
        }
    }
}

/// A storage buffer at least `bytes` long in `slot`: the one there when it is long enough,
/// else a new one (buffers that follow the query or frame size grow, never shrink).
pub(crate) fn storage_at_least(
    gpu: &Gpu,
    slot: &mut Option<wgpu::Buffer>,
    label: &str,
    bytes: u64,
) -> Result<wgpu::Buffer> {
    if let Some(b) = slot {
        if b.size() >= bytes {
            return Ok(b.clone());
        }
    }
    let b = gpu.storage(label, bytes)?;
    *slot = Some(b.clone());
    Ok(b)
}

/// The GPU side of queries: positions, the query uniform and the (n, 3) output, grown on
/// demand.
pub(crate) struct QueryBuffers {
    positions: Option<wgpu::Buffer>,
    uniform: wgpu::Buffer,
    out: Option<wgpu::Buffer>,
    /// Samples of the last query.
    pub n: u32,
}

impl QueryBuffers {
    pub fn new(gpu: &Gpu) -> QueryBuffers {
        QueryBuffers { positions: None, uniform: gpu.uniform("nfield query", &[0u32; 4]), out: None, n: 0 }
    }

    /// Uploads `q` (positions and the uniform) and makes room for its output.
    pub fn upload(&mut self, gpu: &Gpu, q: &PreparedQuery) -> Result<()> {
        let pos_bytes = 8 * q.positions.len() as u64;
        let positions = storage_at_least(gpu, &mut self.positions, "nfield query positions", pos_bytes)?;
        storage_at_least(gpu, &mut self.out, "nfield output", 12 * q.n as u64)?;
        if !q.positions.is_empty() {
            gpu.queue.write_buffer(&positions, 0, bytemuck::cast_slice(&q.positions));
        }
        gpu.queue.write_buffer(&self.uniform, 0, bytemuck::cast_slice(&[q.n, q.grid_width, 0, 0]));
        self.n = q.n;
        Ok(())
    }

    /// The output buffer ((n, 3) f32) of the last query.
    pub fn output(&self) -> Result<&wgpu::Buffer> {
        self.out.as_ref().ok_or_else(|| Error::engine(NAME, "no inference has run yet"))
    }

    /// Records the inference of the uploaded query with `params` into `encoder`.
    pub fn record(
        &self,
        gpu: &Gpu,
        kernels: &mut InferKernels,
        params: &wgpu::Buffer,
        strategy: ComputeStrategy,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<()> {
        if self.n == 0 {
            return Ok(());
        }
        let positions = self.positions.as_ref().ok_or_else(|| Error::engine(NAME, "no query uploaded"))?;
        let output = self.output()?;
        if strategy == ComputeStrategy::Matrix {
            return kernels.matrix()?.record(gpu, params, [&self.uniform, positions, output], self.n, encoder);
        }
        let reads_params = strategy != ComputeStrategy::Baked || crate::baked::reads_params(&kernels.spec);
        let (pipeline, per_group) = kernels.pipeline(strategy)?;
        let mut entries = vec![(1, &self.uniform), (2, positions), (3, output)];
        if reads_params {
            entries.push((0, params));
        }
        if strategy == ComputeStrategy::PerPixel {
            entries.push((4, params)); // the weights as vec4 (mlp_forward.wgsl)
        }
        let bind = gpu.bind("nfield inference", &pipeline.get_bind_group_layout(0), &entries)?;
        let (gx, gy) = dispatch_2d(self.n.div_ceil(per_group));
        let mut pass = encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("nfield infer"), timestamp_writes: None });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
        Ok(())
    }
}

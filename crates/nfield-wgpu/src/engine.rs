//! [`WgpuEngine`]: the [`Engine`] trait on wgpu. Parameters live in one GPU buffer that the
//! trainer updates in place and every inference path reads; nothing crosses the bus per step.

use crate::infer::{ComputeStrategy, EVAL_WG, InferKernels, PreparedQuery, QueryBuffers, dispatch_2d};
use crate::render::FieldRenderer;
use crate::train::Trainer;
use crate::{Gpu, NAME};
use nfield::data::Image;
use nfield::model::{ImageSize, Model, View};
use nfield::train::{AdamState, Evaluation, StepStats, TrainOptions};
use nfield::{Engine, Error, InferOptions, Precision, Query, Result};
use std::sync::Arc;

/// The wgpu engine: training and inference of every model in compute shaders, plus the
/// render-pass path (`Strategy::Fragment`) and the baked per-pixel kernel (`Strategy::Baked`,
/// [`crate::baked`]: rebuilt after [`Engine::train`] changes the weights; writes into
/// [`WgpuEngine::params_buffer`] by other means are not seen by a pipeline already baked).
/// fp32, except the fp16 forms on cooperative matrices
/// ([`crate::Gpu::cooperative_matrix_f16`]): the cooperative strategy with `Precision::Fp16`, and
/// training in fp16 where [`WgpuEngine::set_training_precision`] asks for it.
pub struct WgpuEngine {
    gpu: Arc<Gpu>,
    loaded: Option<Loaded>,
    training_precision: Precision,
}

/// Where the last inference left its output.
#[derive(Clone, Copy, Debug)]
enum LastOutput {
    None,
    /// `n` RGB triples in the query buffers' output.
    Buffer(u32),
    /// `n` pixels in the fragment renderer's RGBA32F texture.
    Texture(u32),
}

struct Loaded {
    model: Model,
    params: wgpu::Buffer,
    kernels: InferKernels,
    query: QueryBuffers,
    last: LastOutput,
    renderer: Option<FieldRenderer>,
    /// Bumped whenever the parameters change (training), so that the baked pipeline is rebuilt.
    version: u64,
    trainer: Option<Trainer>,
    eval: Option<EvalTarget>,
    /// Adam's state while no trainer holds it (inference-only loads).
    adam: AdamState,
    batch: u32,
}

/// The evaluation's fixed inputs: the target's positions and colours on the GPU.
struct EvalTarget {
    query: QueryBuffers,
    colors: wgpu::Buffer,
    partials: wgpu::Buffer,
    uniform: wgpu::Buffer,
    n: u32,
}

impl WgpuEngine {
    /// An engine on the best adapter ([`Gpu::open`]).
    pub fn new() -> Result<WgpuEngine> {
        Ok(WgpuEngine::on(Gpu::open()?))
    }

    /// An engine on a given GPU (shared with other engines or with the application). It trains
    /// in fp32.
    pub fn on(gpu: Arc<Gpu>) -> WgpuEngine {
        WgpuEngine { gpu, loaded: None, training_precision: Precision::Fp32 }
    }

    /// Trains in `precision` from the next [`Engine::load`] on: `Fp32`, or `Fp16` (the weight
    /// gradients' products on cooperative matrices with f16 operands and f32 accumulation, the
    /// rest and the parameters in f32; see [`crate::train::Trainer::with_precision`]). Errors
    /// where the device cannot ([`crate::train::fp16_support`] says why) or for bf16 and tf32.
    pub fn set_training_precision(&mut self, precision: Precision) -> Result<()> {
        crate::train::uses_matrices(&self.gpu, precision)?;
        self.training_precision = precision;
        Ok(())
    }

    /// One training step, profiled: microseconds per kind of pass
    /// ([`crate::train::Trainer::profile_step`]). Needs a loaded target.
    pub fn profile_training_step(&mut self) -> Result<Vec<(&'static str, f64)>> {
        self.loaded_mut()?.trainer.as_mut().ok_or_else(WgpuEngine::no_target)?.profile_step()
    }

    /// The precision [`Engine::train`] computes in.
    pub fn training_precision(&self) -> Precision {
        self.training_precision
    }

    /// The GPU this engine runs on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The parameter buffer of the loaded model (f32, the model's layout): what an application
    /// renders from while the engine trains.
    pub fn params_buffer(&self) -> Result<&wgpu::Buffer> {
        Ok(&self.loaded()?.params)
    }

    fn loaded(&self) -> Result<&Loaded> {
        self.loaded.as_ref().ok_or_else(|| Error::engine(NAME, "no model loaded; call load() first"))
    }

    fn loaded_mut(&mut self) -> Result<&mut Loaded> {
        self.loaded.as_mut().ok_or_else(|| Error::engine(NAME, "no model loaded; call load() first"))
    }

    fn no_target() -> Error {
        Error::engine(NAME, "no target image loaded; training and evaluation need one")
    }
}

fn eval_target(gpu: &Gpu, model: &Model, image: &Image, subset: Option<&[u32]>) -> Result<EvalTarget> {
    let c = model.coords;
    let (query, colors) = match subset {
        None => (
            PreparedQuery::new(&Query::Grid { width: image.width, height: image.height, coords: c, view: View::FULL })?,
            image.rgb.clone(),
        ),
        Some(sub) => {
            let mut points = Vec::with_capacity(2 * sub.len());
            let mut colors = Vec::with_capacity(3 * sub.len());
            for &k in sub {
                let (i, j) = (k % image.width, k / image.width);
                points.extend(c.pixel(i, j, image.width, image.height));
                colors.extend_from_slice(&image.rgb[3 * k as usize..3 * k as usize + 3]);
            }
            (PreparedQuery::new(&Query::Points(&points))?, colors)
        }
    };
    let mut buffers = QueryBuffers::new(gpu);
    buffers.upload(gpu, &query)?;
    finish_eval(gpu, buffers, &colors, query.n)
}

fn finish_eval(gpu: &Gpu, query: QueryBuffers, colors: &[f32], n: u32) -> Result<EvalTarget> {
    let groups = n.div_ceil(EVAL_WG);
    Ok(EvalTarget {
        query,
        colors: gpu.storage_init("nfield eval colours", colors)?,
        partials: gpu.storage("nfield eval partials", 4 * groups as u64)?,
        uniform: gpu.uniform("nfield eval n", &[n, 0, 0, 0]),
        n,
    })
}

impl Engine for WgpuEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn device(&self) -> String {
        self.gpu.describe()
    }

    fn load(&mut self, model: &Model, target: Option<&Image>, opts: &TrainOptions) -> Result<()> {
        model.spec.validate()?;
        model.check_params()?;
        opts.validate()?;
        if let (Some(t), Some(sub)) = (target, &opts.subset) {
            let n = t.pixel_count();
            if let Some(&bad) = sub.iter().find(|&&k| k as usize >= n) {
                return Err(Error::option("limit", format!("pixel index {bad} is outside the {n}-pixel target")));
            }
        }
        let gpu = &self.gpu;
        let params = gpu.storage_init("nfield params", &model.params)?;
        let mut model = model.clone();
        if let Some(t) = target {
            model.image = Some(ImageSize { width: t.width, height: t.height });
        }
        let (trainer, eval) = match target {
            Some(t) => (
                Some(Trainer::with_precision(gpu.clone(), &model, t, opts, params.clone(), self.training_precision)?),
                Some(eval_target(gpu, &model, t, opts.subset.as_deref())?),
            ),
            None => (None, None),
        };
        self.loaded = Some(Loaded {
            kernels: InferKernels::new(gpu.clone(), &model.spec),
            query: QueryBuffers::new(gpu),
            last: LastOutput::None,
            renderer: None,
            version: 0,
            adam: AdamState::zeros(model.params.len()),
            batch: opts.batch,
            model,
            params,
            trainer,
            eval,
        });
        Ok(())
    }

    fn train(&mut self, steps: u32) -> Result<StepStats> {
        let loaded = self.loaded_mut()?;
        let batch = loaded.batch;
        let trainer = loaded.trainer.as_mut().ok_or_else(WgpuEngine::no_target)?;
        let loss = trainer.train(steps)?;
        loaded.version += 1;
        Ok(StepStats { step: trainer.step(), loss, samples: steps as u64 * batch as u64 })
    }

    fn infer(&mut self, query: &Query<'_>, opts: &InferOptions) -> Result<usize> {
        let gpu = self.gpu.clone();
        let loaded = self.loaded_mut()?;
        let strategy = match loaded.kernels.compute_strategy(opts)? {
            Some(s) => s,
            None => {
                let Query::Grid { width, height, coords, view } = *query else {
                    return Err(Error::engine(NAME, "the fragment strategy renders pixel grids, not lists of points"));
                };
                if loaded.renderer.is_none() {
                    let r = FieldRenderer::sharing(
                        gpu.clone(),
                        &loaded.model,
                        loaded.params.clone(),
                        wgpu::TextureFormat::Rgba32Float,
                    )?;
                    loaded.renderer = Some(r);
                }
                let renderer = loaded.renderer.as_mut().ok_or_else(|| Error::engine(NAME, "renderer missing"))?;
                renderer.render_grid(width, height, coords, view)?;
                let n = width * height;
                loaded.last = LastOutput::Texture(n);
                return Ok(n as usize);
            }
        };
        if strategy == ComputeStrategy::Baked {
            let n = loaded.model.layout().encoding.start;
            let params = &loaded.params;
            loaded.kernels.bake(loaded.version, || gpu.read_f32(params, 0, n))?;
        }
        let prepared = PreparedQuery::new(query)?;
        loaded.query.upload(&gpu, &prepared)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        loaded.query.record(&gpu, &mut loaded.kernels, &loaded.params, strategy, &mut encoder)?;
        gpu.queue.submit([encoder.finish()]);
        loaded.last = LastOutput::Buffer(prepared.n);
        Ok(prepared.n as usize)
    }

    fn read_output(&mut self, out: &mut [f32]) -> Result<()> {
        let gpu = self.gpu.clone();
        let loaded = self.loaded()?;
        let (n, texture) = match loaded.last {
            LastOutput::None => return Err(Error::engine(NAME, "no inference has run yet")),
            LastOutput::Buffer(n) => (n as usize, false),
            LastOutput::Texture(n) => (n as usize, true),
        };
        if out.len() != 3 * n {
            return Err(Error::engine(
                NAME,
                format!("output buffer holds {} values, the last inference produced {}", out.len(), 3 * n),
            ));
        }
        if texture {
            let renderer = loaded.renderer.as_ref().ok_or_else(|| Error::engine(NAME, "renderer missing"))?;
            let rgba: Vec<f32> = bytemuck::pod_collect_to_vec(&renderer.read_texture()?);
            for (dst, src) in out.chunks_exact_mut(3).zip(rgba.chunks_exact(4)) {
                dst.copy_from_slice(&src[..3]);
            }
        } else {
            out.copy_from_slice(&gpu.read_f32(loaded.query.output()?, 0, 3 * n)?);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<Evaluation> {
        let gpu = self.gpu.clone();
        let loaded = self.loaded_mut()?;
        let strategy = loaded.kernels.auto();
        let eval = loaded.eval.as_ref().ok_or_else(WgpuEngine::no_target)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        eval.query.record(&gpu, &mut loaded.kernels, &loaded.params, strategy, &mut encoder)?;
        let pipeline = loaded.kernels.eval_pipeline()?;
        let bind = gpu.bind(
            "nfield evaluate",
            &pipeline.get_bind_group_layout(0),
            &[(0, eval.query.output()?), (1, &eval.colors), (2, &eval.partials), (3, &eval.uniform)],
        )?;
        let groups = eval.n.div_ceil(EVAL_WG);
        {
            let (gx, gy) = dispatch_2d(groups);
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        gpu.queue.submit([encoder.finish()]);
        let partials = gpu.read_f32(&eval.partials, 0, groups as usize)?;
        let sse: f64 = partials.iter().map(|&p| p as f64).sum();
        Ok(Evaluation::from_mse(sse / (3.0 * eval.n as f64)))
    }

    fn model(&self) -> Result<Model> {
        let loaded = self.loaded()?;
        let mut model = loaded.model.clone();
        model.params = self.gpu.read_f32(&loaded.params, 0, model.params.len())?;
        Ok(model)
    }

    fn optimizer_state(&self) -> Result<AdamState> {
        let loaded = self.loaded()?;
        match &loaded.trainer {
            Some(t) => t.adam_state(),
            None => Ok(loaded.adam.clone()),
        }
    }

    fn set_optimizer_state(&mut self, state: &AdamState) -> Result<()> {
        let loaded = self.loaded_mut()?;
        let n = loaded.model.params.len();
        if state.m.len() != n || state.v.len() != n {
            return Err(Error::engine(
                NAME,
                format!("optimizer state has {} moments, the model has {n} parameters", state.m.len()),
            ));
        }
        match &mut loaded.trainer {
            Some(t) => t.set_adam_state(state),
            None => {
                loaded.adam = state.clone();
                Ok(())
            }
        }
    }
}

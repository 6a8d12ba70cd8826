//! The CPU engine: f32, parallel with rayon, vectorised by LLVM (AVX2+FMA picked at run time).
//!
//! A step splits the batch into chunks of [`CHUNK`] samples grouped in a fixed number of
//! *slices* (a function of the batch size only, so results do not depend on the thread count).
//! Each slice runs its chunks through the fused sample → encode → forward → loss → backward
//! pipeline ([`step::train_slice`]) and accumulates its own gradient; the slices' gradients are
//! summed in a fixed order, hash-table gradients are scattered level by level, and one fused
//! Adam pass updates the parameters. All buffers are allocated by [`Engine::load`]; a step
//! allocates nothing.

pub mod adam;
pub mod fourier;
pub mod hash_grid;
pub mod mlp;
pub mod simd;
pub mod sincos;
pub mod step;

pub use mlp::CHUNK;

use crate::data::Image;
use crate::engine::{Engine, InferOptions, Precision, Query, Strategy};
use crate::model::{EncodingSpec, ImageSize, Model, ParamLayout, grid_positions};
use crate::train::{AdamState, Evaluation, StepStats, TrainOptions};
use crate::{Error, Result};
use mlp::MlpPlan;
use rayon::prelude::*;
use step::{InferScratch, Slice, StepContext, Target};

const NAME: &str = "nfield-cpu";
/// At most this many slices per step (bounds memory and the reduction's cost).
const MAX_SLICES: usize = 32;
/// Per-slice gradient buffers may take at most this many bytes in all.
const SLICE_GRAD_BUDGET: usize = 512 << 20;

/// The CPU engine. See the module documentation.
pub struct CpuEngine {
    pool: Option<rayon::ThreadPool>,
    loaded: Option<Loaded>,
    output: Vec<f32>,
}

struct Loaded {
    model: Model,
    plan: MlpPlan,
    encoding: EncodingSpec,
    layout: ParamLayout,
    opts: TrainOptions,
    adam: AdamState,
    wt: Vec<f32>,
    target: Option<Target>,
    train: Option<TrainBuffers>,
}

struct TrainBuffers {
    slices: Vec<Slice>,
    chunks_per_slice: usize,
    n_chunks: usize,
    grad: Vec<f32>,
    /// Length of the gradient prefix the slices accumulate (MLP, plus B when trained).
    slice_grad_len: usize,
    batch_positions: Vec<f32>,
    batch_d_enc: Vec<f32>,
}

impl Default for CpuEngine {
    fn default() -> Self {
        CpuEngine::new()
    }
}

impl CpuEngine {
    /// An engine on rayon's global thread pool (all cores, or `RAYON_NUM_THREADS`).
    pub fn new() -> CpuEngine {
        CpuEngine { pool: None, loaded: None, output: Vec::new() }
    }

    /// An engine with its own pool of `threads` threads.
    pub fn with_threads(threads: usize) -> Result<CpuEngine> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::engine(NAME, format!("cannot start {threads} threads: {e}")))?;
        Ok(CpuEngine { pool: Some(pool), loaded: None, output: Vec::new() })
    }

    /// Threads the engine computes with.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or_else(rayon::current_num_threads, rayon::ThreadPool::current_num_threads)
    }

    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    fn loaded(&self) -> Result<&Loaded> {
        self.loaded.as_ref().ok_or_else(|| Error::engine(NAME, "no model loaded; call load() first"))
    }

    fn no_target() -> Error {
        Error::engine(NAME, "no target image loaded; training and evaluation need one")
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn build_target(model: &Model, image: &Image) -> Target {
    let c = model.coords;
    Target {
        width: image.width,
        height: image.height,
        xs: (0..image.width).map(|i| c.axis(i, image.width)).collect(),
        ys: (0..image.height).map(|j| c.axis(j, image.height)).collect(),
        colors: image.rgb.clone(),
    }
}

fn train_buffers(plan: &MlpPlan, layout: &ParamLayout, encoding: &EncodingSpec, batch: usize) -> Result<TrainBuffers> {
    let n_chunks = batch.div_ceil(CHUNK);
    let slice_grad_len = match encoding {
        EncodingSpec::Fourier { trainable: true, .. } => layout.total,
        _ => layout.encoding.start,
    };
    let by_memory = (SLICE_GRAD_BUDGET / (4 * slice_grad_len.max(1))).max(1);
    let n_slices = n_chunks.div_ceil(4).clamp(1, MAX_SLICES).min(by_memory);
    let chunks_per_slice = n_chunks.div_ceil(n_slices);
    let n_slices = n_chunks.div_ceil(chunks_per_slice);
    let hash = matches!(encoding, EncodingSpec::HashGrid(_));
    let in0 = plan.input_dim();
    if hash && (n_chunks * CHUNK).saturating_mul(in0) > 1 << 30 {
        return Err(Error::option(
            "batch",
            format!(
                "a batch of {batch} needs {} GiB of hash-grid gradients on the CPU; use a smaller batch",
                (n_chunks * CHUNK * in0 * 4) >> 30
            ),
        ));
    }
    Ok(TrainBuffers {
        slices: (0..n_slices).map(|_| Slice::new(plan, slice_grad_len)).collect(),
        chunks_per_slice,
        n_chunks,
        grad: vec![0.0; layout.total],
        slice_grad_len,
        // Other models need no batch-wide buffers; one float per slice keeps the per-slice
        // split uniform.
        batch_positions: vec![0.0; if hash { n_chunks * CHUNK * 2 } else { n_slices }],
        batch_d_enc: vec![0.0; if hash { n_chunks * CHUNK * in0 } else { n_slices }],
    })
}

impl Loaded {
    /// The gradient of step `adam.step` into `train.grad` (which must be zero in the hash-table
    /// part, as Adam leaves it); returns the batch loss.
    fn gradient(&mut self) -> Result<f32> {
        let target = self.target.as_ref().ok_or_else(CpuEngine::no_target)?;
        let bufs = self.train.as_mut().ok_or_else(CpuEngine::no_target)?;
        mlp::transpose_weights(&self.plan, &self.model.params, &mut self.wt);
        let batch = self.opts.batch as usize;
        let ctx = StepContext {
            plan: &self.plan,
            encoding: &self.encoding,
            params: &self.model.params,
            wt: &self.wt,
            encoding_offset: self.layout.encoding.start,
            encoding_trainable: self.layout.encoding_trainable,
            target,
            subset: self.opts.subset.as_deref(),
            seed: self.opts.seed,
            step: self.adam.step,
            batch,
        };
        let cps = bufs.chunks_per_slice;
        let hash = matches!(self.encoding, EncodingSpec::HashGrid(_));
        let in0 = self.plan.input_dim();
        // Hash grids hand each slice its part of the batch-wide buffers; other models have none.
        let pos_len = if hash { cps * CHUNK * 2 } else { 1 };
        let denc_len = if hash { cps * CHUNK * in0 } else { 1 };
        let n_chunks = bufs.n_chunks;
        let parts = bufs.batch_positions.par_chunks_mut(pos_len).zip(bufs.batch_d_enc.par_chunks_mut(denc_len));
        bufs.slices.par_iter_mut().zip(parts).enumerate().for_each(|(i, (slice, (pos, denc)))| {
            let first = i * cps;
            let chunks = cps.min(n_chunks - first);
            step::train_slice(&ctx, slice, first, chunks, pos, denc);
        });

        // Sum the slices' gradients in slice order (deterministic).
        let slices = &bufs.slices;
        bufs.grad[..bufs.slice_grad_len].par_chunks_mut(4096).enumerate().for_each(|(b, out)| {
            let (start, end) = (b * 4096, b * 4096 + out.len());
            out.copy_from_slice(&slices[0].grad[start..end]);
            for s in &slices[1..] {
                for (o, g) in out.iter_mut().zip(&s.grad[start..end]) {
                    *o += g;
                }
            }
        });
        if let EncodingSpec::HashGrid(h) = &self.encoding {
            let level_len = h.table_size as usize * h.features;
            let table_grad = &mut bufs.grad[self.layout.encoding.clone()];
            let (positions, d_enc) = (&bufs.batch_positions, &bufs.batch_d_enc);
            table_grad.par_chunks_mut(level_len).enumerate().for_each(|(l, g)| {
                hash_grid::scatter_level(h, l, positions, d_enc, batch, g);
            });
        }
        Ok((slices.iter().map(|s| s.loss).sum::<f64>() / (3.0 * batch as f64)) as f32)
    }

    /// One optimizer step; returns the batch loss.
    fn step(&mut self) -> Result<f32> {
        let loss = self.gradient()?;
        let t = self.adam.step + 1;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step: t,
                message: format!("the loss became {loss}; try a lower learning rate (--lr)"),
            });
        }
        let bufs = self.train.as_mut().ok_or_else(CpuEngine::no_target)?;
        let frozen = if self.layout.encoding_trainable { 0..0 } else { self.layout.encoding.clone() };
        adam::step(
            &self.opts.adam,
            t,
            &mut self.model.params,
            &mut bufs.grad,
            &mut self.adam.m,
            &mut self.adam.v,
            frozen,
        );
        self.adam.step = t;
        Ok(loss)
    }

    /// `Wᵀ` of the current parameters (inference needs it; a step refreshes its own copy).
    fn transposed_weights(&self) -> Vec<f32> {
        let mut wt = vec![0.0; self.plan.wt_len];
        mlp::transpose_weights(&self.plan, &self.model.params, &mut wt);
        wt
    }

    /// Mean squared error of the outputs clamped to [0, 1] over the target (or subset): every
    /// chunk in parallel, summed in chunk order (deterministic).
    fn evaluate(&self) -> Result<Evaluation> {
        let target = self.target.as_ref().ok_or_else(CpuEngine::no_target)?;
        let n = self.opts.subset.as_ref().map_or(target.len(), Vec::len);
        let wt = self.transposed_weights();
        let n_chunks = n.div_ceil(CHUNK);
        let subset = self.opts.subset.as_deref();
        let per_chunk: Vec<f64> = (0..n_chunks)
            .into_par_iter()
            .map_init(
                || (InferScratch::new(&self.plan), vec![0.0f32; 3 * CHUNK]),
                |(scratch, out), c| {
                    let start = c * CHUNK;
                    let valid = CHUNK.min(n - start);
                    let pixel = |s: usize| subset.map_or(start + s, |sub| sub[start + s] as usize);
                    let pos = scratch.positions_mut();
                    for s in 0..CHUNK {
                        let k = if s < valid { pixel(s) } else { pixel(0) };
                        pos[2 * s..2 * s + 2].copy_from_slice(&target.position(k));
                    }
                    step::infer_chunk(
                        &self.plan,
                        &self.encoding,
                        &self.model.params,
                        &wt,
                        self.layout.encoding.start,
                        scratch,
                        valid,
                        out,
                    );
                    (0..valid)
                        .map(|s| {
                            let k = pixel(s);
                            (0..3)
                                .map(|ch| {
                                    let y = out[3 * s + ch].clamp(0.0, 1.0) as f64;
                                    (y - target.colors[3 * k + ch] as f64).powi(2)
                                })
                                .sum::<f64>()
                        })
                        .sum::<f64>()
                },
            )
            .collect();
        Ok(Evaluation::from_mse(per_chunk.iter().sum::<f64>() / (3 * n) as f64))
    }
}

impl Engine for CpuEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn device(&self) -> String {
        format!("{} ({} threads, {})", cpu_name(), self.threads(), simd::describe())
    }

    fn load(&mut self, model: &Model, target: Option<&Image>, opts: &TrainOptions) -> Result<()> {
        model.spec.validate()?;
        model.check_params()?;
        opts.validate()?;
        let layout = model.layout();
        let plan = MlpPlan::new(&model.spec.mlp(), &layout);
        let encoding = model.spec.encoding();
        let target = target.map(|img| build_target(model, img));
        if let (Some(t), Some(sub)) = (&target, &opts.subset) {
            let n = t.len();
            if let Some(&bad) = sub.iter().find(|&&k| k as usize >= n) {
                return Err(Error::option("limit", format!("pixel index {bad} is outside the {n}-pixel target")));
            }
        }
        let train = match &target {
            Some(_) => Some(train_buffers(&plan, &layout, &encoding, opts.batch as usize)?),
            None => None,
        };
        let mut model = model.clone();
        if let Some(t) = &target {
            model.image = Some(ImageSize { width: t.width, height: t.height });
        }
        self.loaded = Some(Loaded {
            adam: AdamState::zeros(layout.total),
            wt: vec![0.0; plan.wt_len],
            model,
            plan,
            encoding,
            layout,
            opts: opts.clone(),
            target,
            train,
        });
        Ok(())
    }

    fn train(&mut self, steps: u32) -> Result<StepStats> {
        let pool = self.pool.take();
        let loaded = self.loaded.as_mut().ok_or_else(|| Error::engine(NAME, "no model loaded; call load() first"))?;
        let mut run = || -> Result<f32> {
            let mut loss = f32::NAN;
            for _ in 0..steps {
                loss = loaded.step()?;
            }
            Ok(loss)
        };
        let result = match &pool {
            Some(p) => p.install(run),
            None => run(),
        };
        self.pool = pool;
        let loss = result?;
        let loaded = self.loaded()?;
        Ok(StepStats { step: loaded.adam.step, loss, samples: steps as u64 * loaded.opts.batch as u64 })
    }

    fn infer(&mut self, query: &Query<'_>, opts: &InferOptions) -> Result<usize> {
        if !matches!(opts.strategy, Strategy::Auto | Strategy::Cooperative) {
            return Err(Error::engine(
                NAME,
                format!(
                    "strategy {:?} is not available on the CPU; use auto or cooperative (chunks of {CHUNK} samples)",
                    opts.strategy
                ),
            ));
        }
        if opts.precision != Precision::Fp32 {
            return Err(Error::engine(
                NAME,
                format!("precision {:?} is not available on the CPU; it computes in fp32", opts.precision),
            ));
        }
        let n = query.len();
        let mut output = std::mem::take(&mut self.output);
        output.resize(3 * n, 0.0);
        let loaded = self.loaded()?;
        let (plan, encoding, params, enc_off) =
            (&loaded.plan, &loaded.encoding, &loaded.model.params, loaded.layout.encoding.start);
        let wt = loaded.transposed_weights();
        let result = self.install(|| match *query {
            Query::Points(points) => {
                if points.len() % 2 != 0 {
                    return Err(Error::engine(NAME, format!("points must be (N, 2); got {} values", points.len())));
                }
                output.par_chunks_mut(3 * CHUNK).zip(points.par_chunks(2 * CHUNK)).for_each_init(
                    || InferScratch::new(plan),
                    |scratch, (out, pos)| {
                        let valid = pos.len() / 2;
                        let buf = scratch.positions_mut();
                        buf[..pos.len()].copy_from_slice(pos);
                        buf[pos.len()..].fill(0.0);
                        step::infer_chunk(plan, encoding, params, &wt, enc_off, scratch, valid, out);
                    },
                );
                Ok(())
            }
            Query::Grid { width, height, coords, view } => {
                let mut positions = vec![0.0f32; 2 * n];
                let mut inside = vec![false; n];
                grid_positions(coords, view, width, height, &mut positions, &mut inside);
                output
                    .par_chunks_mut(3 * CHUNK)
                    .zip(positions.par_chunks(2 * CHUNK))
                    .zip(inside.par_chunks(CHUNK))
                    .for_each_init(
                        || InferScratch::new(plan),
                        |scratch, ((out, pos), ins)| {
                            let valid = pos.len() / 2;
                            let buf = scratch.positions_mut();
                            buf[..pos.len()].copy_from_slice(pos);
                            buf[pos.len()..].fill(0.0);
                            step::infer_chunk(plan, encoding, params, &wt, enc_off, scratch, valid, out);
                            for (s, &is_in) in ins.iter().enumerate() {
                                if !is_in {
                                    out[3 * s..3 * s + 3].fill(0.0);
                                }
                            }
                        },
                    );
                Ok(())
            }
        });
        self.output = output;
        result.map(|()| n)
    }

    fn read_output(&mut self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.output.len() {
            return Err(Error::engine(
                NAME,
                format!("output buffer holds {} values, the last inference produced {}", out.len(), self.output.len()),
            ));
        }
        out.copy_from_slice(&self.output);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<Evaluation> {
        let loaded = self.loaded()?;
        self.install(|| loaded.evaluate())
    }

    fn model(&self) -> Result<Model> {
        Ok(self.loaded()?.model.clone())
    }

    fn optimizer_state(&self) -> Result<AdamState> {
        Ok(self.loaded()?.adam.clone())
    }

    fn set_optimizer_state(&mut self, state: &AdamState) -> Result<()> {
        let loaded = self.loaded.as_mut().ok_or_else(|| Error::engine(NAME, "no model loaded; call load() first"))?;
        let n = loaded.layout.total;
        if state.m.len() != n || state.v.len() != n {
            return Err(Error::engine(
                NAME,
                format!("optimizer state has {} moments, the model has {n} parameters", state.m.len()),
            ));
        }
        loaded.adam = state.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests;

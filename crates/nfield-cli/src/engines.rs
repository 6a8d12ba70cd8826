//! Run-time engine choice: one small enum over the engines this build has (candle's `Storage`
//! pattern), so the library never needs trait objects.

use anyhow::Result;
use clap::ValueEnum;
use nfield::cpu::CpuEngine;
use nfield::data::Image;
use nfield::train::{AdamState, Evaluation, StepStats, TrainOptions};
use nfield::{Engine, InferOptions, Model, Query};

/// `--engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineChoice {
    /// The fastest engine available on this machine (prints its choice).
    Auto,
    /// The CPU engine (always available).
    Cpu,
}

/// An engine picked at run time.
pub enum AnyEngine {
    /// The CPU engine.
    Cpu(CpuEngine),
}

impl AnyEngine {
    /// Picks an engine. `threads` sizes the CPU engine's pool (all cores when `None`). With
    /// `Auto`, a one-line notice on stderr says what was chosen unless `quiet`.
    pub fn select(choice: EngineChoice, threads: Option<usize>, quiet: bool) -> Result<AnyEngine> {
        let cpu = || -> Result<AnyEngine> {
            Ok(AnyEngine::Cpu(match threads {
                Some(n) => CpuEngine::with_threads(n)?,
                None => CpuEngine::new(),
            }))
        };
        let engine = match choice {
            EngineChoice::Cpu => cpu()?,
            EngineChoice::Auto => {
                let e = cpu()?;
                if !quiet {
                    eprintln!("engine: {} on {} (this build has no GPU engine)", e.name(), e.device());
                }
                e
            }
        };
        Ok(engine)
    }
}

macro_rules! delegate {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            AnyEngine::Cpu($e) => $body,
        }
    };
}

impl Engine for AnyEngine {
    fn name(&self) -> &str {
        delegate!(self, e => e.name())
    }
    fn device(&self) -> String {
        delegate!(self, e => e.device())
    }
    fn load(&mut self, model: &Model, target: Option<&Image>, opts: &TrainOptions) -> nfield::Result<()> {
        delegate!(self, e => e.load(model, target, opts))
    }
    fn train(&mut self, steps: u32) -> nfield::Result<StepStats> {
        delegate!(self, e => e.train(steps))
    }
    fn infer(&mut self, query: &Query<'_>, opts: &InferOptions) -> nfield::Result<usize> {
        delegate!(self, e => e.infer(query, opts))
    }
    fn read_output(&mut self, out: &mut [f32]) -> nfield::Result<()> {
        delegate!(self, e => e.read_output(out))
    }
    fn evaluate(&mut self) -> nfield::Result<Evaluation> {
        delegate!(self, e => e.evaluate())
    }
    fn model(&self) -> nfield::Result<Model> {
        delegate!(self, e => e.model())
    }
    fn optimizer_state(&self) -> nfield::Result<AdamState> {
        delegate!(self, e => e.optimizer_state())
    }
    fn set_optimizer_state(&mut self, state: &AdamState) -> nfield::Result<()> {
        delegate!(self, e => e.set_optimizer_state(state))
    }
}

/// Renders `model` (already loaded in `engine`) on a `width × height` grid of its own
/// convention, letterboxed to its training aspect when that differs, into an image.
pub fn render(
    engine: &mut AnyEngine,
    model: &Model,
    width: u32,
    height: u32,
    coords: nfield::model::Coords,
) -> Result<Image> {
    let view = match model.image {
        Some(i) => nfield::model::View::aspect_fit(i.width, i.height, width, height),
        None => nfield::model::View::FULL,
    };
    let n = engine.infer(&Query::Grid { width, height, coords, view }, &InferOptions::default())?;
    let mut rgb = vec![0.0f32; 3 * n];
    engine.read_output(&mut rgb)?;
    Ok(Image::new(width, height, rgb)?)
}

//! The live trainer of `nfield view IMAGE`: a background thread that owns the engine.
//!
//! The thread trains in chunks of `k` steps, `k` adapted so that a chunk takes about 30 ms,
//! and reads its control channel between chunks. It reports statistics over a channel and
//! hands parameter snapshots to the UI through a one-slot mailbox: a snapshot is read back
//! from the engine at most every [`SNAPSHOT_INTERVAL`], and only once the UI has taken the
//! previous one, so a large hash table never crosses the bus once per frame. The UI only ever
//! `try_recv`s: it never waits on a training step.

use crate::engines::{self, AnyEngine, EngineChoice, PrecisionChoice, Request, StrategyChoice};
use anyhow::{Context, Result};
use nfield::Engine;
use nfield::data::Image;
use nfield::format::{self, ModelFile};
use nfield::model::{ImageSize, Model, ModelSpec};
use nfield::train::TrainOptions;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shortest time between two parameter snapshots.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(100);
/// The time a chunk of steps aims for.
const CHUNK_TARGET: Duration = Duration::from_millis(30);

/// A model to train and how.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The architecture.
    pub spec: ModelSpec,
    /// The recipe.
    pub opts: TrainOptions,
    /// Initialisation seed.
    pub seed: u64,
}

/// What the UI asks of the trainer.
#[derive(Debug)]
pub enum Control {
    /// Train (true) or pause (false).
    Run(bool),
    /// A fresh model (paused).
    Reset(Setup),
    /// Write the current model (JSON with embedded samples, or safetensors by extension).
    SaveModel(PathBuf),
    /// Render the current model at the image's size and write a PNG.
    SavePng(PathBuf),
    /// End the thread.
    Quit,
}

/// What the trainer tells the UI.
#[derive(Clone, Debug)]
pub enum Report {
    /// The engine in use, in words.
    Engine(String),
    /// Progress after a chunk.
    Stats {
        /// Steps taken since the last reset.
        step: u64,
        /// Last batch loss (MSE).
        loss: f32,
        /// Full-image PSNR, when evaluated after this chunk.
        psnr_db: Option<f64>,
        /// Steps per second over the last chunk.
        steps_per_s: f64,
    },
    /// A file was written.
    Saved(PathBuf),
    /// Something failed (the thread keeps going when it can).
    Error(String),
}

/// The UI's handle on the trainer thread.
pub struct Trainer {
    control: Sender<Control>,
    reports: Receiver<Report>,
    mailbox: Arc<Mutex<Option<Model>>>,
    thread: Option<JoinHandle<()>>,
}

impl Trainer {
    /// Starts the thread: picks the engine (`choice`, as `nfield train --engine`) and loads `setup`.
    pub fn spawn(image: Arc<Image>, setup: Setup, choice: EngineChoice, start: bool) -> Result<Trainer> {
        let (control, control_rx) = mpsc::channel();
        let (report_tx, reports) = mpsc::channel();
        let mailbox = Arc::new(Mutex::new(None));
        let slot = mailbox.clone();
        let thread = std::thread::Builder::new()
            .name("nfield-trainer".into())
            .spawn(move || {
                let tx = report_tx.clone();
                if let Err(e) = worker(image, setup, choice, start, control_rx, report_tx, slot) {
                    let _ = tx.send(Report::Error(format!("trainer stopped: {e:#}")));
                }
            })
            .context("starting the trainer thread")?;
        Ok(Trainer { control, reports, mailbox, thread: Some(thread) })
    }

    /// Sends a command (ignored once the thread has ended).
    pub fn send(&self, c: Control) {
        let _ = self.control.send(c);
    }

    /// The reports that arrived since the last call.
    pub fn reports(&self) -> Vec<Report> {
        self.reports.try_iter().collect()
    }

    /// The newest parameter snapshot, if one is waiting (taking it frees the slot).
    pub fn take_snapshot(&self) -> Option<Model> {
        self.mailbox.lock().ok().and_then(|mut m| m.take())
    }

    /// Asks the thread to finish what it was told (saves included) and waits for it.
    pub fn shutdown(&mut self) {
        self.send(Control::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Trainer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn fresh_model(setup: &Setup, image: &Image) -> Result<Model> {
    let mut model = Model::new(setup.spec.clone(), setup.seed).context("building the model")?;
    model.image = Some(ImageSize { width: image.width, height: image.height });
    Ok(model)
}

fn worker(
    image: Arc<Image>,
    setup: Setup,
    choice: EngineChoice,
    start: bool,
    control: Receiver<Control>,
    report: Sender<Report>,
    mailbox: Arc<Mutex<Option<Model>>>,
) -> Result<()> {
    // The engine for a model (a new architecture may need another: CUDA trains fewer models),
    // announced to the UI. Each engine trains in its default precision (CUDA fp16, wgpu fp32).
    let select = |spec: &ModelSpec, quiet: bool| -> Result<AnyEngine> {
        let engine = AnyEngine::select(Request { choice, threads: None, precision: None, train: Some(spec), quiet })?;
        let _ = report.send(Report::Engine(format!("{} on {}", engine.name(), engine.device())));
        Ok(engine)
    };
    let mut engine = select(&setup.spec, false)?;
    let publish = |model: Model| {
        if let Ok(mut slot) = mailbox.lock() {
            *slot = Some(model);
        }
    };
    let load = |engine: &mut AnyEngine, setup: &Setup| -> Result<Model> {
        let model = fresh_model(setup, &image)?;
        engine.load(&model, Some(&image), &setup.opts).context("loading the model into the engine")?;
        Ok(model)
    };
    publish(load(&mut engine, &setup)?);

    let mut running = start;
    let mut step = 0u64;
    let mut chunk = 1u32;
    let mut last_snapshot = Instant::now();
    let mut last_eval = Instant::now();
    let mut eval_cost = Duration::ZERO;
    loop {
        // Between chunks: every pending command (blocking while paused).
        loop {
            let msg = if running {
                match control.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ok(()),
                }
            } else {
                match control.recv() {
                    Ok(m) => m,
                    Err(_) => return Ok(()),
                }
            };
            match msg {
                Control::Run(r) => {
                    if running && !r {
                        // Paused: show exactly the parameters training stopped at.
                        publish(engine.model()?);
                    }
                    running = r;
                }
                Control::Reset(s) => {
                    engine = select(&s.spec, true)?;
                    match load(&mut engine, &s) {
                        Ok(m) => publish(m),
                        Err(e) => {
                            let _ = report.send(Report::Error(format!("{e:#}")));
                        }
                    }
                    running = false;
                    step = 0;
                    chunk = 1;
                }
                Control::SaveModel(path) => {
                    let r = save_model(&mut engine, &image, &path);
                    let _ = report.send(match r {
                        Ok(()) => Report::Saved(path),
                        Err(e) => Report::Error(format!("{e:#}")),
                    });
                }
                Control::SavePng(path) => {
                    let r = save_png(&mut engine, &image, &path);
                    let _ = report.send(match r {
                        Ok(()) => Report::Saved(path),
                        Err(e) => Report::Error(format!("{e:#}")),
                    });
                }
                Control::Quit => return Ok(()),
            }
        }
        if !running {
            continue;
        }
        let t = Instant::now();
        let stats = engine.train(chunk).with_context(|| format!("training step {}", step + 1))?;
        let dt = t.elapsed();
        step += chunk as u64;
        let steps_per_s = chunk as f64 / dt.as_secs_f64().max(1e-9);
        let per_step = dt.as_secs_f64() / chunk as f64;
        chunk = ((CHUNK_TARGET.as_secs_f64() / per_step.max(1e-9)) as u32).clamp(1, 1000);
        // Full-image PSNR: at most ~10% of the time, and at least every 2 s.
        let psnr_db = if last_eval.elapsed() >= (eval_cost * 10).max(Duration::from_millis(500)) {
            let te = Instant::now();
            let e = engine.evaluate()?;
            eval_cost = te.elapsed();
            last_eval = Instant::now();
            Some(e.psnr_db)
        } else {
            None
        };
        let _ = report.send(Report::Stats { step, loss: stats.loss, psnr_db, steps_per_s });
        let slot_free = mailbox.lock().map(|m| m.is_none()).unwrap_or(false);
        if slot_free && last_snapshot.elapsed() >= SNAPSHOT_INTERVAL {
            publish(engine.model()?);
            last_snapshot = Instant::now();
        }
    }
}

fn save_model(engine: &mut AnyEngine, image: &Image, path: &std::path::Path) -> Result<()> {
    let mut model = engine.model()?;
    model.image = Some(ImageSize { width: image.width, height: image.height });
    let samples = format::embed_samples(model.coords, image, 256, 1337);
    format::write_model(path, &ModelFile { model, samples: Some(samples) })
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn save_png(engine: &mut AnyEngine, image: &Image, path: &std::path::Path) -> Result<()> {
    let model = engine.model()?;
    let opts = engines::infer_options(engine, StrategyChoice::Auto, PrecisionChoice::Fp32);
    let img = engines::render(engine, &model, image.width, image.height, model.coords, &opts)?;
    img.save_png(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

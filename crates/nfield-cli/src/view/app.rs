//! The viewer's UI: one [`Viewer`] drawn by the window and by the headless mode alike.
//!
//! Layout: a control panel on the left (pickers, hyperparameters, buttons, statistics, the
//! loss / PSNR plot) and the field in the centre (beside the ground truth when training).
//! Widgets that scripts click are recorded by name with their rectangle every frame.

use super::field::{FieldView, zoomed_view};
use super::script::{Outcome, Script};
use super::training::{Control, Report, Setup, Trainer};
use super::{FieldStrategy, Gfx, Source, ViewOptions};
use crate::arch::{ModelArgs, ModelChoice};
use anyhow::{Context, Result};
use nfield::data::Image;
use nfield::format;
use nfield::model::Model;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

mod panel;

/// Frames over which the frame time is averaged.
const FPS_WINDOW: usize = 60;

/// The model files of `nfield view MODEL...`.
struct Models {
    paths: Vec<PathBuf>,
    models: Vec<Model>,
    current: usize,
}

/// Editable training settings (applied on Reset).
pub(super) struct Settings {
    pub(super) arch: ModelArgs,
    pub(super) lr: f32,
    pub(super) batch: u32,
    pub(super) width: usize,
    pub(super) layers: usize,
}

/// Live training state of `nfield view IMAGE`.
pub(super) struct Training {
    trainer: Trainer,
    image: Arc<Image>,
    ground_truth: Option<egui::TextureHandle>,
    pub(super) settings: Settings,
    pub(super) running: bool,
    pub(super) step: u64,
    pub(super) loss: Vec<[f64; 2]>,
    pub(super) psnr: Vec<[f64; 2]>,
    pub(super) steps_per_s: f64,
    pub(super) engine: String,
    seed: u64,
    on_gpu: bool,
}

/// The whole UI state.
pub struct Viewer {
    models: Option<Models>,
    pub(super) training: Option<Training>,
    field: Option<FieldView>,
    pub(super) strategy: FieldStrategy,
    zoom: f64,
    center: (f64, f64),
    frame_times: VecDeque<f64>,
    last_frame: Option<Instant>,
    pub(super) field_ms: f64,
    pub(super) status: String,
    /// Named widget rectangles of the last frame (points), for scripts.
    pub widgets: HashMap<String, egui::Rect>,
    /// Where the field was painted in the last frame, in physical pixels: x, y, width, height.
    pub field_rect_px: Option<[u32; 4]>,
    /// Frames drawn so far.
    pub frames: u64,
    script: Option<Script>,
    /// Set when the script (or a window close) asks to end.
    pub quit: bool,
    save_model: PathBuf,
    save_png: PathBuf,
    /// Errors that must fail the run (a script error, a failed save).
    pub errors: Vec<String>,
    /// Field render time (CPU side, ms) of each frame, for `--bench`.
    pub field_times: Vec<f64>,
    /// Wait for the GPU after each field render, so [`Viewer::field_times`] is the device time.
    pub sync_field: bool,
}

fn load_models(paths: &[PathBuf]) -> Result<Vec<Model>> {
    paths.iter().map(|p| Ok(format::read_model(p).with_context(|| format!("reading {}", p.display()))?.model)).collect()
}

impl Viewer {
    /// Loads the models or the image, and starts the trainer.
    pub fn new(opts: &mut ViewOptions) -> Result<Viewer> {
        let (models, training) = match &opts.source {
            Source::Models(paths) => {
                (Some(Models { paths: paths.clone(), models: load_models(paths)?, current: 0 }), None)
            }
            Source::Image(path) => {
                let image = Arc::new(
                    Image::load(path, Some(opts.max_dim)).with_context(|| format!("loading {}", path.display()))?,
                );
                let on_gpu = crate::engines::prefers_cuda(opts.engine);
                let spec = opts.arch.spec(on_gpu);
                let defaults = crate::commands::train::default_options(spec.kind(), on_gpu, opts.seed);
                let settings = Settings {
                    lr: opts.lr.unwrap_or(defaults.adam.lr),
                    batch: opts.batch.unwrap_or(defaults.batch),
                    width: spec.mlp().layers.first().map_or(64, |l| l.outputs),
                    layers: opts.arch.layers.unwrap_or(default_layers(opts.arch.model)),
                    arch: opts.arch.clone(),
                };
                let setup = setup(&settings, on_gpu, opts.seed);
                let trainer = Trainer::spawn(image.clone(), setup, opts.engine, opts.start)?;
                let training = Training {
                    trainer,
                    image,
                    ground_truth: None,
                    settings,
                    running: opts.start,
                    step: 0,
                    loss: Vec::new(),
                    psnr: Vec::new(),
                    steps_per_s: 0.0,
                    engine: "starting…".into(),
                    seed: opts.seed,
                    on_gpu,
                };
                (None, Some(training))
            }
        };
        Ok(Viewer {
            models,
            training,
            field: None,
            strategy: opts.strategy,
            zoom: 1.0,
            center: (0.5, 0.5),
            frame_times: VecDeque::new(),
            last_frame: None,
            field_ms: 0.0,
            status: String::new(),
            widgets: HashMap::new(),
            field_rect_px: None,
            frames: 0,
            script: opts.script.take(),
            quit: false,
            save_model: opts.save_model.clone(),
            save_png: opts.save_png.clone(),
            errors: Vec::new(),
            field_times: Vec::new(),
            sync_field: false,
        })
    }

    /// Feeds scripted input into this frame's raw input (eframe's `raw_input_hook`).
    pub fn input_hook(&mut self, raw: &mut egui::RawInput) {
        let Some(script) = &mut self.script else { return };
        if !self.errors.is_empty() {
            // A scripted run ends at its first error (the trainer's included), which fails it,
            // rather than waiting forever for steps that will not come.
            self.quit = true;
            return;
        }
        let step = self.training.as_ref().map_or(0, |t| t.step);
        match script.advance(self.frames, step, &self.widgets, &mut raw.events) {
            Ok(Outcome::Continue) => {}
            Ok(Outcome::Quit) => self.quit = true,
            Err(e) => {
                self.errors.push(format!("{e:#}"));
                self.quit = true;
            }
        }
    }

    /// Whether a script is attached and has run to its end.
    pub fn script_finished(&self) -> bool {
        self.script.as_ref().is_some_and(|s| s.finished())
    }

    /// Whether a script drives this run.
    pub fn scripted(&self) -> bool {
        self.script.is_some()
    }

    /// Stops the trainer after the commands already sent to it (saves included).
    pub fn shutdown(&mut self) {
        if let Some(t) = &mut self.training {
            t.trainer.shutdown();
            for r in t.trainer.reports() {
                if let Report::Error(e) = r {
                    self.errors.push(e);
                }
            }
        }
    }

    /// Draws one frame.
    pub fn ui(&mut self, ui: &mut egui::Ui, gfx: &Gfx<'_>) {
        let now = Instant::now();
        if let Some(last) = self.last_frame.replace(now) {
            self.frame_times.push_back((now - last).as_secs_f64());
            if self.frame_times.len() > FPS_WINDOW {
                self.frame_times.pop_front();
            }
        }
        if self.frames == 0 && self.script.is_some() {
            // A scripted press and release land in consecutive frames, which lavapipe can
            // take seconds to draw: longer than egui's 0.8 s limit of a click.
            ui.ctx().options_mut(|o| o.input_options.max_click_duration = f64::INFINITY);
        }
        self.widgets.clear();
        self.poll_trainer(gfx);
        self.keys(ui.ctx());
        egui::Panel::left("controls").resizable(false).exact_size(260.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| panel::controls(self, ui));
        });
        egui::CentralPanel::no_frame().show(ui, |ui| self.central(ui, gfx));
        self.frames += 1;
        ui.ctx().request_repaint();
    }

    /// Whether the field's device has f16 cooperative matrices (the cooperative-fp16 strategy).
    pub(super) fn has_fp16_matrices(&self) -> bool {
        self.field.as_ref().is_some_and(FieldView::has_fp16_matrices)
    }

    /// Mean frame time (s) over the last frames.
    pub(super) fn frame_time(&self) -> f64 {
        if self.frame_times.is_empty() {
            0.0
        } else {
            self.frame_times.iter().sum::<f64>() / self.frame_times.len() as f64
        }
    }

    fn keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (space, r, zero) = ctx
            .input(|i| (i.key_pressed(egui::Key::Space), i.key_pressed(egui::Key::R), i.key_pressed(egui::Key::Num0)));
        if space {
            self.toggle_run();
        }
        if r {
            self.reset();
        }
        if zero {
            self.reset_view();
        }
    }

    pub(super) fn reset_view(&mut self) {
        self.zoom = 1.0;
        self.center = (0.5, 0.5);
    }

    pub(super) fn toggle_run(&mut self) {
        if let Some(t) = &mut self.training {
            t.running = !t.running;
            t.trainer.send(Control::Run(t.running));
        }
    }

    pub(super) fn reset(&mut self) {
        if let Some(t) = &mut self.training {
            t.trainer.send(Control::Reset(setup(&t.settings, t.on_gpu, t.seed)));
            t.running = false;
            t.step = 0;
            t.loss.clear();
            t.psnr.clear();
            t.steps_per_s = 0.0;
        }
    }

    pub(super) fn save_model(&mut self) {
        let path = self.save_model.clone();
        match (&self.training, &self.models) {
            (Some(t), _) => {
                t.trainer.send(Control::SaveModel(path.clone()));
                self.status = format!("saving {}…", path.display());
            }
            (None, Some(m)) => {
                let file = format::ModelFile { model: m.models[m.current].clone(), samples: None };
                self.status = match format::write_model(&path, &file) {
                    Ok(()) => format!("wrote {}", path.display()),
                    Err(e) => {
                        self.errors.push(format!("writing {}: {e}", path.display()));
                        format!("error: {e}")
                    }
                };
            }
            (None, None) => {}
        }
    }

    pub(super) fn save_png(&mut self) {
        let path = self.save_png.clone();
        if let Some(t) = &self.training {
            t.trainer.send(Control::SavePng(path.clone()));
            self.status = format!("saving {}…", path.display());
            return;
        }
        let Some(field) = &mut self.field else { return };
        let (w, h) = field.model().image.map_or((512, 512), |i| (i.width, i.height));
        let result = field.snapshot_rgba(w, h).and_then(|px| super::save_rgba_png(&path, w, h, &px));
        self.status = match result {
            Ok(()) => format!("wrote {}", path.display()),
            Err(e) => {
                self.errors.push(format!("{e:#}"));
                format!("error: {e:#}")
            }
        };
    }

    /// A short name of the model shown, for benchmark records.
    pub fn bench_model_name(&self) -> String {
        match (&self.models, &self.training) {
            (Some(m), _) => m.paths[m.current].file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned()),
            (None, Some(t)) => t.settings.arch.model.name().into(),
            (None, None) => "none".into(),
        }
    }

    /// The model picker's entries (file names) and the current index.
    pub(super) fn model_names(&self) -> Option<(Vec<String>, usize)> {
        self.models.as_ref().map(|m| {
            let names = m
                .paths
                .iter()
                .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
                .collect();
            (names, m.current)
        })
    }

    pub(super) fn pick_model(&mut self, index: usize) {
        if let Some(m) = &mut self.models
            && index != m.current
            && index < m.models.len()
        {
            m.current = index;
            self.field = None;
            self.reset_view();
        }
    }

    pub(super) fn current_model(&self) -> Option<&Model> {
        self.field.as_ref().map(|f| f.model())
    }

    fn poll_trainer(&mut self, gfx: &Gfx<'_>) {
        let Some(t) = &mut self.training else { return };
        for r in t.trainer.reports() {
            match r {
                Report::Engine(e) => t.engine = e,
                Report::Stats { step, loss, psnr_db, steps_per_s } => {
                    t.step = step;
                    t.steps_per_s = steps_per_s;
                    t.loss.push([step as f64, loss as f64]);
                    if let Some(p) = psnr_db {
                        t.psnr.push([step as f64, p]);
                    }
                }
                Report::Saved(p) => self.status = format!("wrote {}", p.display()),
                Report::Error(e) => {
                    self.status = format!("error: {e}");
                    self.errors.push(e);
                }
            }
        }
        if let Some(model) = t.trainer.take_snapshot() {
            let same = self.field.as_ref().is_some_and(|f| f.model().spec == model.spec);
            let result = if same {
                self.field.as_mut().map_or(Ok(()), |f| f.set_params(&model))
            } else {
                FieldView::new(gfx, &model).map(|f| self.field = Some(f))
            };
            if let Err(e) = result {
                self.status = format!("error: {e:#}");
                self.errors.push(format!("{e:#}"));
            }
        }
    }

    fn central(&mut self, ui: &mut egui::Ui, gfx: &Gfx<'_>) {
        if self.field.is_none()
            && let Some(m) = &self.models
        {
            match FieldView::new(gfx, &m.models[m.current]) {
                Ok(f) => self.field = Some(f),
                Err(e) => {
                    self.status = format!("error: {e:#}");
                    self.errors.push(format!("{e:#}"));
                    self.quit = true;
                }
            }
        }
        let area = ui.max_rect();
        let field_area = match &mut self.training {
            Some(t) => {
                // Ground truth on the left half, the live reconstruction on the right.
                let (left, right) = area.split_left_right_at_fraction(0.5);
                let texture = t.ground_truth.get_or_insert_with(|| {
                    let rgb = t.image.to_rgb8();
                    let size = [t.image.width as usize, t.image.height as usize];
                    let img = egui::ColorImage::from_rgb(size, &rgb);
                    ui.ctx().load_texture("ground truth", img, egui::TextureOptions::LINEAR)
                });
                let fit = fit_rect(left, t.image.width as f32 / t.image.height as f32);
                ui.painter().rect_filled(left, 0.0, egui::Color32::BLACK);
                ui.painter().image(
                    texture.id(),
                    fit,
                    egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    egui::Color32::WHITE,
                );
                ui.painter().text(
                    left.left_top() + egui::vec2(8.0, 8.0),
                    egui::Align2::LEFT_TOP,
                    "ground truth",
                    egui::FontId::proportional(14.0),
                    egui::Color32::WHITE,
                );
                right
            }
            None => area,
        };
        self.draw_field(ui, gfx, field_area);
    }

    fn draw_field(&mut self, ui: &mut egui::Ui, gfx: &Gfx<'_>, area: egui::Rect) {
        let ppp = ui.ctx().pixels_per_point();
        // Snap to physical pixels so that the texture maps 1:1 onto the screen.
        let min = (area.min.to_vec2() * ppp).round();
        let max = (area.max.to_vec2() * ppp).round();
        let (w, h) = ((max.x - min.x).max(1.0) as u32, (max.y - min.y).max(1.0) as u32);
        let rect = egui::Rect::from_min_max((min / ppp).to_pos2(), (max / ppp).to_pos2());
        let response = ui.allocate_rect(rect, egui::Sense::click_and_drag());
        let Some(field) = &mut self.field else {
            ui.painter().rect_filled(rect, 0.0, egui::Color32::BLACK);
            return;
        };
        // Zoom with the wheel around the pointer; pan by dragging.
        let view = zoomed_view(field.model(), w, h, self.zoom, self.center);
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y + i.zoom_delta().ln() * 200.0);
            if scroll != 0.0
                && let Some(p) = response.hover_pos()
            {
                let (ux, uy) = unit_at(view, rect, p);
                let factor = (scroll as f64 * 0.004).exp();
                let zoom = (self.zoom * factor).clamp(0.05, 1.0e4);
                let k = self.zoom / zoom;
                self.center = (ux + (self.center.0 - ux) * k, uy + (self.center.1 - uy) * k);
                self.zoom = zoom;
            }
        }
        if response.dragged() {
            let d = response.drag_delta();
            self.center.0 -= d.x as f64 / rect.width() as f64 * (view.x1 - view.x0);
            self.center.1 -= d.y as f64 / rect.height() as f64 * (view.y1 - view.y0);
        }
        if response.double_clicked() {
            (self.zoom, self.center) = (1.0, (0.5, 0.5));
        }
        let view = zoomed_view(field.model(), w, h, self.zoom, self.center);
        let t = Instant::now();
        match field.render(gfx, w, h, view, self.strategy) {
            Ok(id) => {
                if self.sync_field {
                    let _ = gfx.device.poll(wgpu::PollType::wait_indefinitely());
                }
                self.field_ms = t.elapsed().as_secs_f64() * 1e3;
                self.field_times.push(self.field_ms);
                ui.painter().image(
                    id,
                    rect,
                    egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                    egui::Color32::WHITE,
                );
                self.field_rect_px = Some([min.x as u32, min.y as u32, w, h]);
            }
            Err(e) => {
                self.status = format!("error: {e:#}");
                self.errors.push(format!("{e:#}"));
                self.quit = true;
            }
        }
        self.widgets.insert("field".into(), rect);
    }
}

/// The unit-square coordinates under screen point `p` of a field drawn with `view` in `rect`.
fn unit_at(view: nfield::model::View, rect: egui::Rect, p: egui::Pos2) -> (f64, f64) {
    let fx = ((p.x - rect.min.x) / rect.width()) as f64;
    let fy = ((p.y - rect.min.y) / rect.height()) as f64;
    (view.x0 + fx * (view.x1 - view.x0), view.y0 + fy * (view.y1 - view.y0))
}

/// The largest rectangle of aspect `aspect` (width / height) centred in `area`.
fn fit_rect(area: egui::Rect, aspect: f32) -> egui::Rect {
    let (w, h) = (area.width(), area.height());
    let size = if w / h > aspect { egui::vec2(h * aspect, h) } else { egui::vec2(w, w / aspect) };
    egui::Rect::from_center_size(area.center(), size)
}

fn default_layers(model: ModelChoice) -> usize {
    match model {
        ModelChoice::Siren | ModelChoice::Fourier => 8,
        ModelChoice::HashGrid => 2,
    }
}

/// The trainer's setup for the current settings.
fn setup(s: &Settings, on_gpu: bool, seed: u64) -> Setup {
    let arch = ModelArgs { width: Some(s.width), layers: Some(s.layers), ..s.arch.clone() };
    let spec = arch.spec(on_gpu);
    let mut opts = crate::commands::train::default_options(spec.kind(), on_gpu, seed);
    opts.adam.lr = s.lr;
    opts.batch = s.batch;
    Setup { spec, opts, seed }
}

impl Settings {
    /// Switches the model kind, taking that kind's default width, depth, lr and batch.
    pub(super) fn set_model(&mut self, model: ModelChoice, on_gpu: bool) {
        self.arch.model = model;
        let spec = ModelArgs { width: None, layers: None, ..self.arch.clone() }.spec(on_gpu);
        let d = crate::commands::train::default_options(spec.kind(), on_gpu, 0);
        self.lr = d.adam.lr;
        self.batch = d.batch;
        self.width = spec.mlp().layers.first().map_or(64, |l| l.outputs);
        self.layers = default_layers(model);
    }
}

impl Training {
    /// Whether the engine is a GPU one (for the model defaults).
    pub(super) fn on_gpu(&self) -> bool {
        self.on_gpu
    }
}

//! The control panel: pickers, training settings and buttons, statistics and the plot.

use super::Viewer;
use crate::arch::ModelChoice;
use crate::view::FieldStrategy;
use egui_plot::{Legend, Line, Plot, PlotPoints};

/// Records a widget's rectangle under `name` for scripts, if it is visible (a click on a
/// widget scrolled out of view would go nowhere).
fn record(v: &mut Viewer, ui: &egui::Ui, name: &str, r: &egui::Response) {
    if ui.clip_rect().contains(r.rect.center()) {
        v.widgets.insert(name.into(), r.rect);
    }
}

/// A button of `width` points whose rectangle is recorded under `name`.
fn button_w(v: &mut Viewer, ui: &mut egui::Ui, name: &str, label: &str, width: f32) -> bool {
    let r = ui.add_sized([width, 24.0], egui::Button::new(label));
    record(v, ui, name, &r);
    r.clicked()
}

/// A full-width button recorded under `name`.
fn button(v: &mut Viewer, ui: &mut egui::Ui, name: &str, label: &str) -> bool {
    let w = ui.available_width();
    button_w(v, ui, name, label, w)
}

/// A selectable value recorded under `name`.
fn choice(v: &mut Viewer, ui: &mut egui::Ui, name: &str, selected: bool, label: &str) -> bool {
    let r = ui.selectable_label(selected, label);
    record(v, ui, name, &r);
    r.clicked()
}

/// The buttons that act, first so that they are visible in small windows: Start / Pause,
/// Reset, Save model, Save PNG.
fn actions(v: &mut Viewer, ui: &mut egui::Ui) {
    let half = (ui.available_width() - ui.spacing().item_spacing.x) / 2.0;
    if let Some(t) = &v.training {
        let (name, label) = if t.running { ("pause", "Pause") } else { ("start", "Start") };
        ui.horizontal(|ui| {
            if button_w(v, ui, name, label, half) {
                v.toggle_run();
            }
            if button_w(v, ui, "reset", "Reset", half) {
                v.reset();
            }
        });
        ui.horizontal(|ui| {
            if button_w(v, ui, "save-model", "Save model", half) {
                v.save_model();
            }
            if button_w(v, ui, "save-png", "Save PNG", half) {
                v.save_png();
            }
        });
    } else if button(v, ui, "save-png", "Save PNG") {
        v.save_png();
    }
    if !v.status.is_empty() {
        ui.small(v.status.clone());
    }
}

/// The whole panel.
pub(super) fn controls(v: &mut Viewer, ui: &mut egui::Ui) {
    ui.heading("nfield view");
    actions(v, ui);
    ui.separator();
    if let Some((names, current)) = v.model_names() {
        ui.label("Model");
        let mut picked = None;
        for (i, name) in names.iter().enumerate() {
            if choice(v, ui, &format!("model-{i}"), i == current, name) {
                picked = Some(i);
            }
        }
        if let Some(i) = picked {
            v.pick_model(i);
        }
    }
    if let Some(m) = v.current_model() {
        // egui's default fonts have no arrow.
        ui.small(format!("{}, {} parameters", m.spec.describe().replace('→', "->"), m.params.len()));
    }
    ui.separator();
    ui.label("Strategy");
    ui.horizontal(|ui| {
        for s in FieldStrategy::ALL {
            if s == FieldStrategy::CooperativeFp16 && !v.has_fp16_matrices() {
                continue; // no tensor cores through this adapter
            }
            if choice(v, ui, s.name(), v.strategy == s, s.name()) {
                v.strategy = s;
            }
        }
    });
    let ft = v.frame_time();
    // Without --bench the field's time is the CPU's (recording and submitting): the GPU's
    // work shows in the frame time.
    let what = if v.sync_field { "field (GPU waited)" } else { "field submit" };
    ui.label(format!(
        "frame {:.1} ms ({:.0} FPS); {what} {:.2} ms",
        ft * 1e3,
        if ft > 0.0 { 1.0 / ft } else { 0.0 },
        v.field_ms
    ));
    if let Some([_, _, w, h]) = v.field_rect_px {
        ui.small(format!("{w}×{h} px; scroll: zoom, drag: pan, 0: reset"));
    }
    if button(v, ui, "zoom-reset", "Reset zoom") {
        v.reset_view();
    }
    ui.separator();
    training_controls(v, ui);
}

fn training_controls(v: &mut Viewer, ui: &mut egui::Ui) {
    if v.training.is_none() {
        return;
    }
    ui.label("Training (model and settings apply on Reset)");
    let mut picked = None;
    let on_gpu = v.training.as_ref().is_some_and(|t| t.on_gpu());
    if let Some(t) = &v.training {
        let current = t.settings.arch.model;
        ui.horizontal(|ui| {
            for m in [ModelChoice::Siren, ModelChoice::Fourier, ModelChoice::HashGrid] {
                if choice(v, ui, m.name(), current == m, m.name()) {
                    picked = Some(m);
                }
            }
        });
    }
    let Some(t) = &mut v.training else { return };
    if let Some(m) = picked {
        t.settings.set_model(m, on_gpu);
    }
    let s = &mut t.settings;
    egui::Grid::new("hyper").num_columns(2).show(ui, |ui| {
        ui.label("lr");
        ui.add(egui::DragValue::new(&mut s.lr).speed(1e-4).range(1e-6..=1.0).max_decimals(5));
        ui.end_row();
        ui.label("batch");
        ui.add(egui::DragValue::new(&mut s.batch).speed(256).range(256..=(1 << 20)));
        ui.end_row();
        ui.label("width");
        ui.add(egui::DragValue::new(&mut s.width).speed(1).range(8..=256));
        ui.end_row();
        ui.label("layers");
        ui.add(egui::DragValue::new(&mut s.layers).speed(1).range(1..=16));
        ui.end_row();
    });
    ui.label(format!("engine: {}", t.engine));
    let last_psnr = t.psnr.last().map_or("–".to_string(), |p| format!("{:.2} dB", p[1]));
    let loss = t.loss.last().map_or(f64::NAN, |l| l[1]);
    ui.label(format!("step {}  ({:.1} steps/s)", t.step, t.steps_per_s));
    ui.label(format!("loss {loss:.5}  PSNR {last_psnr}"));
    let batch_psnr: Vec<[f64; 2]> =
        t.loss.iter().filter(|l| l[1] > 0.0).map(|l| [l[0], -10.0 * l[1].log10()]).collect();
    Plot::new("psnr")
        .height(160.0)
        .legend(Legend::default().position(egui_plot::Corner::RightBottom))
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new("batch PSNR (dB)", PlotPoints::from(batch_psnr)));
            p.line(Line::new("image PSNR (dB)", PlotPoints::from(t.psnr.clone())));
        });
    ui.separator();
}

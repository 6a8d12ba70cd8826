//! The window: eframe with the wgpu renderer (X11), the viewer's UI inside.
//!
//! `--frames N` / a script's `quit` end the run; with `--screenshot` (or `--field-png`) the
//! app first asks egui for a screenshot of the window (`ViewportCommand::Screenshot`) and
//! quits once it has saved it.

use super::app::Viewer;
use super::{Gfx, ViewOptions};
use anyhow::{Result, anyhow, bail};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

type Shot = Arc<Mutex<Option<Arc<egui::ColorImage>>>>;

struct WindowApp {
    viewer: Viewer,
    frames: Option<u64>,
    screenshot: Option<PathBuf>,
    field_png: Option<PathBuf>,
    requested: bool,
    shot: Shot,
    closing: bool,
    outcome: Arc<Mutex<Vec<String>>>,
}

impl eframe::App for WindowApp {
    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw: &mut egui::RawInput) {
        self.viewer.input_hook(raw);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let Some(rs) = frame.wgpu_render_state() else {
            self.fail("eframe started without its wgpu renderer".into(), ui.ctx());
            return;
        };
        let gfx = Gfx { device: &rs.device, queue: &rs.queue, renderer: &rs.renderer };
        self.viewer.ui(ui, &gfx);
        if self.closing {
            return;
        }
        let done = self.viewer.quit || self.frames.is_some_and(|n| self.viewer.frames >= n);
        if !done {
            return;
        }
        if self.screenshot.is_none() && self.field_png.is_none() {
            self.close(ui.ctx());
            return;
        }
        if !self.requested {
            self.requested = true;
            let slot = self.shot.clone();
            let ctx = ui.ctx().clone();
            ui.ctx().request_screenshot(move |image| {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(image);
                }
                ctx.request_repaint();
            });
            return;
        }
        let image = self.shot.lock().ok().and_then(|mut s| s.take());
        if let Some(image) = image {
            if let Err(e) = self.save_shot(&image) {
                self.viewer.errors.push(format!("{e:#}"));
            }
            self.close(ui.ctx());
        }
    }

    fn on_exit(&mut self) {
        self.viewer.shutdown();
        if let Ok(mut o) = self.outcome.lock() {
            o.append(&mut self.viewer.errors);
        }
    }
}

impl WindowApp {
    fn close(&mut self, ctx: &egui::Context) {
        self.closing = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn fail(&mut self, e: String, ctx: &egui::Context) {
        self.viewer.errors.push(e);
        self.close(ctx);
    }

    fn save_shot(&self, image: &egui::ColorImage) -> Result<()> {
        let [w, h] = image.size;
        let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
        if let Some(p) = &self.screenshot {
            super::save_rgba_png(p, w as u32, h as u32, &rgba)?;
        }
        if let Some(p) = &self.field_png {
            let [x, y, fw, fh] = self.viewer.field_rect_px.ok_or_else(|| anyhow!("no field was drawn"))?;
            let crop = crop_rgba(&rgba, w as u32, h as u32, [x, y, fw, fh])?;
            super::save_rgba_png(p, fw, fh, &crop)?;
        }
        Ok(())
    }
}

/// The `[x, y, width, height]` rectangle of an RGBA image `w` pixels wide.
pub fn crop_rgba(rgba: &[u8], w: u32, h: u32, [x, y, cw, ch]: [u32; 4]) -> Result<Vec<u8>> {
    if x + cw > w || y + ch > h {
        bail!("the field ({cw}×{ch} at {x},{y}) lies outside the {w}×{h} screenshot");
    }
    let mut out = Vec::with_capacity(cw as usize * ch as usize * 4);
    for row in y..y + ch {
        let start = (row as usize * w as usize + x as usize) * 4;
        out.extend_from_slice(&rgba[start..start + cw as usize * 4]);
    }
    Ok(out)
}

/// Opens the window and runs until it closes.
pub fn run(mut opts: ViewOptions) -> Result<u8> {
    let viewer = Viewer::new(&mut opts)?;
    let outcome = Arc::new(Mutex::new(Vec::new()));
    let app = WindowApp {
        viewer,
        frames: opts.frames,
        screenshot: opts.screenshot.clone(),
        field_png: opts.field_png.clone(),
        requested: false,
        shot: Arc::new(Mutex::new(None)),
        closing: false,
        outcome: outcome.clone(),
    };
    let (w, h) = opts.size;
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    setup.instance_descriptor.backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
    setup.device_descriptor = Arc::new(nfield_wgpu::Gpu::device_descriptor);
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("nfield view")
            // --size is in physical pixels; the window's size is in points.
            .with_inner_size([w as f32, h as f32])
            .with_resizable(true),
        renderer: eframe::Renderer::Wgpu,
        // Dithering adds ±0.5/255 of noise to every pixel: off, so the field reaches the
        // screen (and the screenshot) exactly as rendered.
        dithering: false,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: egui_wgpu::WgpuSetup::CreateNew(setup),
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native("nfield view", native, Box::new(move |_cc| Ok(Box::new(app))))
        .map_err(|e| anyhow!("the window failed: {e} (no display? try --headless)"))?;
    let errors = outcome.lock().map(|e| e.clone()).unwrap_or_default();
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(0)
}

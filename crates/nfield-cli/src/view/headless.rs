//! Headless mode: the same UI, rendered off-screen on a device opened without a window.
//!
//! Each frame runs egui with a synthetic [`egui::RawInput`] of `--size` (scale 1), tessellates,
//! and renders with `egui_wgpu::Renderer` into an `Rgba8Unorm` texture; the last frame is read
//! back for `--screenshot` / `--field-png`. `--bench` also waits for the GPU after every field
//! render and writes the times as a JSON record.

use super::app::Viewer;
use super::{Gfx, ViewOptions};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Frames rendered without --frames or --script.
const DEFAULT_FRAMES: u64 = 3;
/// Frames at the start of a benchmark that are not timed (pipeline compilation, first upload).
const BENCH_WARMUP: usize = 3;

/// Runs the viewer off-screen.
pub fn run(mut opts: ViewOptions) -> Result<u8> {
    let gpu = nfield_wgpu::Gpu::open()?;
    let (device, queue, info) = (gpu.device.clone(), gpu.queue.clone(), gpu.info.clone());
    let mut viewer = Viewer::new(&mut opts)?;
    viewer.sync_field = opts.bench.is_some();
    let frames = opts.frames.or(if viewer.scripted() { None } else { Some(DEFAULT_FRAMES) });
    let (w, h) = opts.size;
    let renderer = Arc::new(egui::mutex::RwLock::new(egui_wgpu::Renderer::new(
        &device,
        FORMAT,
        egui_wgpu::RendererOptions { dithering: false, ..Default::default() },
    )));
    let target = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("nfield view headless"),
        size: wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let target_view = target.create_view(&Default::default());
    let ctx = egui::Context::default();
    let start = std::time::Instant::now();
    let screen = egui_wgpu::ScreenDescriptor { size_in_pixels: [w, h], pixels_per_point: 1.0 };
    loop {
        let mut raw = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w as f32, h as f32))),
            time: Some(start.elapsed().as_secs_f64()),
            max_texture_side: Some(device.limits().max_texture_dimension_2d as usize),
            focused: true,
            ..Default::default()
        };
        viewer.input_hook(&mut raw);
        let gfx = Gfx { device: &device, queue: &queue, renderer: &renderer };
        let mut output = ctx.run_ui(raw, |ui| viewer.ui(ui, &gfx));
        let jobs = ctx.tessellate(std::mem::take(&mut output.shapes), output.pixels_per_point);
        {
            let mut r = renderer.write();
            for (id, deltas) in output.textures_delta.set.drain() {
                for delta in &deltas {
                    r.update_texture(&device, &queue, id, delta);
                }
            }
            let mut encoder = device.create_command_encoder(&Default::default());
            let extra = r.update_buffers(&device, &queue, &mut encoder, &jobs, &screen);
            {
                let pass = nfield_wgpu::clear_pass(&mut encoder, "egui", &target_view);
                r.render(&mut pass.forget_lifetime(), &jobs, &screen);
            }
            queue.submit(extra.into_iter().chain([encoder.finish()]));
            for id in output.textures_delta.free.drain() {
                r.free_texture(&id);
            }
        }
        let done = viewer.quit || frames.is_some_and(|n| viewer.frames >= n);
        if done {
            break;
        }
        if viewer.scripted() && viewer.script_finished() && frames.is_none() {
            break;
        }
        // Training runs on its own thread; give it the CPU when frames are free anyway.
        if viewer.scripted() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    viewer.shutdown();
    let outcome: Result<()> = (|| {
        if opts.screenshot.is_some() || opts.field_png.is_some() {
            let rgba = gpu.read_texture(&target)?;
            if let Some(p) = &opts.screenshot {
                super::save_rgba_png(p, w, h, &rgba)?;
            }
            if let Some(p) = &opts.field_png {
                let rect = viewer.field_rect_px.context("no field was drawn")?;
                let crop = super::window::crop_rgba(&rgba, w, h, rect)?;
                super::save_rgba_png(p, rect[2], rect[3], &crop)?;
            }
        }
        if let Some(p) = &opts.bench {
            let rect = viewer.field_rect_px.context("no field was drawn")?;
            let record = bench_record(&viewer, &opts, &info, rect)?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?;
            writeln!(f, "{record}").with_context(|| format!("writing {}", p.display()))?;
            eprintln!("{record}");
        }
        Ok(())
    })();
    outcome?;
    if !viewer.errors.is_empty() {
        bail!("{}", viewer.errors.join("; "));
    }
    Ok(0)
}

fn bench_record(
    viewer: &Viewer,
    opts: &ViewOptions,
    info: &wgpu::AdapterInfo,
    [_, _, fw, fh]: [u32; 4],
) -> Result<serde_json::Value> {
    let times: Vec<f64> = viewer.field_times.iter().skip(BENCH_WARMUP).copied().collect();
    if times.is_empty() {
        bail!("--bench needs more than {BENCH_WARMUP} frames (--frames)");
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = sorted[sorted.len() / 2];
    let model = viewer.bench_model_name();
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(json!({
        "name": format!("view/{model}/{}/{}x{}", opts.strategy.name(), opts.size.0, opts.size.1),
        "engine": "nfield-wgpu",
        "device": format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type),
        "commit": crate::commands::bench::commit(),
        "date": crate::commands::bench::today(),
        "command": opts.command,
        "model": model,
        "strategy": opts.strategy.name(),
        "frame_width": opts.size.0,
        "frame_height": opts.size.1,
        // the field's rectangle, letterbox bars included (no MLP runs there per pixel)
        "width": fw,
        "height": fh,
        "frames": times.len(),
        "warmup_frames": BENCH_WARMUP,
        "mean_ms": round(mean),
        "median_ms": round(median),
        "min_ms": round(sorted[0]),
        "max_ms": round(sorted[sorted.len() - 1]),
        "fps": round(1e3 / mean),
        "ms_per_image": round(median),
        "frame_ms": times.iter().map(|&t| round(t)).collect::<Vec<_>>(),
    }))
}

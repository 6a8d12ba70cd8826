//! The field, drawn every frame into a texture that egui shows.
//!
//! One `Rgba8Unorm` texture (egui's format for native textures) at the size of the field's
//! rectangle in physical pixels. The fragment strategy draws straight into it with
//! [`FieldRenderer::draw`]; the compute strategies fill [`FieldRenderer::render_buffer`]'s f32
//! buffer and `blit.wgsl` copies it over. Values are written as they come out of the model
//! (sRGB-encoded colours in [0, 1], as the training image), which is what egui expects of a
//! non-sRGB texture.

use super::{FieldStrategy, Gfx};
use anyhow::{Context, Result};
use nfield::model::{Model, View};
use nfield_wgpu::FieldRenderer;

const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    id: egui::TextureId,
}

/// One model on the UI's device, and the texture it was last drawn into.
pub struct FieldView {
    renderer: FieldRenderer,
    model: Model,
    target: Option<Target>,
    blit: wgpu::RenderPipeline,
    frame: wgpu::Buffer,
}

impl FieldView {
    /// Whether the device runs [`FieldStrategy::CooperativeFp16`].
    pub fn has_fp16_matrices(&self) -> bool {
        self.renderer.gpu().cooperative_matrix_f16
    }

    /// A view of `model` on the UI's device.
    pub fn new(gfx: &Gfx<'_>, model: &Model) -> Result<FieldView> {
        let renderer = FieldRenderer::new(gfx.device.clone(), gfx.queue.clone(), model, FORMAT)
            .with_context(|| format!("building the renderer for {}", model.spec.describe()))?;
        let module = gfx.device.create_shader_module(wgpu::include_wgsl!("blit.wgsl"));
        let blit = nfield_wgpu::fullscreen_pipeline(gfx.device, "nfield view blit", &module, "fs_blit", FORMAT);
        let frame = gfx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("nfield view blit frame"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(FieldView { renderer, model: model.clone(), target: None, blit, frame })
    }

    /// The model shown (its parameters as of the last [`FieldView::set_params`]).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// New parameters for the same architecture (a training snapshot).
    pub fn set_params(&mut self, model: &Model) -> Result<()> {
        self.renderer.set_params(&model.params).context("updating the field's parameters")?;
        self.model.params.clone_from(&model.params);
        Ok(())
    }

    /// Draws the field's `view` at `width × height` with `strategy` into the texture egui shows
    /// (re-registered when the size changes) and submits the work; returns its egui id.
    pub fn render(
        &mut self,
        gfx: &Gfx<'_>,
        width: u32,
        height: u32,
        view: View,
        strategy: FieldStrategy,
    ) -> Result<egui::TextureId> {
        self.ensure_target(gfx, width, height);
        let target = self.target.as_ref().context("the field texture is missing")?;
        self.renderer.set_view(Some(view));
        match strategy.infer_options() {
            None => {
                let mut encoder = gfx.device.create_command_encoder(&Default::default());
                self.renderer.draw(&mut encoder, &target.view, width, height).context("drawing the field")?;
                gfx.queue.submit([encoder.finish()]);
            }
            Some(opts) => {
                let rgb = self.renderer.render_buffer_with(width, height, &opts).context("rendering the field")?;
                gfx.queue.write_buffer(&self.frame, 0, bytemuck::cast_slice(&[width, height, 0, 0]));
                let bind = gfx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("nfield view blit"),
                    layout: &self.blit.get_bind_group_layout(0),
                    entries: &[
                        wgpu::BindGroupEntry { binding: 0, resource: rgb.as_entire_binding() },
                        wgpu::BindGroupEntry { binding: 1, resource: self.frame.as_entire_binding() },
                    ],
                });
                let mut encoder = gfx.device.create_command_encoder(&Default::default());
                {
                    let mut pass = nfield_wgpu::clear_pass(&mut encoder, "nfield view blit", &target.view);
                    pass.set_pipeline(&self.blit);
                    pass.set_bind_group(0, &bind, &[]);
                    pass.draw(0..3, 0..1);
                }
                gfx.queue.submit([encoder.finish()]);
            }
        }
        Ok(target.id)
    }

    fn ensure_target(&mut self, gfx: &Gfx<'_>, width: u32, height: u32) {
        if self.target.as_ref().is_some_and(|t| t.texture.width() == width && t.texture.height() == height) {
            return;
        }
        let texture = gfx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("nfield view field"),
            size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        // Nearest: the texture is drawn 1:1 on physical pixels, so nothing is filtered.
        let mut renderer = gfx.renderer.write();
        let id = match self.target.take() {
            Some(old) => {
                renderer.update_egui_texture_from_wgpu_texture(gfx.device, &view, wgpu::FilterMode::Nearest, old.id);
                old.id
            }
            None => renderer.register_native_texture(gfx.device, &view, wgpu::FilterMode::Nearest),
        };
        self.target = Some(Target { texture, view, id });
    }

    /// Renders the field at `width × height` with the default view (the training image,
    /// aspect-fit) off to the side and returns 8-bit RGBA pixels: "Save PNG" of a model.
    pub fn snapshot_rgba(&mut self, width: u32, height: u32) -> Result<Vec<u8>> {
        self.renderer.set_view(None);
        self.renderer.render_texture(width, height).context("rendering the field for the PNG")?;
        self.renderer.read_texture().context("reading the field back")
    }
}

/// The view shown: the seed's aspect fit of the training image into `width × height`, zoomed
/// by `zoom` around `center` (unit coordinates of the image; (0.5, 0.5) is its middle).
pub fn zoomed_view(model: &Model, width: u32, height: u32, zoom: f64, center: (f64, f64)) -> View {
    let base = match model.image {
        Some(i) => View::aspect_fit(i.width, i.height, width, height),
        None => View::FULL,
    };
    if zoom == 1.0 && center == (0.5, 0.5) {
        return base;
    }
    let hx = 0.5 * (base.x1 - base.x0) / zoom;
    let hy = 0.5 * (base.y1 - base.y0) / zoom;
    View { x0: center.0 - hx, x1: center.0 + hx, y0: center.1 - hy, y1: center.1 + hy }
}

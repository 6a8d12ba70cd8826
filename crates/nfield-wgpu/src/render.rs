//! The embedding API: render a neural field with a wgpu device you already own, into a
//! texture (the render-pass path, `shaders/render_fragment.wgsl`) or a buffer (the compute
//! strategies), at any resolution, every frame.
//!
//! ```no_run
//! # fn demo(device: wgpu::Device, queue: wgpu::Queue, model: nfield::Model) -> nfield::Result<()> {
//! let mut field = nfield_wgpu::FieldRenderer::new(device, queue, &model, wgpu::TextureFormat::Rgba8Unorm)?;
//! let texture = field.render_texture(1920, 1080)?; // sample it, blit it, or draw() into your own pass
//! # let _ = texture; Ok(()) }
//! ```

use crate::infer::{self, InferKernels, PreparedQuery, QueryBuffers};
use crate::{Gpu, NAME, codegen};
use nfield::model::{Coords, Model, View};
use nfield::{Error, InferOptions, Precision, Query, Result, Strategy};
use std::sync::Arc;

/// Renders one model with a wgpu device: see the module documentation. The parameters live in
/// a GPU buffer ([`FieldRenderer::params_buffer`]) that [`FieldRenderer::set_params`] rewrites
/// (live training), and the part of the field shown is [`FieldRenderer::set_view`]'s (zoom and
/// pan; by default the training image, letterboxed to the output's aspect).
pub struct FieldRenderer {
    gpu: Arc<Gpu>,
    model: Model,
    params: wgpu::Buffer,
    format: wgpu::TextureFormat,
    pipeline: wgpu::RenderPipeline,
    frame: wgpu::Buffer,
    axes: Option<wgpu::Buffer>,
    view: Option<View>,
    texture: Option<wgpu::Texture>,
    kernels: InferKernels,
    query: QueryBuffers,
    /// Bumped by [`FieldRenderer::set_params`], so that the baked pipeline is rebuilt.
    params_version: u64,
}

impl FieldRenderer {
    /// A renderer on an application's device and queue, drawing into textures of `format`.
    pub fn new(
        device: wgpu::Device,
        queue: wgpu::Queue,
        model: &Model,
        format: wgpu::TextureFormat,
    ) -> Result<FieldRenderer> {
        FieldRenderer::on(Gpu::from_device(device, queue), model, format)
    }

    /// A renderer on a [`Gpu`] (for example one opened by [`Gpu::open`]).
    pub fn on(gpu: Arc<Gpu>, model: &Model, format: wgpu::TextureFormat) -> Result<FieldRenderer> {
        model.spec.validate()?;
        model.check_params()?;
        let params = gpu.storage_init("nfield params", &model.params)?;
        FieldRenderer::sharing(gpu, model, params, format)
    }

    /// A renderer reading an existing parameter buffer (the engine's).
    pub(crate) fn sharing(
        gpu: Arc<Gpu>,
        model: &Model,
        params: wgpu::Buffer,
        format: wgpu::TextureFormat,
    ) -> Result<FieldRenderer> {
        infer::per_pixel_supported(&gpu, &model.spec)?;
        let srgb = format.is_srgb();
        let forward = codegen::mlp_forward_source(&model.spec, false);
        let src = codegen::assemble(
            &model.spec,
            &[("SRGB_TARGET", srgb.to_string())],
            &[codegen::files::COMMON, codegen::files::ENCODING, &forward, codegen::files::FRAGMENT],
        );
        let pipeline = render_pipeline(&gpu, &src, format)?;
        Ok(FieldRenderer {
            frame: gpu.uniform("nfield frame", &[0u32; 4]),
            kernels: InferKernels::new(gpu.clone(), &model.spec),
            query: QueryBuffers::new(&gpu),
            gpu,
            model: model.clone(),
            params,
            format,
            pipeline,
            axes: None,
            view: None,
            texture: None,
            params_version: 0,
        })
    }

    /// The GPU this renderer draws with (what its device can do).
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The buffer holding the parameters (f32, the model's layout).
    pub fn params_buffer(&self) -> &wgpu::Buffer {
        &self.params
    }

    /// Replaces the parameters (same model, e.g. after more training steps).
    pub fn set_params(&mut self, params: &[f32]) -> Result<()> {
        let want = self.model.spec.param_count();
        if params.len() != want {
            return Err(Error::engine(NAME, format!("expected {want} parameters, got {}", params.len())));
        }
        self.gpu.queue.write_buffer(&self.params, 0, bytemuck::cast_slice(params));
        self.params_version += 1;
        Ok(())
    }

    /// The part of the unit square to show (`None`: the training image, aspect-fit).
    pub fn set_view(&mut self, view: Option<View>) {
        self.view = view;
    }

    fn view_for(&self, width: u32, height: u32) -> View {
        self.view.unwrap_or_else(|| match self.model.image {
            Some(i) => View::aspect_fit(i.width, i.height, width, height),
            None => View::FULL,
        })
    }

    /// Records a render pass that draws the field over all of `target` (a view of a
    /// `width × height` texture of this renderer's format) into `encoder`.
    pub fn draw(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        width: u32,
        height: u32,
    ) -> Result<()> {
        let view = self.view_for(width, height);
        self.draw_grid(encoder, target, width, height, self.model.coords, view)
    }

    /// [`FieldRenderer::draw`] for an explicit grid convention and view.
    pub(crate) fn draw_grid(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        width: u32,
        height: u32,
        coords: Coords,
        view: View,
    ) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::engine(NAME, format!("cannot render a {width}×{height} image")));
        }
        let axes = infer::grid_axes(coords, view, width, height);
        let axes_buf = infer::storage_at_least(&self.gpu, &mut self.axes, "nfield axes", 8 * axes.len() as u64)?;
        self.gpu.queue.write_buffer(&axes_buf, 0, bytemuck::cast_slice(&axes));
        self.gpu.queue.write_buffer(&self.frame, 0, bytemuck::cast_slice(&[width, height, 0, 0]));
        let bind = self.gpu.bind(
            "nfield fragment",
            &self.pipeline.get_bind_group_layout(0),
            &[(0, &self.params), (1, &axes_buf), (2, &self.frame), (3, &self.params)],
        )?;
        let mut pass = clear_pass(encoder, "nfield field", target);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.draw(0..3, 0..1);
        Ok(())
    }

    /// Renders into this renderer's own `width × height` texture (recreated when the size
    /// changes) and submits the work; returns the texture.
    pub fn render_texture(&mut self, width: u32, height: u32) -> Result<&wgpu::Texture> {
        let view = self.view_for(width, height);
        self.render_grid(width, height, self.model.coords, view)
    }

    pub(crate) fn render_grid(
        &mut self,
        width: u32,
        height: u32,
        coords: Coords,
        view: View,
    ) -> Result<&wgpu::Texture> {
        let max = self.gpu.device.limits().max_texture_dimension_2d;
        if width > max || height > max {
            return Err(Error::engine(NAME, format!("{width}×{height} exceeds the adapter's {max}-pixel textures")));
        }
        let same = self.texture.as_ref().is_some_and(|t| t.width() == width && t.height() == height);
        if !same {
            self.texture = Some(self.gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some("nfield field"),
                size: wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: self.format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                    | wgpu::TextureUsages::COPY_SRC
                    | wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            }));
        }
        let texture = self.texture.clone().ok_or_else(|| Error::engine(NAME, "texture missing"))?;
        let target = texture.create_view(&Default::default());
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.draw_grid(&mut encoder, &target, width, height, coords, view)?;
        self.gpu.queue.submit([encoder.finish()]);
        self.texture.as_ref().ok_or_else(|| Error::engine(NAME, "texture missing"))
    }

    /// The last rendered texture's pixels, row-major, `bytes_per_pixel` bytes each (padding
    /// removed).
    pub fn read_texture(&self) -> Result<Vec<u8>> {
        let texture = self.texture.as_ref().ok_or_else(|| Error::engine(NAME, "nothing rendered yet"))?;
        self.gpu.read_texture(texture)
    }

    /// Renders with a compute strategy into a buffer of `(width·height, 3)` f32 RGB (black
    /// outside the image) and submits the work; returns the buffer. `Strategy::Baked` compiles
    /// the MLP's weights into its shader at the first call after each
    /// [`FieldRenderer::set_params`] (seconds for SIREN-64×8, BENCHMARKS.md), then renders
    /// 1.9–2.8× faster than per-pixel; writes into [`FieldRenderer::params_buffer`] by other
    /// means are not seen by a pipeline already baked.
    pub fn render_buffer(&mut self, width: u32, height: u32, strategy: Strategy) -> Result<&wgpu::Buffer> {
        self.render_buffer_with(width, height, &InferOptions { strategy, precision: Precision::Fp32 })
    }

    /// [`FieldRenderer::render_buffer`] with a precision too: `Precision::Fp16` runs the
    /// cooperative strategy on cooperative matrices where [`Gpu::cooperative_matrix_f16`].
    pub fn render_buffer_with(&mut self, width: u32, height: u32, opts: &InferOptions) -> Result<&wgpu::Buffer> {
        let view = self.view_for(width, height);
        let query = Query::Grid { width, height, coords: self.model.coords, view };
        let Some(strategy) = self.kernels.compute_strategy(opts)? else {
            return Err(Error::engine(NAME, "render_buffer runs a compute strategy; use render_texture"));
        };
        if strategy == infer::ComputeStrategy::Baked {
            // the MLP's parameters come first in the layout (the table, if any, stays a buffer)
            let n = self.model.layout().encoding.start;
            let (gpu, params) = (&self.gpu, &self.params);
            self.kernels.bake(self.params_version, || gpu.read_f32(params, 0, n))?;
        }
        self.query.upload(&self.gpu, &PreparedQuery::new(&query)?)?;
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.query.record(&self.gpu, &mut self.kernels, &self.params, strategy, &mut encoder)?;
        self.gpu.queue.submit([encoder.finish()]);
        self.query.output()
    }
}

fn render_pipeline(gpu: &Gpu, src: &str, format: wgpu::TextureFormat) -> Result<wgpu::RenderPipeline> {
    gpu.checked(&format!("the fragment pipeline for {format:?} failed"), || {
        let module = gpu.shader_module("render_fragment", src);
        fullscreen_pipeline(&gpu.device, "nfield field", &module, "fs_field", format)
    })
}

/// A render pipeline that draws one full-screen triangle (`draw(0..3, 0..1)`): `module`'s
/// vertex entry `vs_fullscreen` (as in `shaders/render_fragment.wgsl`) and its fragment entry
/// `fragment`, writing one `format` target without blending; bind-group layouts from the module.
pub fn fullscreen_pipeline(
    device: &wgpu::Device,
    label: &str,
    module: &wgpu::ShaderModule,
    fragment: &str,
    format: wgpu::TextureFormat,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: None,
        vertex: wgpu::VertexState {
            module,
            entry_point: Some("vs_fullscreen"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some(fragment),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
        }),
        multiview_mask: None,
        cache: None,
    })
}

/// A render pass into `target` that starts by clearing it to black (the letterbox colour).
pub fn clear_pass<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    label: &str,
    target: &wgpu::TextureView,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: target,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations { load: wgpu::LoadOp::Clear(wgpu::Color::BLACK), store: wgpu::StoreOp::Store },
        })],
        depth_stencil_attachment: None,
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}

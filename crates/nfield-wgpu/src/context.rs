//! The GPU a wgpu engine runs on: a device and queue (opened headless by nfield, or handed in
//! by an application that already owns them), what the adapter can do, and the small helpers
//! every pipeline needs (shader compilation with captured validation errors, buffers,
//! read-back).

use crate::NAME;
use nfield::{Error, Result};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// A wgpu device and queue plus what nfield needs to know about them. Cheap to clone (the
/// device and queue are reference-counted handles).
#[derive(Clone, Debug)]
pub struct Gpu {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's name, backend and type (a placeholder for devices handed in).
    pub info: wgpu::AdapterInfo,
    /// Whether the device has subgroup operations (`Features::SUBGROUP`), used by the
    /// reductions; a workgroup-memory tree replaces them where it does not.
    pub subgroups: bool,
    /// Whether the device has `shader-f16`.
    pub shader_f16: bool,
    /// Whether the device has cooperative-matrix operations on 16 × 16 × 16 blocks of f16 with
    /// f32 accumulation (`Features::EXPERIMENTAL_COOPERATIVE_MATRIX`, with subgroups and
    /// `shader-f16`): the tensor cores behind the fp16 cooperative strategy. For devices handed
    /// in, nfield cannot see the adapter's configurations and trusts the feature.
    pub cooperative_matrix_f16: bool,
    /// Workgroup memory per workgroup in bytes (32 KiB on lavapipe, 48 KiB on NVIDIA Vulkan).
    pub workgroup_memory: u32,
    /// The largest storage-buffer binding in bytes (128 MiB on lavapipe).
    pub max_binding: u64,
    /// The most invocations a one-dimensional compute workgroup may have, the lesser of the
    /// device's invocation and x-size limits (1024 on NVIDIA Vulkan; WebGPU guarantees 256).
    pub max_invocations: u32,
    /// Whether training may run a run of equal-width hidden layers as one dispatch per pass
    /// (`shaders/train_fused.wgsl`); true unless [`NO_FUSED_LAYERS`] is set when the `Gpu` is
    /// made. Off, every layer is its own matrix product (the baseline the fused passes are
    /// measured and tested against).
    pub fused_layers: bool,
    /// Whether training's f32 matrix products (the fused passes, train_fused.wgsl, and the
    /// tiled GEMMs, train_gemm.wgsl) keep naga's bounds checks; false unless [`BOUNDS_CHECKS`]
    /// is set when the `Gpu` is made. Every other shader keeps them always.
    /// [`Gpu::product_pipeline`] says why they may go.
    pub bounds_checks: bool,
}

/// Set (to anything) to train with one dispatch per layer even where layers could be fused
/// ([`Gpu::fused_layers`]): the baseline of the fused passes, and a way around a driver's
/// trouble with them.
pub const NO_FUSED_LAYERS: &str = "NFIELD_WGPU_NO_FUSED_LAYERS";

/// Set (to anything) to keep naga's bounds checks in training's matrix products too
/// ([`Gpu::bounds_checks`]): a debugging aid, at 5–6 % of a SIREN-64×8 training step.
pub const BOUNDS_CHECKS: &str = "NFIELD_WGPU_BOUNDS_CHECKS";

/// Set (to anything) to open devices without wgpu's experimental cooperative matrices even where
/// the adapter offers them (no fp16 cooperative strategy then): a way around driver or wgpu bugs
/// in an experimental feature.
pub const NO_COOPERATIVE_MATRIX: &str = "NFIELD_WGPU_NO_COOPERATIVE_MATRIX";

/// Whether nfield asks `adapter` for cooperative matrices: it offers 16 × 16 × 16 f16 inputs
/// accumulated in f32 (what `shaders/mlp_infer_matrix.wgsl` uses) and [`NO_COOPERATIVE_MATRIX`]
/// is not set.
fn wants_f16_matrices(adapter: &wgpu::Adapter) -> bool {
    use wgpu::CooperativeScalarType::{F16, F32};
    std::env::var_os(NO_COOPERATIVE_MATRIX).is_none()
        && adapter.features().contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
        && adapter
            .cooperative_matrix_properties()
            .iter()
            .any(|p| (p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type) == (16, 16, 16, F16, F32))
}

impl Gpu {
    /// Opens the best adapter headless (high-performance preference; backends from
    /// `WGPU_BACKEND`, else Vulkan, Metal and DX12), requesting subgroups and `shader-f16`
    /// where offered and the adapter's own limits. Errors say why no adapter was found.
    pub fn open() -> Result<Arc<Gpu>> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| Error::engine(NAME, format!("no adapter: {e} (a Vulkan, Metal or DX12 driver is needed)")))?;
        let (device, queue) = pollster::block_on(adapter.request_device(&Gpu::device_descriptor(&adapter)))
            .map_err(|e| Error::engine(NAME, format!("cannot open {}: {e}", adapter.get_info().name)))?;
        Ok(Arc::new(Gpu::with_info(device, queue, adapter.get_info())))
    }

    /// The device nfield asks an adapter for: its own limits (the compute strategies need more
    /// workgroup memory and larger bindings than wgpu's defaults) and subgroups, `shader-f16`
    /// and timestamp queries where offered, plus wgpu's experimental cooperative matrices where
    /// the adapter offers f16 ones (see [`Gpu::cooperative_matrix_f16`]). Also for applications
    /// that open the device themselves (the viewer hands it to eframe).
    pub fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
        let mut wanted = wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let experimental_features = if wants_f16_matrices(adapter) {
            wanted |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
            // SAFETY: wgpu asks the caller to accept that its experimental features may still
            // have bugs. nfield uses cooperative matrices only in the fp16 cooperative
            // strategy (shaders/mlp_infer_matrix.wgsl), whose results the GPU test suite
            // checks against the f64 oracle on such adapters.
            unsafe { wgpu::ExperimentalFeatures::enabled() }
        } else {
            wgpu::ExperimentalFeatures::disabled()
        };
        wgpu::DeviceDescriptor {
            label: Some("nfield"),
            required_features: adapter.features() & wanted,
            required_limits: adapter.limits(),
            experimental_features,
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }
    }

    /// Wraps a device and queue the application already owns (the embedding API). nfield
    /// uses the features and limits the device was created with.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Arc<Gpu> {
        let info = wgpu::AdapterInfo {
            name: "application device".into(),
            vendor: 0,
            device: 0,
            device_type: wgpu::DeviceType::Other,
            device_pci_bus_id: String::new(),
            driver: String::new(),
            driver_info: String::new(),
            backend: wgpu::Backend::Noop,
            subgroup_min_size: 0,
            subgroup_max_size: 0,
            transient_saves_memory: None,
            limit_bucket: None,
        };
        Arc::new(Gpu::with_info(device, queue, info))
    }

    fn with_info(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Gpu {
        let features = device.features();
        let limits = device.limits();
        // An error nobody captured must not abort the process (wgpu's default handler panics):
        // every pipeline is created inside an error scope, so anything left is logged.
        device.on_uncaptured_error(Arc::new(|e| eprintln!("nfield-wgpu: uncaptured GPU error: {e}")));
        Gpu {
            device,
            queue,
            info,
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            // Gpu::device_descriptor asks for the feature only where the adapter offers the
            // f16 configuration; a device handed in is trusted.
            cooperative_matrix_f16: features.contains(
                wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP,
            ),
            workgroup_memory: limits.max_compute_workgroup_storage_size,
            max_binding: limits.max_storage_buffer_binding_size.min(limits.max_buffer_size),
            max_invocations: limits.max_compute_invocations_per_workgroup.min(limits.max_compute_workgroup_size_x),
            fused_layers: std::env::var_os(NO_FUSED_LAYERS).is_none(),
            bounds_checks: std::env::var_os(BOUNDS_CHECKS).is_some(),
        }
    }

    /// The device in words: adapter name, backend and type.
    pub fn describe(&self) -> String {
        format!("{} ({:?}, {:?})", self.info.name, self.info.backend, self.info.device_type)
    }

    /// Whether the adapter is a CPU implementation (lavapipe, WARP, SwiftShader).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Compiles WGSL `source` into a compute pipeline with entry point `entry` (layout inferred
    /// from the shader), with all of wgpu's runtime checks. Validation errors become an
    /// [`Error`] naming `label`.
    pub fn compute_pipeline(&self, label: &str, source: &str, entry: &str) -> Result<wgpu::ComputePipeline> {
        self.pipeline(label, entry, || self.device.create_shader_module(Self::wgsl(label, source)))
    }

    /// [`Gpu::compute_pipeline`] for one of nfield's own shaders, compiled by
    /// [`Gpu::shader_module`] (without loop-bounding counters).
    pub(crate) fn nfield_pipeline(&self, label: &str, source: &str, entry: &str) -> Result<wgpu::ComputePipeline> {
        self.pipeline(label, entry, || self.shader_module(label, source))
    }

    fn pipeline(
        &self,
        label: &str,
        entry: &str,
        module: impl FnOnce() -> wgpu::ShaderModule,
    ) -> Result<wgpu::ComputePipeline> {
        self.checked(&format!("shader {label} ({entry}) failed to compile"), || {
            let module = module();
            self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        })
    }

    /// [`Gpu::nfield_pipeline`] for training's f32 matrix products (train_fused.wgsl and
    /// train_gemm.wgsl's passes), compiled without naga's bounds checks unless
    /// [`Gpu::bounds_checks`] is set.
    ///
    /// naga clamps every index into a workgroup or private array (`min(i, len − 1)`), and into a
    /// storage buffer where the Vulkan driver lacks robustBufferAccess2. In these kernels the
    /// clamps sit on the inner products' workgroup-memory reads: without them a SIREN-64×8
    /// training step on an H100 took 2.809 instead of 2.955 ms (backward 835 → 776 µs, weight
    /// gradients 779 → 720 µs; 2026-11-27). tests/train.rs checks that both builds give the
    /// same bits.
    pub(crate) fn product_pipeline(&self, label: &str, source: &str, entry: &str) -> Result<wgpu::ComputePipeline> {
        let mut checks = Self::loop_checks();
        checks.bounds_checks = self.bounds_checks;
        // SAFETY: `force_loop_bounding = false` as in `shader_module`. `bounds_checks = false`
        // requires that no access leaves its array or binding. In train_fused.wgsl and
        // train_gemm.wgsl every workgroup and private array is indexed by expressions of the
        // invocation index and of loop counters whose bounds are the same generated constants
        // that size the arrays (their headers state the layout); every global access is
        // guarded by `m < M`, `n < N`, `k < k_end` (train_gemm.wgsl's load contract) or covers
        // a whole tile of a chunk that the host made a multiple of the tile (`FusedRun::find`),
        // at offsets from `Plan`, whose buffers hold `chunk` samples of every layer's width and
        // the whole parameter layout. wgpu also turns on Vulkan's robustBufferAccess where the
        // device has it.
        let module = || unsafe { self.device.create_shader_module_trusted(Self::wgsl(label, source), checks) };
        self.pipeline(label, entry, module)
    }

    /// Compiles one of nfield's WGSL shaders into a module, without the loop counters wgpu
    /// adds by default.
    ///
    /// By default naga gives every loop a hidden iteration counter that breaks out after 2^64
    /// iterations, so that a driver cannot treat an infinite loop as unreachable. That counter
    /// hides the trip count from the driver: loops of constant length are no longer unrolled,
    /// and arrays indexed by their counters move to local memory. On an H100 through Vulkan it
    /// cost 2.2× on the per-pixel hash-grid kernel (1.16 → 2.55 G samples/s), 3.4× on the
    /// cooperative one, and 4.4× on training's Adam (110 → 25 µs for SIREN-64×8). Bounds checks
    /// and integer-division checks stay on: they cost at most a few per cent (but see
    /// [`Gpu::product_pipeline`]).
    ///
    /// Only for nfield's own shaders (`shaders/` and the sources generated from them): none of
    /// their loops is unbounded (see the safety comment). Crate-private for that reason: a safe
    /// function that accepted any source could not keep that promise.
    pub(crate) fn shader_module(&self, label: &str, source: &str) -> wgpu::ShaderModule {
        // SAFETY: `force_loop_bounding = false` requires that no shader loops forever. Every
        // loop in nfield's shaders is a `for` whose counter starts below a bound and moves
        // towards it by a step that is a nonzero constant, a workgroup size or a grid stride
        // (≤ 2^24), and whose bound is a constant or a count of elements of a buffer
        // (< 2^30, the binding limit in floats), so it ends without wrapping; the one
        // exception halves a nonzero counter until it is zero (train_reduce_tree.wgsl). All
        // other runtime checks (bounds, division) stay on.
        unsafe { self.device.create_shader_module_trusted(Self::wgsl(label, source), Self::loop_checks()) }
    }

    /// All of wgpu's runtime checks but the loop counters (`shader_module`).
    fn loop_checks() -> wgpu::ShaderRuntimeChecks {
        let mut checks = wgpu::ShaderRuntimeChecks::checked();
        checks.force_loop_bounding = false;
        checks
    }

    /// The descriptor of a WGSL module.
    fn wgsl<'a>(label: &'a str, source: &'a str) -> wgpu::ShaderModuleDescriptor<'a> {
        wgpu::ShaderModuleDescriptor { label: Some(label), source: wgpu::ShaderSource::Wgsl(source.into()) }
    }

    /// Runs `make` inside a validation error scope: what wgpu reports becomes an [`Error`]
    /// naming `what`.
    pub fn checked<T>(&self, what: &str, make: impl FnOnce() -> T) -> Result<T> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = make();
        match pollster::block_on(scope.pop()) {
            None => Ok(value),
            Some(e) => Err(Error::engine(NAME, format!("{what}: {e}"))),
        }
    }

    /// A bind group of whole buffers, `(binding, buffer)`, for `layout` (a pipeline's
    /// `get_bind_group_layout(0)`); validation errors name `label`.
    pub fn bind(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        entries: &[(u32, &wgpu::Buffer)],
    ) -> Result<wgpu::BindGroup> {
        self.bind_resources(
            label,
            layout,
            entries.iter().map(|&(binding, buffer)| (binding, buffer.as_entire_binding())),
        )
    }

    /// [`Gpu::bind`] with any resources: `(binding, resource)`.
    pub fn bind_resources<'a>(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        entries: impl IntoIterator<Item = (u32, wgpu::BindingResource<'a>)>,
    ) -> Result<wgpu::BindGroup> {
        let entries: Vec<wgpu::BindGroupEntry<'_>> =
            entries.into_iter().map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource }).collect();
        self.checked(&format!("bind group {label}"), || {
            self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout, entries: &entries })
        })
    }

    /// Checks that a storage buffer of `bytes` fits one binding of this device.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        if bytes > self.max_binding {
            return Err(Error::engine(
                NAME,
                format!(
                    "{what} needs {:.1} MiB in one storage buffer; {} allows {:.1} MiB",
                    bytes as f64 / 1048576.0,
                    self.info.name,
                    self.max_binding as f64 / 1048576.0
                ),
            ));
        }
        Ok(())
    }

    /// A storage buffer of `bytes` (rounded up to 16, never empty) that can also be copied from
    /// and to.
    pub fn storage(&self, label: &str, bytes: u64) -> Result<wgpu::Buffer> {
        self.check_binding(label, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer holding `data` (padded to 16 bytes, never empty).
    pub fn storage_init<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<wgpu::Buffer> {
        let mut bytes = bytemuck::cast_slice::<T, u8>(data).to_vec();
        self.check_binding(label, bytes.len() as u64)?;
        bytes.resize(bytes.len().max(16).next_multiple_of(16), 0);
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        }))
    }

    /// A uniform buffer holding `data`.
    pub fn uniform<T: bytemuck::Pod>(&self, label: &str, data: &T) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(data),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// Copies `bytes` bytes at `offset` of `buffer` (which must allow `COPY_SRC`) to the host,
    /// waiting for the GPU.
    pub fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let padded = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = self.read_back_buffer(padded);
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, padded);
        self.queue.submit([enc.finish()]);
        self.map_read(&staging, bytes)
    }

    /// The pixels of `texture` (mip 0), row-major, the format's bytes per pixel each (row
    /// padding removed), after waiting for the GPU.
    pub fn read_texture(&self, texture: &wgpu::Texture) -> Result<Vec<u8>> {
        let format = texture.format();
        let bpp = format
            .block_copy_size(None)
            .ok_or_else(|| Error::engine(NAME, format!("cannot read back {format:?} textures")))?;
        let (w, h) = (texture.width(), texture.height());
        let row = w * bpp;
        let padded = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let bytes = padded as u64 * h as u64;
        self.check_binding("the texture read-back", bytes)?;
        let staging = self.read_back_buffer(bytes);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &staging,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(padded), rows_per_image: Some(h) },
            },
            wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        );
        self.queue.submit([encoder.finish()]);
        let bytes = self.map_read(&staging, bytes)?;
        Ok(bytes.chunks_exact(padded as usize).flat_map(|r| r[..row as usize].iter().copied()).collect())
    }

    /// A buffer of `bytes` that copies can write and the host can map ([`Gpu::map_read`]).
    pub fn read_back_buffer(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("nfield read-back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// The first `bytes` bytes of `staging` (a [`Gpu::read_back_buffer`] that submitted work
    /// fills), after waiting for the GPU.
    pub fn map_read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let slice = staging.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| Error::engine(NAME, "the read-back callback never ran"))?
            .map_err(|e| Error::engine(NAME, format!("read-back failed: {e}")))?;
        let data = slice.get_mapped_range().map_err(|e| Error::engine(NAME, format!("read-back: {e}")))?;
        let out = data[..bytes as usize].to_vec();
        drop(data);
        staging.unmap();
        Ok(out)
    }

    /// Copies `n` f32 values at element `offset` of `buffer` to the host.
    pub fn read_f32(&self, buffer: &wgpu::Buffer, offset: usize, n: usize) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(buffer, 4 * offset as u64, 4 * n as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Waits until the GPU has finished everything submitted.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::engine(NAME, format!("waiting for the GPU: {e}")))
    }
}

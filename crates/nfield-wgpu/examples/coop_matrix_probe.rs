//! Probes wgpu's experimental cooperative matrices (`Features::EXPERIMENTAL_COOPERATIVE_MATRIX`:
//! Vulkan `VK_KHR_cooperative_matrix`, the tensor cores on NVIDIA) from WGSL: which
//! configurations the adapter offers, whether naga's `coopLoad`/`coopMultiplyAdd`/`coopStore`
//! compute the right product and in which memory layout, and how many TFLOP/s a loop of
//! multiply-adds reaches with the operands in registers or loaded from workgroup memory.
//!
//! `cargo run --release -p nfield-wgpu --example coop_matrix_probe [-- --iters 8192 --groups 1056]`
//!
//! Without a GPU, `-- --validate-only [DIR]` runs naga's WGSL front end, validator and SPIR-V
//! back end on every shader this probe generates (writing the `.wgsl` and `.spv` files into DIR).
//!
//! The WGSL naga 30 accepts (layouts as measured on an H100, Vulkan driver 580.159.04):
//! - `enable f16;` (for f16 elements, with `Features::SHADER_F16`) and `enable wgpu_cooperative_matrix;`
//! - types `coop_mat8x8<T, R>` and `coop_mat16x16<T, R>`: T is `f16` or `f32`, the role R is
//!   `A` (M×K), `B` (K×N) or `C` (M×N accumulator); type aliases work;
//! - `coopLoad<coop_mat16x16<f16, A>>(&buf[offset], stride)` loads column-major (SPIR-V
//!   `ColumnMajorKHR`: element (row i, column j) at `buf[offset + j * stride + i]`), `coopLoadT`
//!   row-major (`RowMajorKHR`: `buf[offset + i * stride + j]`); the stride counts elements and
//!   defaults to the matrix size; `buf` may be a storage buffer or a workgroup array;
//! - `coopStore(m, &buf[offset], stride)` and `coopStoreT(...)` likewise (value first);
//! - `coopMultiplyAdd(a, b, c)` is a·b + c with the type of `c` (f16 inputs with an f32
//!   accumulator are allowed).
//!
//! On that H100 wgpu offers 16×16×16 with f16 inputs and f16 or f32 accumulators (the driver's
//! 16×8×16 and 16×8×8 shapes have no WGSL type, 8×8 f32 is not offered); both pass and reach
//! about 590 TFLOP/s with the operands in registers, 475 loading them from workgroup memory.

use nfield_wgpu::Gpu;
use std::error::Error;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn Error>>;
/// A matrix as its elements (row, column) → value.
type Matrix<'a> = &'a dyn Fn(usize, usize) -> f64;

/// Subgroups per workgroup in the throughput kernels (each keeps 4 accumulators).
const SUBGROUPS: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    F16,
    F32,
}

impl Ty {
    fn wgsl(self) -> &'static str {
        if self == Ty::F16 { "f16" } else { "f32" }
    }
    fn bytes(self) -> usize {
        if self == Ty::F16 { 2 } else { 4 }
    }
    /// `x` rounded to this type.
    fn round(self, x: f64) -> f64 {
        if self == Ty::F16 { f16_to_f32(f32_to_f16(x as f32)) as f64 } else { x as f32 as f64 }
    }
    fn encode(self, xs: &[f64]) -> Vec<u8> {
        match self {
            Ty::F16 => xs.iter().flat_map(|&x| f32_to_f16(x as f32).to_le_bytes()).collect(),
            Ty::F32 => xs.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
        }
    }
    fn decode(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            Ty::F16 => bytes.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])) as f64).collect(),
            Ty::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
        }
    }
}

/// f32 → IEEE binary16 bits, rounding to nearest even (tiny values flush to zero).
fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

fn f16_to_f32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// One cooperative-matrix configuration: N×N×N with A/B elements `ab` and C/result elements `cr`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Config {
    n: u32,
    ab: Ty,
    cr: Ty,
}

impl Config {
    fn name(self) -> String {
        let (n, ab, cr) = (self.n, self.ab.wgsl(), self.cr.wgsl());
        format!("{n}x{n}x{n} {ab}*{ab}+{cr}")
    }
    fn nn(self) -> usize {
        (self.n * self.n) as usize
    }
    /// The declarations every probe shader starts with: enables, aliases, constants, buffers.
    fn header(self) -> String {
        let f16 = if self.ab == Ty::F16 || self.cr == Ty::F16 { "enable f16;\n" } else { "" };
        let (n, ab, cr) = (self.n, self.ab.wgsl(), self.cr.wgsl());
        format!(
            "{f16}enable wgpu_cooperative_matrix;\n\n\
             alias MA = coop_mat{n}x{n}<{ab}, A>;\nalias MB = coop_mat{n}x{n}<{ab}, B>;\n\
             alias MC = coop_mat{n}x{n}<{cr}, C>;\nconst N: u32 = {n}u;\nconst NN: u32 = {nn}u;\n\n\
             @group(0) @binding(0) var<storage, read> a: array<{ab}>;\n\
             @group(0) @binding(1) var<storage, read> b: array<{ab}>;\n\
             @group(0) @binding(2) var<storage, read> c: array<{cr}>;\n\
             @group(0) @binding(3) var<storage, read_write> o: array<{cr}>;\n",
            nn = n * n
        )
    }
}

/// One subgroup computes A·B + C four ways into four regions of `o`. Inputs: a row-major N×N
/// matrix at 0, the same row-major with 2N elements per row at NN. Outputs: regions of NN at
/// 0, NN, 2NN, then one with 2N elements per row at 3NN.
fn correctness_wgsl(cfg: Config, sg: u32) -> String {
    format!(
        "{}\n@compute @workgroup_size({sg})\nfn main() {{
    let r0 = coopMultiplyAdd(coopLoad<MA>(&a[0], N), coopLoad<MB>(&b[0], N), coopLoad<MC>(&c[0], N));
    coopStore(r0, &o[0], N);
    let r1 = coopMultiplyAdd(coopLoadT<MA>(&a[0], N), coopLoadT<MB>(&b[0], N), coopLoadT<MC>(&c[0], N));
    coopStoreT(r1, &o[NN], N);
    coopStore(r1, &o[2u * NN], N);
    let r3 = coopMultiplyAdd(coopLoadT<MA>(&a[NN], 2u * N), coopLoadT<MB>(&b[NN], 2u * N),
                             coopLoadT<MC>(&c[NN], 2u * N));
    coopStoreT(r3, &o[3u * NN], 2u * N);
}}\n",
        cfg.header()
    )
}

/// Each subgroup runs `p.x` iterations of 4 independent multiply-adds (2 A × 2 B tiles) and
/// stores its 4 accumulators at the end, so the loop cannot be removed. The operands stay in
/// registers, or are loaded each iteration from one of 4 tile slots in workgroup memory.
fn throughput_wgsl(cfg: Config, sg: u32, workgroup_memory: bool) -> String {
    let (shared, setup, operands) = if workgroup_memory {
        let ab = cfg.ab.wgsl();
        let len = 8 * cfg.nn();
        (
            format!("var<workgroup> sa: array<{ab}, {len}>;\nvar<workgroup> sb: array<{ab}, {len}>;\n"),
            "for (var e = li; e < 8u * NN; e += WG) { sa[e] = a[e]; sb[e] = b[e]; }\n    workgroupBarrier();",
            "let s = ((i + g) & 3u) * 2u * NN;
        let a0 = coopLoad<MA>(&sa[s], N);
        let a1 = coopLoad<MA>(&sa[s + NN], N);
        let b0 = coopLoad<MB>(&sb[s], N);
        let b1 = coopLoad<MB>(&sb[s + NN], N);",
        )
    } else {
        (
            String::new(),
            "let a0 = coopLoad<MA>(&a[0], N);
    let a1 = coopLoad<MA>(&a[NN], N);
    let b0 = coopLoad<MB>(&b[0], N);
    let b1 = coopLoad<MB>(&b[NN], N);",
            "",
        )
    };
    format!(
        "{}@group(0) @binding(4) var<uniform> p: vec4<u32>;\n{shared}const WG: u32 = {wg}u;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {{
    let g = li / {sg}u; // this invocation's subgroup (a subgroup is {sg} consecutive invocations)
    {setup}
    var c0 = coopLoad<MC>(&c[0], N);
    var c1 = c0;
    var c2 = c0;
    var c3 = c0;
    for (var i = 0u; i < p.x; i++) {{
        {operands}
        c0 = coopMultiplyAdd(a0, b0, c0);
        c1 = coopMultiplyAdd(a0, b1, c1);
        c2 = coopMultiplyAdd(a1, b0, c2);
        c3 = coopMultiplyAdd(a1, b1, c3);
    }}
    let base = (wid.x * {SUBGROUPS}u + g) * 4u * NN;
    coopStore(c0, &o[base], N);
    coopStore(c1, &o[base + NN], N);
    coopStore(c2, &o[base + 2u * NN], N);
    coopStore(c3, &o[base + 3u * NN], N);
}}\n",
        cfg.header(),
        wg = sg * SUBGROUPS
    )
}

fn shaders(cfg: Config, sg: u32) -> [(&'static str, String); 3] {
    [
        ("correctness", correctness_wgsl(cfg, sg)),
        ("registers", throughput_wgsl(cfg, sg, false)),
        ("workgroup-memory loads", throughput_wgsl(cfg, sg, true)),
    ]
}

/// The device and the throughput settings.
struct Probe {
    gpu: std::sync::Arc<Gpu>,
    /// Subgroup size (the adapter's; 32 on NVIDIA).
    sg: u32,
    iters: u32,
    groups: u32,
    /// Timestamp queries and their resolve buffer, where `TIMESTAMP_QUERY` is offered.
    timer: Option<(wgpu::QuerySet, wgpu::Buffer)>,
}

impl Probe {
    /// Shader module and pipeline inside validation and internal error scopes: naga's and the
    /// driver's complaints are printed (None) instead of aborting.
    fn compile(&self, label: &str, source: &str) -> Option<wgpu::ComputePipeline> {
        let device = &self.gpu.device;
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let errors = [pollster::block_on(internal.pop()), pollster::block_on(validation.pop())];
        let errors: Vec<String> = errors.into_iter().flatten().map(|e| e.to_string()).collect();
        if errors.is_empty() {
            return Some(pipeline);
        }
        println!("  {label}: does not compile:\n{}", errors.join("\n"));
        None
    }

    /// Binds `buffers` in order, runs `pipeline` over `groups` workgroups and returns the
    /// seconds it took: the pass's GPU time from timestamps if `timed` and offered, else wall
    /// clock around submit and wait.
    fn run(&self, pipeline: &wgpu::ComputePipeline, buffers: &[wgpu::Buffer], groups: u32, timed: bool) -> Res<f64> {
        let gpu = &self.gpu;
        let entries: Vec<(u32, &wgpu::Buffer)> = (0..).zip(buffers).collect();
        let bind = gpu.bind("coop probe", &pipeline.get_bind_group_layout(0), &entries)?;
        let timer = self.timer.as_ref().filter(|_| timed);
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let timestamp_writes = timer.map(|(query_set, _)| wgpu::ComputePassTimestampWrites {
                query_set,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(groups, 1, 1);
        }
        if let Some((query_set, resolved)) = timer {
            enc.resolve_query_set(query_set, 0..2, resolved, 0);
        }
        let start = Instant::now();
        gpu.queue.submit([enc.finish()]);
        gpu.device.poll(wgpu::PollType::wait_indefinitely())?;
        let wall = start.elapsed().as_secs_f64();
        let Some((_, resolved)) = timer else { return Ok(wall) };
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&gpu.read_bytes(resolved, 0, 16)?);
        Ok(ticks[1].wrapping_sub(ticks[0]) as f64 * gpu.queue.get_timestamp_period() as f64 * 1e-9)
    }

    /// Checks the product against f64 on the same rounded inputs and measures the memory layout
    /// of coopLoad/coopLoadT/coopStore/coopStoreT and the meaning of the stride. True if passed.
    fn correctness(&self, cfg: Config) -> Res<bool> {
        let (n, nn, gpu) = (cfg.n as usize, cfg.nn(), &self.gpu);
        // Non-symmetric, exactly representable in f16, products and sums exact in f16 too.
        let a = |i: usize, j: usize| cfg.ab.round(((3 * i + 5 * j + 1) % 13) as f64 / 4.0 - 1.5);
        let b = |i: usize, j: usize| cfg.ab.round(((7 * i + 2 * j + 3) % 11) as f64 / 8.0 - 0.625);
        let c = |i: usize, j: usize| cfg.cr.round(((i + 4 * j) % 9) as f64 / 2.0 - 2.0);
        // Row-major N×N, then the same with 2N elements per row (padding 99).
        let input = |f: Matrix| -> Vec<f64> {
            let padded = (0..2 * nn).map(|e| if e % (2 * n) < n { f(e / (2 * n), e % (2 * n)) } else { 99.0 });
            (0..nn).map(|e| f(e / n, e % n)).chain(padded).collect()
        };
        let buffers = [
            gpu.storage_init("a", &cfg.ab.encode(&input(&a)))?,
            gpu.storage_init("b", &cfg.ab.encode(&input(&b)))?,
            gpu.storage_init("c", &cfg.cr.encode(&input(&c)))?,
            gpu.storage_init("o", &cfg.cr.encode(&vec![-7.0; 5 * nn]))?,
        ];
        let Some(pipeline) = self.compile("correctness", &correctness_wgsl(cfg, self.sg)) else { return Ok(false) };
        self.run(&pipeline, &buffers, 1, false)?;
        let out = cfg.cr.decode(&gpu.read_bytes(&buffers[3], 0, (5 * nn * cfg.cr.bytes()) as u64)?);

        let ab_c = |i: usize, j: usize| (0..n).map(|k| a(i, k) * b(k, j)).sum::<f64>() + c(i, j);
        let ba_c = |i: usize, j: usize| (0..n).map(|k| b(i, k) * a(k, j)).sum::<f64>() + c(i, j);
        let candidates: [(&str, Matrix); 4] =
            [("A*B+C", &ab_c), ("(A*B+C)^T", &|i, j| ab_c(j, i)), ("B*A+C", &ba_c), ("(B*A+C)^T", &|i, j| ba_c(j, i))];
        // (what, output offset, elements per row there, the candidate the SPIR-V spec predicts):
        // column-major loads read the row-major buffers as A^T, B^T, C^T: A^T·B^T + C^T = (B·A+C)^T,
        // which a column-major store writes back transposed, as B·A+C.
        let variants = [
            ("coopLoad  + coopStore,  stride N ", 0, n, 2),
            ("coopLoadT + coopStoreT, stride N ", nn, n, 0),
            ("coopLoadT + coopStore,  stride N ", 2 * nn, n, 1),
            ("coopLoadT + coopStoreT, stride 2N", 3 * nn, 2 * n, 0),
        ];
        let tolerance = if cfg.cr == Ty::F16 { 1e-2 } else { 1e-4 };
        let (mut pass, mut matches) = (true, [0; 4]);
        for (v, &(what, offset, row, expected)) in variants.iter().enumerate() {
            let error = |f: Matrix| {
                (0..nn).map(|e| (out[offset + e / n * row + e % n] - f(e / n, e % n)).abs()).fold(0.0, f64::max)
            };
            let errors: Vec<f64> = candidates.iter().map(|(_, f)| error(f)).collect();
            matches[v] = (0..4).min_by(|&x, &y| errors[x].total_cmp(&errors[y])).unwrap_or(0);
            let scale = (0..nn).map(|e| candidates[expected].1(e / n, e % n).abs()).fold(1.0, f64::max);
            let ok = errors[expected] <= tolerance * scale;
            pass &= ok;
            let (best, verdict) = (matches[v], if ok { "ok" } else { "WRONG" });
            println!(
                "  {what}: buffer read row-major = {} (max abs err {:.2e}); spec predicts {}: {verdict}",
                candidates[best].0, errors[best], candidates[expected].0
            );
        }
        let padding_kept = (0..2 * nn).filter(|e| e % (2 * n) >= n).all(|e| out[3 * nn + e] == -7.0);
        pass &= padding_kept;
        if matches == [2, 0, 1, 0] && padding_kept {
            println!("  layout (measured): coopLoad/coopStore column-major (element (i,j) at ptr[j*stride + i]),");
            println!("  coopLoadT/coopStoreT row-major (ptr[i*stride + j]); stride = elements between columns/rows");
        } else {
            println!(
                "  layout: NOT as the SPIR-V spec says (see above); padding beside the stride-2N rows kept: {padding_kept}"
            );
        }
        println!("  correctness {}: {}", cfg.name(), if pass { "PASS" } else { "FAIL" });
        Ok(pass)
    }

    /// Times the throughput kernel (one warm-up run, best of 3) and prints TFLOP/s.
    fn throughput(&self, cfg: Config, workgroup_memory: bool) -> Res<()> {
        let (n, nn, gpu) = (cfg.n as f64, cfg.nn(), &self.gpu);
        let what = if workgroup_memory { "workgroup-memory loads" } else { "registers" };
        let Some(pipeline) = self.compile(what, &throughput_wgsl(cfg, self.sg, workgroup_memory)) else {
            return Ok(());
        };
        let tiles = cfg.ab.encode(&vec![1.0 / 64.0; 8 * nn]);
        let out_bytes = self.groups as u64 * SUBGROUPS as u64 * 4 * (nn * cfg.cr.bytes()) as u64;
        let buffers = [
            gpu.storage_init("a", &tiles)?,
            gpu.storage_init("b", &tiles)?,
            gpu.storage_init("c", &cfg.cr.encode(&vec![0.0; nn]))?,
            gpu.storage("o", out_bytes)?,
            gpu.uniform("p", &[self.iters, 0, 0, 0]),
        ];
        self.run(&pipeline, &buffers, self.groups, true)?; // warm-up
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            best = best.min(self.run(&pipeline, &buffers, self.groups, true)?);
        }
        let flops = self.groups as f64 * SUBGROUPS as f64 * self.iters as f64 * 4.0 * 2.0 * n * n * n;
        let clock = if self.timer.is_some() { "timestamp queries" } else { "wall clock around submit + wait" };
        println!("  {what}: {:.1} TFLOP/s ({:.3} ms for {flops:.3e} FLOP, {clock})", flops / best / 1e12, best * 1e3);
        let first = cfg.cr.decode(&gpu.read_bytes(&buffers[3], 0, cfg.cr.bytes() as u64)?)[0];
        println!("    o[0] = {first} (exact f32 accumulation: {})", self.iters as f64 * n / 4096.0);
        Ok(())
    }
}

/// naga's WGSL front end, validator (all capabilities) and SPIR-V 1.6 writer on `source`.
fn naga_check(source: &str) -> Result<Vec<u32>, String> {
    use wgpu::naga;
    let module = naga::front::wgsl::parse_str(source).map_err(|e| e.emit_to_string(source))?;
    let mut validator =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    let info = validator.validate(&module).map_err(|e| e.emit_to_string(source))?;
    let options = naga::back::spv::Options { lang_version: (1, 6), ..Default::default() };
    naga::back::spv::write_vec(&module, &info, &options, None).map_err(|e| e.to_string())
}

/// `--validate-only [DIR]`: [`naga_check`] on every shader of every configuration naga accepts.
fn validate_only(dir: Option<&String>) -> Res<()> {
    let mut failed = 0;
    for n in [16, 8] {
        for (ab, cr) in [(Ty::F16, Ty::F32), (Ty::F16, Ty::F16), (Ty::F32, Ty::F32)] {
            let cfg = Config { n, ab, cr };
            for (kind, source) in shaders(cfg, 32) {
                let words = match naga_check(&source) {
                    Ok(words) => words,
                    Err(e) => {
                        failed += 1;
                        println!("{} {kind}: FAILED\n{e}", cfg.name());
                        continue;
                    }
                };
                println!("{} {kind}: OK ({} SPIR-V words)", cfg.name(), words.len());
                if let Some(dir) = dir {
                    let file = format!("{dir}/{}_{}", cfg.name().replace(['*', '+', ' '], "_"), kind.replace(' ', "_"));
                    std::fs::create_dir_all(dir)?;
                    std::fs::write(format!("{file}.wgsl"), &source)?;
                    std::fs::write(format!("{file}.spv"), bytemuck::cast_slice::<u32, u8>(&words))?;
                }
            }
        }
    }
    if failed > 0 { Err(format!("{failed} shaders failed to validate").into()) } else { Ok(()) }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name);
    if let Some(i) = flag("--validate-only") {
        return validate_only(args.get(i + 1));
    }
    let number = |name: &str, default: u32| -> Res<u32> {
        Ok(flag(name).and_then(|i| args.get(i + 1)).map_or(Ok(default), |v| v.parse())?)
    };

    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if std::env::var_os("WGPU_BACKEND").is_none() {
        desc.backends = wgpu::Backends::VULKAN;
    }
    let instance = wgpu::Instance::new(desc);
    let power_preference = wgpu::PowerPreference::HighPerformance;
    let adapter = pollster::block_on(
        instance.request_adapter(&wgpu::RequestAdapterOptions { power_preference, ..Default::default() }),
    )?;
    let (info, features) = (adapter.get_info(), adapter.features());
    println!(
        "adapter: {} ({:?}, {:?}), driver {} {}",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    );
    println!("subgroup size: {}..{}", info.subgroup_min_size, info.subgroup_max_size);
    let coop = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
    let (f16, timestamps) = (wgpu::Features::SHADER_F16, wgpu::Features::TIMESTAMP_QUERY);
    for (name, f) in [("EXPERIMENTAL_COOPERATIVE_MATRIX", coop), ("SHADER_F16", f16), ("TIMESTAMP_QUERY", timestamps)] {
        println!("{name}: {}", if features.contains(f) { "offered" } else { "not offered" });
    }
    let props = adapter.cooperative_matrix_properties();
    println!("cooperative matrix properties: {} entries", props.len());
    for p in &props {
        let (m, n, k, ab, cr, sat) = (p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type, p.saturating_accumulation);
        println!("  M={m} N={n} K={k} ab_type={ab:?} cr_type={cr:?} saturating_accumulation={sat}");
    }
    if !features.contains(coop) {
        println!("EXPERIMENTAL_COOPERATIVE_MATRIX is not offered by {}: nothing to probe", info.name);
        return Ok(());
    }

    // What naga's WGSL can express: square 8 or 16, f16/f32 elements (f16 needs SHADER_F16).
    let ty = |t| match t {
        wgpu::CooperativeScalarType::F16 if features.contains(f16) => Some(Ty::F16),
        wgpu::CooperativeScalarType::F32 => Some(Ty::F32),
        _ => None,
    };
    let mut configs: Vec<Config> = Vec::new();
    for p in &props {
        let square = p.m_size == p.n_size && p.n_size == p.k_size && matches!(p.m_size, 8 | 16);
        match (square, ty(p.ab_type), ty(p.cr_type)) {
            (true, Some(ab), Some(cr)) if !configs.contains(&Config { n: p.m_size, ab, cr }) => {
                configs.push(Config { n: p.m_size, ab, cr })
            }
            (true, Some(_), Some(_)) => {}
            _ => println!(
                "  (M={} N={} K={} {:?}/{:?}: not in naga's WGSL, skipped)",
                p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type
            ),
        }
    }

    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("coop_matrix_probe"),
        required_features: features & (coop | f16 | timestamps),
        required_limits: adapter.limits(),
        // SAFETY: this probe opts into wgpu's experimental cooperative matrices on purpose; bugs
        // of that implementation are what it is looking for.
        experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))?;
    let timer = device.features().contains(timestamps).then(|| {
        let set = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: None,
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let usage = wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC;
        (set, device.create_buffer(&wgpu::BufferDescriptor { label: None, size: 16, usage, mapped_at_creation: false }))
    });
    let sg = match (info.subgroup_min_size, info.subgroup_max_size) {
        (0, 0) => 32,
        (min, max) if min == max => max,
        (min, max) => {
            println!("subgroup size varies ({min}..{max}): assuming {max}; the throughput kernels may be wrong");
            max
        }
    };
    let (iters, groups) = (number("--iters", 8192)?, number("--groups", 132 * 8)?);
    let probe = Probe { gpu: Gpu::from_device(device, queue), sg, iters, groups, timer };
    println!("throughput: {groups} workgroups × {SUBGROUPS} subgroups of {sg}, {iters} iterations × 4 multiply-adds");
    for cfg in configs {
        println!("configuration {}:", cfg.name());
        if probe.correctness(cfg)? {
            probe.throughput(cfg, false)?;
            probe.throughput(cfg, true)?;
        }
    }
    Ok(())
}

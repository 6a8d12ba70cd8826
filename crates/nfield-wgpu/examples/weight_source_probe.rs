//! Probes where a per-pixel MLP's hidden weights should come from (the experiment behind the
//! baked strategy, `src/baked.rs`): a SIREN of width 64 with 7 hidden layers on a
//! 1080 × 1512 grid, fully unrolled (activations and accumulators in named scalars, no private
//! arrays), one or two samples per invocation, the hidden layers' weights read
//! - `Storage`: from a storage buffer as vec4 (what `shaders/mlp_forward*.wgsl` do),
//! - `Uniform`: from uniform buffers (64 KiB windows) at constant indices,
//! - `Literal`: baked into the shader source as constants, in one function,
//! - `LiteralFns`: the same with one function per hidden layer (a struct in, a struct out).
//!
//! Measured on an H100 through Vulkan (driver 580.159.04), 2026-11-26, one sample per
//! invocation: Storage 161 M samples/s, Uniform 10 M/s, Literal 508 M/s (341 M/s in another
//! run with the four fmas of each vec4 nested in one statement), LiteralFns 511 M/s with a struct (204 M/s passing
//! an array); two samples: Storage 172 M/s, Literal 379, LiteralFns 378. The pipelines
//! compiled in 14 s (Literal) and 6 s (LiteralFns): naga's WGSL front end takes time quadratic
//! in a function's literals (`-- --naga` times it alone), the rest is the driver's.
//!
//! `cargo run --release -p nfield-wgpu --example weight_source_probe [-- --small | --naga]`

use nfield::model::{ModelSpec, SirenSpec};
use nfield_wgpu::{Gpu, codegen};
use std::fmt::Write as _;
use std::time::Instant;
use wgpu::util::DeviceExt;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const WIDTH: usize = 64;
const HIDDEN: usize = 7;
const OMEGA: f32 = 30.0;
/// vec4 rows of one hidden layer, and layers per 64 KiB uniform window.
const LAYER_VEC4: usize = WIDTH * WIDTH / 4;
const LAYERS_PER_WINDOW: usize = 4;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Source {
    Storage,
    Uniform,
    Literal,
    /// As `Literal`, one function per hidden layer (naga's time grows with a function's length).
    LiteralFns,
}

struct Weights {
    first: Vec<f32>, // [o][2]
    first_b: Vec<f32>,
    hidden: Vec<f32>, // [l][o][i]
    hidden_b: Vec<f32>,
    out: Vec<f32>, // [c][i]
    out_b: Vec<f32>,
}

fn weights() -> Weights {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = |scale: f32| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    };
    let hidden_scale = (6.0f32 / WIDTH as f32).sqrt() / OMEGA;
    Weights {
        first: (0..2 * WIDTH).map(|_| uniform(0.5)).collect(),
        first_b: (0..WIDTH).map(|_| uniform(0.7)).collect(),
        hidden: (0..HIDDEN * WIDTH * WIDTH).map(|_| uniform(hidden_scale)).collect(),
        hidden_b: (0..HIDDEN * WIDTH).map(|_| uniform(0.125)).collect(),
        out: (0..3 * WIDTH).map(|_| uniform(hidden_scale)).collect(),
        out_b: (0..3).map(|_| uniform(0.1)).collect(),
    }
}

fn lit(v: f32) -> String {
    format!("{v:?}f")
}

fn shader(w: &Weights, source: Source, samples: usize, image: (usize, usize)) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "@group(0) @binding(0) var<storage, read_write> out: array<f32>;");
    match source {
        Source::Storage => {
            let _ = writeln!(s, "@group(0) @binding(1) var<storage, read> params4: array<vec4<f32>>;");
        }
        Source::Uniform => {
            for win in 0..HIDDEN.div_ceil(LAYERS_PER_WINDOW) {
                let layers = LAYERS_PER_WINDOW.min(HIDDEN - win * LAYERS_PER_WINDOW);
                let _ = writeln!(
                    s,
                    "@group(0) @binding({}) var<uniform> u{win}: array<vec4<f32>, {}>;",
                    win + 1,
                    layers * LAYER_VEC4
                );
            }
        }
        Source::Literal | Source::LiteralFns => {}
    }
    if source == Source::LiteralFns {
        let fields: Vec<String> = (0..WIDTH).map(|o| format!("a{o}: f32")).collect();
        let _ = writeln!(s, "struct Act {{ {} }}", fields.join(", "));
        for l in 0..HIDDEN {
            let _ = writeln!(s, "fn hidden{l}(a: Act) -> Act {{");
            for o in 0..WIDTH {
                let _ = writeln!(s, "    var n{o} = {};", lit(w.hidden_b[l * WIDTH + o]));
            }
            for i in 0..WIDTH {
                let _ = writeln!(s, "    let a{i} = a.a{i};");
                for o in 0..WIDTH {
                    let _ = writeln!(s, "    n{o} = fma({}, a{i}, n{o});", lit(w.hidden[(l * WIDTH + o) * WIDTH + i]));
                }
            }
            let acts: Vec<String> = (0..WIDTH).map(|o| format!("sine({OMEGA:?} * n{o})")).collect();
            let _ = writeln!(s, "    return Act({});\n}}", acts.join(", "));
        }
    }
    // sincos() from shaders/common.wgsl (the engine's sine), behind a SIREN's constants header
    let spec = ModelSpec::Siren(SirenSpec { width: WIDTH, hidden_layers: HIDDEN, ..Default::default() });
    s += &codegen::assemble(&spec, &[], &[codegen::files::COMMON]);
    s += "fn sine(x: f32) -> f32 {\n    return sincos(x).x;\n}\n";
    let (iw, ih) = image;
    let _ = writeln!(
        s,
        "@compute @workgroup_size(64)\nfn main(@builtin(global_invocation_id) gid: vec3<u32>) {{\n    let p = {samples}u * gid.x;\n    if (p >= {n}u) {{ return; }}",
        n = iw * ih
    );
    for t in 0..samples {
        let _ = writeln!(
            s,
            "    let q{t} = min(p + {t}u, {last}u);\n    let x{t} = (f32(q{t} % {iw}u) + 0.5) / {iw}.0 * 2.0 - 1.0;\n    let y{t} = (f32(q{t} / {iw}u) + 0.5) / {ih}.0 * 2.0 - 1.0;",
            last = iw * ih - 1
        );
        for o in 0..WIDTH {
            let _ = writeln!(
                s,
                "    var a{o}_{t} = sine({OMEGA:?} * fma({}, x{t}, fma({}, y{t}, {})));",
                lit(w.first[2 * o]),
                lit(w.first[2 * o + 1]),
                lit(w.first_b[o])
            );
        }
    }
    if source == Source::LiteralFns {
        for t in 0..samples {
            let all: Vec<String> = (0..WIDTH).map(|o| format!("a{o}_{t}")).collect();
            let _ = writeln!(s, "    var h{t} = Act({});", all.join(", "));
            for l in 0..HIDDEN {
                let _ = writeln!(s, "    h{t} = hidden{l}(h{t});");
            }
            for o in 0..WIDTH {
                let _ = writeln!(s, "    a{o}_{t} = h{t}.a{o};");
            }
        }
    }
    for l in 0..HIDDEN * usize::from(source != Source::LiteralFns) {
        let _ = writeln!(s, "    {{ // hidden layer {l}");
        for t in 0..samples {
            for o in 0..WIDTH {
                let _ = writeln!(s, "    var n{o}_{t} = {};", lit(w.hidden_b[l * WIDTH + o]));
            }
        }
        for i in (0..WIDTH).step_by(4) {
            for t in 0..samples {
                let _ = writeln!(
                    s,
                    "    let v{i}_{t} = vec4<f32>(a{}_{t}, a{}_{t}, a{}_{t}, a{}_{t});",
                    i,
                    i + 1,
                    i + 2,
                    i + 3
                );
            }
            for o in 0..WIDTH {
                let row = (l * WIDTH + o) * WIDTH + i;
                match source {
                    Source::Storage | Source::Uniform => {
                        let load = if source == Source::Storage {
                            format!("params4[{}u]", row / 4)
                        } else {
                            let win = l / LAYERS_PER_WINDOW;
                            format!("u{win}[{}]", row / 4 - win * LAYERS_PER_WINDOW * LAYER_VEC4)
                        };
                        let _ = writeln!(s, "    let w{o}_{i} = {load};");
                        for t in 0..samples {
                            let _ = writeln!(s, "    n{o}_{t} += dot(w{o}_{i}, v{i}_{t});");
                        }
                    }
                    Source::Literal | Source::LiteralFns => {
                        for t in 0..samples {
                            for k in 0..4 {
                                let w = lit(w.hidden[row + k]);
                                let _ = writeln!(s, "    n{o}_{t} = fma({w}, a{}_{t}, n{o}_{t});", i + k);
                            }
                        }
                    }
                }
            }
        }
        for t in 0..samples {
            for o in 0..WIDTH {
                let _ = writeln!(s, "    a{o}_{t} = sine({OMEGA:?} * n{o}_{t});");
            }
        }
        let _ = writeln!(s, "    }}");
    }
    for t in 0..samples {
        for c in 0..3 {
            let terms: Vec<String> = (0..WIDTH).map(|i| format!("{} * a{i}_{t}", lit(w.out[c * WIDTH + i]))).collect();
            let _ = writeln!(s, "    let z{c}_{t} = {} + {};", lit(w.out_b[c]), terms.join(" + "));
        }
        let _ = writeln!(
            s,
            "    if (p + {t}u < {n}u) {{\n        out[3u * (p + {t}u)] = 1.0 / (1.0 + exp(-z0_{t}));\n        out[3u * (p + {t}u) + 1u] = 1.0 / (1.0 + exp(-z1_{t}));\n        out[3u * (p + {t}u) + 2u] = 1.0 / (1.0 + exp(-z2_{t}));\n    }}",
            n = iw * ih
        );
    }
    s += "}\n";
    s
}

/// Times naga's WGSL front end, validator and SPIR-V back end on `src`.
fn naga_seconds(src: &str) -> Res<f64> {
    use wgpu::naga;
    let start = Instant::now();
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let parsed = start.elapsed().as_secs_f64();
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)?;
    let validated = start.elapsed().as_secs_f64();
    naga::back::spv::write_vec(&module, &info, &Default::default(), None)?;
    println!(
        "  parse {parsed:.2} s, validate {:.2} s, spv {:.2} s",
        validated - parsed,
        start.elapsed().as_secs_f64() - validated
    );
    Ok(start.elapsed().as_secs_f64())
}

fn main() -> Res<()> {
    if std::env::args().any(|a| a == "--naga") {
        let w = weights();
        for samples in [1, 2] {
            for source in [Source::Storage, Source::Uniform, Source::Literal, Source::LiteralFns] {
                println!(
                    "{source:?} × {samples}: naga {:.2} s",
                    naga_seconds(&shader(&w, source, samples, (1080, 1512)))?
                );
            }
        }
        return Ok(());
    }
    let gpu = Gpu::open()?;
    println!("adapter: {}", gpu.describe());
    let w = weights();
    // `-- --small` for a CPU adapter: a 96 × 64 grid
    let image = if std::env::args().any(|a| a == "--small") { (96, 64) } else { (1080, 1512) };
    let n = image.0 * image.1;
    let out_buffer = gpu.storage("out", (3 * n * 4) as u64)?;
    let params4 = gpu.storage_init("params4", &w.hidden)?;
    let windows: Vec<wgpu::Buffer> = w
        .hidden
        .chunks(LAYERS_PER_WINDOW * WIDTH * WIDTH)
        .map(|chunk| {
            gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("window"),
                contents: bytemuck::cast_slice(chunk),
                usage: wgpu::BufferUsages::UNIFORM,
            })
        })
        .collect();
    let mut reference: Option<Vec<f32>> = None;
    for samples in [1, 2] {
        for source in [Source::Storage, Source::Uniform, Source::Literal, Source::LiteralFns] {
            if samples == 2 && source == Source::Uniform {
                continue;
            }
            let src = shader(&w, source, samples, image);
            let compile = Instant::now();
            let pipeline = gpu.compute_pipeline("probe", &src, "main")?;
            let compile = compile.elapsed().as_secs_f64();
            let mut entries: Vec<(u32, &wgpu::Buffer)> = vec![(0, &out_buffer)];
            match source {
                Source::Storage => entries.push((1, &params4)),
                Source::Uniform => entries.extend((1..).zip(&windows)),
                Source::Literal | Source::LiteralFns => {}
            }
            let bind = gpu.bind("probe", &pipeline.get_bind_group_layout(0), &entries)?;
            let groups = n.div_ceil(samples * 64) as u32;
            let run = |reps: usize| -> Res<f64> {
                let mut enc = gpu.device.create_command_encoder(&Default::default());
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_pipeline(&pipeline);
                    pass.set_bind_group(0, &bind, &[]);
                    for _ in 0..reps {
                        pass.dispatch_workgroups(groups, 1, 1);
                    }
                }
                let start = Instant::now();
                gpu.queue.submit([enc.finish()]);
                gpu.wait()?;
                Ok(start.elapsed().as_secs_f64() / reps as f64)
            };
            run(2)?;
            let mut best = f64::INFINITY;
            for _ in 0..3 {
                best = best.min(run(10)?);
            }
            let result = gpu.read_f32(&out_buffer, 0, 3 * n)?;
            let diff = match &reference {
                None => {
                    reference = Some(result);
                    0.0
                }
                Some(r) => r.iter().zip(&result).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max),
            };
            println!(
                "{source:?} × {samples} sample(s): {:.3} ms, {:.0} M samples/s; compile {:.2} s, source {} KB; max |diff| {diff:.2e}",
                best * 1e3,
                n as f64 / best / 1e6,
                compile,
                src.len() / 1000
            );
        }
    }
    Ok(())
}

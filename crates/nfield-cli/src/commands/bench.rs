//! `nfield bench`: training and inference throughput as JSON lines (DESIGN.md's record format).

use crate::engines::{AnyEngine, EngineChoice, Request};
use anyhow::{Context, Result, bail};
use clap::Args;
use nfield::data::Image;
use nfield::model::{HashGridSpec, Model, ModelSpec, SirenSpec};
use nfield::train::{AdamConfig, TrainOptions};
use nfield::{Engine, InferOptions, Query};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

/// Measure training and inference throughput.
///
/// Each case prints one JSON line (name, engine, device, commit, date, command, batch,
/// samples_per_s, ms_per_step or ms_per_image, psnr_db) and, with --out, is appended to a
/// `.jsonl` file. Run the peers of `bench/` on the same machine to compare
/// (`bench/run_cpu.sh` does both).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The image to train on and render [examples/astronaut.png].
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Scale the image down so that its longer side is at most this many pixels.
    #[arg(long)]
    pub max_dim: Option<u32>,
    /// Cases to run (comma-separated): siren-64x8, siren-64x3, hash-grid [siren-64x8,siren-64x3].
    #[arg(long, value_delimiter = ',', default_value = "siren-64x8,siren-64x3")]
    pub cases: Vec<String>,
    /// Training batch sizes (comma-separated) [16384].
    #[arg(long, value_delimiter = ',', default_value = "16384")]
    pub batch: Vec<u32>,
    /// Timed training steps per case (after 3 warm-up steps).
    #[arg(long, default_value_t = 20)]
    pub steps: u32,
    /// Timed full-image inferences per case (after 1 warm-up).
    #[arg(long, default_value_t = 5)]
    pub renders: u32,
    /// Append the records to this JSON-lines file (created with its folder if missing).
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: Option<PathBuf>,
    /// Engine to measure.
    #[arg(long, value_enum, default_value_t = EngineChoice::Cpu)]
    pub engine: EngineChoice,
    /// CPU threads [all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// CUDA: also run the PyTorch peers (`peer_torch_siren.py` and `peer_torch_hashgrid.py` in
    /// this folder, e.g. a copy of ../shared/bench) with DESIGN.md's pinned command lines.
    #[arg(long, value_name = "DIR")]
    pub peers: Option<PathBuf>,
    /// Python for the peers.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// CUDA: fewer timed steps.
    #[arg(long)]
    pub quick: bool,
    /// CUDA: run only the cases whose name contains one of these (comma-separated), e.g.
    /// `train/siren-64x8,infer` [all].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

fn case_spec(name: &str) -> Result<(ModelSpec, f32)> {
    let siren = |hidden| ModelSpec::Siren(SirenSpec { width: 64, hidden_layers: hidden, ..Default::default() });
    Ok(match name {
        "siren-64x8" => (siren(8), 1e-3),
        "siren-64x3" => (siren(3), 1e-3),
        "hash-grid" => (ModelSpec::HashGrid(HashGridSpec::tiny_cuda_nn_image()), 1e-2),
        other => bail!("unknown case {other:?}; expected siren-64x8, siren-64x3 or hash-grid"),
    })
}

/// The commit being measured: `$NFIELD_COMMIT`, else the commit the binary was built from
/// (build.rs; `-dirty` when built from modified tracked files), else "unknown".
pub fn commit() -> String {
    std::env::var("NFIELD_COMMIT").unwrap_or_else(|_| env!("NFIELD_BUILD_COMMIT").to_string())
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Runs `nfield bench`.
pub fn run(args: BenchArgs) -> Result<u8> {
    if args.steps == 0 || args.renders == 0 {
        let option = if args.steps == 0 { "steps" } else { "renders" };
        return Err(nfield::Error::option(option, "expected at least 1").into());
    }
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("{}: creating the folder", dir.display()))?;
        }
        nfield::format::check_writable(out)?;
    }
    let image_path = args.image.clone().unwrap_or_else(|| PathBuf::from("examples/astronaut.png"));
    let image =
        Image::load(&image_path, args.max_dim).with_context(|| "the benchmark image (choose one with --image)")?;
    let mut engine = AnyEngine::select(Request {
        choice: args.engine,
        threads: args.threads,
        precision: Some(nfield::Precision::Fp16),
        train: None,
        quiet: true,
    })?;
    let common = json!({
        "engine": engine.name(),
        "device": engine.device(),
        "commit": commit(),
        "date": today(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "image": format!("{} ({}×{})", image_path.display(), image.width, image.height),
    });
    let mut records = Vec::new();
    let mut emit = |mut r: Value| {
        if let (Some(obj), Some(c)) = (r.as_object_mut(), common.as_object()) {
            for (k, v) in c {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        println!("{r}");
        records.push(r);
    };
    if let crate::engines::AnyEngine::Wgpu(e) = &mut engine {
        super::bench_wgpu::run(e, &image, args.quick, &args.only, &mut emit);
    }
    if let crate::engines::AnyEngine::Cuda(e) = &mut engine {
        super::bench_cuda::run(e, &image, args.quick, &args.only, &mut emit);
        if let Some(peers) = &args.peers {
            super::bench_cuda::run_peer(peers, &image_path, &args.python, &mut emit);
            super::bench_hash::run_peer(peers, &image_path, &args.python, &mut emit);
        }
    }
    let cpu_cases = if matches!(engine, crate::engines::AnyEngine::Cpu(_)) { args.cases.as_slice() } else { &[] };
    for case in cpu_cases {
        let (spec, lr) = case_spec(case)?;
        let model = Model::new(spec, 0)?;
        for &batch in &args.batch {
            let opts =
                TrainOptions { batch, seed: 0, adam: AdamConfig { lr, ..Default::default() }, ..Default::default() };
            engine.load(&model, Some(&image), &opts)?;
            engine.train(3)?; // warm-up: first-touch of buffers, caches
            let t = Instant::now();
            let stats = engine.train(args.steps)?;
            let dt = t.elapsed().as_secs_f64() / args.steps as f64;
            let psnr = engine.evaluate()?.psnr_db;
            emit(json!({
                "name": format!("train/{case}/b{batch}"),
                "batch": batch,
                "steps": args.steps,
                "samples_per_s": (batch as f64 / dt).round(),
                "ms_per_step": (dt * 1e6).round() / 1e3,
                "loss": stats.loss,
                "psnr_db": (psnr * 100.0).round() / 100.0,
            }));
        }
        // Full-image inference on the image's grid (device time; the copy is separate).
        engine.load(&model, None, &TrainOptions::default())?;
        let query = Query::Grid {
            width: image.width,
            height: image.height,
            coords: model.coords,
            view: nfield::model::View::FULL,
        };
        engine.infer(&query, &InferOptions::default())?;
        let t = Instant::now();
        for _ in 0..args.renders {
            engine.infer(&query, &InferOptions::default())?;
        }
        let dt = t.elapsed().as_secs_f64() / args.renders.max(1) as f64;
        emit(json!({
            "name": format!("infer/{case}/full-image"),
            "samples_per_s": (image.pixel_count() as f64 / dt).round(),
            "ms_per_image": (dt * 1e5).round() / 100.0,
        }));
    }
    if let Some(out) = &args.out {
        let mut text = std::fs::read_to_string(out).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for r in &records {
            text += &format!("{r}\n");
        }
        nfield::format::write_atomic(out, |w| w.write_all(text.as_bytes()))?;
        eprintln!("appended {} records to {}", records.len(), out.display());
    }
    Ok(0)
}

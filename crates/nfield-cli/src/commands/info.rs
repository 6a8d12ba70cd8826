//! `nfield info`: what a model file holds.

use anyhow::Result;
use clap::Args;
use nfield::cpu::CpuEngine;
use nfield::model::ModelSpec;
use nfield::train::{TrainOptions, psnr_from_mse};
use nfield::{Engine, InferOptions, Query, format};
use std::path::PathBuf;

/// Show a model file's architecture, parameter count, metadata and its PSNR on the embedded
/// ground-truth samples.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The model file: the seed's JSON schema, or safetensors (`.safetensors`).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `nfield info`.
pub fn run(args: InfoArgs) -> Result<u8> {
    let file = format::read_model(&args.model)?;
    let model = &file.model;
    let layout = model.layout();
    let trainable = if layout.encoding_trainable { layout.total } else { layout.encoding.start };
    let samples = file.samples.as_ref().map(|s| {
        let positions: Vec<f32> = s.samples.iter().flat_map(|x| x.position).collect();
        let values: Vec<f32> = s.samples.iter().flat_map(|x| x.value).collect();
        (s, positions, values)
    });
    let sample_psnr = match &samples {
        Some((_, positions, values)) if !positions.is_empty() => {
            let mut engine = CpuEngine::new();
            engine.load(model, None, &TrainOptions::default())?;
            let n = engine.infer(&Query::Points(positions), &InferOptions::default())?;
            let mut out = vec![0.0f32; 3 * n];
            engine.read_output(&mut out)?;
            Some(psnr_from_mse(nfield::train::mse(&out, values)))
        }
        _ => None,
    };
    let mlp = model.spec.mlp();
    let layers: Vec<String> = mlp.layers.iter().map(|l| format!("{}→{}", l.inputs, l.outputs)).collect();
    let extra = match &model.spec {
        ModelSpec::Siren(_) => String::new(),
        ModelSpec::Fourier(s) => {
            format!("Fourier B: 2×{} (σ {}, {})", s.frequencies, s.sigma, if s.train_b { "trained" } else { "frozen" })
        }
        ModelSpec::HashGrid(s) => format!(
            "hash table: {}×{}×{} = {} values; level scales {:.3} … {:.3}",
            s.levels,
            s.table_size(),
            s.features_per_level,
            s.table_len(),
            s.level_scales().first().copied().unwrap_or(0.0),
            s.level_scales().last().copied().unwrap_or(0.0)
        ),
    };
    if args.json {
        let v = serde_json::json!({
            "file": args.model,
            "type": model.kind().seed_type(),
            "architecture": model.spec.describe(),
            "layers": layers,
            "parameters": layout.total,
            "trainable_parameters": trainable,
            "coordinates": model.coords.describe(),
            "image": model.image.map(|i| [i.width, i.height]),
            "sample_count": samples.as_ref().map(|s| s.0.samples.len()),
            "sample_seed": samples.as_ref().map(|s| s.0.seed),
            "sample_psnr_db": sample_psnr,
        });
        println!("{v}");
        return Ok(0);
    }
    println!("file:         {}", args.model.display());
    println!("type:         {}", model.kind().seed_type());
    println!("architecture: {}", model.spec.describe());
    println!("layers:       {}", layers.join(", "));
    if !extra.is_empty() {
        println!("encoding:     {extra}");
    }
    println!("parameters:   {} ({} trainable)", layout.total, trainable);
    println!("coordinates:  {}", model.coords.describe());
    match model.image {
        Some(i) => println!("image:        {}×{} (aspect {:.4})", i.width, i.height, i.width as f64 / i.height as f64),
        None => println!("image:        (not recorded)"),
    }
    match (&samples, sample_psnr) {
        (Some((s, _, _)), Some(p)) => {
            println!("samples:      {} (seed {}); PSNR on them {p:.2} dB", s.samples.len(), s.seed)
        }
        _ => println!("samples:      none embedded"),
    }
    Ok(0)
}

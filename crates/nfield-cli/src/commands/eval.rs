//! `nfield eval`: PSNR and SSIM of a model against an image.

use crate::engines::{self, AnyEngine, EngineChoice, PrecisionChoice, Request, StrategyChoice};
use anyhow::Result;
use clap::Args;
use nfield::data::Image;
use nfield::train::{TrainOptions, mse, psnr_from_mse, ssim};
use nfield::{Engine, format};
use std::path::PathBuf;

/// PSNR and SSIM of a model against an image, rendered on the image's own pixel grid in the
/// model's coordinate convention.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model file: the seed's JSON schema, or safetensors (`.safetensors`).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The reference image (PNG or JPEG).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Scale the image down (Lanczos) so that its longer side is at most this many pixels
    /// (use the value the model was trained with).
    #[arg(long)]
    pub max_dim: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Engine to render on.
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
    /// CPU threads [all cores].
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `nfield eval`.
pub fn run(args: EvalArgs) -> Result<u8> {
    let file = format::read_model(&args.model)?;
    let image = Image::load(&args.image, args.max_dim)?;
    let mut model = file.model;
    // Evaluate on the image's own grid: the model's unit square stretched over it.
    model.image = Some(nfield::model::ImageSize { width: image.width, height: image.height });
    let mut engine = AnyEngine::select(Request {
        choice: args.engine,
        threads: args.threads,
        precision: Some(nfield::Precision::Fp32),
        train: None,
        quiet: true,
    })?;
    engine.load(&model, None, &TrainOptions::default())?;
    let opts = engines::infer_options(&engine, StrategyChoice::PerPixel, PrecisionChoice::Fp32);
    let mut pred = engines::render(&mut engine, &model, image.width, image.height, model.coords, &opts)?;
    pred.rgb.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0)); // RGB in [0, 1], as evaluate() and the PNG
    let psnr = psnr_from_mse(mse(&pred.rgb, &image.rgb));
    let ssim = ssim(&pred, &image).unwrap_or(f64::NAN);
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "model": args.model, "image": args.image, "width": image.width, "height": image.height, "psnr_db": psnr, "ssim": ssim })
        );
    } else {
        println!("{}×{} px, {}: PSNR {psnr:.2} dB, SSIM {ssim:.4}", image.width, image.height, model.coords.describe());
    }
    Ok(0)
}

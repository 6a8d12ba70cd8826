//! Compatibility with the seed's own producer: `../shared/seed/train.py` (the seed's MLX
//! trainer, which runs on Linux CPU) fits a small image with SIREN and Fourier models of
//! non-default depth and width; nfield reads each file, reports its architecture, renders it on
//! train.py's grid to within 1/255 of train.py's own reconstruction PNG, and writes it back in a
//! form that train.py's model classes load and reproduce the same PNG from.
//!
//! train.py is found in `$NFIELD_SEED_DIR` (else `<workspace>/../shared/seed`) and run with
//! `$NFIELD_PYTHON` (else `python3`), which needs `mlx`, `numpy` and `PIL`. Without them the
//! tests print `skipped: seed_producer: …` and pass, except under `CI=true`, where they fail.

use image::RgbImage;
use nfield::cpu::CpuEngine;
use nfield::model::{CoordRange, Coords, PixelGrid, View};
use nfield::train::TrainOptions;
use nfield::{Engine, InferOptions, Query, format};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// Side of the training image (train.py's `--max_dim` keeps it as is).
const SIZE: u32 = 64;
/// Optimizer steps train.py takes (a second or two on a laptop CPU).
const STEPS: &str = "20";

/// The seed's trainer and a Python that can run it.
struct Producer {
    python: PathBuf,
    seed_dir: PathBuf,
}

/// Finds train.py and a Python with MLX, numpy and Pillow; `None` (after a visible `skipped:`
/// line) when either is missing, a panic instead when `CI=true` (CI installs MLX).
fn producer(test: &str) -> Option<Producer> {
    let seed_dir = std::env::var_os("NFIELD_SEED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/seed")));
    let python = std::env::var_os("NFIELD_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"));
    let missing = if !seed_dir.join("train.py").is_file() {
        Some(format!(
            "{} is missing (set NFIELD_SEED_DIR to the folder holding train.py)",
            seed_dir.join("train.py").display()
        ))
    } else {
        match Command::new(&python).args(["-c", "import mlx.core, numpy, PIL"]).output() {
            Err(e) => Some(format!("cannot run {} ({e}); set NFIELD_PYTHON", python.display())),
            Ok(out) if !out.status.success() => {
                let err = String::from_utf8_lossy(&out.stderr);
                let last = err.trim().lines().last().map(|l| format!(": {l}")).unwrap_or_default();
                Some(format!(
                    "{} cannot import mlx.core, numpy and PIL (pip install mlx mlx-cpu numpy pillow){last}",
                    python.display()
                ))
            }
            Ok(_) => None,
        }
    };
    match missing {
        None => Some(Producer { python, seed_dir }),
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("seed_producer: {test}: {why}; CI must have the seed's trainer")
        }
        Some(why) => {
            eprintln!("skipped: seed_producer: {test}: {why}");
            None
        }
    }
}

/// Runs a command to completion and panics with its output if it fails.
fn run(what: &str, cmd: &mut Command) -> Output {
    let t = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{what}: {:.2} s", t.elapsed().as_secs_f64());
    out
}

/// The real `nfield` binary, run in `dir`.
fn nfield<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(dir: &Path, args: I) -> Output {
    let args: Vec<S> = args.into_iter().collect();
    let what = format!("nfield {}", args.iter().map(|a| a.as_ref().to_string_lossy()).collect::<Vec<_>>().join(" "));
    run(&what, Command::new(env!("CARGO_BIN_EXE_nfield")).args(&args).current_dir(dir))
}

/// A 64×64 crop-free resize of the project's example image, written as `in.png`.
fn write_input(dir: &Path) -> PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/astronaut.png");
    let img = image::open(src).expect("examples/astronaut.png decodes").to_rgb8();
    let small = image::imageops::resize(&img, SIZE, SIZE, image::imageops::FilterType::Lanczos3);
    let path = dir.join("in.png");
    small.save(&path).expect("write in.png");
    path
}

fn read_png(path: &Path) -> RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// What one model case passes to train.py and expects nfield to report.
struct Case {
    kind: &'static str,
    train_args: &'static [&'static str],
    /// `nfield info`'s layer list.
    layers: &'static [&'static str],
    /// Weights and biases of the MLP, plus B for Fourier (counted from the architecture).
    parameters: u64,
}

/// SIREN 2→32, 3×(32→32), 32→3 (train.py's defaults: width 64, 4 hidden layers).
const SIREN: Case = Case {
    kind: "siren",
    train_args: &["--hidden-width", "32", "--num-layers", "3"],
    layers: &["2→32", "32→32", "32→32", "32→32", "32→3"],
    parameters: (2 * 32 + 32) + 3 * (32 * 32 + 32) + (32 * 3 + 3),
};

/// Fourier: 16 frequencies (σ 2) → 32 features, 2 ReLU layers of 48, 48→3 (defaults: 64
/// frequencies, σ 1, width 64, 4 layers).
const FOURIER: Case = Case {
    kind: "fourier",
    train_args: &["--hidden-width", "48", "--num-layers", "2", "--num-frequencies", "16", "--sigma", "2"],
    layers: &["32→48", "48→48", "48→3"],
    parameters: (32 * 48 + 48) + (48 * 48 + 48) + (48 * 3 + 3) + 2 * 16,
};

/// train.py reads a model file written by nfield, checks it against its own file and the
/// training image, rebuilds its model class from it and writes the reconstruction PNG that
/// `reconstruct_and_save` makes. Prints train.py's parameter count for the architecture.
const SEED_READS_BACK: &str = r#"
import json, sys
import numpy as np
seed_dir, kind, orig_path, back_path, image_path, out_png = sys.argv[1:7]
sys.path.insert(0, seed_dir)
import train
import mlx.core as mx
from mlx.utils import tree_flatten

orig = json.load(open(orig_path))
back = json.load(open(back_path))

# The schema train.py writes (SPEC 4.1), keys in its order.
assert list(back) == list(orig), f"top-level keys {list(back)} != train.py's {list(orig)}"
assert back["metadata"]["mode"] == "image", back["metadata"]
for k in ("width", "height", "aspect_ratio"):
    assert back["metadata"]["image"][k] == orig["metadata"]["image"][k], (k, back["metadata"], orig["metadata"])
assert back["model"]["type"] == kind, back["model"]
layers, orig_layers = back["mlp"]["layers"], orig["mlp"]["layers"]
assert isinstance(layers, list) and len(layers) == len(orig_layers), (len(layers), len(orig_layers))
for l, (a, b) in enumerate(zip(layers, orig_layers)):
    assert set(a) == {"weights", "biases"}, (l, list(a))
    n_out, n_in = len(b["weights"]), len(b["weights"][0])
    rows = a["weights"]
    assert isinstance(rows, list) and len(rows) == n_out, f"layers[{l}].weights: {len(rows)} rows, want {n_out} (out)"
    assert all(isinstance(r, list) and len(r) == n_in for r in rows), f"layers[{l}].weights: rows must hold {n_in} (in) floats"
    assert len(a["biases"]) == n_out, f"layers[{l}].biases: {len(a['biases'])}, want {n_out}"
    # Zero steps of training: the float32 values survive nfield's reading and writing exactly.
    assert np.array_equal(np.asarray(rows, np.float32), np.asarray(b["weights"], np.float32)), f"layers[{l}].weights changed"
    assert np.array_equal(np.asarray(a["biases"], np.float32), np.asarray(b["biases"], np.float32)), f"layers[{l}].biases changed"
if kind == "fourier":
    B = back["fourier"]["B"]
    assert len(B) == 2 and all(len(r) == len(orig["fourier"]["B"][0]) for r in B), "fourier.B must be 2 rows of m floats"
    assert np.array_equal(np.asarray(B, np.float32), np.asarray(orig["fourier"]["B"], np.float32)), "fourier.B changed"
    assert back["fourier"]["sigma"] == orig["fourier"]["sigma"], (back["fourier"]["sigma"], orig["fourier"]["sigma"])
else:
    assert "fourier" not in back

# Embedded samples: ground truth at train.py's positions (linspace endpoints in [-1, 1]).
w, h = back["metadata"]["image"]["width"], back["metadata"]["image"]["height"]
positions, colors, w2, h2 = train.sample_image(image_path, max_dim=max(w, h), space="minus_one_one")
assert (w2, h2) == (w, h), ((w2, h2), (w, h))
samples = back["samples"]
assert back["sample_count"] == len(samples) == 256 and back["sample_seed"] == 1337, (back["sample_count"], back["sample_seed"])
seen = set()
for s in samples:
    assert len(s["position"]) == 2 and len(s["value"]) == 3, s
    x, y = s["position"]
    i, j = round((x + 1) / 2 * (w - 1)), round((y + 1) / 2 * (h - 1))
    k = j * w + i
    seen.add(k)
    assert np.array_equal(np.float32(s["position"]), positions[k]), (s["position"], positions[k].tolist())
    assert np.array_equal(np.float32(s["value"]), colors[k]), (s["value"], colors[k].tolist())
assert len(seen) == len(samples), "samples repeat a pixel"

# train.py's own model class, loaded from nfield's file, renders train.py's PNG.
width = len(layers[0]["biases"])
if kind == "siren":
    model = train.SirenMLP(hidden_width=width, num_hidden_layers=len(layers) - 2, out_dim=3)
else:
    model = train.FourierMLP(hidden_width=width, num_hidden_layers=len(layers) - 1, out_dim=3,
                             num_frequencies=len(back["fourier"]["B"][0]), sigma=back["fourier"]["sigma"])
    model.ff.B = mx.array(np.asarray(back["fourier"]["B"], np.float32))
assert len(model.linear_layers) == len(layers)
for lin, layer in zip(model.linear_layers, layers):
    lin.weight = mx.array(np.asarray(layer["weights"], np.float32))
    lin.bias = mx.array(np.asarray(layer["biases"], np.float32))
train.reconstruct_and_save(model, positions, (w, h), positions.shape[0], out_png)
print(json.dumps({"parameters": sum(p.size for _, p in tree_flatten(model.parameters()))}))
"#;

/// The full check for one model type.
fn check(case: &Case) {
    let test = case.kind;
    let Some(producer) = producer(test) else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let input = write_input(dir);
    let name = format!("{}.json", case.kind);
    let file = dir.join(&name);
    let recon = dir.join(format!("{}_reconstructed.png", case.kind));

    // 1. train.py fits the image; it writes the model file and its reconstruction PNG.
    let train_py = producer.seed_dir.join("train.py");
    let mut cmd = Command::new(&producer.python);
    cmd.arg(&train_py)
        .args(["--model", case.kind, "--image", "in.png", "--max_dim", "64", "--steps", STEPS])
        .args(case.train_args)
        .args(["--weights", &name])
        .current_dir(dir);
    run(&format!("{test}: train.py"), &mut cmd);
    assert!(file.is_file() && recon.is_file(), "{test}: train.py wrote no {} or {}", file.display(), recon.display());
    let theirs = read_png(&recon);
    assert_eq!(theirs.dimensions(), (SIZE, SIZE), "{test}: train.py's reconstruction size");

    // 2. `nfield info` reports train.py's architecture.
    let out = nfield(dir, ["info", &name, "--json"]);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{test}: nfield info --json is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    });
    assert_eq!(info["type"], case.kind, "{test}: {info}");
    let layers: Vec<&str> =
        info["layers"].as_array().expect("layers").iter().map(|l| l.as_str().expect("str")).collect();
    assert_eq!(layers, case.layers, "{test}: layers of {info}");
    assert_eq!(info["parameters"], case.parameters, "{test}: parameter count in {info}");
    assert_eq!(info["image"], serde_json::json!([SIZE, SIZE]), "{test}: {info}");
    assert_eq!(info["coordinates"], "linspace endpoints in [-1, 1]", "{test}: train.py's convention; {info}");
    assert_eq!(
        (info["sample_count"].as_u64(), info["sample_seed"].as_u64()),
        (Some(256), Some(1337)),
        "{test}: {info}"
    );

    // 3. `nfield render` (default size and convention for a file without one: train.py's grid)
    //    matches train.py's PNG within 1/255 per channel. nfield rounds to nearest, train.py
    //    truncates, so the difference is 0 or 1 and about 0.5 on average; a shift of the grid or
    //    a wrong activation shows as larger differences or a larger mean.
    nfield(dir, ["render", &name, "-o", "ours.png", "--engine", "cpu", "--quiet"]);
    let ours = read_png(&dir.join("ours.png"));
    assert_eq!(ours.dimensions(), (SIZE, SIZE), "{test}: nfield render's default size is the training size");
    let (mut worst, mut sum, mut at) = (0i32, 0i64, (0, 0, 0));
    for (x, y, p) in ours.enumerate_pixels() {
        for c in 0..3 {
            let d = p[c] as i32 - theirs.get_pixel(x, y)[c] as i32;
            sum += d.abs() as i64;
            if d.abs() > worst.abs() {
                (worst, at) = (d, (x, y, c));
            }
        }
    }
    let mean = sum as f64 / (3 * SIZE * SIZE) as f64;
    eprintln!("{test}: nfield render vs train.py's PNG: max |Δ| {} (8-bit), mean |Δ| {mean:.3}", worst.abs());
    assert!(
        worst.abs() <= 1,
        "{test}: nfield's render differs from train.py's by {worst}/255 at pixel ({}, {}) channel {} \
         (nfield {}, train.py {})",
        at.0,
        at.1,
        at.2,
        ours.get_pixel(at.0, at.1)[at.2],
        theirs.get_pixel(at.0, at.1)[at.2]
    );
    assert!(mean < 0.7, "{test}: mean |Δ| {mean:.3}/255 against train.py's PNG suggests a systematic shift");

    // 3b. Stricter, on nfield's float output before quantisation: train.py's byte is
    //     floor(255·clip(v)), so 255·clip(ours) must lie in [byte, byte + 1] up to float noise.
    let model = format::read_model(&file).expect("nfield reads train.py's file").model;
    let train_py_coords = Coords { grid: PixelGrid::Endpoints, range: CoordRange::MinusOneOne };
    assert_eq!(model.coords, train_py_coords, "{test}: a file without a recorded convention gets train.py's");
    let mut engine = CpuEngine::new();
    engine.load(&model, None, &TrainOptions::default()).expect("load");
    let query = Query::Grid { width: SIZE, height: SIZE, coords: train_py_coords, view: View::FULL };
    let n = engine.infer(&query, &InferOptions::default()).expect("infer");
    let mut rgb = vec![0.0f32; 3 * n];
    engine.read_output(&mut rgb).expect("read");
    const NOISE: f64 = 0.02; // in 8-bit units: |Δv| ≤ 8e-5 between MLX and nfield
    let mut slack = 0.0f64;
    for (k, (&v, &byte)) in rgb.iter().zip(theirs.as_raw()).enumerate() {
        let t = v.clamp(0.0, 1.0) as f64 * 255.0;
        let out = (byte as f64 - t).max(t - (byte as f64 + 1.0)).max(0.0);
        slack = slack.max(out);
        assert!(
            out <= NOISE,
            "{test}: pixel ({}, {}) channel {}: nfield predicts {v} (×255 = {t:.4}), train.py wrote {byte} \
             (its value lies in [{byte}, {}) / 255)",
            (k / 3) as u32 % SIZE,
            (k / 3) as u32 / SIZE,
            k % 3,
            byte as u32 + 1
        );
    }
    eprintln!("{test}: nfield's float render lies within train.py's truncation bins up to {slack:.2e}/255");

    // 4. Round trip: nfield writes the model back (zero steps, so the same parameters) in the
    //    seed schema; train.py's model class loads it and reproduces train.py's PNG exactly.
    let back = dir.join("back.json");
    nfield(
        dir,
        ["train", "in.png", "--resume", &name, "--steps", "0", "-o", "back.json"].into_iter().chain([
            "--no-image",
            "--engine",
            "cpu",
            "--quiet",
        ]),
    );
    let out = run(
        &format!("{test}: train.py's classes read back.json"),
        Command::new(&producer.python)
            .args(["-c", SEED_READS_BACK])
            .arg(&producer.seed_dir)
            .arg(case.kind)
            .args([&file, &back, &input, &dir.join("seed_from_back.png")])
            .current_dir(dir),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let report: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{test}: {e}: {stdout}"));
    assert_eq!(report["parameters"], case.parameters, "{test}: train.py's parameter count for the architecture");
    let again = read_png(&dir.join("seed_from_back.png"));
    assert!(again == theirs, "{test}: train.py's model loaded from nfield's file renders a different PNG");
    nfield(dir, ["render", "back.json", "-o", "back.png", "--engine", "cpu", "--quiet"]);
    assert!(read_png(&dir.join("back.png")) == ours, "{test}: nfield renders its own copy differently");

    // 5. nfield also continues training a train.py file (Adam from zero, no checkpoint).
    nfield(
        dir,
        ["train", "in.png", "--resume", &name, "--steps", "2", "-o", "more.json"].into_iter().chain([
            "--no-image",
            "--engine",
            "cpu",
            "--quiet",
        ]),
    );
    let more = format::read_model(&dir.join("more.json")).expect("nfield reads its own file").model;
    assert_eq!(more.spec, model.spec, "{test}: resuming keeps the architecture");
    assert_ne!(more.params, model.params, "{test}: two steps change the parameters");
}

#[test]
fn siren_from_train_py_renders_like_train_py() {
    check(&SIREN);
}

#[test]
fn fourier_from_train_py_renders_like_train_py() {
    check(&FOURIER);
}

//! Happy paths of every command, driving the real `nfield` and `train_siren` binaries with tiny
//! settings: what they print, the files they write and how those files look.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;
use tempfile::TempDir;

/// A fresh folder holding a 32×24 PNG, `photo.png` (24×18 once scaled with `--max-dim 24`).
fn setup() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("photo.png");
    write_png(&img, 32, 24);
    (dir, img)
}

/// `nfield train photo.png` with tiny, fast settings, then `extra`.
fn train_args<'a>(img: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["train", s(img), "--max-dim", "24", "--batch", "64", "--width", "8", "--layers", "1"];
    a.extend_from_slice(&["--samples", "16"]);
    a.extend_from_slice(extra);
    a
}

/// The safetensors metadata of an optimizer checkpoint.
fn checkpoint_metadata(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 8, "{}: too short for safetensors", path.display());
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).expect("a safetensors JSON header");
    assert!(header.get("adam.m").is_some() && header.get("adam.v").is_some(), "Adam moments: {header}");
    header["__metadata__"].clone()
}

/// The step count recorded in a checkpoint.
fn checkpoint_step(path: &Path) -> u64 {
    let meta = checkpoint_metadata(path);
    meta["step"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no step in {meta}"))
}

/// Every stdout line as JSON.
fn json_lines(out: &Output) -> Vec<Value> {
    let lines = out.stdout_lines();
    assert!(!lines.is_empty(), "no JSON on stdout\n{out}");
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}\n{out}")))
        .collect()
}

fn no_temporaries(dir: &Path) {
    let tmp: Vec<String> = snapshot(dir).into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
}

/// A number with exactly `decimals` digits after the point (as printf `%.Nf` writes it).
fn is_fixed(text: &str, decimals: usize) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    match t.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.len() == decimals
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn keys(path: &Path) -> Vec<String> {
    top_level_keys(&std::fs::read_to_string(path).expect("read the model"))
}

// ----- nfield train -------------------------------------------------------------------------

#[test]
fn train_writes_model_checkpoint_and_png() {
    let (dir, img) = setup();
    let args = train_args(&img, &["--steps", "4", "--log-interval", "2", "--eval-interval", "2", "-o", "m.json"]);
    let out = nfield(dir.path(), &args).success();
    let d = dir.path();

    // Text progress on stderr (not a terminal), nothing on stdout.
    assert!(out.stdout.is_empty(), "{out}");
    let err = out.stderr_lines();
    assert!(err.iter().any(|l| l.starts_with("SIREN") && l.contains("on 24×18 px") && l.contains("4 steps")), "{out}");
    assert!(err.iter().any(|l| l.starts_with("step      2/4  loss ")), "{out}");
    assert!(err.iter().any(|l| l.starts_with("step      4/4  loss ") && l.contains("eval PSNR")), "{out}");
    assert!(
        err.last().is_some_and(|l| l.starts_with("trained 4 steps") && l.ends_with("wrote m.json, m.png")),
        "{out}"
    );

    // The model file: the seed's key order, shapes, metadata and samples.
    let model = d.join("m.json");
    assert_eq!(keys(&model), ["metadata", "model", "mlp", "sample_count", "sample_seed", "samples"]);
    let v = read_json(&model);
    assert_eq!(v["model"]["type"], "siren");
    assert_eq!(v["metadata"]["image"]["width"], 24);
    assert_eq!(v["metadata"]["image"]["height"], 18);
    let layers = v["mlp"]["layers"].as_array().expect("layers");
    let shapes: Vec<(usize, usize)> = layers
        .iter()
        .map(|l| {
            let rows = l["weights"].as_array().expect("rows");
            (rows.len(), rows[0].as_array().expect("row").len())
        })
        .collect();
    assert_eq!(shapes, [(8, 2), (8, 8), (3, 8)]);
    assert_eq!(v["sample_count"], 16);
    assert_eq!(v["sample_seed"], 1337);
    assert_eq!(v["samples"].as_array().expect("samples").len(), 16);

    // The PNG at the training resolution, the checkpoint at step 4, no temporaries.
    assert_eq!(png_size(&d.join("m.png")), (24, 18));
    let meta = checkpoint_metadata(&d.join("m.adam.safetensors"));
    assert_eq!(meta["format"], "nfield-adam-1");
    assert_eq!(meta["step"], "4");
    assert_eq!(meta["batch"], "64");
    no_temporaries(d);
}

#[test]
fn train_names_outputs_after_the_image() {
    let (dir, img) = setup();
    nfield(dir.path(), &train_args(&img, &["--steps", "2", "--quiet"])).success();
    for name in ["photo.siren.json", "photo.siren.png", "photo.siren.adam.safetensors"] {
        assert!(dir.path().join(name).is_file(), "{name} missing: {:?}", snapshot(dir.path()));
    }
}

#[test]
fn train_image_flags() {
    let (dir, img) = setup();
    let d = dir.path();
    let out = nfield(d, &train_args(&img, &["--steps", "2", "-o", "a.json", "--no-image", "-q"])).success();
    assert!(out.stderr.is_empty(), "--quiet prints nothing\n{out}");
    assert!(d.join("a.json").is_file() && !d.join("a.png").exists(), "{:?}", snapshot(d));
    nfield(d, &train_args(&img, &["--steps", "2", "-o", "b.json", "--image", "pic.png", "-q"])).success();
    assert_eq!(png_size(&d.join("pic.png")), (24, 18));
    assert!(!d.join("b.png").exists());
}

#[test]
fn train_json_log() {
    let (dir, img) = setup();
    let args =
        train_args(&img, &["--steps", "6", "--log-interval", "2", "--eval-interval", "3", "-o", "m.json", "--json"]);
    let out = nfield(dir.path(), &args).success();
    assert!(out.stderr.is_empty(), "--json keeps stderr for errors\n{out}");
    let records = json_lines(&out);
    let (done, log) = records.split_last().expect("records");
    let steps: Vec<u64> = log.iter().map(|r| r["step"].as_u64().expect("step")).collect();
    assert_eq!(steps, [2, 3, 4, 6], "a record every 2 steps and at each evaluation");
    for r in log {
        assert_eq!(r["total_steps"], 6);
        for key in ["loss", "train_psnr_db", "samples_per_s", "elapsed_s"] {
            assert!(r[key].as_f64().is_some_and(f64::is_finite), "{key} in {r}");
        }
        let evaluated = r["step"] == 3 || r["step"] == 6;
        assert_eq!(r.get("eval_psnr_db").is_some(), evaluated, "eval_psnr_db only at evaluations: {r}");
    }
    assert_eq!(done["done"], true);
    assert_eq!(done["interrupted"], false);
    assert_eq!(done["step"], 6);
    assert_eq!(done["model"], "m.json");
    assert_eq!(done["image"], "m.png");
    assert!(done["psnr_db"].as_f64().is_some_and(|p| p.is_finite() && p > 0.0), "{done}");
}

#[test]
fn train_stops_at_a_target_psnr() {
    let (dir, img) = setup();
    // met at the first evaluation, after steps / 32 = 32 steps
    let args = train_args(&img, &["--steps", "1000", "--target-psnr", "1", "-o", "m.json", "--json"]);
    let records = json_lines(&nfield(dir.path(), &args).success());
    let (done, log) = records.split_last().expect("records");
    assert_eq!(done["step"], 32, "{done}");
    assert_eq!(done["reached_target"], true, "{done}");
    assert_eq!(done["target_psnr_db"], 1.0, "{done}");
    let evaluated: Vec<&Value> = log.iter().filter(|r| r.get("eval_psnr_db").is_some()).collect();
    assert_eq!(evaluated.len(), 1, "one evaluation: {log:?}");
    assert!(evaluated[0]["eval_psnr_db"].as_f64().is_some_and(|p| p >= 1.0));
    // out of reach: all the steps, then saved all the same
    let args = train_args(&img, &["--steps", "64", "--target-psnr", "200", "-o", "n.json"]);
    let out = nfield(dir.path(), &args).success();
    let last = out.stderr_lines().last().map(|l| l.to_string()).unwrap_or_default();
    assert!(last.starts_with("did not reach 200 dB in 64 steps"), "{out}");
    assert!(dir.path().join("n.json").is_file());
}

#[test]
fn train_resume_continues_the_step_count() {
    let (dir, img) = setup();
    let d = dir.path();
    let first = nfield(d, &train_args(&img, &["--steps", "4", "--log-interval", "1", "-o", "m.json", "--json"]));
    let first = json_lines(&first.success());
    let last_step = first.last().expect("done")["step"].as_u64().expect("step");
    assert_eq!(last_step, 4);
    assert_eq!(checkpoint_step(&d.join("m.adam.safetensors")), 4);
    let before = std::fs::read(d.join("m.json")).expect("read");

    // --steps counts additional steps; the model file is rewritten in place.
    let args = ["train", s(&img), "--max-dim", "24", "--resume", "m.json", "--steps", "3", "--log-interval", "1"];
    let second = json_lines(&nfield(d, &[&args[..], &["--json"]].concat()).success());
    let first_step = second[0]["step"].as_u64().expect("step");
    assert!(first_step > last_step, "resumed at step {first_step}, the previous run ended at {last_step}");
    assert_eq!(second[0]["total_steps"], 7);
    assert_eq!(second.last().expect("done")["step"], 7);
    assert_eq!(checkpoint_step(&d.join("m.adam.safetensors")), 7);
    assert_ne!(std::fs::read(d.join("m.json")).expect("read"), before, "the model was not updated");
    // The architecture comes from the file (its width 8), not from defaults.
    assert_eq!(read_json(&d.join("m.json"))["mlp"]["layers"][0]["biases"].as_array().expect("biases").len(), 8);

    // The text display says where it resumed.
    let text = nfield(d, &args).success();
    assert!(text.stderr.contains("(resuming at step 7)"), "{text}");
    assert_eq!(checkpoint_step(&d.join("m.adam.safetensors")), 10);
}

/// Trains `--model kind` (with `extra`) and checks the file's type, key order and that `info`,
/// `render` and `eval` accept it.
fn train_kind(kind: &str, extra: &[&str], seed_type: &str, expected_keys: &[&str]) -> Value {
    let (dir, img) = setup();
    let d = dir.path();
    let mut args = train_args(&img, &["--model", kind, "--steps", "3", "-o", "m.json", "-q"]);
    args.extend_from_slice(extra);
    nfield(d, &args).success();
    let model = d.join("m.json");
    assert_eq!(keys(&model), expected_keys);
    let v = read_json(&model);
    assert_eq!(v["model"]["type"], seed_type);
    assert_eq!(png_size(&d.join("m.png")), (24, 18));
    assert!(d.join("m.adam.safetensors").is_file());

    let info: Value = serde_json::from_str(&nfield(d, &["info", "m.json", "--json"]).success().stdout).expect("JSON");
    assert_eq!(info["type"], seed_type);
    assert!(info["sample_psnr_db"].as_f64().is_some_and(f64::is_finite), "{info}");
    nfield(d, &["render", "m.json", "-o", "r.png", "--width", "12", "-q"]).success();
    assert_eq!(png_size(&d.join("r.png")), (12, 9));
    nfield(d, &["eval", "m.json", s(&img), "--max-dim", "24"]).success();
    v
}

#[test]
fn train_siren_model() {
    let v = train_kind(
        "siren",
        &["--omega0", "20"],
        "siren",
        &["metadata", "model", "mlp", "sample_count", "sample_seed", "samples"],
    );
    assert_eq!(v["model"]["omega0"], 20.0);
}

#[test]
fn train_fourier_model() {
    let v = train_kind(
        "fourier",
        &["--frequencies", "4"],
        "fourier",
        &["metadata", "model", "mlp", "fourier", "sample_count", "sample_seed", "samples"],
    );
    let b = v["fourier"]["B"].as_array().expect("B");
    assert_eq!(b.len(), 2);
    assert!(b.iter().all(|row| row.as_array().is_some_and(|r| r.len() == 4)), "{b:?}");
    // The first layer reads [sin, cos] of the 4 frequencies.
    assert_eq!(v["mlp"]["layers"][0]["weights"][0].as_array().expect("row").len(), 8);
}

#[test]
fn train_hash_grid_model() {
    let v = train_kind(
        "hash-grid",
        &["--levels", "2", "--log2-table", "4"],
        "instant-ngp",
        &["metadata", "model", "encoding", "mlp", "sample_count", "sample_seed", "samples"],
    );
    let table = &v["encoding"]["hash_table"];
    assert_eq!(table["shape"], serde_json::json!([2, 16, 2]));
    assert_eq!(table["data"].as_array().expect("data").len(), 64);
}

// ----- nfield info / render / eval ----------------------------------------------------------

#[test]
fn info_text_and_json() {
    let (dir, img) = setup();
    let d = dir.path();
    nfield(d, &train_args(&img, &["--steps", "3", "-o", "m.json", "-q"])).success();
    let out = nfield(d, &["info", "m.json"]).success();
    let lines = out.stdout_lines();
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::trim))
            .unwrap_or_else(|| panic!("no `{name}:` line\n{out}"))
    };
    assert_eq!(field("type"), "siren");
    assert_eq!(field("layers"), "2→8, 8→8, 8→3");
    // 2·8+8 + 8·8+8 + 8·3+3
    assert_eq!(field("parameters"), "123 (123 trainable)");
    assert!(field("image").starts_with("24×18"), "{out}");
    let samples = field("samples");
    let psnr = samples
        .strip_prefix("16 (seed 1337); PSNR on them ")
        .and_then(|r| r.strip_suffix(" dB"))
        .unwrap_or_else(|| panic!("samples line: {samples:?}"));
    assert!(is_fixed(psnr, 2), "{psnr}");

    let json = nfield(d, &["info", "m.json", "--json"]).success();
    assert_eq!(json.stdout_lines().len(), 1, "one JSON object\n{json}");
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["parameters"], 123);
    assert_eq!(v["trainable_parameters"], 123);
    assert_eq!(v["sample_count"], 16);
    assert_eq!(v["sample_seed"], 1337);
    assert_eq!(v["image"], serde_json::json!([24, 18]));
    let p = v["sample_psnr_db"].as_f64().expect("sample PSNR");
    assert!(p.is_finite() && p > 0.0, "{v}");
    assert_eq!(format!("{p:.2}"), psnr, "text and JSON agree");
}

#[test]
fn render_at_other_sizes() {
    let (dir, img) = setup();
    let d = dir.path();
    nfield(d, &train_args(&img, &["--steps", "2", "-o", "m.json", "-q"])).success();
    let out = nfield(d, &["render", "m.json", "-o", "default.png"]).success();
    assert!(out.stderr_lines().last().is_some_and(|l| l.starts_with("rendered m.json at 24×18")), "{out}");
    assert_eq!(png_size(&d.join("default.png")), (24, 18));
    for (args, size) in [
        (&["--width", "40", "--height", "30"][..], (40, 30)),
        (&["--width", "48"][..], (48, 36)),
        (&["--height", "9"][..], (12, 9)),
        (&["--width", "20", "--height", "40"][..], (20, 40)),
    ] {
        let out = nfield(d, &[&["render", "m.json", "-o", "r.png", "-q"][..], args].concat()).success();
        assert!(out.stderr.is_empty(), "{out}");
        assert_eq!(png_size(&d.join("r.png")), size, "render {args:?}");
    }
    // The default render is the training PNG's grid: the same pixels.
    let a = image::open(d.join("default.png")).expect("open").to_rgb8();
    let b = image::open(d.join("m.png")).expect("open").to_rgb8();
    assert_eq!(a, b, "render at the training size reproduces the training PNG");
    no_temporaries(d);
}

#[test]
fn eval_reports_psnr_and_ssim() {
    let (dir, img) = setup();
    let d = dir.path();
    let trained = nfield(d, &train_args(&img, &["--steps", "5", "-o", "m.json", "--json"])).success();
    let train_psnr = json_lines(&trained).last().expect("done")["psnr_db"].as_f64().expect("psnr");

    let out = nfield(d, &["eval", "m.json", s(&img), "--max-dim", "24"]).success();
    let line = out.stdout_lines().join("\n");
    let rest = line.strip_prefix("24×18 px, ").unwrap_or_else(|| panic!("{out}"));
    let (_, numbers) = rest.split_once(": PSNR ").unwrap_or_else(|| panic!("{out}"));
    let (psnr, ssim) = numbers.split_once(" dB, SSIM ").unwrap_or_else(|| panic!("{out}"));
    assert!(is_fixed(psnr, 2) && is_fixed(ssim, 4), "{out}");

    let json = nfield(d, &["eval", "m.json", s(&img), "--max-dim", "24", "--json"]).success();
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(24), Some(18)));
    let p = v["psnr_db"].as_f64().expect("psnr");
    let q = v["ssim"].as_f64().expect("ssim");
    assert!((-1.0..=1.0).contains(&q), "{v}");
    assert_eq!(format!("{p:.2}"), psnr);
    assert!((p - train_psnr).abs() < 0.01, "eval PSNR {p} vs. training's final PSNR {train_psnr}");
}

// ----- nfield bench -------------------------------------------------------------------------

#[test]
fn bench_writes_json_records() {
    let (dir, img) = setup();
    let d = dir.path();
    let args = [
        "bench",
        "--cases",
        "siren-64x3",
        "--batch",
        "256",
        "--steps",
        "2",
        "--renders",
        "1",
        "--image",
        s(&img),
        "--max-dim",
        "24",
        "--out",
        "results/r.jsonl",
    ];
    let mut cmd = command(d, NFIELD, &args);
    cmd.env("NFIELD_COMMIT", "abc123def");
    let out = output_of(cmd, LIMIT).success();
    let records = json_lines(&out);
    let names: Vec<&str> = records.iter().map(|r| r["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["train/siren-64x3/b256", "infer/siren-64x3/full-image"]);
    for r in &records {
        assert_eq!(r["engine"], "nfield-cpu", "{r}");
        assert!(r["device"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        assert_eq!(r["commit"], "abc123def");
        let date = r["date"].as_str().expect("date");
        let b = date.as_bytes();
        assert!(b.len() == 10 && b[4] == b'-' && b[7] == b'-', "YYYY-MM-DD: {date}");
        assert!(r["samples_per_s"].as_f64().is_some_and(|x| x.is_finite() && x > 0.0), "{r}");
        assert!(r["image"].as_str().is_some_and(|s| s.ends_with("(24×18)")), "{r}");
    }
    assert_eq!(records[0]["batch"], 256);
    assert!(records[0]["ms_per_step"].as_f64().is_some_and(|x| x > 0.0));
    assert!(records[1]["ms_per_image"].as_f64().is_some_and(|x| x > 0.0));
    assert!(out.stderr.contains("appended 2 records to results/r.jsonl"), "{out}");

    // The file holds the same lines; a second run appends.
    let file = d.join("results/r.jsonl");
    let text = std::fs::read_to_string(&file).expect("read");
    assert_eq!(text.lines().collect::<Vec<_>>(), out.stdout_lines());
    output_of(command(d, NFIELD, &args), LIMIT).success();
    let text = std::fs::read_to_string(&file).expect("read");
    assert_eq!(text.lines().count(), 4);
    for l in text.lines() {
        serde_json::from_str::<Value>(l).expect("a JSON line");
    }
    no_temporaries(d);
}

// ----- train_siren --------------------------------------------------------------------------

/// A folder holding a 24×20 PNG, `in.png` (train_siren does not scale its input).
fn siren_setup() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("in.png");
    write_png(&img, 24, 20);
    (dir, img)
}

#[test]
fn train_siren_prints_the_seed_log() {
    let (dir, img) = siren_setup();
    let d = dir.path();
    let args = ["-i", s(&img), "-s", "3", "-l", "1", "-e", "2", "--train-batch", "64", "-w", "w.json", "-o", "o.png"];
    let out = train_siren(d, &args).success();
    let lines = out.stdout_lines();
    assert!(lines[0].starts_with("Training SIREN on ") && lines[0].contains("(24×20, 480 pixels)"), "{out}");
    assert!(lines[0].contains("with batch 64"), "{out}");

    // `step %4d  loss %.6f` at every step (-l 1) and `          psnr %.2f dB  mse %.6f` at
    // steps 2 and 3 (-e 2 and the last step).
    let mut losses = Vec::new();
    let mut psnrs = Vec::new();
    for l in &lines {
        if let Some(rest) = l.strip_prefix("step ") {
            let (n, loss) = rest.split_once("  loss ").unwrap_or_else(|| panic!("{l:?}"));
            assert_eq!(n.len(), 4, "%4d: {l:?}");
            assert!(is_fixed(loss, 6), "%.6f: {l:?}");
            losses.push((n.trim().parse::<u32>().expect("step"), loss.to_string()));
        } else if let Some(rest) = l.strip_prefix("          psnr ") {
            let (p, mse) = rest.split_once(" dB  mse ").unwrap_or_else(|| panic!("{l:?}"));
            assert!(is_fixed(p, 2) && is_fixed(mse, 6), "{l:?}");
            psnrs.push(p.to_string());
        }
    }
    assert_eq!(losses.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 3], "{out}");
    assert_eq!(psnrs.len(), 2, "{out}");

    let tail = &lines[lines.len() - 6..];
    let weights = tail[0].strip_prefix("Sample weights: [").and_then(|r| r.strip_suffix(']'));
    let weights = weights.unwrap_or_else(|| panic!("{out}"));
    assert_eq!(weights.split(", ").filter(|w| is_fixed(w, 6)).count(), 8, "{out}");
    assert!(tail[1].starts_with("Sample pixel RGBA: [") && tail[1].ends_with(", 255]"), "{out}");
    let best = tail[2].strip_prefix("Finished. Best loss ").unwrap_or_else(|| panic!("{out}"));
    let (best, psnr) = best.split_once(", PSNR ").unwrap_or_else(|| panic!("{out}"));
    let min_loss = losses
        .iter()
        .map(|(_, l)| l.as_str())
        .min_by(|a, b| a.parse::<f64>().expect("loss").total_cmp(&b.parse::<f64>().expect("loss")));
    assert_eq!(Some(best), min_loss, "the best loss is the lowest logged loss\n{out}");
    assert_eq!(psnr, format!("{} dB", psnrs[1]), "the final PSNR is the last evaluation\n{out}");
    assert_eq!(tail[3], "Weights saved to w.json");
    assert_eq!(tail[4], "Reconstruction saved to o.png");
    let avg = tail[5].strip_prefix("Average training step ").and_then(|r| r.strip_suffix(" ms"));
    assert!(avg.is_some_and(|a| is_fixed(a, 3)), "{out}");

    // The files: the full seed schema for the seed's SIREN (2→64, 8×64→64, 64→3) and the PNG.
    assert_eq!(png_size(&d.join("o.png")), (24, 20));
    assert_eq!(keys(&d.join("w.json")), ["metadata", "model", "mlp", "sample_count", "sample_seed", "samples"]);
    let v = read_json(&d.join("w.json"));
    assert_eq!(v["model"]["type"], "siren");
    assert_eq!(v["mlp"]["layers"].as_array().expect("layers").len(), 10);
    assert_eq!(v["sample_count"], 256);
    no_temporaries(d);
}

#[test]
fn train_siren_honours_train_batch() {
    let (dir, img) = siren_setup();
    let args = ["-i", s(&img), "-s", "2", "--train-batch", "2048", "-w", "w.json", "-o", "o.png"];
    let out = train_siren(dir.path(), &args).success();
    assert!(out.stdout_lines()[0].contains("with batch 2048"), "{out}");
    let all = format!("{}{}", out.stdout, out.stderr).to_lowercase();
    assert!(!all.contains("clamp"), "no clamping\n{out}");
}

#[test]
fn train_siren_limit() {
    let (dir, img) = siren_setup();
    let d = dir.path();
    let args = ["-i", s(&img), "-s", "2", "-e", "1", "--limit", "50", "--train-batch", "64", "-w", "w.json"];
    let out = train_siren(d, &[&args[..], &["-o", "o.png"]].concat()).success();
    assert!(out.stdout_lines()[0].contains("limited to 50"), "{out}");
    assert_eq!(out.stdout_lines().iter().filter(|l| l.starts_with("          psnr ")).count(), 2, "{out}");
    // The PNG is the whole image, not the seed's 50×1 strip.
    assert_eq!(png_size(&d.join("o.png")), (24, 20));
    assert!(d.join("w.json").is_file());
}

#[test]
fn train_siren_default_file_names() {
    let (dir, img) = siren_setup();
    let d = dir.path();
    let out = train_siren(d, &["-i", s(&img), "-s", "1", "--train-batch", "64"]).success();
    assert!(out.stdout.contains("Weights saved to trained_siren.json"), "{out}");
    assert!(d.join("trained_siren.json").is_file() && d.join("trained_output.png").is_file(), "{:?}", snapshot(d));
}

// ----- interrupting -------------------------------------------------------------------------

#[test]
fn train_interrupt_saves_and_exits_130() {
    let (dir, img) = setup();
    let d = dir.path();
    let args =
        train_args(&img, &["--steps", "100000000", "--log-interval", "100", "--eval-interval", "0", "-o", "m.json"]);
    let mut child = command(d, NFIELD, &args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });

    // Wait until training is under way (a progress line), then send SIGINT.
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let started = line.starts_with("step ");
                seen.push(line);
                if started {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no progress line ({e}); stderr so far: {seen:#?}");
            }
        }
    }
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let (status, timed_out) = wait_limited(&mut child, Duration::from_secs(30));
    reader.join().expect("reader");
    seen.extend(rx.try_iter());
    let log = seen.join("\n");
    assert!(!timed_out, "did not stop within 30 s of SIGINT:\n{log}");
    assert_eq!(status.and_then(|s| s.code()), Some(130), "exit code after SIGINT:\n{log}");
    assert!(!log.contains("panicked"), "{log}");

    // Everything was saved, at the step it stopped.
    let step: u64 = log
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("interrupted at step "))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `interrupted at step N` line:\n{log}"));
    assert!(step > 0 && step < 100_000_000, "{log}");
    assert!(log.lines().last().is_some_and(|l| l.contains("wrote m.json, m.png")), "{log}");
    assert_eq!(checkpoint_step(&d.join("m.adam.safetensors")), step);
    assert_eq!(png_size(&d.join("m.png")), (24, 18));
    nfield(d, &["info", "m.json"]).success();
    no_temporaries(d);

    // And it resumes from there.
    let resumed = nfield(d, &["train", s(&img), "--max-dim", "24", "--resume", "m.json", "--steps", "1", "--json"]);
    let records = json_lines(&resumed.success());
    assert_eq!(records.last().expect("done")["step"].as_u64(), Some(step + 1));
}

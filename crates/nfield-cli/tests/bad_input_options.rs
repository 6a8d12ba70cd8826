//! Bad options and output paths never panic and never leave a partial file: zero or absurd
//! sizes, unsupported options, unwritable outputs and broken checkpoints each give a one-line
//! `error: …` naming the option or file and what was expected, exit code 1 (2 for usage
//! errors), and leave the output folder as it was. Each case drives the real binaries.

mod common;

use common::reject::*;
use common::*;
use std::path::Path;

// ----- options ------------------------------------------------------------------------------

/// `nfield train small.png` with fast settings, then `extra`.
fn train_args<'a>(img: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["train", s(img), "--steps", "2", "--batch", "64", "--eval-interval", "0", "-o", "out.json"];
    a.extend_from_slice(extra);
    a
}

/// A bad training option is not a problem of the (valid) image: the message must not read
/// `loading small.png: …`.
fn assert_does_not_blame_the_image(out: &Output) {
    assert!(!out.stderr.contains("small.png"), "the image is fine; the error should only name the option\n{out}");
}

#[test]
fn train_width_zero() {
    let (dir, img) = setup();
    rejects(dir.path(), NFIELD, &train_args(&img, &["--width", "0"]), &["`width`", "expected", "got 0"]);
}

#[test]
fn train_width_absurd() {
    let (dir, img) = setup();
    rejects(dir.path(), NFIELD, &train_args(&img, &["--width", "100000"]), &["`width`", "expected", "got 100000"]);
}

#[test]
fn train_layers_absurd() {
    let (dir, img) = setup();
    rejects(dir.path(), NFIELD, &train_args(&img, &["--layers", "100000"]), &["`layers`", "expected", "100000"]);
}

#[test]
fn train_hash_grid_with_three_features() {
    let (dir, img) = setup();
    rejects(
        dir.path(),
        NFIELD,
        &train_args(&img, &["--model", "hash-grid", "--features", "3"]),
        &["`features`", "1, 2, 4 or 8", "got 3"],
    );
}

#[test]
fn train_hash_grid_with_absurd_table() {
    let (dir, img) = setup();
    rejects(
        dir.path(),
        NFIELD,
        &train_args(&img, &["--model", "hash-grid", "--log2-table", "40"]),
        &["`log2-table`", "expected", "got 40"],
    );
}

#[test]
fn train_batch_zero() {
    let (dir, img) = setup();
    let args = ["train", s(&img), "--steps", "2", "--batch", "0", "-o", "out.json"];
    let out = rejects(dir.path(), NFIELD, &args, &["`batch`", "expected", "got 0"]);
    assert_does_not_blame_the_image(&out);
}

#[test]
fn train_negative_learning_rate() {
    let (dir, img) = setup();
    let out = rejects(dir.path(), NFIELD, &train_args(&img, &["--lr=-1"]), &["`lr`", "expected", "got -1"]);
    assert_does_not_blame_the_image(&out);
}

/// `--lr -1` (value as a separate argument) must be read as a negative learning rate and
/// rejected as such, not as an unknown argument `-1`.
#[test]
fn train_negative_learning_rate_as_separate_argument() {
    let (dir, img) = setup();
    let before = snapshot(dir.path());
    let out = nfield(dir.path(), &train_args(&img, &["--lr", "-1"]));
    assert!(!out.stderr.contains("panicked"), "a panic\n{out}");
    assert!(matches!(out.code, Some(1 | 2)), "expected an error exit code\n{out}");
    assert!(out.stderr.starts_with("error: "), "expected `error: …`\n{out}");
    assert!(out.stderr.contains("lr"), "the error should name the learning rate option\n{out}");
    assert_unchanged(dir.path(), &before, &out);
}

#[test]
fn train_target_psnr_not_positive() {
    let (dir, img) = setup();
    for bad in ["--target-psnr=0", "--target-psnr=-3", "--target-psnr=NaN"] {
        let out = rejects(dir.path(), NFIELD, &train_args(&img, &[bad]), &["`target-psnr`", "expected", "got"]);
        assert_does_not_blame_the_image(&out);
    }
}

#[test]
fn train_max_dim_zero() {
    let (dir, img) = setup();
    let args = ["train", s(&img), "--steps", "2", "--max-dim", "0", "-o", "out.json"];
    rejects(dir.path(), NFIELD, &args, &["max-dim", "expected", "got 0"]);
}

#[test]
fn train_unknown_model_kind() {
    let (dir, img) = setup();
    rejects_usage(dir.path(), NFIELD, &train_args(&img, &["--model", "transformer"]), "--model");
}

#[test]
fn train_unknown_flag() {
    let (dir, img) = setup();
    rejects_usage(dir.path(), NFIELD, &train_args(&img, &["--frobnicate"]), "--frobnicate");
}

#[test]
fn train_non_numeric_steps() {
    let (dir, img) = setup();
    rejects_usage(dir.path(), NFIELD, &["train", s(&img), "--steps", "many", "-o", "out.json"], "--steps");
}

#[test]
fn render_width_zero() {
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    rejects(dir.path(), NFIELD, &["render", s(&model), "-o", "out.png", "--width", "0"], &["--width", "at least 1"]);
    rejects(dir.path(), NFIELD, &["render", s(&model), "-o", "out.png", "--height", "0"], &["--height", "at least 1"]);
}

#[test]
fn render_absurd_size() {
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    let args = ["render", s(&model), "-o", "out.png", "--width", "100000", "--height", "100000"];
    rejects(dir.path(), NFIELD, &args, &["100000×100000", "at most"]);
}

/// `bench` with `--ARG 0` must be refused before it measures anything (no record on stdout).
fn bench_rejects_zero(arg: &str) {
    let (dir, img) = setup();
    let flag = format!("--{arg}");
    let mut args = vec!["bench", "--image", s(&img), "--cases", "siren-64x3", "--batch", "64"];
    args.extend_from_slice(&["--steps", "1", "--renders", "1", "--out", "r.jsonl"]);
    let i = args.iter().position(|a| *a == flag).expect("flag") + 1;
    args[i] = "0";
    let out = rejects(dir.path(), NFIELD, &args, &[arg]);
    assert!(out.stdout.trim().is_empty(), "no benchmark record for a refused run\n{out}");
}

#[test]
fn bench_zero_steps() {
    bench_rejects_zero("steps");
}

#[test]
fn bench_zero_renders() {
    bench_rejects_zero("renders");
}

#[test]
fn bench_zero_batch() {
    let (dir, img) = setup();
    let args = ["bench", "--image", s(&img), "--cases", "siren-64x3", "--batch", "0", "--steps", "1"];
    rejects(dir.path(), NFIELD, &args, &["`batch`", "got 0"]);
}

#[test]
fn bench_unknown_case() {
    let (dir, img) = setup();
    let args = ["bench", "--image", s(&img), "--cases", "resnet", "--batch", "64", "--steps", "1", "--out", "r.jsonl"];
    rejects(dir.path(), NFIELD, &args, &["\"resnet\"", "expected siren-64x8"]);
}

#[test]
fn train_siren_unknown_flag() {
    let (dir, img) = setup();
    rejects_usage(dir.path(), TRAIN_SIREN, &["-i", s(&img), "--bogus", "-w", "w.json", "-o", "o.png"], "--bogus");
}

#[test]
fn train_siren_without_input() {
    let (dir, _) = setup();
    rejects_usage(dir.path(), TRAIN_SIREN, &["-s", "2", "-w", "w.json", "-o", "o.png"], "--input");
}

// ----- output paths -------------------------------------------------------------------------

const NOWHERE: &str = "/nonexistent-dir";

fn assert_nowhere_absent() {
    assert!(!Path::new(NOWHERE).exists(), "{NOWHERE} exists on this machine; the test needs it absent");
}

#[test]
fn train_output_in_missing_folder() {
    assert_nowhere_absent();
    let (dir, img) = setup();
    let args = ["train", s(&img), "--steps", "2", "--batch", "64", "-o", "/nonexistent-dir/x.json", "--quiet"];
    rejects(dir.path(), NFIELD, &args, &["/nonexistent-dir/x.json"]);
    assert_nowhere_absent();
}

#[test]
fn train_output_is_a_directory() {
    let (dir, img) = setup();
    std::fs::create_dir(dir.path().join("out.json")).expect("mkdir");
    let args = ["train", s(&img), "--steps", "2", "--batch", "64", "-o", "out.json", "--quiet"];
    rejects(dir.path(), NFIELD, &args, &["out.json", "is a folder"]);
}

/// An unwritable `--image` must fail the run without leaving the model and checkpoint of a
/// run that reports an error (check the output paths before training).
#[test]
fn train_image_output_in_missing_folder() {
    assert_nowhere_absent();
    let (dir, img) = setup();
    let args = ["train", s(&img), "--steps", "2", "-o", "m.json", "--image", "/nonexistent-dir/x.png", "--quiet"];
    rejects(dir.path(), NFIELD, &args, &["/nonexistent-dir/x.png"]);
    assert_nowhere_absent();
}

#[test]
fn train_model_output_named_png() {
    let (dir, img) = setup();
    let args = ["train", s(&img), "--steps", "2", "-o", "m.png"];
    rejects(dir.path(), NFIELD, &args, &["m.png", "should end in .json"]);
}

#[test]
fn train_refuses_to_overwrite_its_input() {
    let (dir, img) = setup();
    let original = std::fs::read(&img).expect("read");
    rejects(dir.path(), NFIELD, &train_args(&img, &["--image", s(&img)]), &["small.png", "refusing to overwrite"]);
    assert_eq!(std::fs::read(&img).expect("read"), original, "the input image changed");
}

#[test]
fn render_output_in_missing_folder() {
    assert_nowhere_absent();
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    rejects(
        dir.path(),
        NFIELD,
        &["render", s(&model), "-o", "/nonexistent-dir/x.png", "-q"],
        &["/nonexistent-dir/x.png"],
    );
    assert_nowhere_absent();
}

#[test]
fn render_output_is_a_directory() {
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    std::fs::create_dir(dir.path().join("out.png")).expect("mkdir");
    rejects(dir.path(), NFIELD, &["render", s(&model), "-o", "out.png", "-q"], &["out.png", "is a folder"]);
}

#[test]
fn bench_out_is_a_directory() {
    let (dir, img) = setup();
    std::fs::create_dir(dir.path().join("r.jsonl")).expect("mkdir");
    let mut args = vec!["bench", "--image", s(&img), "--cases", "siren-64x3", "--batch", "64", "--steps", "1"];
    args.extend_from_slice(&["--renders", "1", "--out", "r.jsonl"]);
    rejects(dir.path(), NFIELD, &args, &["r.jsonl"]);
}

#[test]
fn train_siren_weights_path_is_a_directory() {
    let (dir, _) = setup();
    let img = dir.path().join("in.png");
    write_png(&img, 12, 10);
    std::fs::create_dir(dir.path().join("w.json")).expect("mkdir");
    let args = ["-i", s(&img), "-s", "2", "--train-batch", "64", "-w", "w.json", "-o", "o.png"];
    train_siren_rejects(dir.path(), &args, &["w.json", "is a folder"]);
}

/// An unwritable `-o` must not leave the weights of a run that reports an error.
#[test]
fn train_siren_image_in_missing_folder() {
    assert_nowhere_absent();
    let (dir, _) = setup();
    let img = dir.path().join("in.png");
    write_png(&img, 12, 10);
    let args = ["-i", s(&img), "-s", "2", "--train-batch", "64", "-w", "w.json", "-o", "/nonexistent-dir/o.png"];
    train_siren_rejects(dir.path(), &args, &["/nonexistent-dir/o.png"]);
    assert_nowhere_absent();
}

// ----- resuming -----------------------------------------------------------------------------

#[test]
fn resume_missing_model() {
    let (dir, img) = setup();
    rejects(
        dir.path(),
        NFIELD,
        &["train", s(&img), "--resume", "gone.json", "--steps", "2"],
        &["gone.json", "No such file"],
    );
}

#[test]
fn resume_with_corrupt_checkpoint() {
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    std::fs::write(dir.path().join("m.adam.safetensors"), b"garbage").expect("write");
    let original = std::fs::read(&model).expect("read");
    let args = ["train", s(&img), "--max-dim", "16", "--resume", "m.json", "--steps", "2"];
    rejects(dir.path(), NFIELD, &args, &["m.adam.safetensors", "not a safetensors checkpoint"]);
    assert_eq!(std::fs::read(&model).expect("read"), original, "the model file changed");
}

#[test]
fn resume_with_checkpoint_of_another_model() {
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    tiny_model(dir.path(), &img, "wide.json", &["--width", "16"]);
    std::fs::copy(dir.path().join("wide.adam.safetensors"), dir.path().join("m.adam.safetensors")).expect("copy");
    let original = std::fs::read(&model).expect("read");
    let args = ["train", s(&img), "--max-dim", "16", "--resume", "m.json", "--steps", "2", "--quiet"];
    rejects(dir.path(), NFIELD, &args, &["m.adam.safetensors", "parameters"]);
    assert_eq!(std::fs::read(&model).expect("read"), original, "the model file changed");
}

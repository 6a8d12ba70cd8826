//! Helpers of the bad-input tests: run a command that must fail, and check the one-line error
//! and the untouched folder.

use super::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A fresh folder holding a valid 16×12 PNG, `small.png`.
pub fn setup() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("small.png");
    write_png(&img, 16, 12);
    (dir, img)
}

/// Runs `bin ARGS` in `dir`; asserts a one-line error mentioning `needles` and an unchanged folder.
pub fn rejects(dir: &Path, bin: &str, args: &[&str], needles: &[&str]) -> Output {
    let before = snapshot(dir);
    let out = output_of(command(dir, bin, args), LIMIT);
    assert_one_line_error(&out, needles);
    assert_unchanged(dir, &before, &out);
    out
}

/// Like [`rejects`] for a clap usage error (exit code 2) naming `option`.
pub fn rejects_usage(dir: &Path, bin: &str, args: &[&str], option: &str) -> Output {
    let before = snapshot(dir);
    let out = output_of(command(dir, bin, args), LIMIT);
    assert_usage_error(&out, option);
    assert_unchanged(dir, &before, &out);
    out
}

/// For `train_siren`, which always prints its engine choice on stderr: no panic, exit code 1,
/// exactly one `error:` line, last, mentioning `needles`; the folder unchanged.
pub fn train_siren_rejects(dir: &Path, args: &[&str], needles: &[&str]) -> Output {
    let before = snapshot(dir);
    let out = output_of(command(dir, TRAIN_SIREN, args), LIMIT);
    assert!(!out.stderr.contains("panicked"), "a panic\n{out}");
    assert_eq!(out.code, Some(1), "expected exit code 1\n{out}");
    let lines = out.stderr_lines();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "expected exactly one `error:` line\n{out}");
    assert!(lines.last().is_some_and(|l| l.starts_with("error: ")), "the error should be the last line\n{out}");
    assert!(
        lines.iter().all(|l| l.starts_with("error: ") || l.starts_with("engine: ")),
        "nothing but the engine notice and the error on stderr\n{out}"
    );
    for n in needles {
        assert!(errors[0].contains(n), "the error should mention {n:?}\n{out}");
    }
    assert_unchanged(dir, &before, &out);
    out
}

/// Asserts that every command reading an image rejects `bad` with one line mentioning `needles`:
/// `nfield train`, `nfield eval`, `nfield bench --image` and `train_siren -i`.
pub fn assert_image_rejected(dir: &Path, good: &Path, bad: &Path, needles: &[&str]) {
    let model = tiny_model(dir, good, "m.json", &[]);
    let b = s(bad);
    rejects(dir, NFIELD, &["train", b, "--steps", "2", "--batch", "64", "-o", "out.json"], needles);
    rejects(dir, NFIELD, &["train", b, "--max-dim", "16", "-o", "out.json", "--quiet"], needles);
    rejects(dir, NFIELD, &["eval", s(&model), b], needles);
    rejects(dir, NFIELD, &["eval", s(&model), b, "--json"], needles);
    rejects(
        dir,
        NFIELD,
        &["bench", "--image", b, "--cases", "siren-64x3", "--batch", "64", "--steps", "1", "--out", "r.jsonl"],
        needles,
    );
    rejects(dir, TRAIN_SIREN, &["-i", b, "-s", "2", "-w", "w.json", "-o", "o.png"], needles);
}

/// Asserts that every command reading a model file rejects `bad` with one line mentioning
/// `needles`: `nfield render`, `info` (text and JSON), `eval` and `train --resume`.
pub fn assert_model_rejected(dir: &Path, img: &Path, bad: &Path, needles: &[&str]) {
    let b = s(bad);
    let i = s(img);
    rejects(dir, NFIELD, &["render", b, "-o", "out.png"], needles);
    rejects(dir, NFIELD, &["render", b, "-o", "out.png", "--width", "8", "--quiet"], needles);
    rejects(dir, NFIELD, &["info", b], needles);
    rejects(dir, NFIELD, &["info", b, "--json"], needles);
    rejects(dir, NFIELD, &["eval", b, i], needles);
    rejects(dir, NFIELD, &["train", i, "--resume", b, "--steps", "1", "-o", "resumed.json"], needles);
    rejects(dir, NFIELD, &["train", i, "--resume", b, "--steps", "1", "--json"], needles);
}

/// A copy of a valid tiny model with `edit` applied, written compactly to `dir/name`.
pub fn edited_model(dir: &Path, img: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let model = tiny_model(dir, img, "m.json", &[]);
    let mut v = read_json(&model);
    edit(&mut v);
    let path = dir.join(name);
    write_json(&path, &v);
    path
}

/// A valid tiny model whose first weight is written as `literal` (e.g. Python's `NaN`).
pub fn model_with_literal(dir: &Path, img: &Path, name: &str, literal: &str) -> PathBuf {
    let path = edited_model(dir, img, name, |v| v["mlp"]["layers"][0]["weights"][0][0] = json!(12345.5));
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.matches("12345.5").count(), 1, "the marker should occur once");
    std::fs::write(&path, text.replace("12345.5", literal)).expect("write");
    path
}

/// A PNG signature, an IHDR chunk for `width × height` RGB8 (with a correct CRC), an empty
/// IDAT and IEND.
pub fn png_with_header(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]); // zlib of ""
    chunk(&mut png, b"IEND", &[]);
    png
}

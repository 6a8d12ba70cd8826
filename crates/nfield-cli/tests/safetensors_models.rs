//! Safetensors model files through the CLI: `nfield train -o m.safetensors` writes one (the
//! extension picks the format), every command that reads a model reads it, and it renders
//! exactly like the same model saved as JSON.

mod common;

use common::*;
use nfield::format;
use serde_json::Value;
use std::path::Path;

/// Decoded RGB pixels of a PNG.
fn pixels(path: &Path) -> Vec<u8> {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8().into_raw()
}

#[test]
fn hash_grid_in_safetensors_renders_like_the_same_model_in_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img.png"), 32, 24);
    let train = |out: &str| {
        let args = ["train", "img.png", "--model", "hash-grid", "--engine", "cpu", "--steps", "2", "-o", out, "-q"];
        nfield(d, &[&args[..], &["--max-dim", "24", "--samples", "16"]].concat()).success();
    };
    train("out.safetensors");
    let bytes = std::fs::read(d.join("out.safetensors")).expect("the model was written");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).expect("a safetensors header");
    assert_eq!(header["__metadata__"]["format"], "nfield-model-1", "{header}");
    assert_eq!(header["encoding.hash_table"]["shape"], serde_json::json!([16, 65536, 2]), "{header}");
    assert!(d.join("out.png").is_file() && d.join("out.adam.safetensors").is_file());

    // The same parameters written as JSON by the library, and by a second, identical run.
    let file = format::read_model(&d.join("out.safetensors")).expect("the library reads it");
    format::write_model(&d.join("same.json"), &file).expect("write JSON");
    train("twin.json");
    let twin = format::read_model(&d.join("twin.json")).expect("read JSON").model;
    assert!(twin.params == file.model.params, "the CPU engine is deterministic; the file round-trips exactly");

    for (model, png) in [("out.safetensors", "st.png"), ("same.json", "json.png")] {
        nfield(d, &["render", model, "-o", png, "--engine", "cpu", "-q"]).success();
    }
    assert_eq!(png_size(&d.join("st.png")), (24, 18), "the training size comes from the file");
    assert!(pixels(&d.join("st.png")) == pixels(&d.join("json.png")), "safetensors and JSON render alike");
    assert!(pixels(&d.join("st.png")) == pixels(&d.join("out.png")), "and like the PNG written by training");

    let info = nfield(d, &["info", "out.safetensors", "--json"]).success();
    let info: Value = serde_json::from_str(&info.stdout).expect("JSON");
    assert_eq!(info["type"], "instant-ngp", "{info}");
    assert!(info["sample_psnr_db"].as_f64().is_some_and(f64::is_finite), "the samples came back: {info}");
    nfield(d, &["eval", "out.safetensors", "img.png", "--max-dim", "24"]).success();

    // --resume reads the model and its checkpoint and rewrites the safetensors file in place.
    let args = ["train", "img.png", "--max-dim", "24", "--engine", "cpu", "--resume", "out.safetensors"];
    nfield(d, &[&args[..], &["--steps", "1", "-q"]].concat()).success();
    let resumed = format::read_model(&d.join("out.safetensors")).expect("read the resumed model");
    assert!(resumed.model.params != file.model.params, "one more step changed the parameters");
    assert_eq!(resumed.model.spec, file.model.spec);
}

#[test]
fn a_json_file_named_safetensors_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(d.join("m.safetensors"), "{\"mlp\": {\"layers\": []}}").expect("write");
    let out = nfield(d, &["render", "m.safetensors", "-o", "r.png"]);
    assert_one_line_error(&out, &["m.safetensors", "(header)", ".json"]);
    assert!(!d.join("r.png").exists(), "{out}");
}

#[test]
fn dense_coarse_levels_are_recorded_in_both_formats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    write_png(&d.join("img.png"), 32, 24);
    let train = |out: &str, dense: &[&str]| {
        let args = ["train", "img.png", "--model", "hash-grid", "--engine", "cpu", "--steps", "1", "-o", out, "-q"];
        nfield(d, &[&args[..], &["--max-dim", "24", "--log2-table", "10", "--no-image"], dense].concat()).success();
        format::read_model(&d.join(out)).expect("read back").model.spec
    };
    for (dense, want) in [(&[][..], false), (&["--dense-coarse"][..], true), (&["--dense-coarse", "false"][..], false)]
    {
        for out in ["m.json", "m.safetensors"] {
            let spec = train(out, dense);
            let nfield::model::ModelSpec::HashGrid(h) = spec else { panic!("{spec:?}") };
            // On the CPU the default hashes every level (the seed's); level 0's 17 × 17 corners
            // fit 2^10 entries, so the option changes the model.
            assert_eq!(h.dense_coarse, want, "{out} {dense:?}");
            assert_eq!(h.dense_dims()[0] > 0, want);
        }
    }
    let text = std::fs::read_to_string(d.join("m.json")).expect("read");
    assert!(!text.contains("dense_coarse_levels"), "hashed grids keep the seed's keys");
}

//! Bad input files never panic and never leave a partial file: missing, corrupt or empty
//! images, non-image files, and model JSON with wrong shapes or non-finite numbers each give a
//! one-line `error: …` naming the file or field and what was expected, exit code 1, and leave
//! the output folder as it was (no output, no `.<name>.*.tmp` temporary). Each case drives the
//! real binaries.

mod common;

use common::reject::*;
use common::*;
use serde_json::json;

// ----- images -------------------------------------------------------------------------------

#[test]
fn missing_image() {
    let (dir, img) = setup();
    let bad = dir.path().join("missing.png");
    assert_image_rejected(dir.path(), &img, &bad, &["missing.png", "No such file"]);
}

#[test]
fn empty_image_file() {
    let (dir, img) = setup();
    let bad = dir.path().join("empty.png");
    std::fs::write(&bad, b"").expect("write");
    assert_image_rejected(dir.path(), &img, &bad, &["empty.png", "empty", "expected a PNG or JPEG"]);
}

#[test]
fn text_file_named_png() {
    let (dir, img) = setup();
    let bad = dir.path().join("notes.png");
    std::fs::write(&bad, "these are not pixels\n").expect("write");
    assert_image_rejected(dir.path(), &img, &bad, &["notes.png", "not a PNG or JPEG"]);
}

#[test]
fn truncated_png() {
    let (dir, img) = setup();
    let bad = dir.path().join("truncated.png");
    let bytes = std::fs::read(ASTRONAUT).expect("read the example image");
    std::fs::write(&bad, &bytes[..100]).expect("write");
    assert_image_rejected(dir.path(), &img, &bad, &["truncated.png", "cannot decode"]);
}

#[test]
fn png_with_corrupt_pixel_data() {
    let (dir, img) = setup();
    let bad = dir.path().join("corrupt.png");
    let mut bytes = std::fs::read(ASTRONAUT).expect("read the example image");
    bytes[5000..5100].fill(0xab);
    std::fs::write(&bad, &bytes).expect("write");
    assert_image_rejected(dir.path(), &img, &bad, &["corrupt.png", "cannot decode"]);
}

#[test]
fn png_with_zero_width() {
    let (dir, img) = setup();
    let bad = dir.path().join("zero.png");
    std::fs::write(&bad, png_with_header(0, 12)).expect("write");
    assert_image_rejected(dir.path(), &img, &bad, &["zero.png", "dimensions"]);
}

#[test]
fn png_with_absurd_size() {
    let (dir, img) = setup();
    let bad = dir.path().join("huge.png");
    std::fs::write(&bad, png_with_header(65_536, 65_536)).expect("write");
    assert_image_rejected(dir.path(), &img, &bad, &["huge.png", "65536×65536", "at most"]);
}

#[test]
fn image_path_is_a_directory() {
    let (dir, img) = setup();
    let bad = dir.path().join("photos");
    std::fs::create_dir(&bad).expect("mkdir");
    assert_image_rejected(dir.path(), &img, &bad, &["photos", "directory"]);
}

#[test]
fn eval_with_missing_image() {
    let (dir, img) = setup();
    let model = tiny_model(dir.path(), &img, "m.json", &[]);
    rejects(dir.path(), NFIELD, &["eval", s(&model), "nowhere.png"], &["nowhere.png", "No such file"]);
}

#[test]
fn train_siren_with_missing_input() {
    let (dir, _) = setup();
    rejects(
        dir.path(),
        TRAIN_SIREN,
        &["-i", "nowhere.png", "-s", "2", "-w", "w.json", "-o", "o.png"],
        &["nowhere.png", "No such file"],
    );
}

// ----- model files --------------------------------------------------------------------------

#[test]
fn missing_model_file() {
    let (dir, img) = setup();
    let bad = dir.path().join("missing.json");
    assert_model_rejected(dir.path(), &img, &bad, &["missing.json", "No such file"]);
}

#[test]
fn model_file_that_is_not_json() {
    let (dir, img) = setup();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ this is not json").expect("write");
    assert_model_rejected(dir.path(), &img, &bad, &["bad.json", "not valid JSON", "line 1"]);
}

#[test]
fn empty_model_file() {
    let (dir, img) = setup();
    let bad = dir.path().join("empty.json");
    std::fs::write(&bad, "").expect("write");
    assert_model_rejected(dir.path(), &img, &bad, &["empty.json", "empty", "expected a JSON model file"]);
}

#[test]
fn model_with_nan() {
    let (dir, img) = setup();
    let bad = model_with_literal(dir.path(), &img, "nan.json", "NaN");
    assert_model_rejected(dir.path(), &img, &bad, &["nan.json", "mlp.layers[0].weights[0][0]", "NaN"]);
}

#[test]
fn model_with_infinity() {
    let (dir, img) = setup();
    let bad = model_with_literal(dir.path(), &img, "inf.json", "-Infinity");
    assert_model_rejected(dir.path(), &img, &bad, &["inf.json", "mlp.layers[0].weights[0][0]", "Infinity"]);
}

#[test]
fn model_with_number_beyond_f32() {
    let (dir, img) = setup();
    let bad = model_with_literal(dir.path(), &img, "huge.json", "1e39");
    assert_model_rejected(dir.path(), &img, &bad, &["huge.json", "mlp.layers[0].weights[0][0]", "32-bit float"]);
}

#[test]
fn model_with_a_short_weight_row() {
    let (dir, img) = setup();
    let bad = edited_model(dir.path(), &img, "shape.json", |v| {
        v["mlp"]["layers"][1]["weights"][2].as_array_mut().expect("a row").pop();
    });
    assert_model_rejected(
        dir.path(),
        &img,
        &bad,
        &["shape.json", "mlp.layers[1].weights[2]", "expected 8 inputs", "got 7"],
    );
}

#[test]
fn model_with_a_missing_weight_row() {
    let (dir, img) = setup();
    let bad = edited_model(dir.path(), &img, "rows.json", |v| {
        v["mlp"]["layers"][1]["weights"].as_array_mut().expect("rows").pop();
    });
    assert_model_rejected(dir.path(), &img, &bad, &["rows.json", "mlp.layers[1].weights", "expected 8 rows", "got 7"]);
}

#[test]
fn model_with_wrong_output_biases() {
    let (dir, img) = setup();
    let bad = edited_model(dir.path(), &img, "biases.json", |v| {
        v["mlp"]["layers"][2]["biases"].as_array_mut().expect("biases").pop();
    });
    assert_model_rejected(dir.path(), &img, &bad, &["biases.json", "mlp.layers[2].biases", "expected 3", "got 2"]);
}

#[test]
fn model_with_a_string_for_a_weight() {
    let (dir, img) = setup();
    let bad = edited_model(dir.path(), &img, "string.json", |v| v["mlp"]["layers"][1]["weights"][0][0] = json!("0.5"));
    assert_model_rejected(dir.path(), &img, &bad, &["string.json", "mlp.layers[1].weights[0][0]", "expected f32"]);
}

#[test]
fn model_with_short_hash_table_is_not_tiled() {
    let (dir, img) = setup();
    let model = tiny_hash_grid(dir.path(), &img, "h.json");
    let mut v = read_json(&model);
    assert_eq!(v["encoding"]["hash_table"]["shape"], json!([2, 16, 2]));
    assert_eq!(v["encoding"]["hash_table"]["data"].as_array().expect("data").len(), 64);
    v["encoding"]["hash_table"]["data"].as_array_mut().expect("data").truncate(8);
    let bad = dir.path().join("short.json");
    write_json(&bad, &v);
    assert_model_rejected(
        dir.path(),
        &img,
        &bad,
        &["short.json", "encoding.hash_table.data", "expected 64 values", "got 8"],
    );
}

#[test]
fn model_with_unknown_type() {
    let (dir, img) = setup();
    let bad = edited_model(dir.path(), &img, "type.json", |v| v["model"]["type"] = json!("transformer"));
    assert_model_rejected(dir.path(), &img, &bad, &["type.json", "model.type", "transformer", "expected \"siren\""]);
}

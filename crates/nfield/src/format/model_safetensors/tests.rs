//! Round trips of every model kind and table storage, and one test per kind of bad input.

use super::*;
use crate::format::{read_model, write_model};
use crate::model::{CoordRange, PixelGrid};
use safetensors::tensor::TensorView;

/// A small model of `spec` with an image size, unusual coordinates and 3 samples.
fn file(spec: ModelSpec) -> ModelFile {
    let mut model = Model::new(spec, 7).expect("valid spec");
    model.coords = Coords { grid: PixelGrid::Endpoints, range: CoordRange::MinusOneOne };
    model.image = Some(ImageSize { width: 20, height: 12 });
    let samples =
        (0..3).map(|k| Sample { position: [k as f32 * 0.25, -0.5], value: [0.1, 0.2 * k as f32, 1.0 / 3.0] }).collect();
    ModelFile { model, samples: Some(EmbeddedSamples { seed: u64::MAX - 1, samples }) }
}

fn small_specs() -> [ModelSpec; 3] {
    let hash = HashGridSpec {
        levels: 3,
        log2_table_size: 6,
        growth: Growth::Geometric { per_level_scale: 1.5 },
        output: OutputActivation::Linear,
        width: 16,
        dense_coarse: true,
        ..Default::default()
    };
    [
        ModelSpec::Siren(SirenSpec { width: 8, hidden_layers: 2, omega0: 25.5, omega_hidden: 1.25 }),
        ModelSpec::Fourier(FourierSpec { frequencies: 5, sigma: 3.5, width: 8, hidden_layers: 2, train_b: true }),
        ModelSpec::HashGrid(hash),
    ]
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn every_model_kind_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (k, spec) in small_specs().into_iter().enumerate() {
        let path = dir.path().join(format!("m{k}.SafeTensors")); // routing ignores case
        let mut f = file(spec);
        if k == 0 {
            f.samples = None;
            f.model.image = None;
        }
        write_model(&path, &f).expect("write");
        assert_ne!(std::fs::read(&path).expect("read")[0], b'{', "safetensors, not JSON");
        let back = read_model(&path).expect("read back");
        assert_eq!(bits(&back.model.params), bits(&f.model.params));
        assert_eq!(back, f);
    }
}

#[test]
fn half_precision_tables_round_within_their_rounding() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut f = file(small_specs()[2].clone());
    let enc = f.model.layout().encoding;
    f.model.params[enc.start] = 1000.125; // a value that needs rounding in both formats
    for (storage, ulp) in [(TableStorage::F16, 2f32.powi(-11)), (TableStorage::Bf16, 2f32.powi(-8))] {
        let path = dir.path().join(format!("{storage:?}.safetensors"));
        write_model_safetensors(&path, &f, storage).expect("write");
        let back = read_model_safetensors(&path).expect("read");
        let (a, b) = (&f.model.params, &back.model.params);
        assert_eq!(bits(&a[..enc.start]), bits(&b[..enc.start]), "the MLP stays f32");
        for i in enc.clone() {
            // Half an ulp relative, or half the smallest f16 subnormal.
            assert!((a[i] - b[i]).abs() <= (ulp * a[i].abs()).max(2f32.powi(-25)), "{i}: {} vs {}", a[i], b[i]);
        }
        assert_ne!(a[enc.start], b[enc.start], "1000.125 is rounded");
        assert_eq!(back.samples, f.samples);
    }
}

#[test]
fn a_2_to_the_20_entry_table_round_trips() {
    let spec = HashGridSpec { levels: 2, log2_table_size: 20, width: 16, ..Default::default() };
    let f = ModelFile { model: Model::new(ModelSpec::HashGrid(spec), 1).expect("spec"), samples: None };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.safetensors");
    write_model_safetensors(&path, &f, TableStorage::F32).expect("write");
    let size = std::fs::metadata(&path).expect("stat").len() as usize;
    assert!(size > 4 * (2 << 21) && size < 4 * (2 << 21) + 8192, "{size} bytes: 4 per value plus a header");
    let back = read_model_safetensors(&path).expect("read");
    assert_eq!(bits(&back.model.params), bits(&f.model.params));
    assert_eq!(back, f, "floor-log growth and the sigmoid output come back too");
}

#[test]
fn failed_writes_leave_no_file() {
    let f = file(small_specs()[2].clone());
    let err = write_model(Path::new("/nonexistent-dir/m.safetensors"), &f).unwrap_err();
    assert!(err.to_string().contains("/nonexistent-dir/m.safetensors"), "{err}");
    assert!(!Path::new("/nonexistent-dir").exists());

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.safetensors");
    let mut big = f.clone();
    let at = big.model.layout().encoding.start + 5;
    big.model.params[at] = 7.0e4;
    let err = write_model_safetensors(&path, &big, TableStorage::F16).unwrap_err().to_string();
    assert!(err.contains("m.safetensors") && err.contains("encoding.hash_table[0, 2, 1]"), "{err}");
    assert!(err.contains("F32"), "says what to do: {err}");
    big.model.params[1] = f32::NAN;
    let err = write_model_safetensors(&path, &big, TableStorage::F32).unwrap_err().to_string();
    assert!(err.contains("mlp.layers.0.weights[0, 1]"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0, "no partial or temporary file");
}

type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;
type Edit = Box<dyn FnOnce(&mut Tensors, &mut HashMap<String, String>)>;

/// Writes a good hash-grid file, lets `edit` change its tensors and metadata, and returns the
/// error of reading the result (which must name the file).
fn error_after(edit: impl FnOnce(&mut Tensors, &mut HashMap<String, String>)) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.safetensors");
    write_model_safetensors(&path, &file(small_specs()[2].clone()), TableStorage::F32).expect("write");
    let bytes = std::fs::read(&path).expect("read");
    let st = SafeTensors::deserialize(&bytes).expect("valid");
    let mut meta = SafeTensors::read_metadata(&bytes).expect("valid").1.metadata().clone().unwrap_or_default();
    let mut tensors: Tensors =
        st.tensors().into_iter().map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())).collect();
    edit(&mut tensors, &mut meta);
    let views = tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).expect("view")));
    std::fs::write(&path, safetensors::serialize(views, Some(meta)).expect("serialize")).expect("write");
    let err = read_model_safetensors(&path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "names the file: {err}");
    err
}

fn tensor<'a>(t: &'a mut Tensors, name: &str) -> &'a mut (String, Dtype, Vec<usize>, Vec<u8>) {
    t.iter_mut().find(|x| x.0 == name).expect("tensor present")
}

#[test]
fn bad_tensors_name_the_tensor_and_what_was_expected() {
    let cases: [(&str, Edit, &[&str]); 8] = [
        ("missing", Box::new(|t, _| t.retain(|x| x.0 != "mlp.layers.1.biases")), &["mlp.layers.1.biases", "missing"]),
        (
            "shape",
            Box::new(|t, _| tensor(t, "mlp.layers.0.weights").2 = vec![6, 16]),
            &["mlp.layers.0.weights", "[16, 6]", "got [6, 16]"],
        ),
        (
            "dtype",
            Box::new(|t, _| tensor(t, "mlp.layers.0.biases").1 = Dtype::I32),
            &["mlp.layers.0.biases", "F32", "I32"],
        ),
        (
            "nan",
            Box::new(|t, _| tensor(t, "encoding.hash_table").3[8..12].copy_from_slice(&f32::NAN.to_le_bytes())),
            &["encoding.hash_table[0, 1, 0]", "finite", "NaN"],
        ),
        (
            "inf",
            Box::new(|t, _| tensor(t, "samples.value").3[..4].copy_from_slice(&f32::INFINITY.to_le_bytes())),
            &["samples.value[0, 0]", "finite"],
        ),
        (
            "extra",
            Box::new(|t, _| t.push(("mlp.layers.9.weights".into(), Dtype::F32, vec![1], vec![0; 4]))),
            &["mlp.layers.9.weights", "unexpected"],
        ),
        (
            "half samples",
            Box::new(|t, _| {
                let x = tensor(t, "samples.value");
                (x.1, x.3) = (Dtype::F16, x.3[..18].to_vec());
            }),
            &["samples.value", "expected dtype F32", "F16"],
        ),
        // A shape of 2^40 × 0 is valid safetensors with no bytes: it must not size an allocation.
        (
            "huge empty",
            Box::new(|t, _| {
                *tensor(t, "samples.position") = ("samples.position".into(), Dtype::F32, vec![1 << 40, 0], vec![])
            }),
            &["samples.position", "expected shape [0, 2]"],
        ),
    ];
    for (name, edit, needles) in cases {
        let err = error_after(edit);
        assert!(needles.iter().all(|n| err.contains(n)), "{name}: {err}");
    }
}

#[test]
fn bad_metadata_names_the_key() {
    let set = |k: &'static str, v: &'static str| {
        move |_: &mut Tensors, m: &mut HashMap<String, String>| {
            m.insert(k.into(), v.into());
        }
    };
    let drop = |k: &'static str| {
        move |_: &mut Tensors, m: &mut HashMap<String, String>| {
            m.remove(k);
        }
    };
    let model = |edit: fn(&mut serde_json::Value)| {
        move |_: &mut Tensors, m: &mut HashMap<String, String>| {
            let mut v: serde_json::Value = serde_json::from_str(&m["model"]).expect("JSON");
            edit(&mut v);
            m.insert("model".into(), v.to_string());
        }
    };
    let err = |e: &dyn Fn(&mut Tensors, &mut HashMap<String, String>)| error_after(|t, m| e(t, m));
    // A spec with a 2^24 × 64-level table over this small file: an error, not a 32 GiB allocation.
    let huge = |v: &mut serde_json::Value| {
        v["num_levels"] = 64.into();
        v["log2_hashmap_size"] = 24.into();
    };
    let checks: [(String, &[&str]); 11] = [
        (err(&model(huge)), &["mlp.layers.0.weights", "expected shape [16, 128]"]),
        (err(&drop("format")), &["__metadata__.format", "nfield-model-1"]),
        (err(&set("format", "nfield-adam-1")), &["__metadata__.format", "optimizer checkpoint"]),
        (err(&drop("model")), &["__metadata__.model", "missing"]),
        (err(&set("model", "{\"type\": \"siren\", ")), &["__metadata__.model", "EOF"]),
        (err(&model(|v| v["type"] = "mlp".into())), &["__metadata__.model", "unknown variant `mlp`"]),
        (err(&model(|v| v["width"] = 0.into())), &["__metadata__.model.width", "1..=1024"]),
        (
            err(&model(|v| _ = v.as_object_mut().map(|o| o.remove("per_level_scale")))),
            &["__metadata__.model", "per_level_scale"],
        ),
        (err(&drop("coordinates")), &["__metadata__.coordinates", "missing"]),
        (
            err(&set("coordinates", "{\"grid\": \"corners\", \"range\": \"zero_one\"}")),
            &["__metadata__.coordinates.grid", "corners"],
        ),
        (err(&set("sample_seed", "-1")), &["__metadata__.sample_seed", "unsigned"]),
    ];
    for (err, needles) in checks {
        assert!(needles.iter().all(|n| err.contains(n)), "{needles:?}: {err}");
    }
}

#[test]
fn a_file_that_is_not_safetensors_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, "{\"mlp\": {\"layers\": []}}").expect("write");
    let err = read_model(&path).unwrap_err().to_string();
    assert!(err.contains("m.safetensors") && err.contains("(header)") && err.contains(".json"), "{err}");
}

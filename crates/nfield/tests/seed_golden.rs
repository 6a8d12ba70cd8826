//! Golden tests on the seed's own model files (SPEC §10): nfield reads them, its f64 oracle
//! reproduces the numpy oracle (`verify_seed_samples.py`, predictions stored by
//! `scripts/seed_predictions.py`), the CPU engine matches to 1e-4, and the PSNR on the 256
//! embedded samples is the one the Python oracle prints.

use nfield::cpu::CpuEngine;
use nfield::format::{self, ModelFile};
use nfield::testing::seed_data_dir;
use nfield::train::{TrainOptions, psnr_from_mse};
use nfield::{Engine, InferOptions, ModelKind, Query, reference};

const CASES: [(&str, ModelKind, f64); 3] = [
    ("siren", ModelKind::Siren, 24.06),
    ("fourier", ModelKind::Fourier, 21.23),
    ("instant_ngp", ModelKind::HashGrid, 23.12),
];

fn numpy_predictions(name: &str) -> (Vec<f64>, f64) {
    let text = include_str!("data/seed_predictions.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("stored predictions parse");
    let preds = v[name]["predictions"].as_array().expect("predictions").iter();
    let flat = preds.flat_map(|row| row.as_array().expect("row").iter().map(|x| x.as_f64().expect("number"))).collect();
    (flat, v[name]["psnr_db"].as_f64().expect("psnr"))
}

fn load(name: &str) -> Option<ModelFile> {
    let dir = seed_data_dir("seed golden tests")?;
    Some(format::read_model(&dir.join(format!("{name}.json"))).expect("the seed file reads"))
}

#[test]
fn seed_files_match_the_numpy_oracle_and_the_spec_psnr() {
    for (name, kind, spec_psnr) in CASES {
        let Some(file) = load(name) else { return };
        let model = &file.model;
        assert_eq!(model.kind(), kind, "{name}");
        let samples = file.samples.as_ref().expect("seed files embed samples");
        assert_eq!((samples.samples.len(), samples.seed), (256, 1337), "{name}");
        let positions: Vec<f32> = samples.samples.iter().flat_map(|s| s.position).collect();
        let values: Vec<f32> = samples.samples.iter().flat_map(|s| s.value).collect();
        let (numpy, numpy_psnr) = numpy_predictions(name);

        // The Rust f64 oracle is the numpy oracle. For the hash grid the level scales are f32
        // `exp` results: nfield rounds exp correctly, numpy's float32 exp is one ulp off at 5 of
        // the 16 levels (and MLX and Metal have exps of their own), which moves predictions by
        // up to 1.5e-5.
        let ours = reference::forward(&model.spec, &reference::params_f64(model), &positions);
        let worst = ours.iter().zip(&numpy).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let bound = if kind == ModelKind::HashGrid { 1e-4 } else { 1e-9 };
        assert!(worst < bound, "{name}: f64 oracle differs from numpy by {worst:e}");
        println!("{name}: f64 oracle vs numpy oracle max |Δ| = {worst:.2e}");

        // The CPU engine matches the oracle to 1e-4 (the bound; measured: ~1e-6).
        let mut engine = CpuEngine::new();
        engine.load(model, None, &TrainOptions::default()).expect("load");
        let n = engine.infer(&Query::Points(&positions), &InferOptions::default()).expect("infer");
        let mut out = vec![0.0f32; 3 * n];
        engine.read_output(&mut out).expect("read");
        let worst = out.iter().zip(&numpy).map(|(&a, b)| (a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-4, "{name}: CPU engine differs from the numpy oracle by {worst:e}");
        println!("{name}: CPU engine vs numpy oracle max |Δ| = {worst:.2e}");

        let mse = out.iter().zip(&values).map(|(&p, &v)| (p as f64 - v as f64).powi(2)).sum::<f64>() / out.len() as f64;
        let psnr = psnr_from_mse(mse);
        assert!((psnr - spec_psnr).abs() <= 0.05, "{name}: PSNR on samples {psnr:.3} dB, the spec says {spec_psnr}");
        assert!((psnr - numpy_psnr).abs() < 1e-3, "{name}: PSNR {psnr} vs numpy {numpy_psnr}");
    }
}

#[test]
fn seed_files_keep_their_convention() {
    for (name, _, _) in CASES {
        let Some(file) = load(name) else { return };
        let m = &file.model;
        // Files without a recorded convention get train.py's: linspace endpoints.
        assert_eq!(m.coords.grid, nfield::model::PixelGrid::Endpoints, "{name}");
        assert_eq!(m.image.map(|i| (i.width, i.height)), Some((771, 1080)), "{name}");
    }
}

#[test]
fn seed_files_survive_a_write_read_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, _, _) in CASES {
        let Some(file) = load(name) else { return };
        let path = dir.path().join(format!("{name}.json"));
        format::write_model(&path, &file).expect("write");
        let back = format::read_model(&path).expect("read back");
        assert_eq!(back.model.spec, file.model.spec, "{name}");
        assert_eq!(back.model.params, file.model.params, "{name}: parameters are written exactly");
        assert_eq!(back.samples, file.samples, "{name}");
        assert_eq!(back.model.image, file.model.image, "{name}");
        assert_eq!(back.model.coords, file.model.coords, "{name}: the convention is now recorded");
        // The seed's key order, so the seed's loaders (and diff tools) see the same layout.
        let text = std::fs::read_to_string(&path).expect("read text");
        let keys: Vec<&str> =
            ["\"metadata\"", "\"model\"", "\"mlp\"", "\"sample_count\"", "\"sample_seed\"", "\"samples\""]
                .into_iter()
                .filter(|k| text.contains(k))
                .collect();
        let mut positions: Vec<usize> = keys.iter().map(|k| text.find(k).expect("key")).collect();
        let sorted = {
            let mut p = positions.clone();
            p.sort_unstable();
            p
        };
        assert_eq!(positions, sorted, "{name}: keys out of the seed's order");
        positions.clear();
    }
}

#[test]
fn nfield_hash_grid_options_survive_a_json_round_trip() {
    use nfield::model::{Growth, HashGridSpec, Model, ModelSpec, OutputActivation};
    let dir = tempfile::tempdir().expect("temp dir");
    for dense_coarse in [false, true] {
        let spec = HashGridSpec {
            levels: 3,
            log2_table_size: 10,
            growth: Growth::Geometric { per_level_scale: 2.0 },
            output: OutputActivation::Linear,
            dense_coarse,
            ..Default::default()
        };
        let model = Model::new(ModelSpec::HashGrid(spec), 4).expect("model");
        let path = dir.path().join(format!("dense-{dense_coarse}.json"));
        format::write_model(&path, &ModelFile { model: model.clone(), samples: None }).expect("write");
        let back = format::read_model(&path).expect("read back");
        assert_eq!(back.model.spec, model.spec);
        let text = std::fs::read_to_string(&path).expect("read text");
        // Written only when set, so files of hashed grids keep the seed's keys.
        assert_eq!(text.contains("\"dense_coarse_levels\""), dense_coarse);
    }
}

//! The seed's JSON model files (SPEC §4), read and written with the same schema.
//!
//! ```text
//! siren.json / fourier.json: metadata, model, mlp, [fourier], sample_count, sample_seed, samples
//! instant_ngp.json:          metadata, model, encoding, mlp, sample_count, sample_seed, samples
//! mlp.layers[l].weights: out rows of `in` floats (row-major out×in); mlp.layers[l].biases: out floats
//! fourier.B: 2 rows of m floats; encoding.hash_table: {shape: [L, T, F], data: L·T·F floats, C-order}
//! ```
//!
//! nfield adds keys that the seed's loaders ignore: `metadata.coordinates` (the grid rule and
//! range), `model.omega0` / `model.omega_hidden` (SIREN), `model.train_b` (Fourier),
//! `model.output_activation` and `encoding.growth` / `encoding.per_level_scale` /
//! `encoding.dense_coarse_levels` (hash grid).
//! Files without them get the seed's values (train.py's linspace endpoints, ω0 30 / ω 1,
//! frozen B, sigmoid, floor-log scales). A wrong shape is an error naming the field; a short
//! hash table is never tiled (the seed tiles it silently, SPEC §9.10).

use super::write_atomic;
use crate::data::Image;
use crate::model::{
    Coords, FourierSpec, Growth, HashGridSpec, ImageSize, Model, ModelKind, ModelSpec, OutputActivation, PixelGrid,
    SirenSpec,
};
use crate::rng::{self, Stream};
use crate::{Error, Result};
use schema::{
    CoordsJson, EncodingJson, FileJson, FourierJson, HashTableJson, ImageJson, LayerJson, MetadataJson, MlpJson,
    ModelJson, SampleJson,
};
use serde::Serialize;

mod schema;
use std::path::{Path, PathBuf};

/// One ground-truth sample embedded in a model file.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Position in the model's coordinates.
    pub position: [f32; 2],
    /// The target's colour there (ground truth, not a prediction).
    pub value: [f32; 3],
}

/// The samples embedded in a model file and the seed that chose them.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddedSamples {
    /// `sample_seed`.
    pub seed: u64,
    /// `samples`.
    pub samples: Vec<Sample>,
}

/// A model file: the model, its embedded samples and the metadata `mode`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The model.
    pub model: Model,
    /// Embedded ground-truth samples, if the file has them.
    pub samples: Option<EmbeddedSamples>,
}

/// Reads a model file (any of the seed's three schemas, or one nfield wrote).
pub fn read_model(path: &Path) -> Result<ModelFile> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), action: "read", source })?;
    parse(path, &bytes)
}

/// Parses a model file held in memory; `name` is used in error messages.
pub fn read_model_str(name: &str, text: &str) -> Result<ModelFile> {
    parse(Path::new(name), text.as_bytes())
}

fn parse(path: &Path, bytes: &[u8]) -> Result<ModelFile> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Json { path: path.into(), message: "the file is empty; expected a JSON model file".into() });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let file: FileJson = match serde_path_to_error::deserialize(&mut de) {
        Ok(f) => f,
        Err(e) => {
            return Err(json_error(path, bytes, e.path().to_string(), e.into_inner()));
        }
    };
    de.end().map_err(|e| json_error(path, bytes, String::new(), e))?;
    from_json(path, file)
}

fn json_error(path: &Path, bytes: &[u8], field: String, e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    let top_level = field.is_empty() || field == ".";
    if e.to_string().contains("number out of range") && !top_level {
        return Error::field(path, field, "expected a number that fits a 32-bit float (|x| ≤ 3.4e38)");
    }
    match e.classify() {
        Category::Data if top_level => Error::field(
            path,
            "(top level)",
            format!("expected a JSON object with an `mlp` key (a model file in the seed's schema): {}", plain(&e)),
        ),
        Category::Data => Error::field(
            path,
            if field.is_empty() || field == "." { "(top level)".into() } else { field },
            e.to_string(),
        ),
        Category::Io | Category::Syntax | Category::Eof => {
            let mut message = e.to_string();
            // Python's json.dump writes NaN/Infinity, which JSON does not allow.
            let line = bytes.split(|&b| b == b'\n').nth(e.line().saturating_sub(1)).unwrap_or(&[]);
            let rest = String::from_utf8_lossy(line.get(e.column().saturating_sub(1)..).unwrap_or(&[]));
            let rest = rest.trim_start_matches(['-', ' ']);
            if rest.starts_with("NaN")
                || rest.starts_with("Infinity")
                || rest.starts_with("nan")
                || rest.starts_with("inf")
            {
                message += " (NaN and Infinity are not valid JSON numbers: the model holds a non-finite value)";
            }
            if field.len() > 1 {
                message = format!("{message} (in `{field}`)");
            }
            Error::Json { path: path.into(), message }
        }
    }
}

/// serde's message without its internal type names (`struct FileJson with 8 elements`).
fn plain(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(", expected struct") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

fn from_json(path: &Path, file: FileJson) -> Result<ModelFile> {
    let field = |f: &str, msg: String| Error::field(path, f, msg);
    let info = file.model.unwrap_or_default();
    let kind = match info.kind.as_deref() {
        Some("siren") => ModelKind::Siren,
        Some("fourier") => ModelKind::Fourier,
        Some("instant-ngp" | "instant_ngp" | "hash-grid" | "hash_grid") => ModelKind::HashGrid,
        Some(other) => {
            return Err(field(
                "model.type",
                format!("expected \"siren\", \"fourier\" or \"instant-ngp\", got {other:?}"),
            ));
        }
        None if file.encoding.is_some() => ModelKind::HashGrid,
        None if file.fourier.is_some() => ModelKind::Fourier,
        None => ModelKind::Siren,
    };
    if kind != ModelKind::HashGrid && file.encoding.is_some() {
        return Err(field(
            "encoding",
            format!(
                "a {} model has no hash-grid encoding; remove it or set model.type to \"instant-ngp\"",
                kind.seed_type()
            ),
        ));
    }
    if kind != ModelKind::Fourier && file.fourier.is_some() {
        return Err(field(
            "fourier",
            format!("a {} model has no Fourier features; remove it or set model.type to \"fourier\"", kind.seed_type()),
        ));
    }

    let layers = &file.mlp.layers;
    if layers.len() < 2 {
        return Err(field(
            "mlp.layers",
            format!("expected at least 2 layers (input → width → 3), got {}", layers.len()),
        ));
    }
    let width = layers[0].biases.len();
    let hidden = layers.len() - 1; // layers with a hidden activation
    let (spec, encoding_values): (ModelSpec, Vec<f32>) = match kind {
        ModelKind::Siren => {
            let spec = SirenSpec {
                width,
                hidden_layers: layers.len() - 2,
                omega0: info.omega0.unwrap_or(30.0),
                omega_hidden: info.omega_hidden.unwrap_or(1.0),
            };
            (ModelSpec::Siren(spec), Vec::new())
        }
        ModelKind::Fourier => {
            let f = file
                .fourier
                .as_ref()
                .ok_or_else(|| field("fourier", "a Fourier model needs `fourier.B` (2 rows of m floats)".into()))?;
            if f.b.len() != 2 {
                return Err(field(
                    "fourier.B",
                    format!("expected 2 rows (one per input dimension), got {}", f.b.len()),
                ));
            }
            let m = f.b[0].len();
            if m == 0 || f.b[1].len() != m {
                return Err(field(
                    "fourier.B",
                    format!("expected 2 rows of equal, non-zero length, got {} and {}", m, f.b[1].len()),
                ));
            }
            let spec = FourierSpec {
                frequencies: m,
                sigma: f.sigma.unwrap_or(1.0),
                width,
                hidden_layers: hidden,
                train_b: info.train_b.unwrap_or(false),
            };
            let values: Vec<f32> = f.b.iter().flatten().copied().collect();
            check_finite(path, "fourier.B", &values)?;
            (ModelSpec::Fourier(spec), values)
        }
        ModelKind::HashGrid => {
            let e = file
                .encoding
                .as_ref()
                .ok_or_else(|| field("encoding", "a hash-grid model needs an `encoding` object".into()))?;
            let growth = match (e.growth.as_deref(), e.per_level_scale) {
                (None | Some("floor_log"), _) => Growth::FloorLog,
                (Some("geometric"), Some(b)) => Growth::Geometric { per_level_scale: b },
                (Some("geometric"), None) => {
                    return Err(field("encoding.per_level_scale", "geometric growth needs a per_level_scale".into()));
                }
                (Some(other), _) => {
                    return Err(field(
                        "encoding.growth",
                        format!("expected \"floor_log\" or \"geometric\", got {other:?}"),
                    ));
                }
            };
            let output = match info.output_activation.as_deref() {
                None | Some("sigmoid") => OutputActivation::Sigmoid,
                Some("linear") => OutputActivation::Linear,
                Some(other) => {
                    return Err(field(
                        "model.output_activation",
                        format!("expected \"sigmoid\" or \"linear\", got {other:?}"),
                    ));
                }
            };
            let spec = HashGridSpec {
                levels: e.num_levels,
                features_per_level: e.features_per_level,
                log2_table_size: e.log2_hashmap_size,
                base_resolution: e.base_resolution,
                max_resolution: e.max_resolution,
                growth,
                width,
                hidden_layers: hidden,
                output,
                dense_coarse: e.dense_coarse_levels.unwrap_or(false),
            };
            spec.validate().map_err(|err| match err {
                Error::Option { option, message } => field(&encoding_field(option), message),
                other => other,
            })?;
            let want = [spec.levels, spec.table_size(), spec.features_per_level];
            if e.hash_table.shape != want {
                return Err(field(
                    "encoding.hash_table.shape",
                    format!(
                        "expected {want:?} (num_levels, 2^log2_hashmap_size, features_per_level), got {:?}",
                        e.hash_table.shape
                    ),
                ));
            }
            if e.hash_table.data.len() != spec.table_len() {
                return Err(field(
                    "encoding.hash_table.data",
                    format!(
                        "expected {} values ({}×{}×{}), got {}; nfield does not tile a short table as the seed does",
                        spec.table_len(),
                        want[0],
                        want[1],
                        want[2],
                        e.hash_table.data.len()
                    ),
                ));
            }
            check_finite(path, "encoding.hash_table.data", &e.hash_table.data)?;
            (ModelSpec::HashGrid(spec), Vec::new())
        }
    };
    spec.validate().map_err(|err| match err {
        Error::Option { option, message } => field(&format!("mlp.layers ({option})"), message),
        other => other,
    })?;

    // Shapes of every layer against the architecture the file implies.
    let mlp = spec.mlp();
    let mut params = Vec::with_capacity(spec.param_count());
    for (l, (layer, want)) in layers.iter().zip(&mlp.layers).enumerate() {
        let name = format!("mlp.layers[{l}]");
        if layer.biases.len() != want.outputs {
            let why = if l + 1 == layers.len() {
                "3 (RGB)".to_string()
            } else {
                format!("{} (the hidden width set by layer 0)", want.outputs)
            };
            return Err(field(&format!("{name}.biases"), format!("expected {why} values, got {}", layer.biases.len())));
        }
        if layer.weights.len() != want.outputs {
            return Err(field(
                &format!("{name}.weights"),
                format!("expected {} rows (one per output), got {}", want.outputs, layer.weights.len()),
            ));
        }
        for (o, row) in layer.weights.iter().enumerate() {
            if row.len() != want.inputs {
                let why = if l == 0 { input_reason(&spec) } else { "the previous layer's outputs".into() };
                return Err(field(
                    &format!("{name}.weights[{o}]"),
                    format!("expected {} inputs ({why}), got {}", want.inputs, row.len()),
                ));
            }
            check_finite(path, &format!("{name}.weights[{o}]"), row)?;
            params.extend_from_slice(row);
        }
        check_finite(path, &format!("{name}.biases"), &layer.biases)?;
        params.extend_from_slice(&layer.biases);
    }
    match kind {
        ModelKind::HashGrid => {
            params.extend_from_slice(file.encoding.as_ref().map(|e| e.hash_table.data.as_slice()).unwrap_or(&[]))
        }
        _ => params.extend_from_slice(&encoding_values),
    }

    let meta = file.metadata.as_ref();
    let image = match meta.and_then(|m| m.image.as_ref()) {
        Some(i) if i.width == 0 || i.height == 0 => {
            return Err(field(
                "metadata.image",
                format!("expected a width and height of at least 1, got {}×{}", i.width, i.height),
            ));
        }
        Some(i) => Some(ImageSize { width: i.width, height: i.height }),
        None => None,
    };
    let coords = match meta.and_then(|m| m.coordinates.as_ref()) {
        Some(c) => Coords { grid: c.grid, range: c.range },
        None => Coords { grid: PixelGrid::Endpoints, range: kind.coord_range() },
    };

    let samples = match &file.samples {
        None => None,
        Some(list) => {
            if let Some(n) = file.sample_count {
                if n != list.len() {
                    return Err(field(
                        "sample_count",
                        format!("expected the number of `samples` ({}), got {n}", list.len()),
                    ));
                }
            }
            let mut samples = Vec::with_capacity(list.len());
            for (k, s) in list.iter().enumerate() {
                if s.position.len() != 2 {
                    return Err(field(
                        &format!("samples[{k}].position"),
                        format!("expected 2 values [x, y], got {}", s.position.len()),
                    ));
                }
                if s.value.len() != 3 {
                    return Err(field(
                        &format!("samples[{k}].value"),
                        format!("expected 3 values [r, g, b], got {}", s.value.len()),
                    ));
                }
                check_finite(path, &format!("samples[{k}]"), &s.position)?;
                check_finite(path, &format!("samples[{k}]"), &s.value)?;
                samples.push(Sample {
                    position: [s.position[0], s.position[1]],
                    value: [s.value[0], s.value[1], s.value[2]],
                });
            }
            Some(EmbeddedSamples { seed: file.sample_seed.unwrap_or(0), samples })
        }
    };

    let model = Model { spec, params, coords, image };
    Ok(ModelFile { model, samples })
}

fn input_reason(spec: &ModelSpec) -> String {
    match spec {
        ModelSpec::Siren(_) => "a SIREN's input is the 2-D position".into(),
        ModelSpec::Fourier(s) => format!("2 × {} Fourier features of fourier.B", s.frequencies),
        ModelSpec::HashGrid(s) => format!("{} levels × {} features of the encoding", s.levels, s.features_per_level),
    }
}

fn encoding_field(option: &str) -> String {
    match option {
        "levels" | "features" | "log2-table" | "base-res" | "max-res" | "per-level-scale" => {
            format!("encoding.{}", super::schema_key(option))
        }
        _ => "mlp.layers".to_string(),
    }
}

fn check_finite(path: &Path, field: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => {
            Err(Error::field(path, format!("{field}[{i}]"), format!("expected a finite number, got {}", values[i])))
        }
    }
}

fn to_json(file: &ModelFile) -> Result<FileJson> {
    let model = &file.model;
    model.check_params()?;
    let layout = model.layout();
    let p = &model.params;
    let layers = layout
        .layers
        .iter()
        .map(|s| LayerJson {
            weights: (0..s.outputs)
                .map(|o| p[s.weights + o * s.inputs..s.weights + (o + 1) * s.inputs].to_vec())
                .collect(),
            biases: p[s.biases..s.biases + s.outputs].to_vec(),
        })
        .collect();
    let enc = &p[layout.encoding.clone()];
    let mut info = ModelJson { kind: Some(model.kind().seed_type().into()), ..Default::default() };
    let (mut encoding, mut fourier) = (None, None);
    match &model.spec {
        ModelSpec::Siren(s) => {
            info.omega0 = Some(s.omega0);
            info.omega_hidden = Some(s.omega_hidden);
        }
        ModelSpec::Fourier(s) => {
            info.train_b = Some(s.train_b);
            let m = s.frequencies;
            fourier = Some(FourierJson { b: vec![enc[..m].to_vec(), enc[m..].to_vec()], sigma: Some(s.sigma) });
        }
        ModelSpec::HashGrid(s) => {
            info.output_activation = Some(match s.output {
                OutputActivation::Sigmoid => "sigmoid".into(),
                OutputActivation::Linear => "linear".into(),
            });
            let (growth, per_level_scale) = match s.growth {
                Growth::FloorLog => ("floor_log", None),
                Growth::Geometric { per_level_scale } => ("geometric", Some(per_level_scale)),
            };
            encoding = Some(EncodingJson {
                num_levels: s.levels,
                features_per_level: s.features_per_level,
                log2_hashmap_size: s.log2_table_size,
                base_resolution: s.base_resolution,
                max_resolution: s.max_resolution,
                growth: Some(growth.into()),
                per_level_scale,
                dense_coarse_levels: s.dense_coarse.then_some(true),
                hash_table: HashTableJson {
                    shape: vec![s.levels, s.table_size(), s.features_per_level],
                    data: enc.to_vec(),
                },
            });
        }
    }
    let metadata = MetadataJson {
        mode: "image".into(),
        image: model.image.map(|i| ImageJson {
            width: i.width,
            height: i.height,
            aspect_ratio: i.width as f64 / i.height as f64,
        }),
        coordinates: Some(CoordsJson { grid: model.coords.grid, range: model.coords.range }),
    };
    let samples = file.samples.as_ref();
    Ok(FileJson {
        metadata: Some(metadata),
        model: Some(info),
        encoding,
        mlp: MlpJson { layers },
        fourier,
        sample_count: samples.map(|s| s.samples.len()),
        sample_seed: samples.map(|s| s.seed),
        samples: samples.map(|s| {
            s.samples.iter().map(|x| SampleJson { position: x.position.to_vec(), value: x.value.to_vec() }).collect()
        }),
    })
}

/// Writes a model file in the seed's schema (keys in the order of `train.py`, two-space
/// indents, number arrays on one line), through a temporary file renamed into place.
pub fn write_model(path: &Path, file: &ModelFile) -> Result<()> {
    let json = to_json(file).map_err(|e| with_path(e, path))?;
    write_atomic(path, |w| {
        let mut ser = serde_json::Serializer::with_formatter(w, super::json_style::CompactNumbers::default());
        json.serialize(&mut ser).map_err(std::io::Error::other)
    })
}

fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Field { field, expected, .. } => Error::Field { path: PathBuf::from(path), field, expected },
        other => other,
    }
}

/// Chooses `count` distinct pixels of `image` (seeded) and returns them as embedded samples in
/// the model's coordinates.
pub fn embed_samples(coords: Coords, image: &Image, count: u32, seed: u64) -> EmbeddedSamples {
    let n = image.pixel_count() as u32;
    let samples = rng::choose_distinct(seed, Stream::EmbeddedSamples, n, count)
        .into_iter()
        .map(|k| {
            let (i, j) = (k % image.width, k / image.width);
            Sample { position: coords.pixel(i, j, image.width, image.height), value: image.pixel(k as usize) }
        })
        .collect();
    EmbeddedSamples { seed, samples }
}

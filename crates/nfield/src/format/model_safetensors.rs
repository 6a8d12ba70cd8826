//! Model files in safetensors, for models whose parameters are too many for JSON text (a hash
//! grid with 2^19–2^24 entries per level holds 16–500 M values).
//!
//! Layout contract (`format = nfield-model-1`): the [`ParamLayout`] of the model, one tensor per
//! piece, little-endian, C order, written in this order:
//!
//! ```text
//! mlp.layers.{l}.weights  f32  [outputs, inputs]     W_l, row-major (as mlp.layers[l].weights in JSON)
//! mlp.layers.{l}.biases   f32  [outputs]             b_l
//! fourier.B               f32  [2, m]                Fourier models only
//! samples.position        f32  [N, 2]                embedded samples, when the file has them
//! samples.value           f32  [N, 3]
//! encoding.hash_table     f32 | f16 | bf16  [L, T, F]  hash grids only; read back as f32
//! __metadata__: format = "nfield-model-1"
//!               model       = JSON: {"type": "siren", "width", "hidden_layers", "omega0", "omega_hidden"}
//!                             | {"type": "fourier", "frequencies", "sigma", "width", "hidden_layers", "train_b"}
//!                             | {"type": "instant-ngp", "num_levels", "features_per_level",
//!                                "log2_hashmap_size", "base_resolution", "max_resolution",
//!                                "growth": "floor_log" | "geometric", ["per_level_scale"],
//!                                "width", "hidden_layers", "output_activation": "sigmoid" | "linear",
//!                                "dense_coarse_levels": bool (absent: false)}
//!               coordinates = JSON: {"grid": "linspace" | "pixel_centers", "range": "minus_one_one" | "zero_one"}
//!               image       = JSON: {"width", "height"}    (optional: the training image's size)
//!               sample_seed = decimal u64                  (with the samples tensors)
//! ```
//!
//! The keys and values are the seed JSON schema's (`model.type`, `encoding.num_levels`, …,
//! `metadata.coordinates`), with the widths and depths stated instead of implied by array
//! lengths. Every tensor is checked against the shape the `model` metadata implies; a missing,
//! extra, mis-shaped or non-finite tensor is an error naming the file and the tensor.

use super::{EmbeddedSamples, ModelFile, Sample, write_atomic};
use crate::model::{
    Coords, FourierSpec, Growth, HashGridSpec, ImageSize, Model, ModelSpec, OutputActivation, ParamLayout, SirenSpec,
};
use crate::{Error, Result};
use half::{bf16, f16};
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorInfo, TensorView};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

/// The `format` metadata value of a model file.
const FORMAT: &str = "nfield-model-1";

/// How [`write_model_safetensors`] stores the hash table (every other tensor is f32). Reading
/// accepts each and converts to f32, the master precision of every engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableStorage {
    /// 4 bytes a value, bit-exact.
    #[default]
    F32,
    /// IEEE half: 2 bytes a value, round to nearest (relative error ≤ 2^-11; |x| ≤ 65504).
    F16,
    /// bfloat16: 2 bytes a value, f32's range, relative error ≤ 2^-8.
    Bf16,
}

/// `ModelSpec` as the `model` metadata: serde's remote derive mirrors the spec types, so a field
/// added to them fails to compile here instead of being dropped from files.
#[derive(Serialize, Deserialize)]
#[serde(remote = "ModelSpec", tag = "type")]
enum SpecDef {
    #[serde(rename = "siren", with = "SirenDef")]
    Siren(SirenSpec),
    #[serde(rename = "fourier", with = "FourierDef")]
    Fourier(FourierSpec),
    #[serde(rename = "instant-ngp", with = "HashGridDef")]
    HashGrid(HashGridSpec),
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "SirenSpec")]
struct SirenDef {
    width: usize,
    hidden_layers: usize,
    omega0: f32,
    omega_hidden: f32,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "FourierSpec")]
struct FourierDef {
    frequencies: usize,
    sigma: f32,
    width: usize,
    hidden_layers: usize,
    train_b: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "HashGridSpec")]
struct HashGridDef {
    #[serde(rename = "num_levels")]
    levels: usize,
    features_per_level: usize,
    #[serde(rename = "log2_hashmap_size")]
    log2_table_size: u32,
    base_resolution: u32,
    max_resolution: u32,
    #[serde(flatten, with = "GrowthDef")]
    growth: Growth,
    width: usize,
    hidden_layers: usize,
    #[serde(rename = "output_activation", with = "OutputDef")]
    output: OutputActivation,
    #[serde(default, rename = "dense_coarse_levels")]
    dense_coarse: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Growth", tag = "growth", rename_all = "snake_case")]
enum GrowthDef {
    FloorLog,
    Geometric { per_level_scale: f32 },
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "OutputActivation", rename_all = "snake_case")]
enum OutputDef {
    Sigmoid,
    Linear,
}

/// The `model` metadata's JSON form.
#[derive(Serialize, Deserialize)]
struct SpecJson(#[serde(with = "SpecDef")] ModelSpec);

#[derive(Serialize, Deserialize)]
struct ImageJson {
    width: u32,
    height: u32,
}

/// One tensor to write: its name, storage type, shape and f32 values.
struct Part<'a> {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    values: Cow<'a, [f32]>,
}

/// Writes `file` as safetensors (the layout at the top of this module), the hash table stored
/// as `table`; through a temporary sibling renamed into place, never a partial file.
pub fn write_model_safetensors(path: &Path, file: &ModelFile, table: TableStorage) -> Result<()> {
    let model = &file.model;
    model.spec.validate()?;
    let layout = model.layout();
    if model.params.len() != layout.total {
        let n = model.params.len();
        return Err(Error::field(path, "params", format!("expected {} values, got {n}", layout.total)));
    }
    let parts = parts(file, &layout, table);
    for p in &parts {
        let stored = |x: f32| match p.dtype {
            Dtype::F16 => f16::from_f32(x).is_finite(),
            Dtype::BF16 => bf16::from_f32(x).is_finite(),
            _ => x.is_finite(),
        };
        if let Some(i) = p.values.iter().position(|&x| !stored(x)) {
            let x = p.values[i];
            let why = if x.is_finite() {
                let range = if p.dtype == Dtype::F16 { " (|x| ≤ 65504)" } else { "" };
                format!("{x} is outside the range of {:?}{range}; store the table as TableStorage::F32", p.dtype)
            } else {
                format!("expected a finite value, got {x}")
            };
            return Err(Error::field(path, at(&p.name, &p.shape, i), why));
        }
    }

    let mut meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("model".to_string(), to_json(&SpecJson(model.spec.clone()))),
        ("coordinates".to_string(), to_json(&model.coords)),
    ]);
    if let Some(i) = model.image {
        meta.insert("image".into(), to_json(&ImageJson { width: i.width, height: i.height }));
    }
    if let Some(s) = &file.samples {
        meta.insert("sample_seed".into(), s.seed.to_string());
    }
    let mut offset = 0;
    let infos = parts.iter().map(|p| {
        let end = offset + p.values.len() * (p.dtype.bitsize() / 8);
        let info = TensorInfo { dtype: p.dtype, shape: p.shape.clone(), data_offsets: (offset, end) };
        offset = end;
        (p.name.clone(), info)
    });
    let encode = |e: String| Error::Io { path: path.into(), action: "encode", source: std::io::Error::other(e) };
    let header = Metadata::new(Some(meta), infos.collect()).map_err(|e| encode(e.to_string()))?;
    let mut header = serde_json::to_vec(&header).map_err(|e| encode(e.to_string()))?;
    header.resize(header.len().next_multiple_of(8), b' ');

    write_atomic(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for p in &parts {
            for chunk in p.values.chunks(1 << 14) {
                buf.clear();
                for &x in chunk {
                    match p.dtype {
                        Dtype::F16 => buf.extend_from_slice(&f16::from_f32(x).to_le_bytes()),
                        Dtype::BF16 => buf.extend_from_slice(&bf16::from_f32(x).to_le_bytes()),
                        _ => buf.extend_from_slice(&x.to_le_bytes()),
                    }
                }
                w.write_all(&buf)?;
            }
        }
        Ok(())
    })
}

/// The tensors of a file, in file order (the 16-bit table last, so every f32 stays aligned).
fn parts<'a>(file: &'a ModelFile, layout: &ParamLayout, table: TableStorage) -> Vec<Part<'a>> {
    let p = &file.model.params;
    let part = |name: &str, dtype, shape, values| Part { name: name.to_string(), dtype, shape, values };
    let mut parts = Vec::with_capacity(2 * layout.layers.len() + 3);
    for (l, s) in layout.layers.iter().enumerate() {
        let (w, b) = (&p[s.weights..s.biases], &p[s.biases..s.biases + s.outputs]);
        parts.push(part(&format!("mlp.layers.{l}.weights"), Dtype::F32, vec![s.outputs, s.inputs], w.into()));
        parts.push(part(&format!("mlp.layers.{l}.biases"), Dtype::F32, vec![s.outputs], b.into()));
    }
    let enc = &p[layout.encoding.clone()];
    if let ModelSpec::Fourier(s) = &file.model.spec {
        parts.push(part("fourier.B", Dtype::F32, vec![2, s.frequencies], enc.into()));
    }
    if let Some(s) = &file.samples {
        let n = s.samples.len();
        let position: Vec<f32> = s.samples.iter().flat_map(|x| x.position).collect();
        let value: Vec<f32> = s.samples.iter().flat_map(|x| x.value).collect();
        parts.push(part("samples.position", Dtype::F32, vec![n, 2], position.into()));
        parts.push(part("samples.value", Dtype::F32, vec![n, 3], value.into()));
    }
    if let ModelSpec::HashGrid(s) = &file.model.spec {
        let dtype = match table {
            TableStorage::F32 => Dtype::F32,
            TableStorage::F16 => Dtype::F16,
            TableStorage::Bf16 => Dtype::BF16,
        };
        parts.push(part(
            "encoding.hash_table",
            dtype,
            vec![s.levels, s.table_size(), s.features_per_level],
            enc.into(),
        ));
    }
    parts
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Plain structs of numbers and strings: serde_json cannot fail on them.
    serde_json::to_string(value).unwrap_or_default()
}

/// `name[i, j, k]`: the element at flat index `i` of a tensor of `shape`, for messages.
fn at(name: &str, shape: &[usize], mut i: usize) -> String {
    let mut index = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        index[d] = i % n.max(1);
        i /= n.max(1);
    }
    let index: Vec<String> = index.iter().map(usize::to_string).collect();
    format!("{name}[{}]", index.join(", "))
}

/// Reads a model file written by [`write_model_safetensors`] (any [`TableStorage`]); every
/// tensor comes back as f32.
pub fn read_model_safetensors(path: &Path) -> Result<ModelFile> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), action: "read", source })?;
    let field = |f: &str, msg: String| Error::field(path, f, msg);
    let not_safetensors = |e: safetensors::SafeTensorError| {
        let hint = if bytes.first() == Some(&b'{') { "; it looks like JSON: name it .json" } else { "" };
        field("(header)", format!("expected a safetensors file: {e}{hint}"))
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let format = meta.get("format").map(String::as_str);
    if format != Some(FORMAT) {
        let why = match format {
            Some("nfield-adam-1") => "this is an optimizer checkpoint; pass the model file beside it".into(),
            Some(other) => format!("expected {FORMAT:?}, got {other:?}"),
            None => format!("missing; expected {FORMAT:?} (an nfield model file)"),
        };
        return Err(field("__metadata__.format", why));
    }
    let SpecJson(spec) = meta_json(path, &meta, "model")?
        .ok_or_else(|| field("__metadata__.model", "missing; expected the architecture as JSON".into()))?;
    let spec = check_spec(path, spec)?;
    let coords: Coords = meta_json(path, &meta, "coordinates")?
        .ok_or_else(|| field("__metadata__.coordinates", "missing; expected {\"grid\": …, \"range\": …}".into()))?;
    let image = match meta_json::<ImageJson>(path, &meta, "image")? {
        Some(i) if i.width == 0 || i.height == 0 => {
            return Err(field(
                "__metadata__.image",
                format!("expected a width and height of at least 1, got {}×{}", i.width, i.height),
            ));
        }
        i => i.map(|i| ImageSize { width: i.width, height: i.height }),
    };

    // Every tensor is checked against the architecture before anything is allocated, so the
    // allocations are bounded by the file's size whatever the metadata claims.
    let check = |name: &str, shape: &[usize]| -> Result<TensorView<'_>> {
        let describe = spec.describe();
        let t = tensors
            .tensor(name)
            .map_err(|_| field(name, format!("missing tensor; expected {shape:?} for {describe}")))?;
        let table = name == "encoding.hash_table";
        if !(t.dtype() == Dtype::F32 || (table && matches!(t.dtype(), Dtype::F16 | Dtype::BF16))) {
            let want = if table { "F32, F16 or BF16" } else { "F32" };
            return Err(field(name, format!("expected dtype {want}, got {:?}", t.dtype())));
        }
        if t.shape() != shape {
            return Err(field(name, format!("expected shape {shape:?} for {describe}, got {:?}", t.shape())));
        }
        Ok(t)
    };
    let read = |name: &str, t: &TensorView<'_>, out: &mut [f32]| -> Result<()> {
        decode(t.dtype(), t.data(), out);
        match out.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(i) => Err(field(&at(name, t.shape(), i), format!("expected a finite value, got {}", out[i]))),
        }
    };
    let layout = spec.layout();
    let mut slots: Vec<(String, Vec<usize>, Range<usize>)> = Vec::new();
    for (l, s) in layout.layers.iter().enumerate() {
        slots.push((format!("mlp.layers.{l}.weights"), vec![s.outputs, s.inputs], s.weights..s.biases));
        slots.push((format!("mlp.layers.{l}.biases"), vec![s.outputs], s.biases..s.biases + s.outputs));
    }
    match &spec {
        ModelSpec::Siren(_) => {}
        ModelSpec::Fourier(s) => slots.push(("fourier.B".into(), vec![2, s.frequencies], layout.encoding.clone())),
        ModelSpec::HashGrid(s) => {
            let shape = vec![s.levels, s.table_size(), s.features_per_level];
            slots.push(("encoding.hash_table".into(), shape, layout.encoding.clone()));
        }
    }
    let views = slots.iter().map(|(name, shape, _)| check(name, shape)).collect::<Result<Vec<_>>>()?;
    let mut params = vec![0.0f32; layout.total];
    for ((name, _, range), t) in slots.iter().zip(&views) {
        read(name, t, &mut params[range.clone()])?;
    }

    // Samples: N from the bytes present (4 per f32), then the same checks.
    let names = ["samples.position", "samples.value"];
    let samples = match names.map(|n| tensors.tensor(n).ok().map(|t| t.data().len())) {
        [None, None] => None,
        [p, v] => {
            let n = p.map_or_else(|| v.unwrap_or(0) / 12, |p| p / 8);
            let (pos, val) = (check(names[0], &[n, 2])?, check(names[1], &[n, 3])?);
            let (mut position, mut value) = (vec![0.0f32; 2 * n], vec![0.0f32; 3 * n]);
            read(names[0], &pos, &mut position)?;
            read(names[1], &val, &mut value)?;
            let seed = meta.get("sample_seed").ok_or_else(|| {
                field("__metadata__.sample_seed", "missing; expected the seed that chose the samples".into())
            })?;
            let seed = seed.parse().map_err(|_| {
                field("__metadata__.sample_seed", format!("expected an unsigned integer, got {seed:?}"))
            })?;
            let samples = position
                .chunks_exact(2)
                .zip(value.chunks_exact(3))
                .map(|(p, v)| Sample { position: [p[0], p[1]], value: [v[0], v[1], v[2]] });
            Some(EmbeddedSamples { seed, samples: samples.collect() })
        }
    };
    let known = |n: &str| names.contains(&n) || slots.iter().any(|s| s.0 == n);
    if let Some(extra) = tensors.names().into_iter().find(|n| !known(n)) {
        return Err(field(extra, format!("unexpected tensor: not part of {} (__metadata__.model)", spec.describe())));
    }
    Ok(ModelFile { model: Model { spec, params, coords, image }, samples })
}

/// Little-endian `dtype` values to f32 (`bytes` holds exactly `out.len()` of them).
fn decode(dtype: Dtype, bytes: &[u8], out: &mut [f32]) {
    match dtype {
        Dtype::F16 => {
            out.iter_mut().zip(bytes.chunks_exact(2)).for_each(|(o, c)| *o = f16::from_le_bytes([c[0], c[1]]).to_f32())
        }
        Dtype::BF16 => {
            out.iter_mut().zip(bytes.chunks_exact(2)).for_each(|(o, c)| *o = bf16::from_le_bytes([c[0], c[1]]).to_f32())
        }
        _ => out
            .iter_mut()
            .zip(bytes.chunks_exact(4))
            .for_each(|(o, c)| *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    }
}

/// Parses the JSON of metadata `key`, if present; errors name `__metadata__.key` and the path in it.
fn meta_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    meta: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>> {
    let Some(text) = meta.get(key) else { return Ok(None) };
    let bad = |inner: String, e: serde_json::Error| {
        let field = if inner.is_empty() || inner == "." || inner == "?" {
            format!("__metadata__.{key}")
        } else {
            format!("__metadata__.{key}.{inner}")
        };
        Error::field(path, field, format!("{e} (in {text})"))
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| bad(e.path().to_string(), e.into_inner()))?;
    de.end().map_err(|e| bad(String::new(), e))?;
    Ok(Some(value))
}

fn check_spec(path: &Path, spec: ModelSpec) -> Result<ModelSpec> {
    spec.validate().map_err(|e| match e {
        Error::Option { option, message } => {
            Error::field(path, format!("__metadata__.model.{}", super::schema_key(option)), message)
        }
        other => other,
    })?;
    Ok(spec)
}

#[cfg(test)]
mod tests;

//! The optimizer checkpoint that sits beside a model file, so `nfield train --resume` continues
//! exactly where a run stopped: Adam's moments as safetensors (`adam.m`, `adam.v`, f32, one value
//! per parameter) and the step count and recipe in the safetensors metadata.
//!
//! `model.json` → `model.adam.safetensors`.

use super::write_atomic;
use crate::train::{AdamConfig, AdamState, LrDecay, TrainOptions};
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The checkpoint path that belongs to a model file.
pub fn checkpoint_path(model_path: &Path) -> PathBuf {
    let stem = model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    model_path.with_file_name(format!("{stem}.adam.safetensors"))
}

/// Writes Adam's state and the training recipe (batch, seed, Adam settings) beside a model.
pub fn write_checkpoint(path: &Path, state: &AdamState, opts: &TrainOptions) -> Result<()> {
    let to_bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let (m, v) = (to_bytes(&state.m), to_bytes(&state.v));
    let bad = |e: safetensors::SafeTensorError| Error::Io {
        path: path.into(),
        action: "encode",
        source: std::io::Error::other(e),
    };
    let views = [
        ("adam.m", TensorView::new(Dtype::F32, vec![state.m.len()], &m).map_err(bad)?),
        ("adam.v", TensorView::new(Dtype::F32, vec![state.v.len()], &v).map_err(bad)?),
    ];
    let a = &opts.adam;
    let meta: HashMap<String, String> = [
        ("format", "nfield-adam-1".to_string()),
        ("step", state.step.to_string()),
        ("batch", opts.batch.to_string()),
        ("seed", opts.seed.to_string()),
        ("lr", a.lr.to_string()),
        ("beta1", a.beta1.to_string()),
        ("beta2", a.beta2.to_string()),
        ("eps", a.eps.to_string()),
        ("bias_correction", a.bias_correction.to_string()),
        ("lr_decay_start", a.decay.start.to_string()),
        ("lr_decay_every", a.decay.every.to_string()),
        ("lr_decay_factor", a.decay.factor.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(bad)?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// Reads a checkpoint: Adam's state and the recipe it was written with (subset excluded).
pub fn read_checkpoint(path: &Path) -> Result<(AdamState, TrainOptions)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), action: "read", source })?;
    let field = |f: &str, msg: String| Error::field(path, f, msg);
    let tensors = SafeTensors::deserialize(&bytes)
        .map_err(|e| field("(header)", format!("not a safetensors checkpoint: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| field("(header)", format!("not a safetensors checkpoint: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some("nfield-adam-1") {
        return Err(field("__metadata__.format", "expected \"nfield-adam-1\"".into()));
    }
    fn get<T: std::str::FromStr>(meta: &HashMap<String, String>, key: &str, path: &Path) -> Result<T> {
        meta.get(key)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::field(path, format!("__metadata__.{key}"), "missing or not a number".to_string()))
    }
    let read = |name: &str| -> Result<Vec<f32>> {
        let t = tensors.tensor(name).map_err(|e| field(name, format!("missing: {e}")))?;
        if t.dtype() != Dtype::F32 || t.shape().len() != 1 {
            return Err(field(name, format!("expected a 1-D f32 tensor, got {:?} {:?}", t.dtype(), t.shape())));
        }
        Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    let (m, v) = (read("adam.m")?, read("adam.v")?);
    if m.len() != v.len() {
        return Err(field("adam.v", format!("expected {} values like adam.m, got {}", m.len(), v.len())));
    }
    let state = AdamState { step: get(&meta, "step", path)?, m, v };
    let opts = TrainOptions {
        batch: get(&meta, "batch", path)?,
        seed: get(&meta, "seed", path)?,
        adam: AdamConfig {
            lr: get(&meta, "lr", path)?,
            beta1: get(&meta, "beta1", path)?,
            beta2: get(&meta, "beta2", path)?,
            eps: get(&meta, "eps", path)?,
            bias_correction: get(&meta, "bias_correction", path)?,
            // Checkpoints written before the decay existed trained at a constant rate.
            decay: match meta.contains_key("lr_decay_factor") {
                false => LrDecay::NONE,
                true => LrDecay {
                    start: get(&meta, "lr_decay_start", path)?,
                    every: get(&meta, "lr_decay_every", path)?,
                    factor: get(&meta, "lr_decay_factor", path)?,
                },
            },
        },
        ..Default::default()
    };
    Ok((state, opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let model = dir.path().join("m.json");
        let path = checkpoint_path(&model);
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("m.adam.safetensors"));
        let state = AdamState { step: 17, m: vec![0.5, -1.0, 3.0], v: vec![1.0, 2.0, 0.25] };
        let decay = LrDecay { start: 250, every: 50, factor: 0.7 };
        for adam in [AdamConfig::default(), AdamConfig { lr: 0.01, decay, ..Default::default() }] {
            let opts = TrainOptions { batch: 777, seed: 9, adam, ..Default::default() };
            write_checkpoint(&path, &state, &opts).expect("write");
            let (s2, o2) = read_checkpoint(&path).expect("read");
            assert_eq!(s2, state);
            assert_eq!(o2, opts);
        }
    }
}

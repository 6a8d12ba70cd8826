//! File formats: model files (the seed's JSON, or safetensors for large hash tables), the
//! optimizer checkpoint sidecar, and the write-to-a-temporary-then-rename rule every output
//! follows.

mod checkpoint;
mod json_style;
mod model_safetensors;
mod seed_json;

pub use checkpoint::{checkpoint_path, read_checkpoint, write_checkpoint};
pub use model_safetensors::{TableStorage, read_model_safetensors, write_model_safetensors};
pub use seed_json::{EmbeddedSamples, ModelFile, Sample, embed_samples, read_model_str};

/// Whether `path` names a safetensors model file: it ends in `.safetensors` (any case).
pub fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

/// The seed schema's key for the CLI option named in an `Error::Option` from a spec's
/// `validate` (`log2-table` → `log2_hashmap_size`), so that file errors name the file's field;
/// options the schema spells the same way keep their names.
fn schema_key(option: &str) -> &str {
    match option {
        "layers" => "hidden_layers",
        "levels" => "num_levels",
        "features" => "features_per_level",
        "log2-table" => "log2_hashmap_size",
        "base-res" => "base_resolution",
        "max-res" => "max_resolution",
        "omega-hidden" => "omega_hidden",
        "per-level-scale" => "per_level_scale",
        other => other,
    }
}

/// Reads a model file: safetensors ([`read_model_safetensors`]) when the path ends in
/// `.safetensors`, else JSON (any of the seed's three schemas, or one nfield wrote).
pub fn read_model(path: &Path) -> Result<ModelFile> {
    if is_safetensors(path) { read_model_safetensors(path) } else { seed_json::read_model(path) }
}

/// Writes a model file: safetensors with an f32 table when the path ends in `.safetensors`,
/// else the seed's JSON schema; through a temporary file renamed into place.
pub fn write_model(path: &Path, file: &ModelFile) -> Result<()> {
    if is_safetensors(path) {
        write_model_safetensors(path, file, TableStorage::F32)
    } else {
        seed_json::write_model(path, file)
    }
}

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// The folder a file is written into.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Checks that `path` can be written, before any long work: it is not a folder, its folder
/// exists, and a file can be created there (a temporary one, removed at once).
pub fn check_writable(path: &Path) -> Result<()> {
    let fail = |message: String| Error::Io {
        path: path.to_path_buf(),
        action: "write",
        source: std::io::Error::other(message),
    };
    if path.is_dir() {
        return Err(fail("it is a folder; expected a file name".into()));
    }
    let dir = folder_of(path);
    if !dir.is_dir() {
        return Err(fail(format!("the folder {} does not exist", dir.display())));
    }
    tempfile::Builder::new()
        .prefix(".nfield-check.")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| fail(format!("cannot create files in {}: {}", dir.display(), std::io::Error::from(e.kind()))))
}

/// Writes a file through a temporary sibling that is renamed into place, so a failed or
/// interrupted write never leaves a partial file at `path`.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let io = |action: &'static str| move |source| Error::Io { path: path.to_path_buf(), action, source };
    check_writable(path)?;
    let dir = folder_of(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp =
        tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir).map_err(|e| {
            Error::Io { path: path.to_path_buf(), action: "write", source: std::io::Error::from(e.kind()) }
        })?;
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buf).map_err(io("write"))?;
        buf.flush().map_err(io("write"))?;
    }
    tmp.as_file().sync_all().map_err(io("write"))?;
    // Temporary files are private (0600); give the result the permissions of the file it
    // replaces, or the usual 0644 for a new file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms =
            std::fs::metadata(path).map(|m| m.permissions()).unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        tmp.as_file().set_permissions(perms).map_err(io("set the permissions of"))?;
    }
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        action: "rename into place",
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.txt");
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("out.txt"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0, "no partial or temporary file");
        write_atomic(&path, |w| w.write_all(b"whole")).expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"whole");
    }

    #[test]
    fn unwritable_directory_is_a_clear_error() {
        let err = write_atomic(Path::new("/nonexistent-dir/x.json"), |w| w.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.json"), "{err}");
    }
}

//! The library's error type.
//!
//! Every variant names what was wrong and, where there is one, the file and the field, so
//! that the CLI can print `error: <message>` and nothing else is needed to fix the input.

use std::path::PathBuf;

/// Errors of the `nfield` library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What could not be done ("read", "write", "rename into place").
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A file is not valid JSON (or a number in it is not a finite JSON number).
    #[error("{path}: not valid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's message, with line and column.
        message: String,
    },

    /// A model file is valid JSON but a field has the wrong shape, type or value.
    #[error("{path}: field `{field}`: {expected}")]
    Field {
        /// The file ("<memory>" when not read from a file).
        path: PathBuf,
        /// The JSON path of the field, e.g. `mlp.layers[3].weights`.
        field: String,
        /// What was expected and what was found.
        expected: String,
    },

    /// An image could not be decoded, or has an unusable size.
    #[error("{path}: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// An option (model architecture, training or inference setting) is out of range.
    #[error("invalid option `{option}`: {message}")]
    Option {
        /// The option's name, as the CLI spells it (e.g. `width`).
        option: &'static str,
        /// What was expected.
        message: String,
    },

    /// An engine cannot do what was asked (no target loaded, unsupported strategy, no device).
    #[error("{engine} engine: {message}")]
    Engine {
        /// The engine's name.
        engine: String,
        /// What went wrong and what to do.
        message: String,
    },

    /// Training diverged: the loss or a parameter became NaN or infinite.
    #[error("training diverged at step {step}: {message}")]
    Diverged {
        /// The first step at which a non-finite value was seen.
        step: u64,
        /// What was non-finite, and what to try (usually a lower learning rate).
        message: String,
    },
}

impl Error {
    /// An [`Error::Option`] with a formatted message.
    pub fn option(option: &'static str, message: impl Into<String>) -> Self {
        Error::Option { option, message: message.into() }
    }

    /// An [`Error::Engine`] with a formatted message.
    pub fn engine(engine: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Engine { engine: engine.into(), message: message.into() }
    }

    /// An [`Error::Field`] for a file (or `<memory>`).
    pub fn field(path: impl Into<PathBuf>, field: impl Into<String>, expected: impl Into<String>) -> Self {
        Error::Field { path: path.into(), field: field.into(), expected: expected.into() }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

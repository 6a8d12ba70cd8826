//! Errors of the CUDA engine.

/// Errors of `nfield-cuda`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable GPU: no driver library, no device, or a device too old.
    #[error("no CUDA device: {0}")]
    NoDevice(String),

    /// NVRTC (the run-time compiler) could not be found or loaded.
    #[error("NVRTC not available: {0}")]
    NoNvrtc(String),

    /// A kernel failed to compile; `log` is NVRTC's own log (ptxas messages included).
    #[error("compiling {kernel} for {arch} failed ({status}):\n{log}")]
    Compile {
        /// The kernel file.
        kernel: String,
        /// The target, e.g. `sm_90a`.
        arch: String,
        /// NVRTC's status.
        status: String,
        /// NVRTC's log.
        log: String,
    },

    /// A CUDA driver call failed.
    #[error("CUDA driver: {0}")]
    Driver(#[from] cudarc::driver::DriverError),

    /// The model or option is outside what the CUDA kernels support.
    #[error("{0}")]
    Unsupported(String),

    /// An error of the core library (options, shapes).
    #[error(transparent)]
    Core(#[from] nfield::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for nfield::Error {
    fn from(e: Error) -> nfield::Error {
        match e {
            Error::Core(inner) => inner,
            other => nfield::Error::engine("nfield-cuda", other.to_string()),
        }
    }
}

//! NVRTC: kernel source → CUBIN for one architecture, through cudarc's raw bindings (its safe
//! layer returns PTX only; a CUBIN makes ptxas run, so inline-PTX errors surface here, and it
//! loads on drivers older than the NVRTC that built it).
//!
//! NVRTC is loaded at run time. Where it is not on the loader path it is looked for in
//! `$NFIELD_NVRTC_PATH` (a folder with `libnvrtc.so.13` and `libnvrtc-builtins.so.13.*`, e.g.
//! the `nvidia/cu13/lib` folder of the `nvidia-cuda-nvrtc` pip wheel) and in the usual CUDA
//! install folders, and pre-loaded from there (builtins first, with `RTLD_GLOBAL`).

use crate::{Error, Result};
use cudarc::nvrtc::{result, sys};
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Candidate folders for NVRTC when it is not on the loader path.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = std::env::var_os("NFIELD_NVRTC_PATH") {
        dirs.push(PathBuf::from(p));
    }
    for var in ["CUDA_PATH", "CUDA_HOME"] {
        if let Some(p) = std::env::var_os(var) {
            dirs.push(PathBuf::from(&p).join("lib64"));
            dirs.push(PathBuf::from(&p).join("targets/x86_64-linux/lib"));
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    dirs.push(PathBuf::from("/usr/local/cuda/targets/x86_64-linux/lib"));
    dirs
}

/// Loads `libnvrtc` from `dir` (builtins first) and keeps both loaded for the process.
fn preload(dir: &Path) -> Option<()> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    let entries: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let find = |prefix: &str| {
        entries.iter().find(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && !n.contains(".alt."))
        })
    };
    let nvrtc = find("libnvrtc.so.")?;
    if let Some(builtins) = find("libnvrtc-builtins.so.") {
        // SAFETY: loading a shared library runs its initialisers; NVRTC's are benign.
        let lib = unsafe { Library::open(Some(builtins), RTLD_NOW | RTLD_GLOBAL) }.ok()?;
        std::mem::forget(lib);
    }
    // SAFETY: as above.
    let lib = unsafe { Library::open(Some(nvrtc), RTLD_NOW | RTLD_GLOBAL) }.ok()?;
    std::mem::forget(lib);
    Some(())
}

/// Makes NVRTC loadable, or says why it is not. Checked once.
pub fn ensure() -> Result<()> {
    static STATE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            // SAFETY: probing for a library only opens and closes it.
            if unsafe { sys::is_culib_present() } {
                return Ok(());
            }
            for dir in candidate_dirs() {
                // SAFETY: as above.
                if preload(&dir).is_some() && unsafe { sys::is_culib_present() } {
                    return Ok(());
                }
            }
            Err("libnvrtc.so.13 was not found on the loader path, in $NFIELD_NVRTC_PATH or in /usr/local/cuda; \
                 install the CUDA toolkit or `pip install nvidia-cuda-nvrtc` and point NFIELD_NVRTC_PATH at its \
                 nvidia/cu13/lib folder"
                .to_string())
        })
        .clone()
        .map_err(Error::NoNvrtc)
}

/// NVRTC's version, e.g. `(13, 0)`.
pub fn version() -> Result<(i32, i32)> {
    ensure()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: plain out-parameters.
    let status = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
    if status != sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(Error::NoNvrtc(format!("nvrtcVersion failed: {status:?}")));
    }
    Ok((major, minor))
}

/// Compiles `source` (a whole translation unit) for `arch` (`sm_80`, `sm_90a`, ...) with the
/// given `-D` defines and returns the CUBIN image.
pub fn compile_cubin(name: &str, source: &str, arch: &str, defines: &[(String, String)]) -> Result<Vec<u8>> {
    ensure()?;
    let compile_error =
        |status: String, log: String| Error::Compile { kernel: name.to_string(), arch: arch.to_string(), status, log };
    let src = CString::new(source)
        .map_err(|_| compile_error("bad source".into(), "the source contains a NUL byte".into()))?;
    let cname =
        CString::new(name).map_err(|_| compile_error("bad name".into(), "the name contains a NUL byte".into()))?;
    let prog =
        result::create_program(&src, Some(&cname)).map_err(|e| compile_error(format!("{e:?}"), String::new()))?;
    let mut options = vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
        "--device-as-default-execution-space".to_string(),
        "--fmad=true".to_string(),
    ];
    options.extend(defines.iter().map(|(k, v)| format!("-D{k}={v}")));
    if let Ok(extra) = std::env::var("NFIELD_NVRTC_EXTRA") {
        options.extend(extra.split_whitespace().map(str::to_string));
    }
    // SAFETY: `prog` was created above and is destroyed below, exactly once.
    let compiled = unsafe { result::compile_program(prog, &options) };
    let log = unsafe { result::get_program_log(prog) }
        .ok()
        .map(|raw| {
            // SAFETY: NVRTC returns a NUL-terminated log.
            unsafe { CStr::from_ptr(raw.as_ptr()) }.to_string_lossy().into_owned()
        })
        .unwrap_or_default();
    if compiled.is_ok() && !log.trim().is_empty() && std::env::var_os("NFIELD_NVRTC_EXTRA").is_some() {
        // Asked-for diagnostics (e.g. NFIELD_NVRTC_EXTRA="-Xptxas -v": registers, spills).
        eprintln!("nvrtc {name} ({arch}):\n{log}");
    }
    let out = match compiled {
        Err(e) => Err(compile_error(format!("{e:?}"), log)),
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: `prog` compiled successfully; the buffer is sized by NVRTC.
            let status = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            if status != sys::nvrtcResult::NVRTC_SUCCESS || size == 0 {
                Err(compile_error(format!("nvrtcGetCUBINSize: {status:?}"), log))
            } else {
                let mut cubin = vec![0u8; size];
                // SAFETY: `cubin` holds `size` bytes as NVRTC asked.
                let status = unsafe { sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr().cast()) };
                if status == sys::nvrtcResult::NVRTC_SUCCESS {
                    Ok(cubin)
                } else {
                    Err(compile_error(format!("nvrtcGetCUBIN: {status:?}"), log))
                }
            }
        }
    };
    // SAFETY: created above, not destroyed before.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

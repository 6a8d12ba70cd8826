//! The GPU: driver context, stream, device properties, and compiled kernels cached in memory and
//! on disk (keyed by source, constants, target and NVRTC version).

use crate::kernels::Specialization;
use crate::{Error, Result, nvrtc};
use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// An opened GPU.
pub struct Gpu {
    /// The driver context.
    pub ctx: Arc<CudaContext>,
    /// The stream every launch goes to (capturable into CUDA graphs).
    pub stream: Arc<CudaStream>,
    /// Device name.
    pub name: String,
    /// Compute capability.
    pub cc: (i32, i32),
    /// NVRTC target (`sm_90a` on Hopper, else `sm_XY`).
    pub arch: String,
    /// Multiprocessors.
    pub sm_count: u32,
    /// Largest dynamic shared memory a block may opt into, in bytes.
    pub smem_optin: usize,
    modules: Mutex<HashMap<u64, Arc<CudaModule>>>,
}

/// The NVRTC target of a compute capability: Hopper gets `sm_90a` (wgmma, setmaxnreg).
pub fn arch_of(cc: (i32, i32)) -> String {
    if cc == (9, 0) { "sm_90a".to_string() } else { format!("sm_{}{}", cc.0, cc.1) }
}

/// Whether the CUDA driver library can be loaded on this machine.
pub fn driver_present() -> bool {
    // SAFETY: probing only opens and closes the library.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

impl Gpu {
    /// Opens GPU `ordinal`. Errors say why none is usable (no driver, no device, too old).
    pub fn open(ordinal: usize) -> Result<Gpu> {
        if !driver_present() {
            return Err(Error::NoDevice("the CUDA driver library (libcuda.so) was not found".into()));
        }
        let count = CudaContext::device_count().map_err(|e| Error::NoDevice(format!("cuInit failed: {e}")))?;
        if count <= ordinal as i32 {
            return Err(Error::NoDevice(format!("{count} CUDA device(s) found; device {ordinal} does not exist")));
        }
        let ctx = CudaContext::new(ordinal)?;
        // nfield orders its own work on one stream; event tracking would break graph capture.
        // SAFETY: called before any allocation on this context.
        unsafe { ctx.disable_event_tracking() };
        let cc = ctx.compute_capability()?;
        if cc.0 < 8 {
            return Err(Error::NoDevice(format!(
                "{} has compute capability {}.{}; nfield's CUDA kernels need 8.0 (Ampere) or newer",
                ctx.name()?,
                cc.0,
                cc.1
            )));
        }
        let stream = ctx.new_stream()?;
        let sm_count = ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32;
        let smem_optin =
            ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)? as usize;
        Ok(Gpu {
            name: ctx.name()?,
            ctx,
            stream,
            cc,
            arch: arch_of(cc),
            sm_count,
            smem_optin,
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// The compiled module of a specialisation (memory cache, then disk cache, then NVRTC).
    pub fn module(&self, spec: &Specialization) -> Result<Arc<CudaModule>> {
        let compiler = nvrtc::version()?;
        // Extra NVRTC options (NFIELD_NVRTC_EXTRA, e.g. -lineinfo) change the CUBIN: part of the key.
        let target = format!("{} {}", self.arch, std::env::var("NFIELD_NVRTC_EXTRA").unwrap_or_default());
        let key = spec.key(target.trim_end(), compiler);
        if let Some(m) = self.modules.lock().map_err(|_| Error::Unsupported("kernel cache poisoned".into()))?.get(&key)
        {
            return Ok(m.clone());
        }
        let path = cache_dir().map(|d| d.join(format!("{key:016x}.cubin")));
        let cubin = match path.as_ref().and_then(|p| std::fs::read(p).ok()) {
            Some(bytes) => bytes,
            None => {
                let bytes = nvrtc::compile_cubin(spec.file.name(), &spec.file.source(), &self.arch, &spec.defines)?;
                if let Some(p) = &path {
                    // The cache is an optimisation: failing to write it is not an error.
                    let _ = p.parent().map(std::fs::create_dir_all);
                    let _ = nfield::format::write_atomic(p, |w| w.write_all(&bytes));
                }
                bytes
            }
        };
        let module = self.ctx.load_module(Ptx::from_binary(cubin))?;
        self.modules
            .lock()
            .map_err(|_| Error::Unsupported("kernel cache poisoned".into()))?
            .insert(key, module.clone());
        Ok(module)
    }

    /// A kernel of a specialisation, allowed `smem` bytes of dynamic shared memory.
    pub fn function(&self, spec: &Specialization, name: &str, smem: usize) -> Result<CudaFunction> {
        let f = self.module(spec)?.load_function(name)?;
        if smem > 48 * 1024 {
            if smem > self.smem_optin {
                return Err(Error::Unsupported(format!(
                    "{name} needs {smem} bytes of shared memory; this GPU allows {} per block",
                    self.smem_optin
                )));
            }
            f.set_attribute(CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem as i32)?;
        }
        Ok(f)
    }
}

/// `$NFIELD_CACHE_DIR`, else `$XDG_CACHE_HOME/nfield/kernels`, else `~/.cache/nfield/kernels`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("NFIELD_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("nfield").join("kernels"))
}

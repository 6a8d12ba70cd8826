//! Matrix micro-benchmarks: the seed's matrix tests (SPEC §7) on CUDA. Small GEMMs and the
//! seed's twelve GEMV cases, each in a SIMT (fp32 FFMA) and a warp-level tensor-core
//! (`mma.sync` m16n8k16, fp16 in, fp32 accumulation) variant on the same fp16 data
//! (`kernels/matbench.cu`, whose header states the shape and layout contract).
//!
//! Every GPU result is checked against a float64 CPU reference computed from the same fp16
//! inputs before it is timed, and compared bit for bit with the output of the last timed launch
//! afterwards (the kernels are deterministic). The tolerance of an output `i`, with
//! `S_i = Σ_k |a_ik·b_k|` (f64, the sum of absolute products) and `K` the inner dimension, is
//!
//! `|gpu_i − ref_i| ≤ u·|ref_i| + 2·K·ε₃₂·S_i·(1 + u) + u·2⁻¹³`
//!
//! where `ε₃₂ = 2⁻²³` and `u` is the output rounding: 0 for the fp32 GEMM output, `2⁻¹¹` (half
//! an fp16 ULP) for the fp16 GEMV output, whose last term covers fp16's subnormal spacing.
//! `K·ε₃₂·S` bounds fp32 summation in any order with rounding; the tensor cores align the 16
//! products and the accumulator of each `mma` to the largest and truncate (an error below
//! `17·2⁻²³·S` per `mma`, `1.07·K·ε₃₂·S` over `K/16` of them), hence the factor 2: a correct
//! kernel cannot fail it, while a wrong fragment layout or a lost k-slice misses it by orders of
//! magnitude (GEMM 4096³: bound ≈ 1 against outputs of RMS ≈ 21; GEMV 2048×4096: ≈ 1.5 against
//! outputs ≈ 1024, where one lost 16-column `mma` moves an output by ≈ 4). Unwritten outputs
//! fail too: outputs are filled with NaN first.
//! GEMV also reports the largest fp16 ULP difference between the SIMT and tensor-core results
//! and, like the seed, requires it to be at most 1.
//!
//! Timing: CUDA events around `iterations` launches after `warmup` launches (device time per
//! launch, back-to-back launches included). GEMV reads `W` cold: the timed launches rotate over
//! copies of `W` spanning at least twice the L2 cache, so the bandwidth is HBM's.

use crate::kernels::{KernelFile, Specialization};
use crate::{Error, Gpu, Result};
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};

/// A GEMM case: `C[m×n] = A[m×k]·B[k×n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmCase {
    /// Rows of A and C.
    pub m: usize,
    /// Columns of B and C.
    pub n: usize,
    /// Columns of A, rows of B.
    pub k: usize,
}

/// The seed's two matrix×matrix test sizes (128×64×256, 64×32×32) and one large enough for the
/// tensor cores' throughput to show.
pub const GEMM_CASES: [GemmCase; 3] =
    [GemmCase { m: 128, n: 64, k: 256 }, GemmCase { m: 64, n: 32, k: 32 }, GemmCase { m: 4096, n: 4096, k: 4096 }];

/// A GEMV case: `y[rows] = W[rows×cols]·x[cols]`, with the seed's timed iteration count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemvCase {
    /// Rows of W.
    pub rows: usize,
    /// Columns of W.
    pub cols: usize,
    /// The seed's timed iterations (`testGemvPerformance`).
    pub iterations: u32,
}

const fn gv(rows: usize, cols: usize, iterations: u32) -> GemvCase {
    GemvCase { rows, cols, iterations }
}

/// The seed's twelve GEMV cases (SPEC §7).
pub const GEMV_CASES: [GemvCase; 12] = [
    gv(128, 512, 8),
    gv(256, 1024, 10),
    gv(384, 1536, 10),
    gv(512, 2048, 12),
    gv(640, 1024, 10),
    gv(768, 2560, 12),
    gv(896, 1792, 12),
    gv(1024, 3072, 14),
    gv(1280, 4096, 14),
    gv(1536, 512, 10),
    gv(1792, 1536, 12),
    gv(2048, 4096, 16),
];

/// The seed's warm-up count for `iterations` timed runs: `max(2, iterations / 4)`.
pub fn seed_warmup(iterations: u32) -> u32 {
    (iterations / 4).max(2)
}

/// Tile sizes of one `matbench.cu` compile (its `-D` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmTiles {
    /// SIMT block tile rows (`SB_M`).
    pub simt_m: usize,
    /// SIMT block tile columns (`SB_N`).
    pub simt_n: usize,
    /// Tensor-core block tile rows (`TB_M`).
    pub tc_m: usize,
    /// Tensor-core block tile columns (`TB_N`).
    pub tc_n: usize,
    /// Tensor-core block tile depth (`TB_K`).
    pub tc_k: usize,
    /// Warps along M (`TW_M`).
    pub warps_m: usize,
    /// Warps along N (`TW_N`).
    pub warps_n: usize,
    /// cp.async pipeline stages (`TB_STAGES`).
    pub stages: usize,
}

/// Tile configurations, largest first; a case takes the first that divides it.
pub const TILES: [GemmTiles; 3] = [
    GemmTiles { simt_m: 128, simt_n: 128, tc_m: 128, tc_n: 128, tc_k: 32, warps_m: 2, warps_n: 4, stages: 3 },
    GemmTiles { simt_m: 64, simt_n: 64, tc_m: 64, tc_n: 64, tc_k: 32, warps_m: 2, warps_n: 2, stages: 3 },
    GemmTiles { simt_m: 32, simt_n: 32, tc_m: 32, tc_n: 32, tc_k: 32, warps_m: 2, warps_n: 2, stages: 2 },
];

/// Warps per block of `gemv_tensor` (`GV_WARPS`).
pub const GEMV_TENSOR_WARPS: u32 = 8;

impl GemmTiles {
    /// Whether both kernels of this configuration cover `c` exactly (matbench.cu's contract).
    pub fn fits(&self, c: GemmCase) -> bool {
        c.m.is_multiple_of(self.simt_m)
            && c.n.is_multiple_of(self.simt_n)
            && c.m.is_multiple_of(self.tc_m)
            && c.n.is_multiple_of(self.tc_n)
            && c.k.is_multiple_of(self.tc_k)
            && c.k.is_multiple_of(8)
    }

    /// Dynamic shared memory of `gemm_tensor`, in bytes.
    pub fn tensor_smem(&self) -> usize {
        2 * self.stages * (self.tc_m * (self.tc_k + 8) + self.tc_k * (self.tc_n + 8))
    }

    /// The specialisation of `matbench.cu` with these tiles (fp16: `HALF_BF16=0`).
    pub fn specialization(&self) -> Specialization {
        let d = |k: &str, v: usize| (k.to_string(), v.to_string());
        Specialization {
            file: KernelFile::MatBench,
            defines: vec![
                d("FAST_SINCOS", 0),
                d("HALF_BF16", 0),
                d("SB_M", self.simt_m),
                d("SB_N", self.simt_n),
                d("TB_M", self.tc_m),
                d("TB_N", self.tc_n),
                d("TB_K", self.tc_k),
                d("TW_M", self.warps_m),
                d("TW_N", self.warps_n),
                d("TB_STAGES", self.stages),
                d("GV_WARPS", GEMV_TENSOR_WARPS as usize),
            ],
        }
    }
}

/// The tiles for a GEMM case, or why none fits.
pub fn tiles_for(c: GemmCase) -> Result<GemmTiles> {
    TILES.iter().copied().find(|t| t.fits(c)).ok_or_else(|| {
        Error::Unsupported(format!(
            "GEMM {}×{}×{}: M and N must be multiples of 32 and K of 32 (matbench.cu's tiles)",
            c.m, c.n, c.k
        ))
    })
}

/// Every matbench specialisation (CI compiles each for sm_80 and sm_90a).
pub fn test_specializations() -> Vec<Specialization> {
    TILES.iter().map(GemmTiles::specialization).collect()
}

/// Which kernel of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// fp32 FFMA on the CUDA cores.
    Simt,
    /// `mma.sync` m16n8k16 on the tensor cores.
    Tensor,
}

impl Variant {
    /// `simt` or `tensor`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Simt => "simt",
            Variant::Tensor => "tensor",
        }
    }
}

/// A GPU result against the CPU reference.
#[derive(Clone, Debug)]
pub struct Check {
    /// Outputs compared.
    pub checked: usize,
    /// Largest `|gpu − ref|`.
    pub max_abs_err: f64,
    /// Largest `|gpu − ref| / tolerance` (≤ 1 passes).
    pub worst_ratio: f64,
    /// Whether every compared output is finite and within its tolerance, and the output after
    /// timing has the checked bits.
    pub passed: bool,
    /// The first failure, or a summary.
    pub detail: String,
}

/// Device time per launch.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Untimed launches first.
    pub warmup: u32,
    /// Timed launches.
    pub iterations: u32,
    /// Milliseconds per launch (CUDA events).
    pub ms: f64,
}

/// One kernel's outcome: its check, and its timing when the check passed.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// SIMT or tensor cores.
    pub variant: Variant,
    /// The check against the CPU.
    pub check: Check,
    /// The timing (none when the check failed).
    pub timing: Option<Timing>,
}

/// Both variants of a GEMM case.
#[derive(Clone, Debug)]
pub struct GemmResult {
    /// The case.
    pub case: GemmCase,
    /// The tiles it ran with.
    pub tiles: GemmTiles,
    /// SIMT, then tensor cores.
    pub outcomes: [Outcome; 2],
}

/// Both variants of a GEMV case.
#[derive(Clone, Debug)]
pub struct GemvResult {
    /// The case.
    pub case: GemvCase,
    /// Rows per warp and warps per block of the SIMT kernel (the seed's tuning).
    pub simt_launch: (u32, u32),
    /// Copies of W the timed launches rotate over.
    pub w_copies: usize,
    /// SIMT, then tensor cores.
    pub outcomes: [Outcome; 2],
    /// Largest fp16 ULP difference between the SIMT and tensor-core results (checked runs).
    pub ulp_diff: u32,
}

impl GemvResult {
    /// The seed's check: the two GPU results at most 1 fp16 ULP apart.
    pub fn ulp_passed(&self) -> bool {
        self.ulp_diff <= 1
    }
}

/// `n` fp16 values uniform in `[lo, hi)` (bit patterns), a pure function of `(matrix, index)`
/// (nfield's Philox, seed 0x6d62, one stream per matrix).
pub fn inputs(matrix: u32, n: usize, lo: f32, hi: f32) -> Vec<u16> {
    (0..n)
        .map(|i| {
            let w = nfield::rng::philox4x32([(i / 4) as u32, (i >> 34) as u32, 0, 0x6d62_0000 | matrix], [0x6d62, 0]);
            let u = nfield::rng::unit_f32(w[i % 4]);
            half::f16::from_f32(lo + (hi - lo) * u).to_bits()
        })
        .collect()
}

fn to_f32(v: &[u16]) -> Vec<f32> {
    v.iter().map(|&h| half::f16::from_bits(h).to_f32()).collect()
}

/// A reference output: its index in the output, `Σ a·b` and `Σ |a·b|` in f64.
type RefEntry = (usize, f64, f64);

/// Splits `items` over the machine's cores.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Vec<R> + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get()).min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(chunk).map(|c| s.spawn(|| c.iter().flat_map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// The reference of whole rows `rows` and whole columns `cols` of `A·B` (row-major, m×k·k×n).
fn gemm_reference(a: &[f32], b: &[f32], c: GemmCase, rows: &[usize], cols: &[usize]) -> Vec<RefEntry> {
    let mut out = parallel(rows, |&r| {
        let (mut acc, mut abs) = (vec![0.0f64; c.n], vec![0.0f64; c.n]);
        for kk in 0..c.k {
            let av = a[r * c.k + kk] as f64;
            for ((s, t), &bv) in acc.iter_mut().zip(abs.iter_mut()).zip(&b[kk * c.n..(kk + 1) * c.n]) {
                let p = av * bv as f64;
                *s += p;
                *t += p.abs();
            }
        }
        (0..c.n).map(|j| (r * c.n + j, acc[j], abs[j])).collect()
    });
    out.extend(parallel(cols, |&j| {
        let col: Vec<f64> = (0..c.k).map(|kk| b[kk * c.n + j] as f64).collect();
        (0..c.m)
            .map(|r| {
                let row = &a[r * c.k..(r + 1) * c.k];
                let (s, t) = row.iter().zip(&col).fold((0.0, 0.0), |(s, t), (&x, &y)| {
                    let p = x as f64 * y;
                    (s + p, t + p.abs())
                });
                (r * c.n + j, s, t)
            })
            .collect()
    }));
    out
}

/// `count` indices spread over `0..n`, landing on different offsets within 128-wide tiles.
fn spread(n: usize, count: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..count).map(|i| (i * (n / count) + i * 37) % n).collect();
    v.push(n - 1);
    v.sort_unstable();
    v.dedup();
    v
}

/// Compares `got` with the reference under the tolerance of the module docs (`u` = the output
/// rounding, 0 or 2⁻¹¹).
fn check(got: &[f64], entries: &[RefEntry], k: usize, u: f64) -> Check {
    let (mut max_abs_err, mut worst_ratio, mut failure) = (0.0f64, 0.0f64, None);
    let eps = f32::EPSILON as f64;
    for &(i, want, abs_sum) in entries {
        let err = (got[i] - want).abs();
        let tol = u * want.abs() + 2.0 * k as f64 * eps * abs_sum * (1.0 + u) + u * 2f64.powi(-13);
        let ratio = if err.is_nan() { f64::INFINITY } else { err / tol.max(f64::MIN_POSITIVE) };
        if !err.is_nan() {
            max_abs_err = max_abs_err.max(err);
        }
        if ratio > worst_ratio {
            worst_ratio = ratio;
        }
        if ratio > 1.0 && failure.is_none() {
            failure = Some(format!("output {i}: got {}, want {want:.6} (tolerance {tol:.3e})", got[i]));
        }
    }
    let summary = format!("{} outputs, max |err| {max_abs_err:.3e}, worst err/tol {worst_ratio:.3e}", entries.len());
    Check {
        checked: entries.len(),
        max_abs_err,
        worst_ratio,
        passed: failure.is_none(),
        detail: failure.map_or(summary.clone(), |f| format!("{f}; {summary}")),
    }
}

/// Device time per launch of `launch(i)` over `iterations` launches after `warmup`.
fn time(gpu: &Gpu, warmup: u32, iterations: u32, mut launch: impl FnMut(u32) -> Result<()>) -> Result<Timing> {
    for i in 0..warmup {
        launch(i)?;
    }
    let start = gpu.stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    for i in 0..iterations {
        launch(warmup + i)?;
    }
    let end = gpu.stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    let ms = start.elapsed_ms(&end)? as f64 / iterations.max(1) as f64;
    Ok(Timing { warmup, iterations, ms })
}

/// Marks a check failed when the output after timing differs from the checked one.
fn recheck(check: &mut Check, before: &[u8], after: &[u8]) {
    if before != after {
        check.passed = false;
        check.detail = format!("the output after timing differs from the checked one; {}", check.detail);
    }
}

fn as_bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect()
}

fn as_bytes_u16(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Runs both GEMM kernels on `case`: inputs uniform in [-1, 1), each result checked (whole
/// output up to 2²⁸ multiply-adds, else 64 whole rows and 64 whole columns), then timed.
pub fn run_gemm(gpu: &Gpu, case: GemmCase, warmup: u32, iterations: u32) -> Result<GemmResult> {
    let tiles = tiles_for(case)?;
    let spec = tiles.specialization();
    let smem = tiles.tensor_smem();
    let simt = gpu.function(&spec, "gemm_simt", 0)?;
    let tensor = gpu.function(&spec, "gemm_tensor", smem)?;
    let GemmCase { m, n, k } = case;
    let (a16, b16) = (inputs(1, m * k, -1.0, 1.0), inputs(2, k * n, -1.0, 1.0));
    let s = &gpu.stream;
    let (a, b) = (s.clone_htod(&a16)?, s.clone_htod(&b16)?);
    let (af, bf) = (to_f32(&a16), to_f32(&b16));
    let entries = if m * n * k <= 1 << 28 {
        gemm_reference(&af, &bf, case, &(0..m).collect::<Vec<_>>(), &[])
    } else {
        gemm_reference(&af, &bf, case, &spread(m, 64), &spread(n, 64))
    };
    let mut c: CudaSlice<f32> = s.alloc_zeros(m * n)?;
    let (mi, ni, ki) = (m as i32, n as i32, k as i32);
    let mut outcome = |variant: Variant| -> Result<Outcome> {
        let (f, cfg): (&CudaFunction, LaunchConfig) = match variant {
            Variant::Simt => (
                &simt,
                LaunchConfig {
                    grid_dim: ((n / tiles.simt_n) as u32, (m / tiles.simt_m) as u32, 1),
                    block_dim: ((tiles.simt_m / 8 * tiles.simt_n / 8) as u32, 1, 1),
                    shared_mem_bytes: 0,
                },
            ),
            Variant::Tensor => (
                &tensor,
                LaunchConfig {
                    grid_dim: ((n / tiles.tc_n) as u32, (m / tiles.tc_m) as u32, 1),
                    block_dim: ((32 * tiles.warps_m * tiles.warps_n) as u32, 1, 1),
                    shared_mem_bytes: smem as u32,
                },
            ),
        };
        s.memcpy_htod(&vec![f32::NAN; m * n], &mut c)?;
        let launch = |c: &mut CudaSlice<f32>| -> Result<()> {
            // SAFETY: a is m×k, b k×n, c m×n fp16/fp16/fp32 and the tiles divide the case
            // (matbench.cu's contract, checked by tiles_for).
            unsafe { s.launch_builder(f).arg(&a).arg(&b).arg(c).arg(&mi).arg(&ni).arg(&ki).launch(cfg)? };
            Ok(())
        };
        launch(&mut c)?;
        let first = s.clone_dtoh(&c)?;
        let got: Vec<f64> = first.iter().map(|&x| x as f64).collect();
        let mut chk = check(&got, &entries, k, 0.0);
        let mut timing = None;
        if chk.passed {
            timing = Some(time(gpu, warmup, iterations, |_| launch(&mut c))?);
            recheck(&mut chk, &as_bytes_f32(&first), &as_bytes_f32(&s.clone_dtoh(&c)?));
        }
        Ok(Outcome { variant, check: chk, timing })
    };
    let outcomes = [outcome(Variant::Simt)?, outcome(Variant::Tensor)?];
    Ok(GemmResult { case, tiles, outcomes })
}

/// The seed's hierarchical-GEMV tuning: rows per warp (4 from 1024 rows, 3 from 512, 2 from
/// 256, else 1) and warps per block (8 from 4096 columns, 6 from 2048, 4 from 1024, else 2;
/// at most as many as the rows need).
pub fn simt_gemv_launch(rows: usize, cols: usize) -> (u32, u32) {
    let r = match rows {
        1024.. => 4,
        512.. => 3,
        256.. => 2,
        _ => 1,
    };
    let w = match cols {
        4096.. => 8,
        2048.. => 6,
        1024.. => 4,
        _ => 2,
    };
    (r, w.min(rows.div_ceil(r as usize) as u32).max(1))
}

/// Peak HBM bandwidth from the device attributes (2 × memory clock × bus width), bytes/s.
pub fn hbm_bytes_per_s(gpu: &Gpu) -> Result<f64> {
    let clock_khz = gpu.ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE)? as f64;
    let bus_bits = gpu.ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH)? as f64;
    Ok(2.0 * clock_khz * 1e3 * bus_bits / 8.0)
}

/// The largest difference between two fp16 results in units in the last place.
pub fn max_ulp_diff(a: &[u16], b: &[u16]) -> u32 {
    // Sign-magnitude bit patterns onto a line where adjacent values differ by one.
    let ordered = |h: u16| if h & 0x8000 != 0 { -i32::from(h & 0x7fff) } else { i32::from(h) };
    a.iter().zip(b).map(|(&x, &y)| ordered(x).abs_diff(ordered(y))).max().unwrap_or(0)
}

/// Runs both GEMV kernels on `case` with the seed's data (uniform in [0, 1)): each result
/// checked against the CPU, then timed with W cold (rotated over copies spanning 2× L2).
pub fn run_gemv(gpu: &Gpu, case: GemvCase, warmup: u32, iterations: u32) -> Result<GemvResult> {
    let GemvCase { rows, cols, .. } = case;
    if !rows.is_multiple_of(16) || !cols.is_multiple_of(32) {
        return Err(Error::Unsupported(format!(
            "GEMV {rows}×{cols}: rows must be a multiple of 16 and columns of 32 (matbench.cu's contract)"
        )));
    }
    let spec = TILES[0].specialization();
    let (r, warps) = simt_gemv_launch(rows, cols);
    let simt = gpu.function(&spec, &format!("gemv_simt_r{r}"), 0)?;
    let tensor = gpu.function(&spec, "gemv_tensor", 0)?;
    let (w16, x16) = (inputs(3, rows * cols, 0.0, 1.0), inputs(4, cols, 0.0, 1.0));
    let (wf, xf) = (to_f32(&w16), to_f32(&x16));
    let entries: Vec<RefEntry> = (0..rows)
        .map(|i| {
            let (s, t) = wf[i * cols..(i + 1) * cols].iter().zip(&xf).fold((0.0, 0.0), |(s, t), (&a, &b)| {
                let p = a as f64 * b as f64;
                (s + p, t + p.abs())
            });
            (i, s, t)
        })
        .collect();
    let s = &gpu.stream;
    let l2 = gpu.ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?.max(0) as usize;
    let len = rows * cols;
    let copies = (2 * l2).div_ceil(2 * len).max(1);
    let mut w: CudaSlice<u16> = s.alloc_zeros(copies * len)?;
    let w0 = s.clone_htod(&w16)?;
    for i in 0..copies {
        s.memcpy_dtod(&w0, &mut w.slice_mut(i * len..(i + 1) * len))?;
    }
    drop(w0);
    let x = s.clone_htod(&x16)?;
    let mut y: CudaSlice<u16> = s.alloc_zeros(rows)?;
    let (ri, ci) = (rows as i32, cols as i32);
    let mut results: Vec<Vec<u16>> = Vec::new();
    let mut outcome = |variant: Variant| -> Result<Outcome> {
        let (f, cfg) = match variant {
            Variant::Simt => (
                &simt,
                LaunchConfig {
                    grid_dim: (rows.div_ceil(r as usize * warps as usize) as u32, 1, 1),
                    block_dim: (32 * warps, 1, 1),
                    shared_mem_bytes: 0,
                },
            ),
            Variant::Tensor => (
                &tensor,
                LaunchConfig {
                    grid_dim: ((rows / 16) as u32, 1, 1),
                    block_dim: (32 * GEMV_TENSOR_WARPS, 1, 1),
                    shared_mem_bytes: 0,
                },
            ),
        };
        s.memcpy_htod(&vec![0x7e00u16; rows], &mut y)?; // fp16 NaN
        let launch = |i: u32, y: &mut CudaSlice<u16>| -> Result<()> {
            let copy = i as usize % copies;
            let wv = w.slice(copy * len..(copy + 1) * len);
            // SAFETY: wv is rows×cols fp16, x cols, y rows; rows % 16 == 0, cols % 32 == 0
            // (matbench.cu's contract, checked above).
            unsafe { s.launch_builder(f).arg(&wv).arg(&x).arg(y).arg(&ri).arg(&ci).launch(cfg)? };
            Ok(())
        };
        launch(0, &mut y)?;
        let first = s.clone_dtoh(&y)?;
        let got: Vec<f64> = first.iter().map(|&h| f64::from(half::f16::from_bits(h))).collect();
        let mut chk = check(&got, &entries, cols, 2f64.powi(-11));
        let mut timing = None;
        if chk.passed {
            timing = Some(time(gpu, warmup, iterations, |i| launch(i, &mut y))?);
            recheck(&mut chk, &as_bytes_u16(&first), &as_bytes_u16(&s.clone_dtoh(&y)?));
        }
        results.push(first);
        Ok(Outcome { variant, check: chk, timing })
    };
    let outcomes = [outcome(Variant::Simt)?, outcome(Variant::Tensor)?];
    let ulp_diff = max_ulp_diff(&results[0], &results[1]);
    Ok(GemvResult { case, simt_launch: (r, warps), w_copies: copies, outcomes, ulp_diff })
}

#[cfg(test)]
mod tests;

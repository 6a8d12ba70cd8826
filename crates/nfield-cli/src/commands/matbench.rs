//! `nfield matbench`: the seed's matrix micro-tests (SPEC §7) on CUDA: small GEMMs and the
//! seed's twelve GEMV cases, SIMT against warp-level tensor cores, each result checked against
//! the CPU before it is timed (`nfield_cuda::matbench` states the tolerance).

use anyhow::{Context, Result, anyhow};
use clap::Args;
use nfield::{Engine, Precision};
use nfield_cuda::matbench::{self, GemmResult, GemvResult, Outcome, Variant};
use nfield_cuda::{CudaEngine, Gpu};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// DESIGN.md's measured H100 ceiling of `mma.sync` m16n8k16 (bf16 → fp32; fp16 issues at the
/// same rate).
const MMA_FLOPS: f64 = 640e12;
/// DESIGN.md's measured H100 fp32 FMA ceiling.
const FMA_FLOPS: f64 = 59e12;

/// Matrix micro-benchmarks: GEMM and GEMV, SIMT against tensor cores, on a CUDA GPU.
///
/// GEMM 128×64×256 and 64×32×32 (the seed's matrix×matrix tests) and 4096×4096×4096; GEMV on
/// the seed's twelve sizes. fp16 inputs, fp32 accumulation; each result is checked against a
/// float64 CPU reference before it is timed (CUDA events). Prints a table; writes CSV and JSON
/// lines on request. Exits 1 if a check fails or there is no CUDA GPU.
#[derive(Args, Debug)]
pub struct MatbenchArgs {
    /// Write the GEMV results as CSV with the seed's columns: rows,cols,simt_ms,tensor_ms,ulp_diff.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the GEMM results as CSV: m,n,k,simt_ms,tensor_ms,simt_tflop_per_s,tensor_tflop_per_s.
    #[arg(long, value_name = "FILE")]
    pub gemm_csv: Option<PathBuf>,
    /// Append the records (DESIGN.md's format) to this JSON-lines file.
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: Option<PathBuf>,
    /// Fewer timed iterations: the seed's counts for GEMV, 20 (small) and 5 (large) for GEMM.
    #[arg(long)]
    pub quick: bool,
}

/// `x` rounded to `digits` significant digits (for readable JSON).
fn sig(x: f64, digits: usize) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{:.*e}", digits.saturating_sub(1), x).parse().unwrap_or(x)
}

/// One row of the table and its JSON record.
struct Row {
    record: Value,
    line: String,
    passed: bool,
}

fn check_fields(o: &Outcome) -> Value {
    let mut v = json!({
        "variant": o.variant.name(),
        "check": if o.check.passed { "passed" } else { "failed" },
        "checked_outputs": o.check.checked,
        "max_abs_err": sig(o.check.max_abs_err, 3),
        "err_over_tol": sig(o.check.worst_ratio, 3),
    });
    if !o.check.passed {
        v["check_detail"] = json!(o.check.detail);
    }
    if let Some(t) = o.timing {
        v["warmup"] = json!(t.warmup);
        v["iterations"] = json!(t.iterations);
        v["ms_per_call"] = json!(sig(t.ms, 5));
    }
    v
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

fn line(
    kind: &str,
    shape: &str,
    o: &Outcome,
    tflops: Option<f64>,
    gbs: Option<f64>,
    frac: Option<f64>,
    note: &str,
) -> String {
    let opt = |v: Option<f64>, w: usize, p: usize| v.map_or(format!("{:>w$}", "-"), |x| format!("{x:>w$.p$}"));
    let ms = o.timing.map(|t| t.ms);
    let verdict = if o.check.passed {
        format!("ok   err/tol {:.1e}{note}", o.check.worst_ratio)
    } else {
        format!("FAIL {}", o.check.detail)
    };
    format!(
        "{kind:<5} {shape:<15} {:<7} {} {} {} {}  {verdict}",
        o.variant.name(),
        opt(ms, 10, 5),
        opt(tflops, 8, 2),
        opt(gbs, 8, 1),
        opt(frac.map(|f| 100.0 * f), 7, 2),
    )
}

fn gemm_rows(r: &GemmResult) -> Vec<Row> {
    let c = r.case;
    let shape = format!("{}x{}x{}", c.m, c.n, c.k);
    let flops = 2.0 * (c.m * c.n * c.k) as f64;
    r.outcomes
        .iter()
        .map(|o| {
            let (ceiling, bound, tiles) = match o.variant {
                Variant::Simt => (
                    FMA_FLOPS,
                    "fp32 FMA 59 TFLOP/s (DESIGN.md, H100)",
                    format!("{}x{}x8, 8x8 per thread", r.tiles.simt_m, r.tiles.simt_n),
                ),
                Variant::Tensor => (
                    MMA_FLOPS,
                    "mma.sync 640 TFLOP/s (DESIGN.md, H100)",
                    format!(
                        "{}x{}x{}, {}x{} warps, {} stages",
                        r.tiles.tc_m, r.tiles.tc_n, r.tiles.tc_k, r.tiles.warps_m, r.tiles.warps_n, r.tiles.stages
                    ),
                ),
            };
            let rate = o.timing.map(|t| flops / (t.ms * 1e-3));
            let mut record = merge(
                json!({
                    "name": format!("gemm/{shape}/{}", o.variant.name()),
                    "kind": "gemm", "m": c.m, "n": c.n, "k": c.k, "tiles": tiles,
                    "precision": "fp16 in, fp32 accumulate, fp32 out",
                }),
                check_fields(o),
            );
            if let Some(rate) = rate {
                record["gflop_per_s"] = json!(sig(rate / 1e9, 5));
                record["limit_fraction"] = json!(sig(rate / ceiling, 4));
                record["bound"] = json!(bound);
            }
            let line = line("gemm", &shape, o, rate.map(|x| x / 1e12), None, rate.map(|x| x / ceiling), "");
            Row { record, line, passed: o.check.passed }
        })
        .collect()
}

fn gemv_rows(r: &GemvResult, hbm: f64) -> Vec<Row> {
    let c = r.case;
    let shape = format!("{}x{}", c.rows, c.cols);
    let bytes = 2.0 * (c.rows * c.cols + c.rows + c.cols) as f64;
    let flops = 2.0 * (c.rows * c.cols) as f64;
    let bound = format!("HBM {:.2} TB/s (device attributes: 2 × memory clock × bus width)", hbm / 1e12);
    r.outcomes
        .iter()
        .map(|o| {
            let launch = match o.variant {
                Variant::Simt => format!("{} rows per warp, {} warps per block", r.simt_launch.0, r.simt_launch.1),
                Variant::Tensor => format!("16 rows per block, {} warps per block", matbench::GEMV_TENSOR_WARPS),
            };
            let secs = o.timing.map(|t| t.ms * 1e-3);
            let mut record = merge(
                json!({
                    "name": format!("gemv/{shape}/{}", o.variant.name()),
                    "kind": "gemv", "rows": c.rows, "cols": c.cols, "launch": launch,
                    "precision": "fp16 in, fp32 accumulate, fp16 out",
                    "w_cold_copies": r.w_copies,
                    "ulp_diff": r.ulp_diff,
                    "seed_ulp_check": if r.ulp_passed() { "passed" } else { "failed" },
                }),
                check_fields(o),
            );
            if let Some(s) = secs {
                record["gb_per_s"] = json!(sig(bytes / s / 1e9, 5));
                record["gflop_per_s"] = json!(sig(flops / s / 1e9, 5));
                if hbm > 0.0 {
                    record["limit_fraction"] = json!(sig(bytes / s / hbm, 4));
                    record["bound"] = json!(bound);
                }
            }
            let note = format!(", ulp {}{}", r.ulp_diff, if r.ulp_passed() { "" } else { " > 1: FAIL" });
            let frac = secs.filter(|_| hbm > 0.0).map(|s| bytes / s / hbm);
            let line =
                line("gemv", &shape, o, secs.map(|s| flops / s / 1e12), secs.map(|s| bytes / s / 1e9), frac, &note);
            Row { record, line, passed: o.check.passed && r.ulp_passed() }
        })
        .collect()
}

fn ms_field(o: &Outcome) -> String {
    o.timing.map_or(String::new(), |t| format!("{:.6}", t.ms))
}

fn gemv_csv(results: &[GemvResult]) -> String {
    let mut s = String::from("rows,cols,simt_ms,tensor_ms,ulp_diff\n");
    for r in results {
        let [simt, tensor] = &r.outcomes;
        s += &format!("{},{},{},{},{}\n", r.case.rows, r.case.cols, ms_field(simt), ms_field(tensor), r.ulp_diff);
    }
    s
}

fn gemm_csv(results: &[GemmResult]) -> String {
    let mut s = String::from("m,n,k,simt_ms,tensor_ms,simt_tflop_per_s,tensor_tflop_per_s\n");
    for r in results {
        let c = r.case;
        let tflops = |o: &Outcome| {
            o.timing.map_or(String::new(), |t| format!("{:.4}", 2.0 * (c.m * c.n * c.k) as f64 / (t.ms * 1e-3) / 1e12))
        };
        let [simt, tensor] = &r.outcomes;
        s += &format!(
            "{},{},{},{},{},{},{}\n",
            c.m,
            c.n,
            c.k,
            ms_field(simt),
            ms_field(tensor),
            tflops(simt),
            tflops(tensor)
        );
    }
    s
}

/// Creates the folder of an output file and checks that the file can be written.
fn prepare(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: creating the folder", dir.display()))?;
    }
    nfield::format::check_writable(path)?;
    Ok(())
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    nfield::format::write_atomic(path, |w| w.write_all(text.as_bytes()))?;
    Ok(())
}

/// Runs `nfield matbench`.
pub fn run(args: MatbenchArgs) -> Result<u8> {
    for path in [&args.csv, &args.gemm_csv, &args.out].into_iter().flatten() {
        prepare(path)?;
    }
    let gpu = Arc::new(Gpu::open(0).map_err(|e| anyhow!("nfield matbench needs a CUDA GPU: {e}"))?);
    let device = CudaEngine::on(gpu.clone(), Precision::Fp16).device();
    let hbm = matbench::hbm_bytes_per_s(&gpu).unwrap_or(0.0);
    let common = json!({
        "engine": "nfield-cuda",
        "device": device,
        "commit": super::bench::commit(),
        "date": super::bench::today(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    });
    eprintln!("matbench on {device}; HBM peak {:.2} TB/s", hbm / 1e12);
    let (mut rows, mut errors) = (Vec::new(), 0usize);
    let error_record = |name: String, e: nfield_cuda::Error| {
        eprintln!("error: {name}: {e}");
        json!({ "name": name, "error": e.to_string() })
    };

    let mut gemms = Vec::new();
    for case in matbench::GEMM_CASES {
        let large = case.m * case.n * case.k > 1 << 28;
        let iterations = match (large, args.quick) {
            (true, true) => 5,
            (true, false) => 50,
            (false, true) => 20,
            (false, false) => 200,
        };
        let name = format!("gemm/{}x{}x{}", case.m, case.n, case.k);
        eprintln!("{name}: {iterations} timed launches per variant");
        match matbench::run_gemm(&gpu, case, matbench::seed_warmup(iterations), iterations) {
            Ok(r) => {
                rows.extend(gemm_rows(&r));
                gemms.push(r);
            }
            Err(e) => {
                errors += 1;
                rows.push(Row { record: error_record(name, e), line: String::new(), passed: false });
            }
        }
    }
    let mut gemvs = Vec::new();
    for case in matbench::GEMV_CASES {
        let iterations = if args.quick { case.iterations } else { 25 * case.iterations };
        let name = format!("gemv/{}x{}", case.rows, case.cols);
        match matbench::run_gemv(&gpu, case, matbench::seed_warmup(iterations), iterations) {
            Ok(r) => {
                rows.extend(gemv_rows(&r, hbm));
                gemvs.push(r);
            }
            Err(e) => {
                errors += 1;
                rows.push(Row { record: error_record(name, e), line: String::new(), passed: false });
            }
        }
    }

    println!(
        "{:<5} {:<15} {:<7} {:>10} {:>8} {:>8} {:>7}  check",
        "kind", "shape", "variant", "ms/call", "TFLOP/s", "GB/s", "% limit"
    );
    for r in rows.iter().filter(|r| !r.line.is_empty()) {
        println!("{}", r.line);
    }
    println!(
        "limits: SIMT GEMM fp32 FMA {:.0} TFLOP/s, tensor GEMM mma.sync {:.0} TFLOP/s (DESIGN.md, H100); GEMV HBM {:.2} TB/s, W read cold",
        FMA_FLOPS / 1e12,
        MMA_FLOPS / 1e12,
        hbm / 1e12
    );

    if let Some(path) = &args.csv {
        write_text(path, &gemv_csv(&gemvs))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.gemm_csv {
        write_text(path, &gemm_csv(&gemms))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.out {
        let mut text = std::fs::read_to_string(path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for r in &rows {
            text += &format!("{}\n", merge(r.record.clone(), common.clone()));
        }
        write_text(path, &text)?;
        eprintln!("appended {} records to {}", rows.len(), path.display());
    }
    let failed = rows.iter().filter(|r| !r.passed).count();
    if failed > 0 {
        eprintln!("matbench: {failed} of {} cases failed ({errors} errors)", rows.len());
        return Ok(1);
    }
    eprintln!("matbench: all {} checks passed", rows.len());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nfield_cuda::matbench::{Check, GemvCase, Timing};

    fn outcome(variant: Variant, ms: Option<f64>, passed: bool) -> Outcome {
        Outcome {
            variant,
            check: Check { checked: 4, max_abs_err: 1e-3, worst_ratio: 0.01, passed, detail: "d".into() },
            timing: ms.map(|ms| Timing { warmup: 2, iterations: 8, ms }),
        }
    }

    #[test]
    fn gemv_csv_has_the_seed_columns_and_blank_times_for_failed_checks() {
        let r = GemvResult {
            case: GemvCase { rows: 128, cols: 512, iterations: 8 },
            simt_launch: (1, 2),
            w_copies: 3,
            outcomes: [outcome(Variant::Simt, Some(0.004), true), outcome(Variant::Tensor, None, false)],
            ulp_diff: 1,
        };
        assert_eq!(gemv_csv(std::slice::from_ref(&r)), "rows,cols,simt_ms,tensor_ms,ulp_diff\n128,512,0.004000,,1\n");
        let rows = gemv_rows(&r, 3.35e12);
        assert_eq!(rows[0].record["name"], "gemv/128x512/simt");
        assert!(rows[0].passed && !rows[1].passed);
        let gbs = rows[0].record["gb_per_s"].as_f64().expect("gb/s");
        assert!((gbs - 2.0 * (128.0 * 512.0 + 640.0) / 4e-6 / 1e9).abs() < 0.1, "{gbs}");
        assert!(rows[1].record.get("ms_per_call").is_none());
        assert_eq!(rows[1].record["check"], "failed");
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.0123456, 3), 0.0123);
        assert_eq!(sig(123456.0, 2), 120000.0);
        assert_eq!(sig(0.0, 3), 0.0);
    }
}

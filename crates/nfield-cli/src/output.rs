//! What the tools print: errors, the training progress (a progress bar on a terminal, plain
//! lines otherwise, JSON lines with `--json`), and number formatting.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// `error: a: b: c` from an error and its causes, skipping causes already in the message.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out += ": ";
            out += &c;
        }
    }
    out
}

/// `612.3k`, `1.25M`, `3.10G` (for samples/s).
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `1m 05s`, `12.3s`, `450ms`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s >= 1.0 {
        format!("{s:.1}s")
    } else {
        format!("{:.0}ms", s * 1e3)
    }
}

/// How training progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A progress bar (stderr is a terminal).
    Bar,
    /// One text line per log interval (stderr is not a terminal: logs, CI).
    Lines,
    /// One JSON object per log interval on stdout.
    Json,
    /// Nothing but errors.
    Quiet,
}

impl Mode {
    /// The mode for the `--json` / `--quiet` flags and the terminal.
    pub fn pick(json: bool, quiet: bool) -> Mode {
        if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// One log record of a training run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogRecord {
    /// Optimizer steps so far.
    pub step: u64,
    /// Steps this run will reach.
    pub total_steps: u64,
    /// Training-batch loss (MSE) of the last step.
    pub loss: f32,
    /// PSNR of that loss.
    pub train_psnr_db: f64,
    /// Full-image PSNR, when evaluated at this step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_psnr_db: Option<f64>,
    /// Training throughput since the previous record (evaluation excluded).
    pub samples_per_s: f64,
    /// Wall time since the first step, evaluations included.
    pub elapsed_s: f64,
}

/// Shows training progress in the chosen [`Mode`].
pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    last_eval: Option<f64>,
}

impl Progress {
    /// A reporter for a run from `start` to `total` steps.
    pub fn new(mode: Mode, start: u64, total: u64) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{bar:28.cyan/blue} {pos}/{len} steps  {msg}  [{elapsed_precise}, ETA {eta}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▉▊▋▌▍▎▏ ");
            bar.set_style(style);
            bar.set_position(start);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { mode, bar, last_eval: None }
    }

    /// Reports one record: the bar shows every record, text and JSON only those at a log
    /// interval (`is_log`).
    pub fn record(&mut self, r: &LogRecord, is_log: bool) {
        if !is_log && self.mode != Mode::Bar {
            return;
        }
        if r.eval_psnr_db.is_some() {
            self.last_eval = r.eval_psnr_db;
        }
        let eval = self.last_eval.map(|p| format!("  eval PSNR {p:.2} dB")).unwrap_or_default();
        match self.mode {
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(r.step);
                    bar.set_message(format!(
                        "loss {:.6}  PSNR {:.2} dB{eval}  {} samples/s",
                        r.loss,
                        r.train_psnr_db,
                        si(r.samples_per_s)
                    ));
                }
            }
            Mode::Lines => {
                let eta = if r.step > 0 && r.total_steps > r.step {
                    let per_step = r.elapsed_s / r.step as f64;
                    format!("  ETA {}", duration(Duration::from_secs_f64(per_step * (r.total_steps - r.step) as f64)))
                } else {
                    String::new()
                };
                eprintln!(
                    "step {:>6}/{}  loss {:.6}  PSNR {:.2} dB{eval}  {} samples/s{eta}",
                    r.step,
                    r.total_steps,
                    r.loss,
                    r.train_psnr_db,
                    si(r.samples_per_s)
                );
            }
            Mode::Json => match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("warning: cannot encode a log record: {e}"),
            },
            Mode::Quiet => {}
        }
    }

    /// A free-form line (suppressed in JSON and quiet modes, printed above the bar).
    pub fn note(&self, line: &str) {
        match (self.mode, &self.bar) {
            (Mode::Bar, Some(bar)) => bar.println(line),
            (Mode::Lines, _) => eprintln!("{line}"),
            _ => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

//! Helpers shared by the integration tests: running the real binaries with a time limit, small
//! test images and models, and the checks every bad-input case makes.

#![allow(dead_code)]

pub mod reject;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nfield` binary under test.
pub const NFIELD: &str = env!("CARGO_BIN_EXE_nfield");
/// The `train_siren` binary under test.
pub const TRAIN_SIREN: &str = env!("CARGO_BIN_EXE_train_siren");
/// The 512×512 example photo of the workspace.
pub const ASTRONAUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/astronaut.png");
/// How long any one command may run before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// What a finished (or killed) command left.
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// The exit code (`None` when killed by a signal or by the time limit).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether it ran past its time limit and was killed.
    pub timed_out: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl Output {
    /// The non-blank lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
    }

    /// The non-blank lines of stdout.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().filter(|l| !l.trim().is_empty()).collect()
    }

    /// Asserts a zero exit code and returns `self`.
    pub fn success(self) -> Output {
        assert_eq!(self.code, Some(0), "expected success\n{self}");
        assert!(!self.stderr.contains("panicked"), "a panic\n{self}");
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "exit code: {:?}{}", self.code, if self.timed_out { " (killed: time limit)" } else { "" })?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// A command for `bin` with `args`, run in `dir`, with no stdin.
pub fn command(dir: &Path, bin: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).current_dir(dir).stdin(Stdio::null());
    c
}

/// Runs a command to completion (or kills it after `limit`) and collects its output.
pub fn output_of(mut cmd: Command, limit: Duration) -> Output {
    let command = format!("{cmd:?}");
    let t0 = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the binary");
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    let (status, timed_out) = wait_limited(&mut child, limit);
    Output {
        command,
        code: status.and_then(|s| s.code()),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
        timed_out,
        elapsed: t0.elapsed(),
    }
}

fn reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = r.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` at most `limit`; kills it after that. Returns its status (none when
/// killed) and whether the limit was hit.
pub fn wait_limited(child: &mut Child, limit: Duration) -> (Option<std::process::ExitStatus>, bool) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return (Some(status), false);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `nfield ARGS` in `dir`.
pub fn nfield(dir: &Path, args: &[&str]) -> Output {
    let out = output_of(command(dir, NFIELD, args), LIMIT);
    assert!(!out.timed_out, "ran past {LIMIT:?}\n{out}");
    out
}

/// Runs `train_siren ARGS` in `dir`.
pub fn train_siren(dir: &Path, args: &[&str]) -> Output {
    let out = output_of(command(dir, TRAIN_SIREN, args), LIMIT);
    assert!(!out.timed_out, "ran past {LIMIT:?}\n{out}");
    out
}

/// A path as `&str` (temporary directories have UTF-8 names).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Writes a `width × height` RGB PNG with smooth colour ramps and a few edges.
pub fn write_png(path: &Path, width: u32, height: u32) {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let u = x as f32 / width.max(2) as f32;
        let v = y as f32 / height.max(2) as f32;
        let r = (255.0 * u) as u8;
        let g = (255.0 * v) as u8;
        let b = if (x / 4 + y / 4) % 2 == 0 { 200 } else { 40 };
        image::Rgb([r, g, b])
    });
    img.save(path).expect("write the test PNG");
}

/// The size of a PNG on disk.
pub fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: not a readable image: {e}", path.display()))
}

/// Trains a tiny model quickly (2 steps, width 8, one hidden layer, 4 embedded samples, image
/// scaled to at most 16 px) on `image` and writes `dir/name`; flags in `extra` are added or
/// replace these defaults.
pub fn tiny_model(dir: &Path, image: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let defaults = [
        ("--steps", "2"),
        ("--batch", "64"),
        ("--width", "8"),
        ("--layers", "1"),
        ("--eval-interval", "0"),
        ("--samples", "4"),
        ("--max-dim", "16"),
    ];
    let mut args = vec!["train", s(image), "-o", s(&out), "--quiet"];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend_from_slice(&[flag, value]);
        }
    }
    args.extend_from_slice(extra);
    nfield(dir, &args).success();
    assert!(out.is_file(), "{} was not written", out.display());
    out
}

/// A tiny hash-grid model (2 levels × 2 features, 2^4 entries: a 64-value table).
pub fn tiny_hash_grid(dir: &Path, image: &Path, name: &str) -> PathBuf {
    tiny_model(dir, image, name, &["--model", "hash-grid", "--levels", "2", "--log2-table", "4"])
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Writes a JSON value (compact).
pub fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string(v).expect("encode")).expect("write JSON");
}

/// The keys of a JSON object's top level, in file order.
pub fn top_level_keys(text: &str) -> Vec<String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                keys.push(k);
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Keys).expect("a JSON object")
}

/// Every entry under `dir`, as paths relative to it.
pub fn snapshot(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).expect("list the folder") {
            let path = e.expect("entry").path();
            out.insert(path.strip_prefix(root).expect("under root").to_string_lossy().into_owned());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts that `dir` holds exactly what it held `before` (no output, no temporary file).
pub fn assert_unchanged(dir: &Path, before: &BTreeSet<String>, out: &Output) {
    let after = snapshot(dir);
    let new: Vec<&String> = after.difference(before).collect();
    let gone: Vec<&String> = before.difference(&after).collect();
    assert!(new.is_empty() && gone.is_empty(), "the folder changed: new {new:?}, removed {gone:?}\n{out}");
    let tmp: Vec<&String> = after.iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}\n{out}");
}

/// Asserts exit code 1, no panic, and a stderr of exactly one line `error: …` that contains
/// every one of `needles`.
pub fn assert_one_line_error(out: &Output, needles: &[&str]) {
    assert!(!out.stderr.contains("panicked"), "a panic\n{out}");
    assert!(!out.timed_out, "ran past its time limit\n{out}");
    assert_eq!(out.code, Some(1), "expected exit code 1\n{out}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "expected exactly one line on stderr\n{out}");
    assert!(lines[0].starts_with("error: "), "expected `error: …`\n{out}");
    for n in needles {
        assert!(lines[0].contains(n), "the error should mention {n:?}\n{out}");
    }
}

/// Asserts a clap usage error: exit code 2, no panic, `error:` first, naming `option`.
pub fn assert_usage_error(out: &Output, option: &str) {
    assert!(!out.stderr.contains("panicked"), "a panic\n{out}");
    assert_eq!(out.code, Some(2), "expected exit code 2 (usage)\n{out}");
    assert!(out.stderr.starts_with("error: "), "expected `error: …`\n{out}");
    assert!(out.stderr.contains(option), "the error should name {option:?}\n{out}");
}

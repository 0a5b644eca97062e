//! Driving `wrk` from a bench: the script file, one run, what it printed, and the report's
//! small helpers. Shared by `benches/webhook.rs` and `benches/overload.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one wrk run printed.
#[derive(Clone, Debug, Default)]
pub(crate) struct WrkOut {
    pub(crate) rps: f64,
    /// Latencies in microseconds.
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) requests: u64,
    /// Answers that were not 2xx or 3xx.
    pub(crate) non_2xx: u64,
    /// wrk's `Socket errors: …` line, when it printed one.
    pub(crate) socket_errors: Option<String>,
}

/// Runs `wrk -t1 -c{connections} -d{secs}s --latency -s {script} {url}`; panics with what wrk
/// said when it fails or prints something unreadable.
pub(crate) fn run(script: &Path, url: &str, connections: u32, secs: u64) -> WrkOut {
    let output = Command::new("wrk")
        .arg("-t1")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run wrk: {e}"));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk failed ({}) against {url}: {out}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&out).unwrap_or_else(|e| panic!("{url} at c={connections}: {e}\nwrk said:\n{out}"))
}

/// `130.12us`, `1.20ms`, `2.00s` → microseconds.
fn duration_us(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// Reads req/s, p50, p99, the request count and the errors from wrk's output.
fn parse(out: &str) -> Result<WrkOut, String> {
    let mut rps = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut requests = None;
    let mut non_2xx = 0;
    let mut socket_errors = None;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n, ..] => rps = n.parse::<f64>().ok(),
            ["50%", d, ..] => p50 = duration_us(d),
            ["99%", d, ..] => p99 = duration_us(d),
            [n, "requests", "in", ..] => requests = n.parse::<u64>().ok(),
            ["Non-2xx", "or", "3xx", "responses:", n, ..] => {
                non_2xx = n.parse::<u64>().map_err(|e| format!("Non-2xx count {n}: {e}"))?;
            }
            ["Socket", "errors:", ..] => socket_errors = Some(line.trim().to_owned()),
            _ => {}
        }
    }
    match (rps, p50, p99, requests) {
        (Some(rps), Some(p50_us), Some(p99_us), Some(requests)) => Ok(WrkOut {
            rps,
            p50_us,
            p99_us,
            requests,
            non_2xx,
            socket_errors,
        }),
        _ => Err("cannot read Requests/sec, the 50%/99% latencies or the request count".to_owned()),
    }
}

/// Exits with a clear message when wrk is not installed.
pub(crate) fn require() {
    if let Err(e) = Command::new("wrk").arg("--version").output() {
        eprintln!(
            "this benchmark needs wrk as its load generator, and running it failed ({e}).\n\
             Install it with `apt-get install wrk` (or from https://github.com/wg/wrk) and run again."
        );
        std::process::exit(1);
    }
}

/// A wrk script in a temp file; removed on drop.
pub(crate) struct ScriptFile(pub(crate) PathBuf);

impl ScriptFile {
    pub(crate) fn new(name: &str, script: &str) -> Self {
        let path = std::env::temp_dir().join(format!("aura-{name}-bench-{}.lua", std::process::id()));
        std::fs::write(&path, script).unwrap();
        Self(path)
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub(crate) fn latency(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// A positive integer from the environment, or `default`.
pub(crate) fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{name}={v}: expected a positive integer")),
        Err(_) => default,
    }
}

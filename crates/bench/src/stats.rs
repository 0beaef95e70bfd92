//! Percentiles, process readings, and the report (a table, or JSON).

use std::time::Duration;

use serde::Serialize;

/// Latency samples in microseconds.
#[derive(Default, Clone)]
pub struct Samples(pub Vec<u64>);

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn percentiles(&mut self) -> Percentiles {
        self.0.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.0.is_empty() {
                return 0.0;
            }
            let i = ((self.0.len() as f64 - 1.0) * q).round() as usize;
            self.0[i.min(self.0.len() - 1)] as f64 / 1000.0
        };
        Percentiles {
            count: self.0.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: self.0.last().map_or(0.0, |m| *m as f64 / 1000.0),
        }
    }
}

/// CPU time and resident memory of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub rss_bytes: u64,
}

pub fn read_proc(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(ProcSample {
        cpu_secs: (utime + stime) / ticks,
        rss_bytes: rss_kb * 1024,
    })
}

/// The server process: `--server-pid`, or the one `natter` process found in /proc.
pub fn find_server(pid: Option<u32>) -> Option<u32> {
    if pid.is_some() {
        return pid;
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut args = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned());
        let exe = args.next().unwrap_or_default();
        let role = args.next().unwrap_or_default();
        let is_natter = exe.ends_with("/natter") || exe == "natter";
        if is_natter && matches!(role.as_str(), "up" | "gateway") {
            found.push(pid);
        }
    }
    (found.len() == 1).then(|| found[0])
}

/// Server CPU (percent of one core) and RSS over a measured stretch.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerUsage {
    pub pid: Option<u32>,
    pub cpu_percent: f64,
    pub rss_mib_start: f64,
    pub rss_mib_end: f64,
}

pub struct UsageMeter {
    pid: Option<u32>,
    start: Option<ProcSample>,
    at: std::time::Instant,
}

impl UsageMeter {
    pub fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            start: pid.and_then(read_proc),
            at: std::time::Instant::now(),
        }
    }

    pub fn finish(&self) -> ServerUsage {
        let end = self.pid.and_then(read_proc);
        match (self.start, end) {
            (Some(a), Some(b)) => ServerUsage {
                pid: self.pid,
                cpu_percent: (b.cpu_secs - a.cpu_secs) / self.at.elapsed().as_secs_f64() * 100.0,
                rss_mib_start: a.rss_bytes as f64 / 1048576.0,
                rss_mib_end: b.rss_bytes as f64 / 1048576.0,
            },
            _ => ServerUsage::default(),
        }
    }
}

/// Prints `rows` as an aligned two-column table.
pub fn table(title: &str, rows: &[(&str, String)]) {
    println!("\n{title}");
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("  {k:<width$}  {v}");
    }
}

pub fn ms(p: &Percentiles) -> String {
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms, p.count
    )
}

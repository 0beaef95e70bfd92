//! Whole-stack CPU over a measured window: natter, nats-server, every PostgreSQL process
//! (backends, WAL writer, checkpointer, ...), Redis, this load generator, and how idle the
//! host was, all read from `/proc`, so that a figure taken on a busy host is recognisable.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use crate::stats::read_proc;

/// What a process counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Natter,
    Nats,
    Postgres,
    Redis,
    Generator,
}

/// CPU of each part of the stack over the window, in percent of one core, and per accepted
/// message in milliseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StackUsage {
    pub window_s: f64,
    pub natter_percent: f64,
    pub nats_percent: f64,
    pub postgres_percent: f64,
    pub redis_percent: f64,
    /// natter + nats-server + PostgreSQL + Redis.
    pub stack_percent: f64,
    /// This load generator (not part of the stack).
    pub generator_percent: f64,
    /// Share of the host's CPU time that was idle, in percent of all cores.
    pub host_idle_percent: f64,
    pub cores: usize,
    /// Per accepted message (per resume in `connect`), ms of CPU: natter, nats-server,
    /// PostgreSQL, Redis, and their sum.
    pub natter_ms_per_msg: f64,
    pub nats_ms_per_msg: f64,
    pub postgres_ms_per_msg: f64,
    pub redis_ms_per_msg: f64,
    pub stack_ms_per_msg: f64,
}

/// CPU seconds per process at the start of the window.
pub struct StackMeter {
    natter: Option<u32>,
    start: HashMap<u32, (Part, f64)>,
    host: Option<HostTicks>,
    at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct HostTicks {
    idle: u64,
    total: u64,
}

impl StackMeter {
    /// Starts measuring; `natter` is the server's pid (the other parts are found by name).
    pub fn start(natter: Option<u32>) -> Self {
        Self {
            natter,
            start: sample(natter),
            host: host_ticks(),
            at: Instant::now(),
        }
    }

    /// Ends the window: what each part used since [`StackMeter::start`].
    pub fn stop(&self) -> StackWindow {
        let window = self.at.elapsed().as_secs_f64().max(1e-3);
        let end = sample(self.natter);
        let mut secs: HashMap<Part, f64> = HashMap::new();
        for (pid, (part, cpu)) in &end {
            // A process that began during the window (a new backend) counts whole.
            let before = self.start.get(pid).map_or(0.0, |(_, c)| *c);
            *secs.entry(*part).or_default() += (cpu - before).max(0.0);
        }
        let host_idle_percent = match (self.host, host_ticks()) {
            (Some(a), Some(b)) if b.total > a.total => {
                (b.idle - a.idle) as f64 / (b.total - a.total) as f64 * 100.0
            }
            _ => 0.0,
        };
        StackWindow {
            window,
            secs,
            host_idle_percent,
        }
    }
}

/// What each part used over a measured window.
pub struct StackWindow {
    window: f64,
    secs: HashMap<Part, f64>,
    host_idle_percent: f64,
}

impl StackWindow {
    /// The window's usage, spread over the `accepted` messages of the window.
    pub fn usage(&self, accepted: u64) -> StackUsage {
        let secs = |part| self.secs.get(&part).copied().unwrap_or(0.0);
        let percent = |part| secs(part) / self.window * 100.0;
        let per_msg = |part| {
            if accepted == 0 {
                0.0
            } else {
                secs(part) * 1000.0 / accepted as f64
            }
        };
        let stack = [Part::Natter, Part::Nats, Part::Postgres, Part::Redis];
        StackUsage {
            window_s: self.window,
            natter_percent: percent(Part::Natter),
            nats_percent: percent(Part::Nats),
            postgres_percent: percent(Part::Postgres),
            redis_percent: percent(Part::Redis),
            stack_percent: stack.iter().map(|p| percent(*p)).sum(),
            generator_percent: percent(Part::Generator),
            host_idle_percent: self.host_idle_percent,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            natter_ms_per_msg: per_msg(Part::Natter),
            nats_ms_per_msg: per_msg(Part::Nats),
            postgres_ms_per_msg: per_msg(Part::Postgres),
            redis_ms_per_msg: per_msg(Part::Redis),
            stack_ms_per_msg: stack.iter().map(|p| per_msg(*p)).sum(),
        }
    }
}

/// CPU seconds of every process of the stack and of this generator, by pid.
fn sample(natter: Option<u32>) -> HashMap<u32, (Part, f64)> {
    let me = std::process::id();
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let part = if Some(pid) == natter {
            Part::Natter
        } else if pid == me {
            Part::Generator
        } else {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            match part_of(comm.trim()) {
                Some(part) => part,
                None => continue,
            }
        };
        if let Some(p) = read_proc(pid) {
            out.insert(pid, (part, p.cpu_secs));
        }
    }
    out
}

/// The part a process belongs to, by its command name (PostgreSQL's processes are all
/// `postgres`; nats-server's and Redis's are named after them).
fn part_of(comm: &str) -> Option<Part> {
    match comm {
        "nats-server" => Some(Part::Nats),
        "postgres" => Some(Part::Postgres),
        c if c.starts_with("redis-server") => Some(Part::Redis),
        _ => None,
    }
}

/// Idle and total ticks of all cores, from the first line of /proc/stat.
fn host_ticks() -> Option<HostTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some(HostTicks {
        idle,
        total: ticks.iter().take(8).sum(),
    })
}

/// The report's lines for the stack; `per` names what the `*_per_msg` figures are per (the
/// first line's label: `stack cpu per message`, `stack cpu per resume`).
pub fn rows(s: &StackUsage, per: &'static str) -> Vec<(&'static str, String)> {
    vec![
        (
            per,
            format!(
                "{:.3} ms: natter {:.3}, nats-server {:.3}, postgres {:.3}, redis {:.3}",
                s.stack_ms_per_msg,
                s.natter_ms_per_msg,
                s.nats_ms_per_msg,
                s.postgres_ms_per_msg,
                s.redis_ms_per_msg
            ),
        ),
        (
            "stack cpu",
            format!(
                "{:.0}% of one core: natter {:.0}%, nats-server {:.0}%, postgres {:.0}%, redis {:.0}%",
                s.stack_percent,
                s.natter_percent,
                s.nats_percent,
                s.postgres_percent,
                s.redis_percent
            ),
        ),
        (
            "host",
            format!(
                "{:.0}% idle of {} cores; this generator {:.0}% of one core",
                s.host_idle_percent, s.cores, s.generator_percent
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_found_by_name() {
        assert_eq!(part_of("postgres"), Some(Part::Postgres));
        assert_eq!(part_of("nats-server"), Some(Part::Nats));
        assert_eq!(part_of("redis-server"), Some(Part::Redis));
        assert_eq!(part_of("bash"), None);
    }

    #[test]
    fn this_process_is_measured_as_the_generator() {
        let meter = StackMeter::start(None);
        // Burn 50 ms of this process's own CPU (not wall time: the host may be busy).
        let cpu = || read_proc(std::process::id()).map_or(0.0, |p| p.cpu_secs);
        let (from, until) = (cpu(), Instant::now() + std::time::Duration::from_secs(10));
        let mut x = 0u64;
        while cpu() - from < 0.05 && Instant::now() < until {
            for i in 0..100_000u64 {
                x = x.wrapping_add(i * i);
            }
        }
        let usage = meter.stop().usage(10);
        assert!(x != 1, "keep the loop");
        assert!(usage.generator_percent > 0.0, "{usage:?}");
        assert!(
            (0.0..=100.0).contains(&usage.host_idle_percent),
            "{usage:?}"
        );
        assert_eq!(usage.natter_percent, 0.0, "no natter pid was given");
    }
}

//! What a fanout run found, and its table.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stack::StackUsage;
use crate::stats::{Percentiles, ServerUsage, ms, table};

#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub rooms: usize,
    pub subscribers_per_room: usize,
    pub senders: usize,
    pub target_rate: u64,
    pub duration_s: u64,
    pub accepted: u64,
    pub accepted_per_s: f64,
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    pub send_to_deliver: Percentiles,
    pub send_to_ack: Percentiles,
    pub errors: BTreeMap<String, u64>,
    /// Accepted messages a subscriber of their room never got.
    pub lost: u64,
    /// Deliveries beyond the first of a message to one socket.
    pub doubled: u64,
    /// Accepted messages missing from history.
    pub history_lost: u64,
    /// Messages more than once in history.
    pub history_doubled: u64,
    /// From the window's end until history, unread and search had every message acknowledged
    /// by then (`None`: the projector's metrics are not on the gateway).
    pub projection_lag_ms: Option<f64>,
    pub server: ServerUsage,
    /// natter, nats-server, PostgreSQL and Redis over the measured window.
    pub stack: StackUsage,
}

pub fn print(report: &FanoutReport) {
    let mut rows = vec![
        ("accepted sends/s", format!("{:.0}", report.accepted_per_s)),
        ("deliveries/s", format!("{:.0}", report.deliveries_per_s)),
        ("send -> deliver", ms(&report.send_to_deliver)),
        ("send -> ack", ms(&report.send_to_ack)),
        ("errors", format!("{:?}", report.errors)),
        (
            "lost / doubled (sockets)",
            format!("{} / {}", report.lost, report.doubled),
        ),
        (
            "lost / doubled (history)",
            format!("{} / {}", report.history_lost, report.history_doubled),
        ),
        (
            "read models caught up",
            report
                .projection_lag_ms
                .map_or("n/a (projector not in this process)".to_owned(), |ms| {
                    format!("{ms:.0} ms after the window")
                }),
        ),
        (
            "server cpu / rss",
            format!(
                "{:.0}% of one core, {:.0} -> {:.0} MiB (pid {:?})",
                report.server.cpu_percent,
                report.server.rss_mib_start,
                report.server.rss_mib_end,
                report.server.pid
            ),
        ),
    ];
    rows.extend(crate::stack::rows(&report.stack, "stack cpu per message"));
    table(
        &format!(
            "fanout: {} rooms x {} subscribers, {} senders, target {} msg/s, {} s",
            report.rooms,
            report.subscribers_per_room,
            report.senders,
            if report.target_rate == 0 {
                "max".to_owned()
            } else {
                report.target_rate.to_string()
            },
            report.duration_s
        ),
        &rows,
    );
}

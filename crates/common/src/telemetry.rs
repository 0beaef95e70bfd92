//! Structured logs with `tracing`: text for a terminal, JSON for log shippers.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once, writing to stdout; later calls (tests) are no-ops.
pub fn init(json: bool) {
    init_to(json, false);
}

/// Like [`init`], to stderr when `stderr` (commands whose stdout is their output).
pub fn init_to(json: bool, stderr: bool) {
    let filter = EnvFilter::try_from_env("NATTER_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,async_nats=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match (json, stderr) {
        (true, true) => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .try_init(),
        (true, false) => builder.json().flatten_event(true).try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
    };
}

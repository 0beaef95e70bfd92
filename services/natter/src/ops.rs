//! Operator commands over the log and the read models: `natter projections ...`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use natter_common::Shutdown;
use natter_common::config::Connections;
use natter_projections::history::History;
use natter_projections::search::Search;
use natter_projections::unread::Unread;
use natter_projector::tools::{self, Progress, RebuildOptions, Verified};

use natter_projections::identity;

use crate::{StreamArgs, check_read_models, connect_postgres, log_identity, open_log};

/// `natter projections ...`
#[derive(Args)]
pub struct ProjectionsArgs {
    #[command(flatten)]
    conn: Connections,
    #[command(flatten)]
    stream: StreamArgs,
    /// The text-search configuration a rebuilt search index uses (as the projector's).
    #[arg(long, env = "NATTER_SEARCH_CONFIG", default_value = Search::DEFAULT_CONFIG, global = true)]
    search_config: String,
    #[command(subcommand)]
    command: ProjectionsCommand,
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each projection's checkpoint, the log's last seq, the lag in events and seconds, and
    /// whether it is live, behind, rebuilding (or an interrupted rebuild) or failed.
    Status {
        /// One JSON object per projection, per line.
        #[arg(long)]
        json: bool,
    },
    /// Replay the log into shadow tables while the live ones keep serving, catch up, and swap
    /// them in. Safe to interrupt (even kill -9): the live tables are untouched until the
    /// swap's one transaction, and a second run starts afresh.
    Rebuild {
        /// `history`, `unread`, `search` or `all`.
        name: String,
        #[command(flatten)]
        options: ReplayArgs,
    },
    /// Rebuild into scratch tables and compare each table with the live one (row count and
    /// content hash), printing any difference. Exits with status 1 on a mismatch.
    Verify {
        /// `history`, `unread`, `search` or `all`.
        name: String,
        #[command(flatten)]
        options: ReplayArgs,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// Most events applied per transaction.
    #[arg(long, env = "NATTER_REPLAY_BATCH", default_value_t = 5_000)]
    batch: usize,
}

/// The projections a name stands for.
#[derive(Debug, Clone)]
enum Which {
    History,
    Unread,
    Search(Search),
}

/// Runs `$body` with `$p` bound to the projection `$which` names (the projection trait is
/// generic, so each arm is its own instance).
macro_rules! with_projection {
    ($which:expr, |$p:ident| $body:expr) => {
        match $which {
            Which::History => {
                let $p = &History;
                $body
            }
            Which::Unread => {
                let $p = &Unread;
                $body
            }
            Which::Search(search) => {
                let $p = search;
                $body
            }
        }
    };
}

fn parse_names(name: &str, search_config: &str) -> anyhow::Result<Vec<Which>> {
    let search = || Which::Search(Search::new(search_config));
    Ok(match name {
        "all" => vec![Which::History, Which::Unread, search()],
        History::NAME => vec![Which::History],
        Unread::NAME => vec![Which::Unread],
        Search::NAME => vec![search()],
        other => anyhow::bail!("unknown projection `{other}`: use history, unread, search or all"),
    })
}

/// Exit status 1: verify found a difference.
#[derive(Debug, thiserror::Error)]
#[error("{0} of the verified projections differ from a rebuild from the log")]
pub struct Mismatch(pub usize);

pub async fn projections(args: ProjectionsArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    // Only a rebuild of every read model may take them over from a log that is gone (it
    // creates this namespace's log anew); everything else refuses first.
    let take_over =
        matches!(&args.command, ProjectionsCommand::Rebuild { name, .. } if name == "all");
    let bus = if take_over {
        crate::open_log_taking_over(&args.conn, &args.stream, "natter-projections").await?
    } else {
        open_log(&args.conn, &args.stream, "natter-projections").await?
    };
    let pool = connect_postgres(&args.conn, 8).await?;
    // Another log's read models: status says so, verify refuses, and only a rebuild of all
    // of them (which then records this log) may go on.
    let checked = check_read_models(&args.conn, &bus, &pool).await;
    match args.command {
        ProjectionsCommand::Status { json } => {
            let mut rows = Vec::new();
            for which in parse_names("all", &args.search_config)? {
                rows.push(with_projection!(&which, |p| tools::status(&bus, &pool, p).await)?);
            }
            if json {
                for row in rows {
                    println!("{}", serde_json::to_string(&row)?);
                }
            } else {
                println!(
                    "{:<10} {:>12} {:>12} {:>10} {:>9}  STATE",
                    "PROJECTION", "CHECKPOINT", "LOG HEAD", "LAG", "LAG (s)"
                );
                for s in rows {
                    let mut state = s.state.clone();
                    if let Some(at) = s.rebuild_at {
                        state.push_str(&format!(" (shadow at seq {at})"));
                    }
                    if let Some(error) = &s.error {
                        state.push_str(&format!(": {error}"));
                    }
                    println!(
                        "{:<10} {:>12} {:>12} {:>10} {:>9.1}  {state}",
                        s.projection, s.checkpoint, s.last_seq, s.lag_events, s.lag_seconds
                    );
                }
            }
            // Another log's read models: the table is not this log's standing (exit 2).
            checked
        }
        ProjectionsCommand::Rebuild { name, options } => {
            let over_another_log = checked.is_err();
            if let Err(e) = checked {
                if name != "all" {
                    return Err(e.context(
                        "only `natter projections rebuild all` can take these read models over",
                    ));
                }
                eprintln!("natter: {e}\nnatter: rebuilding all of them from this log");
            }
            let options = RebuildOptions {
                batch: options.batch.max(1),
                over_another_log,
            };
            for which in parse_names(&name, &args.search_config)? {
                let label = with_projection!(&which, |p| natter_projections::Projection::name(p));
                let mut view = ProgressView::new(label, "rebuild");
                let rebuilt = with_projection!(&which, |p| {
                    tools::rebuild(&bus, &pool, p, options, &shutdown, &mut |e| view.show(e)).await
                });
                view.finish();
                let rebuilt = rebuilt?;
                println!(
                    "{label}: rebuilt from {} events in {:.1} s ({:.0} events/s) and swapped in at seq {}",
                    rebuilt.events,
                    rebuilt.elapsed.as_secs_f64(),
                    rebuilt.events as f64 / rebuilt.elapsed.as_secs_f64().max(1e-9),
                    rebuilt.checkpoint
                );
            }
            if name == "all" {
                identity::record(&pool, &log_identity(&bus)).await?;
            }
            Ok(())
        }
        ProjectionsCommand::Verify { name, options } => {
            checked?;
            let options = RebuildOptions {
                batch: options.batch.max(1),
                ..RebuildOptions::default()
            };
            let mut differing = 0;
            for which in parse_names(&name, &args.search_config)? {
                let label = with_projection!(&which, |p| natter_projections::Projection::name(p));
                let mut view = ProgressView::new(label, "verify");
                let verified = with_projection!(&which, |p| {
                    tools::verify(&bus, &pool, p, options, &shutdown, &mut |e| view.show(e)).await
                });
                view.finish();
                let verified = verified?;
                print_verified(&verified);
                if !verified.matches() {
                    differing += 1;
                }
            }
            if differing > 0 {
                return Err(Mismatch(differing).into());
            }
            Ok(())
        }
    }
}

fn print_verified(v: &Verified) {
    let verdict = if v.matches() { "matches" } else { "DIFFERS" };
    println!(
        "{}: {verdict} a rebuild from the log at seq {} ({:.1} s)",
        v.projection,
        v.checkpoint,
        v.elapsed.as_secs_f64()
    );
    for t in &v.tables {
        let mark = if t.matches() { "ok" } else { "MISMATCH" };
        println!(
            "  {:<24} {:>10} rows  {:>16}  {mark}",
            t.table, t.live.rows, t.live.hash
        );
        if !t.matches() {
            println!(
                "    rebuilt: {} rows, hash {}",
                t.rebuilt.rows, t.rebuilt.hash
            );
            for row in &t.only_live {
                println!("    only live:    {row}");
            }
            for row in &t.only_rebuilt {
                println!("    only rebuilt: {row}");
            }
        }
    }
}

/// Progress of a replay: a bar on a terminal, a log line every few seconds otherwise.
struct ProgressView {
    projection: &'static str,
    what: &'static str,
    bar: Option<indicatif::ProgressBar>,
    phase: &'static str,
    started: Instant,
    events: u64,
    last_line: Instant,
}

impl ProgressView {
    fn new(projection: &'static str, what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(1);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} {msg:<28} [{bar:30}] seq {pos}/{len} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{what} {projection}"));
            bar
        });
        Self {
            projection,
            what,
            bar,
            phase: "starting",
            started: Instant::now(),
            events: 0,
            last_line: Instant::now(),
        }
    }

    fn show(&mut self, event: Progress) {
        match event {
            Progress::Phase(phase) => {
                self.phase = phase;
                match &self.bar {
                    Some(bar) => bar.set_message(phase),
                    None => tracing::info!(
                        projection = self.projection,
                        what = self.what,
                        phase,
                        "progress"
                    ),
                }
            }
            Progress::Applied {
                reached,
                target,
                covered,
            } => {
                self.events += covered;
                let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
                let rate = self.events as f64 / elapsed;
                match &self.bar {
                    Some(bar) => {
                        bar.set_length(target.max(1));
                        bar.set_position(reached);
                        bar.set_message(format!("{} {rate:.0} events/s", self.phase));
                    }
                    None if self.last_line.elapsed() >= Duration::from_secs(2)
                        || reached >= target =>
                    {
                        self.last_line = Instant::now();
                        let eta = if rate > 0.0 {
                            target.saturating_sub(reached) as f64 / rate
                        } else {
                            0.0
                        };
                        tracing::info!(
                            projection = self.projection,
                            what = self.what,
                            phase = self.phase,
                            seq = reached,
                            target,
                            events_per_s = rate.round(),
                            eta_s = eta.round(),
                            "progress"
                        );
                    }
                    None => {}
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

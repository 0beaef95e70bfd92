//! `natter chat`: a terminal client. It signs in (or registers), lists conversations, opens
//! rooms and direct conversations, shows history and live messages with their sender and time,
//! typing and presence, and takes slash commands (`/help`) from a line editor with history. The
//! connection is kept: lost, it reconnects with backoff and resumes every followed room from
//! its last seq, and what was sent meanwhile goes out once it is back.
//!
//! - [`commands`]: what a line means; [`view`]: how things read; [`session`]: the chat;
//!   [`link`]: the socket; [`api`]: REST; [`typing`]: noticing that a message is being typed.

mod api;
mod commands;
mod link;
mod safe;
mod session;
mod typing;
mod view;

use std::io::IsTerminal;

use anyhow::Context;
use tokio::sync::mpsc;

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// natter's base URL.
    #[arg(long, env = "NATTER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Your username.
    #[arg(long)]
    pub user: String,
    /// Create the account first.
    #[arg(long)]
    pub register: bool,
    /// The password (asked for when not given; prefer that to putting it here).
    #[arg(long, env = "NATTER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// Runs the client until `/quit` or end of input.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let password = match args.password {
        Some(p) => p,
        None => tokio::task::spawn_blocking(|| rpassword::prompt_password("Password: "))
            .await?
            .context("cannot read the password")?,
    };
    let (api, answer) = api::Api::sign_in(&args.url, &args.user, &password, args.register).await?;
    let (link, mut incoming) = link::Link::start(api.clone());

    // The line editor runs on a thread of its own; what comes in is printed above its prompt.
    let (lines_tx, mut lines) = mpsc::channel::<Option<String>>(16);
    let (prompt_tx, prompt_rx) = std::sync::mpsc::channel::<String>();
    let (typing_tx, mut typing) = mpsc::unbounded_channel::<()>();
    let mut editor =
        rustyline::Editor::<typing::Typing, rustyline::history::DefaultHistory>::new()?;
    editor.set_helper(Some(typing::Typing::new(typing_tx)));
    // Lines printed while the editor waits for input go above its prompt; a terminal it
    // cannot drive (TERM=dumb) gets plain lines.
    let external = if std::io::stdout().is_terminal() {
        editor.create_external_printer().ok()
    } else {
        None
    };
    let printer: session::Out = match external {
        Some(external) => {
            use rustyline::ExternalPrinter;
            let external = std::sync::Mutex::new(external);
            // Each line ends with its newline: lines printed in a burst reach the editor
            // together, and it ends only the last one.
            Box::new(move |mut line: String| {
                if !line.ends_with('\n') {
                    line.push('\n');
                }
                if let Ok(mut p) = external.lock() {
                    let _ = p.print(line);
                }
            })
        }
        None => Box::new(|line| println!("{line}")),
    };
    std::thread::spawn(move || {
        while let Ok(prompt) = prompt_rx.recv() {
            match editor.readline(&prompt) {
                Ok(line) => {
                    let _ = editor.add_history_entry(line.as_str());
                    if lines_tx.blocking_send(Some(line)).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    let _ = lines_tx.blocking_send(None);
                    return;
                }
            }
        }
    });

    // What comes before the first prompt is printed as plain lines.
    let mut session = session::Session::new(
        api,
        link,
        &answer["user"],
        Box::new(|line| println!("{line}")),
    );
    session.line("/help").await;
    session.rooms().await?;
    session.set_out(printer);
    let _ = prompt_tx.send(session.prompt());
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(Some(line)) = line else { break };
                if !session.line(&line).await {
                    break;
                }
                let _ = prompt_tx.send(session.prompt());
            }
            Some(()) = typing.recv() => session.typing().await,
            item = incoming.recv() => {
                let Some(item) = item else { break };
                if !session.incoming(item).await {
                    break;
                }
            }
        }
    }
    Ok(())
}

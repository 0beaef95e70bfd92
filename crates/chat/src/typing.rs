//! Noticing, from the line editor, that a message is being typed: rustyline asks its helper
//! for a hint after each edit (whether or not the terminal has colours), and that is the
//! moment to tell the session (at a message's first character, then at most every three
//! seconds; never for a command).

use std::cell::Cell;
use std::time::{Duration, Instant};

use rustyline::Context;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use tokio::sync::mpsc::UnboundedSender;

const EVERY: Duration = Duration::from_secs(3);

pub struct Typing {
    tx: UnboundedSender<()>,
    last: Cell<Option<Instant>>,
}

impl Typing {
    pub fn new(tx: UnboundedSender<()>) -> Self {
        Self {
            tx,
            last: Cell::new(None),
        }
    }
}

impl Hinter for Typing {
    type Hint = String;

    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<String> {
        let message = !line.trim().is_empty() && !line.starts_with('/');
        // A new message says so at once; then every few seconds while it grows.
        let fresh = line.trim().chars().count() == 1;
        let due = fresh || self.last.get().is_none_or(|at| at.elapsed() >= EVERY);
        if message && due {
            self.last.set(Some(Instant::now()));
            let _ = self.tx.send(());
        }
        None
    }
}

impl Highlighter for Typing {}

impl Completer for Typing {
    type Candidate = String;
}

impl Validator for Typing {}

impl rustyline::Helper for Typing {}

//! Reads of the history model, for the gateway. Every query is one indexed lookup or range.
//!
//! Layout: [`users`], [`access`] (authorising actions in a room), [`rooms`] (with members and
//! bans), [`messages`] (history, threads, pins), [`edits`] (edit history), [`files`] (uploads, who shows them), [`calls`]
//! (call summaries), [`keys`] (device keys), [`sessions`] (sign-ins and whether
//! their tokens are good), [`people`] (blocks, settings), [`consent`] (what stands between two people).

mod access;
mod calls;
mod consent;
mod edits;
mod export;
mod files;
mod keys;
mod messages;
mod people;
mod rooms;
mod sessions;
mod users;

pub use access::*;
pub use calls::*;
pub use consent::*;
pub use edits::*;
pub use export::*;
pub use files::*;
pub use keys::*;
pub use messages::*;
pub use people::*;
pub use rooms::*;
pub use sessions::*;
pub use users::*;

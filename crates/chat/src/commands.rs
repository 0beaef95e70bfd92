//! What a typed line means: a message for the open room, or a slash command.

use natter_schemas::frames::PresenceStatus;

/// One line, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Text for the open room (or the open thread).
    Say(String),
    Rooms,
    /// Open a room by name (joining it if it is public and one is not in it yet).
    Join(String),
    /// Open the direct conversation with someone, by username.
    Dm(String),
    /// React to the message numbered `n` in the shown list (`/react 3 👍`).
    React(usize, String),
    Edit(usize, String),
    Delete(usize),
    /// Show a message's thread and reply in it until `/thread` again.
    Thread(Option<usize>),
    Search(String),
    Upload(String),
    /// Older messages of the open room.
    More,
    /// The open room's pins; pin or unpin message N.
    Pins,
    Pin(usize, bool),
    /// Message N's versions (the original, then each edit).
    Edits(usize),
    /// How far message N got: delivered to n, read by m.
    Seen(usize),
    /// The open room's members, with their roles and who is online.
    Members,
    /// Show oneself as `online`, `away`, `busy` or `invisible`, with an optional text.
    Status(PresenceStatus, String),
    /// The conversations and rooms waiting as requests; with `on`/`off`, whether those from
    /// people one has not answered wait at all.
    Requests(Option<bool>),
    /// Accept (or decline) request N of the last list.
    Accept(usize, bool),
    Help,
    Quit,
    /// A command that is not one, or is missing what it needs: the explanation.
    Bad(String),
}

/// The help text.
pub const HELP: &str = "\
/rooms                 your conversations, with unread counts
/join NAME             open a room (joins a public one), or create it
/dm USER               open the direct conversation with USER
/more                  older messages of this room
/react N EMOJI         react to message N (the number shown before it)
/edit N TEXT           change your message N
/delete N              delete your message N
/thread N              show message N's thread; what you type then replies in it (/thread to leave)
/search WORDS          search your rooms
/upload PATH           send a file to this room
/pins                  this room's pinned messages; /pin N and /unpin N (admins)
/edits N               message N's edit history
/seen N                how far message N got: delivered to n, read by m
/members               who is in this room, and who is online
/status STATE [TEXT]   show yourself as online, away, busy or invisible, with a text
/requests [on|off]     conversations and rooms waiting for you; on: make strangers' wait
/accept N, /decline N  accept request N, or decline it (a room is left, a sender blocked)
/quit                  leave";

pub fn parse(line: &str) -> Line {
    let line = line.trim();
    let Some(rest) = line.strip_prefix('/') else {
        return Line::Say(line.to_owned());
    };
    let (command, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let number = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0);
    let (first, more) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let more = more.trim();
    match command {
        "rooms" => Line::Rooms,
        "join" | "open" if !args.is_empty() => Line::Join(args.trim_start_matches('#').to_owned()),
        "dm" if !args.is_empty() => Line::Dm(args.trim_start_matches('@').to_owned()),
        "react" => match number(first) {
            Some(n) if !more.is_empty() => Line::React(n, more.to_owned()),
            _ => Line::Bad("usage: /react N EMOJI".into()),
        },
        "edit" => match number(first) {
            Some(n) if !more.is_empty() => Line::Edit(n, more.to_owned()),
            _ => Line::Bad("usage: /edit N TEXT".into()),
        },
        "delete" => number(first).map_or(Line::Bad("usage: /delete N".into()), Line::Delete),
        "thread" if args.is_empty() => Line::Thread(None),
        "thread" => number(first).map_or(Line::Bad("usage: /thread N".into()), |n| {
            Line::Thread(Some(n))
        }),
        "search" if !args.is_empty() => Line::Search(args.to_owned()),
        "upload" if !args.is_empty() => Line::Upload(args.to_owned()),
        "more" => Line::More,
        "pins" => Line::Pins,
        "pin" | "unpin" => number(first).map_or(Line::Bad(format!("usage: /{command} N")), |n| {
            Line::Pin(n, command == "pin")
        }),
        "edits" => number(first).map_or(Line::Bad("usage: /edits N".into()), Line::Edits),
        "seen" => number(first).map_or(Line::Bad("usage: /seen N".into()), Line::Seen),
        "members" | "who" => Line::Members,
        "status" => {
            let status = match first {
                "online" => Some(PresenceStatus::Online),
                "away" => Some(PresenceStatus::Away),
                "busy" => Some(PresenceStatus::Busy),
                "invisible" => Some(PresenceStatus::Invisible),
                _ => None,
            };
            status.map_or(
                Line::Bad("usage: /status online|away|busy|invisible [TEXT]".into()),
                |status| Line::Status(status, more.to_owned()),
            )
        }
        "requests" => match first {
            "" => Line::Requests(None),
            "on" => Line::Requests(Some(true)),
            "off" => Line::Requests(Some(false)),
            _ => Line::Bad("usage: /requests [on|off]".into()),
        },
        "accept" | "decline" => number(first)
            .map_or(Line::Bad(format!("usage: /{command} N")), |n| {
                Line::Accept(n, command == "accept")
            }),
        "help" | "?" => Line::Help,
        "quit" | "exit" | "q" => Line::Quit,
        "join" | "open" | "dm" | "search" | "upload" => {
            Line::Bad(format!("/{command} needs an argument: /help"))
        }
        _ => Line::Bad(format!("no command /{command}: /help lists them")),
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, PresenceStatus, parse};

    #[test]
    fn lines_and_commands() {
        assert_eq!(parse("hello there"), Line::Say("hello there".into()));
        assert_eq!(parse("/join #general"), Line::Join("general".into()));
        assert_eq!(parse("/dm @bob"), Line::Dm("bob".into()));
        assert_eq!(parse("/react 3 👍"), Line::React(3, "👍".into()));
        assert_eq!(
            parse("/edit 2 new words"),
            Line::Edit(2, "new words".into())
        );
        assert_eq!(parse("/delete 1"), Line::Delete(1));
        assert_eq!(parse("/thread"), Line::Thread(None));
        assert_eq!(parse("/thread 4"), Line::Thread(Some(4)));
        assert_eq!(parse("/search two words"), Line::Search("two words".into()));
        assert!(matches!(parse("/react x 👍"), Line::Bad(_)));
        assert!(matches!(parse("/delete 0"), Line::Bad(_)));
        assert!(matches!(parse("/join"), Line::Bad(_)));
        assert!(matches!(parse("/frobnicate"), Line::Bad(_)));
        assert_eq!(parse("/pin 2"), Line::Pin(2, true));
        assert_eq!(parse("/unpin 2"), Line::Pin(2, false));
        assert_eq!(parse("/edits 5"), Line::Edits(5));
        assert_eq!(parse("/seen 1"), Line::Seen(1));
        assert_eq!(
            parse("/status busy in a meeting"),
            Line::Status(PresenceStatus::Busy, "in a meeting".into())
        );
        assert!(matches!(parse("/status sleepy"), Line::Bad(_)));
        assert!(matches!(parse("/edits"), Line::Bad(_)));
        assert_eq!(parse("/quit"), Line::Quit);
    }
}

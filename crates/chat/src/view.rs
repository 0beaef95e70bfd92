//! How things read in the terminal: one line each.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use crate::safe;

/// A person's name as shown: display name, else username.
pub fn name_of(user: &Value) -> String {
    let name = user["display_name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .or_else(|| user["username"].as_str())
        .unwrap_or("someone");
    safe::one_line(name)
}

/// The name of the person whose id is `id`, as met so far.
pub fn name(id: &Value, names: &HashMap<Uuid, String>) -> String {
    id.as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .and_then(|id| names.get(&id).cloned())
        .unwrap_or_else(|| "someone".into())
}

/// A room's title: `#name`, or the other people of a direct conversation.
pub fn title(room: &Value) -> String {
    if room["kind"] == "dm" {
        let others: Vec<String> = room["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(name_of)
            .collect();
        return dm_title(&others);
    }
    format!("#{}", safe::one_line(room["name"].as_str().unwrap_or("")))
}

/// A direct conversation's title: the other people.
pub fn dm_title(others: &[String]) -> String {
    if others.is_empty() {
        return "direct conversation".into();
    }
    format!("@{}", others.join(", @"))
}

/// A line of the conversation list.
pub fn room_line(room: &Value, names: &HashMap<Uuid, String>) -> String {
    let mut line = format!("  {}", title(room));
    let unread = room["unread"].as_u64().unwrap_or(0);
    let mentions = room["mentions"].as_u64().unwrap_or(0);
    if unread > 0 {
        line.push_str(&format!("  ({unread} unread"));
        if mentions > 0 {
            line.push_str(&format!(", {mentions} mentioning you"));
        }
        line.push(')');
    }
    if let Some(last) = room["last_message"].as_object() {
        let body = last
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or("(deleted)");
        let who = name(last.get("sender_id").unwrap_or(&Value::Null), names);
        line.push_str(&format!("  last: {who}: {}", clip(body, 40)));
    }
    line
}

/// A time as `14:02`, local.
pub fn clock(at: &Value) -> String {
    at.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Local).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// A message: `[n] 14:02 alice: text`, with its marks.
pub fn message_line(n: usize, m: &Value, names: &HashMap<Uuid, String>, me: Uuid) -> String {
    let at = clock(&m["created_at"]);
    let who = if m["sender_id"].as_str() == Some(&me.to_string()) {
        "you".into()
    } else {
        name(&m["sender_id"], names)
    };
    let body = if m["erased"] == true {
        "(erased)".to_owned()
    } else if m["deleted"] == true {
        "(deleted)".to_owned()
    } else {
        safe::text(m["body"].as_str().unwrap_or(""))
    };
    let number = if n > 0 {
        format!("[{n}] ")
    } else {
        String::new()
    };
    let mut line = format!("{number}{at} {who}: {body}");
    if m["edited_at"].is_string() && m["deleted"] != true {
        line.push_str(" (edited)");
    }
    for a in m["attachments"].as_array().into_iter().flatten() {
        let file = safe::one_line(a["name"].as_str().unwrap_or("?"));
        line.push_str(&format!(" [file: {file}]"));
    }
    let replies = m["reply_count"].as_u64().unwrap_or(0);
    if replies > 0 {
        line.push_str(&format!(" ({replies} in thread)"));
    }
    let reactions: Vec<String> = m["reactions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| format!("{} {}", r["emoji"].as_str().unwrap_or(""), r["count"]))
        .collect();
    if !reactions.is_empty() {
        line.push_str(&format!("  {}", reactions.join("  ")));
    }
    line
}

/// A search result, matches between asterisks.
pub fn search_line(r: &Value, names: &HashMap<Uuid, String>) -> String {
    let text = r["highlight"]
        .as_str()
        .or_else(|| r["message"]["body"].as_str())
        .unwrap_or("")
        .replace("<mark>", "*")
        .replace("</mark>", "*");
    format!(
        "  {}: {}",
        name(&r["message"]["sender_id"], names),
        clip(&text, 120)
    )
}

/// Typing, presence and notices, as lines (None: nothing to show).
pub fn frame_line(
    frame: &Value,
    room: Option<Uuid>,
    me: Uuid,
    names: &HashMap<Uuid, String>,
) -> Option<String> {
    let user = frame["user_id"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok());
    match frame["type"].as_str()? {
        "typing" if user != Some(me) && frame["state"] == "start" => {
            let here = frame["room_id"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                == room;
            here.then(|| format!("… {} is typing", name(&frame["user_id"], names)))
        }
        "presence" if user != Some(me) => Some(format!(
            "… {} is {}{}",
            name(&frame["user_id"], names),
            frame["status"].as_str().unwrap_or("?"),
            frame["text"]
                .as_str()
                .map(|t| format!(": {}", safe::one_line(t)))
                .unwrap_or_default()
        )),
        "notice" => match frame["event"]["type"].as_str()? {
            "message.posted" => Some(format!(
                "! {} mentioned you: {}",
                name(&frame["event"]["actor_id"], names),
                safe::text(frame["event"]["data"]["body"].as_str().unwrap_or(""))
            )),
            "member.joined" | "member.invited"
                if frame["event"]["data"]["user_id"].as_str() == Some(&me.to_string()) =>
            {
                Some(if frame["event"]["data"]["pending"] == true {
                    format!(
                        "! {} asks you into a room: /requests",
                        name(&frame["event"]["actor_id"], names)
                    )
                } else {
                    "! you were added to a conversation: /rooms".into()
                })
            }
            "room.created" if frame["event"]["actor_id"].as_str() != Some(&me.to_string()) => {
                let mine = frame["event"]["data"]["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["user_id"].as_str() == Some(&me.to_string()));
                let who = name(&frame["event"]["actor_id"], names);
                Some(if mine.is_some_and(|m| m["pending"] == true) {
                    format!("! {who} asks you into a conversation: /requests")
                } else {
                    format!("! you were added to a conversation by {who}: /rooms")
                })
            }
            _ => None,
        },
        "error" => Some(format!(
            "! {}",
            frame["error"]["message"].as_str().unwrap_or("error")
        )),
        _ => None,
    }
}

fn clip(s: &str, n: usize) -> String {
    let one_line = s.replace('\n', " ");
    if one_line.chars().count() <= n {
        return one_line;
    }
    format!("{}…", one_line.chars().take(n).collect::<String>())
}

//! Which parts of an event are sealed ([`crate::sealed`]): the personal fields of each type,
//! and whether a type takes a slot of its own.

use super::{Credentials, Event, EventBody};
use crate::sealed::SlotRef;

/// The slot of a message version (`message.posted`, `message.edited`), as it was sealed.
pub fn slot_of(event: &Event) -> Option<SlotRef> {
    event.sealed.as_ref().and_then(|s| s.slot)
}

/// Whether events of this type are sealed with a slot of their own (message versions, each
/// erasable alone).
pub fn takes_slot(body: &EventBody) -> bool {
    matches!(
        body,
        EventBody::MessagePosted(_) | EventBody::MessageEdited(_)
    )
}

/// The personal data of an event, by field name, as places to seal from and unseal into:
/// message bodies and the names of the files they carry; usernames, display names, status
/// texts, password hashes and the devices people sign in from; uploaded files' names. Empty for other events (and for a
/// message's encrypted content, which the server cannot read anyway).
pub fn personal_fields(body: &mut EventBody) -> Vec<(String, &mut String)> {
    let mut fields: Vec<(String, &mut String)> = Vec::new();
    match body {
        EventBody::MessagePosted(p) => {
            fields.push(("body".into(), &mut p.body));
            for (i, a) in p.attachments.iter_mut().enumerate() {
                fields.push((format!("attachments.{i}.name"), &mut a.name));
            }
        }
        EventBody::MessageEdited(e) => fields.push(("body".into(), &mut e.body)),
        EventBody::UserRegistered(u) => {
            fields.push(("username".into(), &mut u.username));
            fields.push(("display_name".into(), &mut u.display_name));
            let Credentials::Password { hash } = &mut u.credentials;
            fields.push(("credentials.hash".into(), hash));
        }
        EventBody::UserProfileUpdated(u) => {
            if let Some(name) = &mut u.display_name {
                fields.push(("display_name".into(), name));
            }
            if let Some(status) = &mut u.status_text {
                fields.push(("status_text".into(), status));
            }
        }
        EventBody::PasswordChanged(p) => {
            let Credentials::Password { hash } = &mut p.credentials;
            fields.push(("credentials.hash".into(), hash));
            if let Some(device) = &mut p.session.device {
                fields.push(("session.device".into(), device));
            }
        }
        EventBody::SessionStarted(s) => {
            if let Some(device) = &mut s.device {
                fields.push(("device".into(), device));
            }
        }
        EventBody::FileUploaded(f) => fields.push(("name".into(), &mut f.name)),
        _ => {}
    }
    fields
}

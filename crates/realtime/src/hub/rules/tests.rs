//! The rules kept from a feed: loading, changes, losses, trust.

use super::*;
use natter_schemas::event::EventBody;
use natter_schemas::event::{MemberChanged, MemberRemoved, RoomArchived, RoomUpdated};
use natter_schemas::model::Role;
use std::time::Duration;

fn rules() -> RoomRules {
    RoomRules::public_room()
}

fn event(body: EventBody) -> Event {
    Event::new(Uuid::new_v4(), Some(Uuid::new_v4()), body)
}

fn ready(r: &Rules) -> RoomRules {
    match &r.lock().state {
        State::Ready { rules, .. } => rules.clone(),
        _ => panic!("not ready"),
    }
}

#[test]
fn changes_after_the_read_are_applied_once_and_those_before_are_not() {
    let alice = Uuid::new_v4();
    let r = Rules::new(10);
    let join = event(EventBody::MemberJoined(MemberChanged {
        user_id: alice,
        role: Role::Member,
        pending: false,
    }));
    let kick = event(EventBody::MemberKicked(MemberRemoved { user_id: alice }));
    r.feed(11, &join);
    r.feed(12, &kick);
    r.feed(13, &join);
    // Read at 12: the join at 11 and the kick at 12 are in the rows (alice is not a
    // member), the join at 13 is not.
    r.install(rules(), 12);
    assert_eq!(ready(&r).roles.get(&alice), Some(&Role::Member));
    // Redelivered or older changes do nothing; newer ones apply.
    r.feed(12, &kick);
    assert!(ready(&r).roles.contains_key(&alice));
    r.feed(14, &kick);
    assert!(!ready(&r).roles.contains_key(&alice));
}

#[test]
fn a_read_from_before_the_feed_began_is_not_installed() {
    let r = Rules::new(10);
    r.install(rules(), 9);
    assert!(matches!(
        r.check(Uuid::new_v4()),
        Verdict::Unknown { load: true }
    ));
}

#[test]
fn a_feed_that_owes_this_gateway_an_event_for_too_long_is_not_trusted() {
    let r = Rules::new(0);
    r.install(rules(), 0);
    // Not before the feed proved itself with a delivery.
    assert!(matches!(
        r.check(Uuid::new_v4()),
        Verdict::Unknown { load: false }
    ));
    r.feed(
        1,
        &event(EventBody::RoomUpdated(RoomUpdated {
            name: None,
            topic: None,
            visibility: None,
        })),
    );
    assert!(matches!(r.check(Uuid::new_v4()), Verdict::Known(_)));
    r.appended(5);
    assert!(matches!(r.check(Uuid::new_v4()), Verdict::Known(_)));
    r.lock().owed = Some((5, Instant::now() - BEHIND - Duration::from_millis(1)));
    assert!(matches!(
        r.check(Uuid::new_v4()),
        Verdict::Unknown { load: false }
    ));
    r.feed(5, &event(EventBody::RoomArchived(RoomArchived {})));
    assert!(matches!(r.check(Uuid::new_v4()), Verdict::Known(a) if a.archived));
}

#[test]
fn a_reader_beside_the_feed_is_answered_once_the_feed_has_what_came_before() {
    let bob = Uuid::new_v4();
    let r = Rules::new(0);
    r.feed(
        2,
        &event(EventBody::MemberJoined(MemberChanged {
            user_id: bob,
            role: Role::Member,
            pending: false,
        })),
    );
    r.feed(
        5,
        &event(EventBody::MemberKicked(MemberRemoved { user_id: bob })),
    );
    // Bob's post at 10, checked at 3; the room's event before it was 5, fed here.
    assert_eq!(r.void_once_fed(bob, 3, 10, Some(5)), Some(true));
    assert_eq!(r.void_once_fed(bob, 5, 10, Some(5)), Some(false));
    // The room's event before it (8) has not come yet: no answer.
    assert_eq!(r.void_once_fed(bob, 3, 10, Some(8)), None);
    assert_eq!(r.void_once_fed(bob, 3, 10, None), None);
    assert_eq!(r.void_once_fed(bob, 3, 6, None), Some(true));
}

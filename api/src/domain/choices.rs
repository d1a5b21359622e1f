//! The closed lists of values of the synced entities, written once for the REST API and
//! sync push.

pub const INTERACTION_KINDS: [&str; 8] = [
    "call", "sms", "email", "meeting", "meal", "message", "social", "other",
];
pub const EVENT_KINDS: [&str; 7] = [
    "apero",
    "colunching",
    "jelly",
    "round_table",
    "conference",
    "meetup",
    "other",
];
pub const EVENT_VISIBILITIES: [&str; 3] = ["public", "unlisted", "private"];
pub const ATTENDEE_LIST_VISIBILITIES: [&str; 2] = ["organizer", "attendees"];

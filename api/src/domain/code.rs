//! Short codes people read aloud or copy from a screen: event join codes and attendance
//! check-in codes.

use rand::Rng;

/// Letters and digits that cannot be mistaken for one another when read aloud or copied
/// from a screen: no 0/O, no 1/I.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Length of an event's join code.
pub const JOIN_CODE_LEN: usize = 6;

/// Length of an attendance's check-in code (shown as a QR code at the door).
const CHECKIN_CODE_LEN: usize = 10;

fn random_code(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// A fresh join code (uniqueness among open events is the database's to enforce).
pub fn new_join_code() -> String {
    random_code(JOIN_CODE_LEN)
}

/// A fresh check-in code.
pub fn new_checkin_code() -> String {
    random_code(CHECKIN_CODE_LEN)
}

//! Hybrid logical clock stamps and the clock that issues them.
//!
//! A stamp is `(millis, counter, node)`: wall-clock milliseconds, a counter that orders events
//! within one millisecond, and the 128-bit id of the device (or server) that made the event.
//! Stamps are totally ordered field by field, so the node breaks ties between devices and two
//! distinct events never compare equal. Their wire form
//! `{millis:015}-{counter:05}-{node:032x}` sorts as text in the same order.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The largest counter the wire form can carry (five decimal digits).
pub const MAX_COUNTER: u32 = 99_999;
/// The largest millisecond value the wire form can carry (fifteen decimal digits).
pub const MAX_MILLIS: u64 = 999_999_999_999_999;
/// Default bound on how far ahead of the server's clock an incoming stamp may be: 5 minutes.
pub const DEFAULT_MAX_SKEW_MS: u64 = 5 * 60 * 1000;

const WIRE_LEN: usize = 15 + 1 + 5 + 1 + 32;

/// A hybrid-logical-clock stamp. Field order is the comparison order: millis, then counter,
/// then node as the tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc {
    /// Unix time in milliseconds, as seen (and possibly advanced) by the issuing clock.
    pub millis: u64,
    /// Orders events that share the same `millis`.
    pub counter: u32,
    /// The device (or server) id, the 16 bytes of its UUID.
    pub node: u128,
}

impl Hlc {
    /// The stamp below every real stamp; the state of a field nobody has written yet.
    pub const fn zero() -> Self {
        Hlc {
            millis: 0,
            counter: 0,
            node: 0,
        }
    }

    /// Builds a stamp, refusing values the wire form cannot carry.
    pub fn new(millis: u64, counter: u32, node: u128) -> Result<Self, ParseHlcError> {
        if millis > MAX_MILLIS {
            return Err(ParseHlcError::MillisOutOfRange);
        }
        if counter > MAX_COUNTER {
            return Err(ParseHlcError::CounterOutOfRange);
        }
        Ok(Hlc {
            millis,
            counter,
            node,
        })
    }

    /// Whether this is [`Hlc::zero`].
    pub fn is_zero(&self) -> bool {
        *self == Hlc::zero()
    }

    /// The stamp that follows `self` on the same clock: next counter, or next millisecond when
    /// the counter is full.
    fn successor(self, node: u128) -> Hlc {
        if self.counter >= MAX_COUNTER {
            Hlc {
                millis: self.millis.saturating_add(1),
                counter: 0,
                node,
            }
        } else {
            Hlc {
                millis: self.millis,
                counter: self.counter + 1,
                node,
            }
        }
    }
}

impl Hlc {
    /// The wire form, written digit by digit: merge states and pull views hold a stamp for
    /// every field and set element, written at every push, and `write!` with padding spent
    /// several times as long on each. `None` for a stamp beyond what the wire form carries
    /// (only one built by hand, not through [`Hlc::new`] or parsing, can be).
    fn wire(&self) -> Option<[u8; WIRE_LEN]> {
        if self.millis > MAX_MILLIS || self.counter > MAX_COUNTER {
            return None;
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; WIRE_LEN];
        let mut millis = self.millis;
        for digit in out[..15].iter_mut().rev() {
            *digit = b'0' + (millis % 10) as u8;
            millis /= 10;
        }
        let mut counter = self.counter;
        for digit in out[16..21].iter_mut().rev() {
            *digit = b'0' + (counter % 10) as u8;
            counter /= 10;
        }
        for (i, digit) in out[22..].iter_mut().enumerate() {
            *digit = HEX[((self.node >> (4 * (31 - i))) & 0xf) as usize];
        }
        Some(out)
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.wire() {
            Some(wire) => f.write_str(std::str::from_utf8(&wire).map_err(|_| fmt::Error)?),
            None => write!(f, "{:015}-{:05}-{:032x}", self.millis, self.counter, self.node),
        }
    }
}

/// Why a stamp string was refused. Each case names the part of
/// `{unix_ms:015}-{counter:05}-{node}` that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseHlcError {
    /// The string is not 54 characters long.
    #[error("stamp must be 54 characters ({{unix_ms:015}}-{{counter:05}}-{{node:32 hex}}), got {0}")]
    WrongLength(usize),
    /// A `-` separator is missing after the millis or the counter.
    #[error("stamp must separate its parts with '-' at positions 15 and 21")]
    MissingSeparator,
    /// The millis part is not 15 decimal digits.
    #[error("stamp millis must be 15 decimal digits")]
    BadMillis,
    /// The counter part is not 5 decimal digits.
    #[error("stamp counter must be 5 decimal digits")]
    BadCounter,
    /// The node part is not 32 lowercase hexadecimal digits.
    #[error("stamp node must be 32 lowercase hex digits")]
    BadNode,
    /// Millis above what 15 digits can carry (only from [`Hlc::new`]).
    #[error("stamp millis exceed 15 digits")]
    MillisOutOfRange,
    /// Counter above 99999 (only from [`Hlc::new`]).
    #[error("stamp counter exceeds 99999")]
    CounterOutOfRange,
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

impl FromStr for Hlc {
    type Err = ParseHlcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != WIRE_LEN {
            return Err(ParseHlcError::WrongLength(s.chars().count()));
        }
        let bytes = s.as_bytes();
        if bytes[15] != b'-' || bytes[21] != b'-' {
            return Err(ParseHlcError::MissingSeparator);
        }
        // Every byte checked below is ASCII, so slicing at these offsets is at char boundaries
        // once the checks pass; `get` keeps a multi-byte character from panicking.
        let millis = s.get(0..15).ok_or(ParseHlcError::BadMillis)?;
        let counter = s.get(16..21).ok_or(ParseHlcError::BadCounter)?;
        let node = s.get(22..54).ok_or(ParseHlcError::BadNode)?;
        if !all_digits(millis) {
            return Err(ParseHlcError::BadMillis);
        }
        if !all_digits(counter) {
            return Err(ParseHlcError::BadCounter);
        }
        if !node.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ParseHlcError::BadNode);
        }
        let millis = millis.parse().map_err(|_| ParseHlcError::BadMillis)?;
        let counter = counter.parse().map_err(|_| ParseHlcError::BadCounter)?;
        let node = u128::from_str_radix(node, 16).map_err(|_| ParseHlcError::BadNode)?;
        Ok(Hlc {
            millis,
            counter,
            node,
        })
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.wire() {
            Some(wire) => {
                serializer.serialize_str(std::str::from_utf8(&wire).map_err(serde::ser::Error::custom)?)
            }
            None => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Formats a node (device id) as the 32 lowercase hex digits used in stamps.
pub fn node_hex(node: u128) -> String {
    format!("{node:032x}")
}

/// Serde helper: a `u128` node as 32 lowercase hex digits.
pub mod node_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the node as 32 lowercase hex digits.
    pub fn serialize<S: Serializer>(node: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{node:032x}"))
    }

    /// Reads 32 hex digits (dashes of a UUID are tolerated).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return Err(serde::de::Error::custom("node must be 32 hex digits"));
        }
        u128::from_str_radix(&hex, 16).map_err(serde::de::Error::custom)
    }
}

/// An incoming stamp is further ahead of the server's clock than the allowed skew.
///
/// The mutation carrying it is rejected (the api reports it and consumes the mutation); the
/// device must correct its clock. See the crate docs, "Clock skew".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("stamp {stamp} is more than {max_skew_ms} ms ahead of the server clock ({server_now_ms} ms)")]
pub struct StampTooFarAhead {
    /// The refused stamp.
    pub stamp: Hlc,
    /// The server's wall clock when the stamp was received.
    pub server_now_ms: u64,
    /// The bound in force.
    pub max_skew_ms: u64,
}

/// Checks the skew rule alone: `stamp.millis <= now_ms + max_skew_ms`.
pub fn check_skew(stamp: Hlc, now_ms: u64, max_skew_ms: u64) -> Result<(), StampTooFarAhead> {
    if stamp.millis > now_ms.saturating_add(max_skew_ms) {
        Err(StampTooFarAhead {
            stamp,
            server_now_ms: now_ms,
            max_skew_ms,
        })
    } else {
        Ok(())
    }
}

/// A hybrid logical clock owned by one node (a device, or a server process).
///
/// The clock never reads time itself: callers pass the wall clock in (`now_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// The node whose events this clock stamps.
    #[serde(with = "node_serde")]
    pub node: u128,
    /// The last stamp issued or observed.
    pub last: Hlc,
    /// How far ahead of `now_ms` a received stamp may be before it is refused.
    pub max_skew_ms: u64,
}

impl Clock {
    /// A clock for `node` that has seen nothing yet, with [`DEFAULT_MAX_SKEW_MS`].
    pub fn new(node: u128) -> Self {
        Clock {
            node,
            last: Hlc::zero(),
            max_skew_ms: DEFAULT_MAX_SKEW_MS,
        }
    }

    /// Same clock with another skew bound.
    pub fn with_max_skew(mut self, max_skew_ms: u64) -> Self {
        self.max_skew_ms = max_skew_ms;
        self
    }

    /// Stamps a local event: the wall clock if it moved forward, otherwise the last stamp's
    /// successor. Always strictly greater than every stamp issued or observed before.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let next = if now_ms.min(MAX_MILLIS) > self.last.millis {
            Hlc {
                millis: now_ms.min(MAX_MILLIS),
                counter: 0,
                node: self.node,
            }
        } else {
            self.last.successor(self.node)
        };
        self.last = next;
        next
    }

    /// Takes in a stamp received from another node and returns a local stamp greater than both
    /// it and everything this clock issued before.
    ///
    /// Skew rule: a remote stamp more than `max_skew_ms` ahead of `now_ms` is refused with
    /// [`StampTooFarAhead`] and leaves the clock untouched, so one device with a clock a year
    /// ahead can neither win every later race nor drag the server's clock forward.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) -> Result<Hlc, StampTooFarAhead> {
        check_skew(remote, now_ms, self.max_skew_ms)?;
        let now_ms = now_ms.min(MAX_MILLIS);
        let top = self.last.max(remote);
        let next = match now_ms.cmp(&top.millis) {
            Ordering::Greater => Hlc {
                millis: now_ms,
                counter: 0,
                node: self.node,
            },
            _ => top.successor(self.node),
        };
        self.last = next;
        Ok(next)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const NODE: u128 = 0x8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f;

    #[test]
    fn the_wire_form_is_the_padded_format_at_every_bound() {
        for millis in [
            0,
            1,
            9,
            10,
            1_795_460_473_712,
            MAX_MILLIS - 1,
            MAX_MILLIS,
            MAX_MILLIS + 1,
            u64::MAX,
        ] {
            for counter in [0, 1, 10, 99_998, MAX_COUNTER, MAX_COUNTER + 1, u32::MAX] {
                for node in [0, 1, 0xf, NODE, 1 << 127, u128::MAX] {
                    let hlc = Hlc {
                        millis,
                        counter,
                        node,
                    };
                    let padded = format!("{millis:015}-{counter:05}-{node:032x}");
                    assert_eq!(hlc.to_string(), padded);
                    assert_eq!(serde_json::to_string(&hlc).unwrap(), format!("\"{padded}\""));
                }
            }
        }
    }

    #[test]
    fn wire_form_matches_product_example() {
        let s = "001763900000000-00000-8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f";
        let h: Hlc = s.parse().unwrap();
        assert_eq!(h.millis, 1_763_900_000_000);
        assert_eq!(h.counter, 0);
        assert_eq!(h.node, NODE);
        assert_eq!(h.to_string(), s);
    }

    #[test]
    fn parse_errors_name_the_part() {
        assert_eq!("".parse::<Hlc>(), Err(ParseHlcError::WrongLength(0)));
        let good = "001763900000000-00000-8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f";
        let sep = good.replacen('-', "_", 1);
        assert_eq!(sep.parse::<Hlc>(), Err(ParseHlcError::MissingSeparator));
        let millis = format!("00176390000000x{}", &good[15..]);
        assert_eq!(millis.parse::<Hlc>(), Err(ParseHlcError::BadMillis));
        let counter = format!("{}-0000a{}", &good[..15], &good[21..]);
        assert_eq!(counter.parse::<Hlc>(), Err(ParseHlcError::BadCounter));
        let upper = good.to_uppercase();
        assert_eq!(upper.parse::<Hlc>(), Err(ParseHlcError::BadNode));
        let plus = format!("+01763900000000{}", &good[15..]);
        assert_eq!(plus.parse::<Hlc>(), Err(ParseHlcError::BadMillis));
        // A multi-byte character of the right byte length must not panic.
        let wide = format!("é{}", &good[2..]);
        assert!(wide.parse::<Hlc>().is_err());
    }

    #[test]
    fn text_order_is_clock_order() {
        let stamps = [
            Hlc::new(5, 0, 2).unwrap(),
            Hlc::new(5, 1, 1).unwrap(),
            Hlc::new(5, 1, 3).unwrap(),
            Hlc::new(40, 0, 0).unwrap(),
            Hlc::new(MAX_MILLIS, MAX_COUNTER, u128::MAX).unwrap(),
        ];
        for a in &stamps {
            for b in &stamps {
                assert_eq!(a.cmp(b), a.to_string().cmp(&b.to_string()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn tick_is_strictly_increasing_even_when_time_stalls_or_goes_back() {
        let mut clock = Clock::new(NODE);
        let a = clock.tick(1000);
        let b = clock.tick(1000);
        let c = clock.tick(900);
        let d = clock.tick(2000);
        assert!(a < b && b < c && c < d);
        assert_eq!(b.counter, 1);
        assert_eq!(c.millis, 1000);
        assert_eq!(d, Hlc::new(2000, 0, NODE).unwrap());
    }

    #[test]
    fn counter_overflow_moves_to_next_millisecond() {
        let mut clock = Clock::new(1);
        clock.last = Hlc::new(10, MAX_COUNTER, 1).unwrap();
        let next = clock.tick(10);
        assert_eq!(next, Hlc::new(11, 0, 1).unwrap());
        assert!(next.to_string().parse::<Hlc>().is_ok());
    }

    #[test]
    fn observe_moves_past_remote_stamps() {
        let mut clock = Clock::new(1);
        let remote = Hlc::new(5_000, 7, 2).unwrap();
        let seen = clock.observe(remote, 4_000).unwrap();
        assert!(seen > remote);
        assert_eq!(seen, Hlc::new(5_000, 8, 1).unwrap());
        assert!(clock.tick(4_000) > seen);
        let later = clock.observe(remote, 9_000).unwrap();
        assert_eq!(later, Hlc::new(9_000, 0, 1).unwrap());
    }

    #[test]
    fn stamp_a_year_ahead_is_refused_and_leaves_clock_alone() {
        let now = 1_763_900_000_000;
        let mut clock = Clock::new(1);
        let before = clock.tick(now);
        let year = 365 * 24 * 3600 * 1000;
        let remote = Hlc::new(now + year, 0, 2).unwrap();
        let err = clock.observe(remote, now).unwrap_err();
        assert_eq!(
            err,
            StampTooFarAhead {
                stamp: remote,
                server_now_ms: now,
                max_skew_ms: DEFAULT_MAX_SKEW_MS
            }
        );
        assert_eq!(clock.last, before);
        // Exactly at the bound is accepted.
        let edge = Hlc::new(now + DEFAULT_MAX_SKEW_MS, 0, 2).unwrap();
        assert!(clock.observe(edge, now).is_ok());
    }

    #[test]
    fn serde_uses_wire_form() {
        let h = Hlc::new(1, 2, 3).unwrap();
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "\"000000000000001-00002-00000000000000000000000000000003\"");
        let back: Hlc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }
}

//! Reading the change feed: the current state of every record in the user's scope changed
//! after a cursor, in pages, without ever skipping a change committed late.
//!
//! The pull runs in one repeatable-read snapshot. Change rows are read in (xid, seq) order.
//! The fence is the snapshot's xmin: every transaction below it has ended, so no row below it
//! can still appear. The cursor holds two positions: `settled`, before which everything was
//! delivered and nothing can appear any more, and `sent`, the last row delivered. Rows between
//! them were delivered but may have late neighbours (rows of transactions still running then).
//! Each pull first re-sends the rows of that window that are now below the fence (so a row
//! committed late is delivered, and `settled` moves past them), then sends new rows after
//! `sent`. A push is thus reflected by the next pull even while an unrelated transaction is
//! slow, each row is sent at most twice, and clients apply records idempotently.

use std::collections::{HashMap, HashSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sync_core::SyncSchema;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db;
use crate::db::sync::{Position, SyncedRow};
use crate::domain::synced;
use crate::domain::synced::{empty_object, reconcile, stored_state, uuid_of, Access, Collection, PullView};
use crate::error::ApiError;

/// One record in a pull.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    pub collection: &'static str,
    pub id: Uuid,
    /// A tombstone: the record was deleted or left my scope.
    pub deleted: bool,
    /// The record's fields (empty for a record that left my scope or is gone).
    #[schema(value_type = Object)]
    pub record: Box<RawValue>,
    /// Per-field stamps (`{unix_ms:015}-{counter:05}-{node}`).
    #[schema(value_type = Object)]
    pub stamps: Box<RawValue>,
}

/// A page of changes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PullPage {
    pub changes: Vec<Change>,
    /// Where the next pull starts (opaque).
    pub cursor: String,
    /// Another page is ready now.
    pub has_more: bool,
    /// The last mutation id the server applied for this device.
    pub last_mutation_id: i64,
}

impl PullPage {
    /// The page as JSON, written into one buffer sized for it up front (a page is often a
    /// megabyte or more; growing the buffer from empty would copy it about twenty times).
    pub fn to_json(&self) -> Result<Vec<u8>, ApiError> {
        let size: usize = self
            .changes
            .iter()
            .map(|c| c.record.get().len() + c.stamps.get().len() + 96)
            .sum();
        let mut out = Vec::with_capacity(size + self.cursor.len() + 64);
        serde_json::to_writer(&mut out, self).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(out)
    }
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "The cursor is not one this API gave out.")
}

/// A pull cursor: everything up to `settled` is delivered and final; rows up to `sent` were
/// delivered, those between the two may still have late neighbours.
///
/// `began` is the snapshot of the device's first pull (from no cursor), kept by every cursor
/// after it. A record whose change rows all come from transactions committed in that
/// snapshot was already deleted or out of scope when the device began, so it never reached
/// the device by a pull: no tombstone is sent for it, unless the device wrote it itself.
/// A record the device did receive can only leave in a transaction the snapshot did not
/// see, and that tombstone is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor {
    pub settled: Position,
    pub sent: Position,
    pub began: Began,
}

/// Which transactions had committed when a device's first pull began.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Began {
    xmin: i64,
    xmax: i64,
    running: Vec<i64>,
}

/// A snapshot with more transactions in progress than this is kept as its `xmin` alone (all
/// later transactions count as unseen): the cursor stays short, and more tombstones are sent.
const MAX_RUNNING: usize = 32;

impl Began {
    fn of(snapshot: db::sync::Snapshot) -> Began {
        if snapshot.running.len() > MAX_RUNNING {
            return Began {
                xmin: snapshot.xmin,
                xmax: snapshot.xmin,
                running: Vec::new(),
            };
        }
        Began {
            xmin: snapshot.xmin,
            xmax: snapshot.xmax,
            running: snapshot.running,
        }
    }

    /// Whether transaction `xid` had committed when the first pull began. A cursor from
    /// before this rule began at nothing: every tombstone is sent.
    fn saw(&self, xid: i64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.running.contains(&xid))
    }
}

pub fn encode_cursor(c: &Cursor) -> String {
    let running: Vec<String> = c.began.running.iter().map(i64::to_string).collect();
    URL_SAFE_NO_PAD.encode(format!(
        "{}.{}.{}.{}.{}.{}.{}",
        c.settled.xid,
        c.settled.seq,
        c.sent.xid,
        c.sent.seq,
        c.began.xmin,
        c.began.xmax,
        running.join("-")
    ))
}

pub fn decode_cursor(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let text = URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad_cursor)?;
    let parts: Vec<&str> = text.split('.').collect();
    let number = |p: &str| p.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(bad_cursor);
    // Four parts: a cursor given out before `began` existed.
    let began = match parts.as_slice() {
        [_, _, _, _] => Began::default(),
        [_, _, _, _, xmin, xmax, running] => Began {
            xmin: number(xmin)?,
            xmax: number(xmax)?,
            running: running
                .split('-')
                .filter(|r| !r.is_empty())
                .map(number)
                .collect::<Result<_, _>>()?,
        },
        _ => return Err(bad_cursor()),
    };
    if began.xmax < began.xmin || began.running.len() > MAX_RUNNING {
        return Err(bad_cursor());
    }
    let cursor = Cursor {
        settled: Position {
            xid: number(parts[0])?,
            seq: number(parts[1])?,
        },
        sent: Position {
            xid: number(parts[2])?,
            seq: number(parts[3])?,
        },
        began,
    };
    if cursor.sent < cursor.settled {
        return Err(bad_cursor());
    }
    Ok(Some(cursor))
}

/// Refuses a cursor older than the tombstone horizon.
pub fn check_horizon(cursor: Option<Cursor>, horizon: Position) -> Result<Cursor, ApiError> {
    match cursor {
        None => Ok(Cursor::default()),
        Some(c) if c.settled < horizon => Err(ApiError::Gone {
            code: "cursor_expired",
            detail: "This cursor is older than the tombstone retention: push your queue, then pull from the beginning (no cursor) and replace the local copy.".into(),
        }),
        Some(c) => Ok(c),
    }
}

/// Who is reading, and what they can see.
pub struct Viewer {
    pub user: Uuid,
    pub events: Vec<Uuid>,
    pub organised: Vec<Uuid>,
}

impl Viewer {
    fn sees(&self, coll: &Collection, row: &Map<String, Value>) -> bool {
        match coll.access {
            Access::Owned | Access::Profile => uuid_of(row, "owner_id") == Some(self.user),
            Access::Event => uuid_of(row, "id").is_some_and(|id| self.events.contains(&id)),
            Access::Attendance => {
                let Some(event) = uuid_of(row, "event_id") else {
                    return false;
                };
                if !self.events.contains(&event) {
                    return false;
                }
                self.organised.contains(&event)
                    || uuid_of(row, "user_id") == Some(self.user)
                    || (row.get("share_profile") == Some(&Value::Bool(true))
                        && row.get("status").and_then(Value::as_str) != Some("cancelled"))
            }
        }
    }

    fn hides(&self, coll: &Collection, row: &Map<String, Value>, column: &str) -> bool {
        match (coll.access, column) {
            (Access::Event, "join_code") => uuid_of(row, "organizer_id") != Some(self.user),
            (Access::Attendance, "guest_email") => {
                !uuid_of(row, "event_id").is_some_and(|e| self.organised.contains(&e))
            }
            _ => false,
        }
    }
}

fn tombstone(coll: &'static Collection, id: Uuid) -> Change {
    Change {
        collection: coll.name,
        id,
        deleted: true,
        record: empty_object(),
        stamps: empty_object(),
    }
}

/// The pull form of one record as `viewer` sees it.
///
/// `row` is the loaded row and its parsed pull view. A row in step with its merge state
/// carries its view; any other row is reconciled with its merge state first (see
/// [`reconcile`]), which gives the same answer.
pub fn render(
    coll: &'static Collection,
    schema: &SyncSchema,
    viewer: &Viewer,
    id: Uuid,
    row: Option<(SyncedRow, Option<PullView>)>,
) -> Change {
    let (Some((row, view)), Some(cs)) = (row, schema.get(coll.name)) else {
        return tombstone(coll, id);
    };
    if !viewer.sees(coll, &row.meta) {
        return tombstone(coll, id);
    }
    let hidden: Vec<&str> = coll
        .derived
        .iter()
        .copied()
        .filter(|name| viewer.hides(coll, &row.meta, name))
        .collect();
    let (mut view, columns) = match view {
        Some(view) => (view, None),
        None => {
            let mut state = stored_state(row.state.as_deref());
            let columns = row.into_columns();
            reconcile(coll, cs, &mut state, &columns);
            (PullView::of(coll, &state), Some(columns))
        }
    };
    let record = match (view.record.take(), columns) {
        // In step, nothing to hide or add: the view's record goes out as stored.
        (Some(record), None) if hidden.is_empty() && view.extra.is_empty() => Some(record),
        (record, columns) => {
            let mut all = columns
                .or_else(|| record.and_then(|r| serde_json::from_str(r.get()).ok()))
                .unwrap_or_default();
            let mut shown = std::mem::take(&mut view.extra);
            for name in coll.record_columns().filter(|n| !hidden.contains(n)) {
                shown.insert(name.to_owned(), all.remove(name).unwrap_or(Value::Null));
            }
            serde_json::value::to_raw_value(&shown).ok()
        }
    };
    Change {
        collection: coll.name,
        id,
        deleted: view.deleted,
        record: record.unwrap_or_else(empty_object),
        stamps: view.stamps,
    }
}

/// One page of `user`'s changes after `cursor`, for `device`.
pub fn pull(
    conn: &mut PgConnection,
    schema: &SyncSchema,
    user: Uuid,
    device: Uuid,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<PullPage, ApiError> {
    conn.build_transaction()
        .repeatable_read()
        .read_only()
        .run(|conn| {
            // First statement: the snapshot every later read shares; its xmin is the fence.
            let snapshot = db::sync::snapshot(conn)?;
            let fence = snapshot.xmin;
            db::sync::read_feed_in_order(conn)?;
            let last_mutation_id =
                db::sync::device_last_mutation(conn, user, device)?.ok_or(ApiError::NotFound)?;
            let first = cursor.is_none();
            let mut after = check_horizon(cursor, db::sync::horizon(conn)?)?;
            if first {
                after.began = Began::of(snapshot);
            }
            let (events, organised) = db::sync::scope_events(conn, user)?;
            let viewer = Viewer {
                user,
                events,
                organised,
            };
            let limit = limit.max(1);
            // The window's rows that are now final: re-sent, and `settled` moves past them.
            let mut rows = if after.sent > after.settled {
                db::sync::changes_settled(
                    conn,
                    user,
                    &viewer.events,
                    after.settled,
                    after.sent,
                    fence,
                    limit + 1,
                )?
            } else {
                Vec::new()
            };
            let mut next = after.clone();
            let more;
            if rows.len() as i64 > limit {
                rows.truncate(limit as usize);
                more = true;
            } else {
                let room = limit - rows.len() as i64;
                let mut fresh = db::sync::changes_after(conn, user, &viewer.events, after.sent, room + 1)?;
                more = fresh.len() as i64 > room;
                fresh.truncate(room as usize);
                rows.append(&mut fresh);
            }
            // `settled` moves over the leading rows below the fence: rows of transactions at
            // or above it sort after them, so none can still appear before.
            for row in &rows {
                if row.xid >= fence {
                    break;
                }
                next.settled = next.settled.max(row.position());
            }
            if let Some(last) = rows.last() {
                next.sent = next.sent.max(last.position());
            }
            next.sent = next.sent.max(next.settled);
            // Each record once, at its last position in the page, with whether a row of it
            // comes from a transaction the first pull did not see (the device may have had it).
            let mut order: Vec<(&'static Collection, Uuid, bool)> = Vec::with_capacity(rows.len());
            let mut seen: HashMap<(&'static str, Uuid), usize> = HashMap::with_capacity(rows.len());
            for row in rows.iter().rev() {
                let Some(coll) = synced::collection(&row.collection) else {
                    continue;
                };
                let unseen = !after.began.saw(row.xid);
                match seen.get(&(coll.name, row.record_id)) {
                    Some(&at) => order[at].2 |= unseen,
                    None => {
                        seen.insert((coll.name, row.record_id), order.len());
                        order.push((coll, row.record_id, unseen));
                    }
                }
            }
            order.reverse();
            let mut loaded: HashMap<(&'static str, Uuid), (SyncedRow, Option<PullView>)> =
                HashMap::with_capacity(order.len());
            for coll in synced::COLLECTIONS {
                let ids: Vec<Uuid> = order
                    .iter()
                    .filter(|(c, _, _)| c.name == coll.name)
                    .map(|(_, id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let mut unusable = Vec::new();
                for row in db::sync::rows_by_ids(conn, coll, &ids, false)? {
                    let Some(id) = uuid_of(&row.meta, coll.key) else {
                        continue;
                    };
                    let view = row.view.as_deref().and_then(PullView::parse);
                    if row.view.is_some() && view.is_none() {
                        // A view not written by sync (by hand, say): read the row in full.
                        unusable.push(id);
                    }
                    loaded.insert((coll.name, id), (row, view));
                }
                if !unusable.is_empty() {
                    for row in db::sync::rows_by_ids(conn, coll, &unusable, true)? {
                        if let Some(id) = uuid_of(&row.meta, coll.key) {
                            loaded.insert((coll.name, id), (row, None));
                        }
                    }
                }
            }
            let changes: Vec<(Change, bool)> = order
                .into_iter()
                .map(|(coll, id, unseen)| {
                    (
                        render(coll, schema, &viewer, id, loaded.remove(&(coll.name, id))),
                        unseen,
                    )
                })
                .collect();
            // A tombstone of a record already gone when the first pull began goes only to a
            // device that wrote the record itself (it has it from its own queue).
            let mut unsent: HashSet<(&str, Uuid)> = changes
                .iter()
                .filter(|(change, unseen)| change.deleted && !unseen)
                .map(|(change, _)| (change.collection, change.id))
                .collect();
            let node = device.simple().to_string();
            for coll in synced::COLLECTIONS {
                let ids: Vec<Uuid> = unsent
                    .iter()
                    .filter(|(name, _)| *name == coll.name)
                    .map(|(_, id)| *id)
                    .collect();
                if !ids.is_empty() {
                    for id in db::sync::written_by(conn, coll, &ids, &node)? {
                        unsent.remove(&(coll.name, id));
                    }
                }
            }
            let changes = changes
                .into_iter()
                .map(|(change, _)| change)
                .filter(|change| !unsent.contains(&(change.collection, change.id)))
                .collect();
            Ok(PullPage {
                changes,
                cursor: encode_cursor(&next),
                has_more: more,
                last_mutation_id,
            })
        })
}

/// Whether `user`'s scope (their own records and those of `events`) changed after `cursor`
/// (for the long poll).
pub fn changed_since(
    conn: &mut PgConnection,
    user: Uuid,
    events: &[Uuid],
    cursor: Cursor,
) -> Result<bool, ApiError> {
    if db::sync::has_changes_after(conn, user, events, cursor.sent)? {
        return Ok(true);
    }
    if cursor.sent > cursor.settled {
        let fence = db::sync::fence(conn)?;
        let settled = db::sync::changes_settled(conn, user, events, cursor.settled, cursor.sent, fence, 1)?;
        return Ok(!settled.is_empty());
    }
    Ok(false)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(xid: i64, seq: i64) -> Position {
        Position { xid, seq }
    }

    #[test]
    fn a_cursor_reads_back_as_given_out_and_older_cursors_still_read() {
        let cursor = Cursor {
            settled: at(10, 3),
            sent: at(12, 9),
            began: Began {
                xmin: 8,
                xmax: 14,
                running: vec![9, 11],
            },
        };
        let decoded = decode_cursor(Some(&encode_cursor(&cursor))).unwrap().unwrap();
        assert_eq!(decoded, cursor);
        // Seen by the snapshot: below xmin, or below xmax and not running.
        let saw: Vec<i64> = (6..16).filter(|x| decoded.began.saw(*x)).collect();
        assert_eq!(saw, vec![6, 7, 8, 10, 12, 13]);
        let old = decode_cursor(Some(&URL_SAFE_NO_PAD.encode("10.3.12.9")))
            .unwrap()
            .unwrap();
        assert_eq!(old.began, Began::default());
        assert!(!(0..1000).any(|x| old.began.saw(x)));
    }

    #[test]
    fn a_cursor_not_given_out_is_refused() {
        for text in [
            "10.3.12",
            "10.3.12.9.8",
            "10.3.12.9.14.8.",
            "10.3.12.9.8.14.x",
            "10.3.12.9.-1.14.",
            "12.9.10.3",
        ] {
            assert!(
                decode_cursor(Some(&URL_SAFE_NO_PAD.encode(text))).is_err(),
                "{text}"
            );
        }
        let many: Vec<String> = (0..40).map(|x| (100 + x).to_string()).collect();
        let text = format!("1.1.1.1.100.200.{}", many.join("-"));
        assert!(decode_cursor(Some(&URL_SAFE_NO_PAD.encode(text))).is_err());
        // A busy snapshot is kept as its xmin alone.
        let began = Began::of(db::sync::Snapshot {
            xmin: 100,
            xmax: 200,
            running: (100..140).collect(),
        });
        assert!(began.saw(99) && !began.saw(150));
    }
}

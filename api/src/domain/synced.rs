//! Offline-first sync: the collections phones sync, and the conversion between table rows
//! and sync-core's [`RecordState`].
//!
//! The tables stay the truth for the REST API: each synced row keeps its current values in
//! its columns and its merge state (per-field stamps, applied stamps, fields from newer app
//! versions) in `sync_state`. A push merges a mutation into that state and writes the
//! winning values back to the columns in the same transaction.
//!
//! Writers that do not go through sync (the REST handlers, imports, organizer flows, push
//! jobs) only change columns. Before every merge, and when a record is rendered for pull,
//! [`reconcile`] compares the columns with the state; a column that differs is taken into
//! the merge as a **server edit** (node [`SERVER_NODE`]) stamped with the row's
//! `updated_at`, or just after the field's current stamp if that is later (the column
//! changed after the state was written, so the edit came after it). REST edits and phone
//! edits therefore interleave by the same last-writer-wins, add-wins and three-way rules, and
//! no writer has to know about sync.
//!
//! Beside the state, sync stores its pull view (`sync_view`: the stamps and extra fields
//! pull sends, see [`PullView`]). A database trigger clears the view on any write that does
//! not also write the state, so a row with a view is in step with its columns and pull
//! renders it without reading or reconciling the state.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sync_core::{
    merge_owned, CollectionSchema, Conflict, FieldChange, FieldKind, Hlc, Mutation, Op, RecordState,
    SyncSchema,
};
use uuid::Uuid;

use crate::domain::choices::{
    ATTENDEE_LIST_VISIBILITIES, EVENT_KINDS, EVENT_VISIBILITIES, INTERACTION_KINDS,
};
use crate::domain::reminders::{self, REPEAT_EVERY_MAX, REPEAT_UNITS};
use crate::domain::{
    attendances, check_long_text, optional_text, required_text, Email, InvalidValue, Limits, Link, Phone,
    Region, Tag, TimeZone,
};

/// The node of stamps the server gives to edits made outside sync (REST and other writers).
pub const SERVER_NODE: u128 = 0;
/// The schema version this server speaks.
pub const SCHEMA_VERSION: i64 = 1;
/// The oldest schema version still accepted; older clients get 426.
pub const MIN_SCHEMA_VERSION: i64 = 1;
/// Most elements a set field may hold.
pub const MAX_SET_LEN: usize = 100;
/// The largest `mutation_id`: 2^53, the largest whole number a JavaScript client holds
/// exactly.
pub const MAX_MUTATION_ID: u64 = 1 << 53;

/// Fields a newer app knows and this server does not are kept and sent back (so an older
/// server loses nothing of a newer app), within these bounds: how many one record may hold,
/// the size of one value and of all of them in a record, as JSON.
pub const MAX_EXTRA_FIELDS: usize = 32;
pub const MAX_EXTRA_VALUE_BYTES: usize = 16 * 1024;
pub const MAX_EXTRA_RECORD_BYTES: usize = 64 * 1024;
/// The longest name of such a field.
const MAX_EXTRA_NAME_LEN: usize = 64;

/// Checks a pushed field this server does not know: a plain name (letters, digits and
/// underscores, starting with a letter) and a value within [`MAX_EXTRA_VALUE_BYTES`]. A NUL
/// character, in this field as in any other, is refused by push for the whole mutation
/// (`domain::nul_paths`).
pub fn extra_field(name: &str, change: &FieldChange) -> Result<(), InvalidValue> {
    let plain = name.len() <= MAX_EXTRA_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return Err(InvalidValue::new(
            "invalid_field_name",
            format!("a field name is at most {MAX_EXTRA_NAME_LEN} letters, digits and underscores, starting with a letter"),
        ));
    }
    let json = serde_json::to_string(&change_value(change)).unwrap_or_default();
    if json.len() > MAX_EXTRA_VALUE_BYTES {
        return Err(InvalidValue::new(
            "too_long",
            format!("a field this server does not know holds at most {MAX_EXTRA_VALUE_BYTES} bytes of JSON"),
        ));
    }
    Ok(())
}

/// The value a change carries, for measuring it.
fn change_value(change: &FieldChange) -> Value {
    match change {
        FieldChange::Scalar(v) => v.clone(),
        FieldChange::Set { add, remove } => Value::Array(add.iter().chain(remove).cloned().collect()),
        FieldChange::Text { base, value } => Value::Array(vec![base.clone().into(), value.clone().into()]),
    }
}

/// Refuses a merged record whose fields unknown to this server exceed
/// [`MAX_EXTRA_FIELDS`] or [`MAX_EXTRA_RECORD_BYTES`] together.
pub fn check_extra_fields(coll: &Collection, state: &RecordState) -> Result<(), crate::error::ApiError> {
    let mut count = 0;
    let mut bytes = 0;
    for (name, field) in &state.fields {
        if coll.field(name).is_none() {
            count += 1;
            bytes += name.len() + serde_json::to_string(&field.value()).map_or(0, |j| j.len());
        }
    }
    if count > MAX_EXTRA_FIELDS || bytes > MAX_EXTRA_RECORD_BYTES {
        return Err(crate::error::ApiError::invalid(
            "fields",
            InvalidValue::new(
                "too_many_fields",
                format!(
                    "a record holds at most {MAX_EXTRA_FIELDS} fields this server does not know, {MAX_EXTRA_RECORD_BYTES} bytes of JSON together"
                ),
            ),
        ));
    }
    Ok(())
}

/// Who may read and write records of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner (`owner_id`) only.
    Owned,
    /// The user's own profile card; its id is the user's id.
    Profile,
    /// Members read, the organizer writes.
    Event,
    /// Members of the event read (others' only when they consent); the organizer writes
    /// status and role, the attendee their consent and status.
    Attendance,
}

/// What a set element must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    Email,
    Phone,
    Link,
    Tag,
}

/// The column type of a synced field and how its value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Required, trimmed, non-empty text of at most this many characters.
    Name(usize),
    /// Optional short text; empty becomes null.
    Short,
    /// Free text merged three-way; a NOT NULL column, empty by default.
    Long,
    /// Free text merged three-way in a nullable column; empty becomes null.
    OptLong,
    Bool,
    OptInt(i64, i64),
    OptDate,
    OptUuid,
    Instant,
    OptInstant,
    /// A local date-time without zone (`2026-11-24T09:00:00`).
    Local,
    /// An IANA zone name.
    Zone,
    Choice(&'static [&'static str]),
    OptChoice(&'static [&'static str]),
    OptEmail,
    OptPhone,
    Set(Elem),
}

impl Ty {
    pub fn kind(self) -> FieldKind {
        match self {
            Ty::Long | Ty::OptLong => FieldKind::Text,
            Ty::Set(_) => FieldKind::Set,
            _ => FieldKind::Scalar,
        }
    }
}

/// One synced field: a column of the table.
#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// The column's default when it is not blank: a record created by a push without this
    /// field gets it, stamped with the creating mutation, so the merge state says what the
    /// row says.
    pub default: Option<&'static str>,
}

const fn f(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        default: None,
    }
}

/// A field whose column has a default (see [`Field::default`]).
const fn with_default(name: &'static str, ty: Ty, default: &'static str) -> Field {
    Field {
        name,
        ty,
        default: Some(default),
    }
}

/// A synced collection and the table behind it.
#[derive(Debug)]
pub struct Collection {
    /// The wire name.
    pub name: &'static str,
    pub table: &'static str,
    /// The column the record id is in.
    pub key: &'static str,
    pub access: Access,
    /// Fields a client may write.
    pub fields: &'static [Field],
    /// Columns shown in pull but written by the server only.
    pub derived: &'static [&'static str],
    /// Fields a new record must have.
    pub required: &'static [&'static str],
    /// Whether the table has `deleted_at` (records can be deleted and restored).
    pub deletable: bool,
}

pub static CONTACTS: Collection = Collection {
    name: "contacts",
    table: "contacts",
    key: "id",
    access: Access::Owned,
    fields: &[
        f("name", Ty::Name(Limits::NAME)),
        f("organization", Ty::Short),
        f("job_title", Ty::Short),
        f("city", Ty::Short),
        f("emails", Ty::Set(Elem::Email)),
        f("phones", Ty::Set(Elem::Phone)),
        f("links", Ty::Set(Elem::Link)),
        f("tags", Ty::Set(Elem::Tag)),
        f("notes", Ty::Long),
        f("how_we_met", Ty::Long),
        f("met_at_event_id", Ty::OptUuid),
        f("first_met_on", Ty::OptDate),
        f("they_brought", Ty::Long),
        f("i_can_offer", Ty::Long),
        f("met_in_person", Ty::Bool),
        f("keep_in_touch_days", Ty::OptInt(1, 3650)),
        f("starred", Ty::Bool),
    ],
    derived: &["last_interaction_at"],
    required: &["name"],
    deletable: true,
};

pub static INTERACTIONS: Collection = Collection {
    name: "interactions",
    table: "interactions",
    key: "id",
    access: Access::Owned,
    fields: &[
        f("contact_id", Ty::OptUuid),
        f("kind", Ty::Choice(&INTERACTION_KINDS)),
        f("occurred_at", Ty::Instant),
        f("notes", Ty::Long),
        f("event_id", Ty::OptUuid),
    ],
    derived: &[],
    required: &["contact_id", "kind", "occurred_at"],
    deletable: true,
};

pub static REMINDERS: Collection = Collection {
    name: "reminders",
    table: "reminders",
    key: "id",
    access: Access::Owned,
    fields: &[
        f("contact_id", Ty::OptUuid),
        f("event_id", Ty::OptUuid),
        f("title", Ty::Name(Limits::TITLE)),
        f("notes", Ty::Long),
        f("due_local", Ty::Local),
        f("timezone", Ty::Zone),
        f("repeat_every", Ty::OptInt(1, REPEAT_EVERY_MAX)),
        f("repeat_unit", Ty::OptChoice(&REPEAT_UNITS)),
        f("snoozed_until", Ty::OptInstant),
        with_default("status", Ty::Choice(&reminders::STATUSES), "open"),
        f("completed_at", Ty::OptInstant),
    ],
    derived: &["due_at", "origin"],
    required: &["title", "due_local", "timezone"],
    deletable: true,
};

pub static EVENTS: Collection = Collection {
    name: "events",
    table: "events",
    key: "id",
    access: Access::Event,
    fields: &[
        f("kind", Ty::Choice(&EVENT_KINDS)),
        f("title", Ty::Name(Limits::TITLE)),
        f("description", Ty::OptLong),
        f("venue", Ty::Short),
        f("address", Ty::Short),
        f("city", Ty::Short),
        f("starts_at", Ty::Instant),
        f("ends_at", Ty::OptInstant),
        f("timezone", Ty::Zone),
        f("capacity", Ty::OptInt(1, 1_000_000)),
        with_default("visibility", Ty::Choice(&EVENT_VISIBILITIES), "private"),
        with_default(
            "attendee_list_visibility",
            Ty::Choice(&ATTENDEE_LIST_VISIBILITIES),
            "attendees",
        ),
    ],
    derived: &["organizer_id", "join_code"],
    required: &["kind", "title", "starts_at", "timezone"],
    deletable: true,
};

pub static ATTENDANCES: Collection = Collection {
    name: "attendances",
    table: "attendances",
    key: "id",
    access: Access::Attendance,
    fields: &[
        f("status", Ty::Choice(&attendances::STATUSES)),
        f("role", Ty::Choice(&attendances::ROLES)),
        f("share_profile", Ty::Bool),
    ],
    derived: &[
        "event_id",
        "user_id",
        "guest_name",
        "guest_email",
        "checked_in_at",
    ],
    required: &[],
    deletable: true,
};

pub static PROFILE: Collection = Collection {
    name: "profile",
    table: "profile_cards",
    key: "owner_id",
    access: Access::Profile,
    fields: &[
        f("headline", Ty::Short),
        f("organization", Ty::Short),
        f("email", Ty::OptEmail),
        f("phone", Ty::OptPhone),
        f("links", Ty::Set(Elem::Link)),
        f("city", Ty::Short),
    ],
    derived: &[],
    required: &[],
    deletable: false,
};

pub static COLLECTIONS: [&Collection; 6] = [
    &CONTACTS,
    &INTERACTIONS,
    &REMINDERS,
    &EVENTS,
    &ATTENDANCES,
    &PROFILE,
];

/// The synced collection called `name` on the wire.
pub fn collection(name: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().copied().find(|c| c.name == name)
}

impl Collection {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether `name` is a column pull shows but clients may not write.
    pub fn is_derived(&self, name: &str) -> bool {
        self.derived.contains(&name)
    }

    /// The column holding the user a new record belongs to, if the table has one.
    pub fn owner_column(&self) -> Option<&'static str> {
        match self.access {
            Access::Owned => Some("owner_id"),
            Access::Event => Some("organizer_id"),
            Access::Profile | Access::Attendance => None,
        }
    }

    /// The columns pull shows: the synced fields, then the derived ones.
    pub fn record_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields
            .iter()
            .map(|f| f.name)
            .chain(self.derived.iter().copied())
    }

    /// The columns sync reads besides the record: the key, the columns that say who may see
    /// and write the row, and the times [`reconcile`] needs.
    pub fn meta_columns(&self) -> &'static [&'static str] {
        match self.access {
            Access::Owned => &["id", "owner_id", "updated_at", "deleted_at"],
            Access::Profile => &["owner_id", "updated_at"],
            Access::Event => &["id", "organizer_id", "updated_at", "deleted_at"],
            Access::Attendance => &[
                "id",
                "event_id",
                "user_id",
                "role",
                "status",
                "share_profile",
                "updated_at",
                "deleted_at",
            ],
        }
    }

    fn schema(&self) -> CollectionSchema {
        self.fields.iter().fold(CollectionSchema::new(self.name), |s, f| {
            s.field(f.name, f.ty.kind())
        })
    }
}

impl crate::db::sync::SyncedTable for Collection {
    fn name(&self) -> &'static str {
        self.name
    }
    fn table(&self) -> &'static str {
        self.table
    }
    fn key(&self) -> &'static str {
        self.key
    }
    fn owner_column(&self) -> Option<&'static str> {
        Collection::owner_column(self)
    }
    fn deletable(&self) -> bool {
        self.deletable
    }
    fn record_columns(&self) -> Vec<&'static str> {
        Collection::record_columns(self).collect()
    }
    fn meta_columns(&self) -> &'static [&'static str] {
        Collection::meta_columns(self)
    }
}

/// Every synced table, as the data layer's housekeeping takes them.
pub fn synced_tables() -> Vec<&'static dyn crate::db::sync::SyncedTable> {
    COLLECTIONS
        .iter()
        .map(|c| *c as &dyn crate::db::sync::SyncedTable)
        .collect()
}

/// The merge rules of every synced collection, for sync-core.
pub fn sync_schema() -> SyncSchema {
    COLLECTIONS
        .iter()
        .fold(SyncSchema::new(), |s, c| s.with(c.schema()))
}

/// Milliseconds since the epoch.
pub fn millis(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap_or(0)
}

/// A set element as the column keeps it (phones in E.164, emails lowercased, links with
/// their scheme, tags trimmed).
pub fn element(elem: Elem, value: &Value, region: Option<Region>) -> Result<Value, InvalidValue> {
    let raw = value
        .as_str()
        .ok_or_else(|| InvalidValue::new("invalid_type", "set elements must be strings"))?;
    let text = match elem {
        Elem::Email => Email::parse(raw)?.lowercase(),
        Elem::Phone => Phone::parse(raw, region)?.into_inner(),
        Elem::Link => Link::parse(raw)?.into_inner(),
        Elem::Tag => Tag::parse(raw)?.into_inner(),
    };
    Ok(Value::String(text))
}

/// The UUID in column `key` of a row read as JSON.
pub fn uuid_of(row: &Map<String, Value>, key: &str) -> Option<Uuid> {
    row.get(key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

fn expect_str<'a>(v: &'a Value, what: &str) -> Result<&'a str, InvalidValue> {
    v.as_str()
        .ok_or_else(|| InvalidValue::new("invalid_type", format!("must be {what}")))
}

fn choice(v: &Value, allowed: &[&str]) -> Result<Value, InvalidValue> {
    let s = expect_str(v, "a string")?;
    if allowed.contains(&s) {
        Ok(Value::String(s.to_owned()))
    } else {
        Err(InvalidValue::new(
            "invalid_choice",
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}

fn instant(v: &Value) -> Result<DateTime<Utc>, InvalidValue> {
    expect_str(v, "an RFC 3339 instant")
        .ok()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| {
            InvalidValue::new(
                "invalid_instant",
                "must be an instant such as 2026-11-24T14:00:00Z",
            )
        })
}

pub fn local(v: &Value) -> Result<NaiveDateTime, InvalidValue> {
    expect_str(v, "a local date-time")
        .ok()
        .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok())
        .ok_or_else(|| {
            InvalidValue::new(
                "invalid_local_time",
                "must be a local date-time such as 2026-11-24T09:00:00",
            )
        })
}

fn date(v: &Value) -> Result<NaiveDate, InvalidValue> {
    expect_str(v, "a date")
        .ok()
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| InvalidValue::new("invalid_date", "must be a date such as 2026-11-24"))
}

/// The value of a field as its column takes it, from the merged value; refuses what the
/// REST API would refuse.
pub fn column_value(ty: Ty, v: &Value, region: Option<Region>) -> Result<Value, InvalidValue> {
    let opt = |v: &Value, f: &dyn Fn(&Value) -> Result<Value, InvalidValue>| match v {
        Value::Null => Ok(Value::Null),
        other => f(other),
    };
    match ty {
        Ty::Name(max) => Ok(Value::String(required_text(expect_str(v, "a string")?, max)?)),
        Ty::Short => opt(v, &|v| {
            Ok(optional_text(expect_str(v, "a string")?, Limits::SHORT)?.map_or(Value::Null, Value::String))
        }),
        Ty::Long | Ty::OptLong => {
            let text = match v {
                Value::Null => "",
                other => expect_str(other, "a string")?,
            };
            check_long_text(text)?;
            if ty == Ty::OptLong && text.trim().is_empty() {
                Ok(Value::Null)
            } else {
                Ok(Value::String(text.to_owned()))
            }
        }
        Ty::Bool => v
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| InvalidValue::new("invalid_type", "must be true or false")),
        Ty::OptInt(min, max) => opt(v, &|v| match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Value::from(n)),
            _ => Err(InvalidValue::new(
                "out_of_range",
                format!("must be a whole number between {min} and {max}"),
            )),
        }),
        Ty::OptDate => opt(v, &|v| Ok(Value::String(date(v)?.format("%Y-%m-%d").to_string()))),
        Ty::OptUuid => opt(v, &|v| {
            expect_str(v, "a UUID")
                .ok()
                .and_then(|s| Uuid::parse_str(s).ok())
                .map(|u| Value::String(u.to_string()))
                .ok_or_else(|| InvalidValue::new("invalid_id", "must be a UUID"))
        }),
        Ty::Instant => Ok(Value::String(instant(v)?.to_rfc3339())),
        Ty::OptInstant => opt(v, &|v| Ok(Value::String(instant(v)?.to_rfc3339()))),
        Ty::Local => Ok(Value::String(
            local(v)?.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
        )),
        Ty::Zone => Ok(Value::String(
            TimeZone::parse(expect_str(v, "a time zone")?)?.name().to_owned(),
        )),
        Ty::Choice(allowed) => choice(v, allowed),
        Ty::OptChoice(allowed) => opt(v, &|v| choice(v, allowed)),
        Ty::OptEmail => opt(v, &|v| {
            let s = expect_str(v, "a string")?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            // One address, kept as written (domain lower-cased), as REST keeps it; only a
            // set's elements are lower-cased, so that one address is one element.
            Ok(Value::String(Email::parse(s)?.as_str().to_owned()))
        }),
        Ty::OptPhone => opt(v, &|v| {
            let s = expect_str(v, "a string")?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            Ok(Value::String(Phone::parse(s, region)?.into_inner()))
        }),
        Ty::Set(_) => {
            let items = v.as_array().cloned().unwrap_or_default();
            if items.len() > MAX_SET_LEN {
                return Err(InvalidValue::new(
                    "too_many",
                    format!("at most {MAX_SET_LEN} values"),
                ));
            }
            Ok(Value::Array(items))
        }
    }
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Bool(b)) => !b,
        _ => false,
    }
}

/// Whether a column value and a state value are the same value of `ty` (timestamps are
/// compared as instants, sets as sets of normalised elements, absent as empty).
pub fn same(ty: Ty, column: Option<&Value>, state: Option<&Value>) -> bool {
    if is_blank(column) && is_blank(state) {
        return true;
    }
    let (Some(a), Some(b)) = (column, state) else {
        return false;
    };
    match ty {
        Ty::Instant | Ty::OptInstant => match (instant(a), instant(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        Ty::Local => match (local(a), local(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        Ty::OptDate => match (date(a), date(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        Ty::Set(_) => {
            let keys = |v: &Value| -> std::collections::BTreeSet<String> {
                v.as_array()
                    .map(|a| a.iter().map(sync_core::normalise_key).collect())
                    .unwrap_or_default()
            };
            keys(a) == keys(b)
        }
        _ => a == b,
    }
}

/// A stamp for a server edit at `at_ms` that comes after `after`.
fn server_stamp(at_ms: u64, after: Hlc) -> Hlc {
    if at_ms > after.millis {
        Hlc {
            millis: at_ms,
            counter: 0,
            node: SERVER_NODE,
        }
    } else if after.counter < sync_core::hlc::MAX_COUNTER {
        Hlc {
            millis: after.millis,
            counter: after.counter + 1,
            node: SERVER_NODE,
        }
    } else {
        Hlc {
            millis: after.millis + 1,
            counter: 0,
            node: SERVER_NODE,
        }
    }
}

/// The row's `updated_at` in milliseconds (the stamp of edits made outside sync).
pub fn row_updated_ms(row: &Map<String, Value>) -> u64 {
    row.get("updated_at")
        .and_then(|v| instant(v).ok())
        .map(millis)
        .unwrap_or(0)
}

/// A server stamp after `after` at or after `at_ms`, not yet applied to `state`.
fn fresh_server_stamp(state: &RecordState, at_ms: u64, after: Hlc) -> Hlc {
    let mut stamp = server_stamp(at_ms, after);
    while state.applied.contains(&stamp) {
        stamp = server_stamp(at_ms, stamp);
    }
    stamp
}

/// Takes into `state` the edits made to the row's columns outside sync, as one server edit
/// (see the module docs). Answers the conflicts it caused.
pub fn reconcile(
    coll: &Collection,
    schema: &CollectionSchema,
    state: &mut RecordState,
    row: &Map<String, Value>,
) -> Vec<Conflict> {
    let at_ms = row_updated_ms(row);
    let mut conflicts = Vec::new();
    let mut changes = std::collections::BTreeMap::new();
    let mut after = Hlc::zero();
    for field in coll.fields {
        let column = row.get(field.name);
        let current = state.fields.get(field.name);
        let value = current.map(|s| s.value());
        if same(field.ty, column, value.as_ref()) {
            continue;
        }
        if let Some(current) = current {
            after = after.max(current.stamp());
        }
        let column = column.cloned().unwrap_or(Value::Null);
        let change = match field.ty.kind() {
            FieldKind::Scalar => FieldChange::Scalar(column),
            FieldKind::Text => FieldChange::Text {
                base: match value {
                    Some(Value::String(s)) => s,
                    _ => String::new(),
                },
                value: column.as_str().unwrap_or_default().to_owned(),
            },
            FieldKind::Set => {
                let now: Vec<Value> = column.as_array().cloned().unwrap_or_default();
                let before: Vec<Value> = value.and_then(|v| v.as_array().cloned()).unwrap_or_default();
                let key_set = |items: &[Value]| -> std::collections::BTreeSet<String> {
                    items.iter().map(sync_core::normalise_key).collect()
                };
                let (now_keys, before_keys) = (key_set(&now), key_set(&before));
                FieldChange::Set {
                    add: now
                        .iter()
                        .filter(|v| !before_keys.contains(&sync_core::normalise_key(v)))
                        .cloned()
                        .collect(),
                    remove: before
                        .iter()
                        .filter(|v| !now_keys.contains(&sync_core::normalise_key(v)))
                        .cloned()
                        .collect(),
                }
            }
        };
        changes.insert(field.name.to_owned(), change);
    }
    if !changes.is_empty() {
        let mutation = Mutation {
            mutation_id: 0,
            collection: coll.name.to_owned(),
            id: String::new(),
            op: Op::Upsert,
            hlc: fresh_server_stamp(state, at_ms, after),
            fields: changes,
        };
        if let Ok(outcome) = merge_owned(state, mutation, schema) {
            conflicts.extend(outcome.conflicts);
        }
    }
    if coll.deletable {
        let deleted = !is_blank(row.get("deleted_at"));
        if deleted != state.existence.deleted {
            let at = if deleted {
                row.get("deleted_at")
                    .and_then(|v| instant(v).ok())
                    .map(millis)
                    .unwrap_or(at_ms)
            } else {
                at_ms
            };
            let mutation = Mutation {
                mutation_id: 0,
                collection: coll.name.to_owned(),
                id: String::new(),
                op: if deleted { Op::Delete } else { Op::Restore },
                hlc: fresh_server_stamp(state, at, state.existence.stamp),
                fields: Default::default(),
            };
            if let Ok(outcome) = merge_owned(state, mutation, schema) {
                conflicts.extend(outcome.conflicts);
            }
        }
    }
    conflicts
}

/// The stored merge state of a row, from its JSON text (`{}` for a row never synced; none
/// when it was not read).
pub fn stored_state(text: Option<&str>) -> RecordState {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// What pull sends of a record, stored beside its merge state (`sync_view`) so pull need not
/// read the state of a row in step with it: whether the record is deleted, the stamp of each
/// field and the values of fields only newer app versions know, written by sync; and the
/// record's columns as pull shows them, added by the database when the view is written
/// (migration 000050).
#[derive(Debug, Serialize, Deserialize)]
pub struct PullView {
    pub deleted: bool,
    /// `{field: stamp}`, kept as JSON text.
    pub stamps: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// The record columns (`Collection::record_columns`) as a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<RawValue>>,
}

impl PullView {
    /// The view of `state`, a record of `coll`.
    pub fn of(coll: &Collection, state: &RecordState) -> PullView {
        let mut stamps = Map::new();
        let mut extra = Map::new();
        for (name, field) in &state.fields {
            if coll.field(name).is_none() {
                extra.insert(name.clone(), field.value());
            }
            stamps.insert(name.clone(), Value::String(field.stamp().to_string()));
        }
        let stamps = serde_json::value::to_raw_value(&stamps).unwrap_or_else(|_| empty_object());
        PullView {
            deleted: state.is_deleted(),
            stamps,
            extra,
            record: None,
        }
    }

    /// The stored text of the view of `state`.
    pub fn text_of(coll: &Collection, state: &RecordState) -> String {
        serde_json::to_string(&PullView::of(coll, state)).unwrap_or_default()
    }

    /// A stored view with its record, `None` if unusable (the caller then reads the merge
    /// state).
    pub fn parse(text: &str) -> Option<PullView> {
        serde_json::from_str::<PullView>(text)
            .ok()
            .filter(|v| v.record.is_some())
    }
}

/// `{}` as raw JSON.
pub fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// Takes the current columns of `owner`'s row `id` into its merge state at once, as a
/// server edit stamped with the row's `updated_at` (see [`reconcile`]), and records the
/// conflicts it causes for `owner` to see. A row `owner` does not own is left alone.
///
/// [`settled`] calls it around every update made outside sync, in the writer's transaction.
/// Writers that never call it (inserts, deletes, organizer flows) are reconciled the same
/// way, later, on the next push or pull of the record.
pub fn settle(
    conn: &mut diesel::PgConnection,
    coll: &Collection,
    owner: Uuid,
    id: Uuid,
) -> diesel::QueryResult<()> {
    let Some(row) = crate::db::sync::lock_owned_row(conn, coll, owner, id)? else {
        return Ok(());
    };
    let schema = coll.schema();
    let before = stored_state(row.state.as_deref());
    let mut state = before.clone();
    let had_view = row.view.is_some();
    let row = row.into_columns();
    let conflicts = reconcile(coll, &schema, &mut state, &row);
    if state == before && had_view {
        return Ok(());
    }
    let state_json = serde_json::value::to_raw_value(&state)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let view = PullView::text_of(coll, &state);
    crate::db::sync::set_state(
        conn,
        coll,
        id,
        &crate::db::sync::StateWrite {
            state: &state_json,
            view: &view,
        },
    )?;
    let rows: Vec<crate::db::sync::NewConflict> = conflicts
        .into_iter()
        .map(|c| conflict_row(owner, coll, id, c))
        .collect();
    crate::db::sync::insert_conflicts(conn, &rows)
}

/// Runs `write`, `owner`'s edit of record `id` of `coll` made outside sync (the REST API,
/// imports, card exchanges), settled into the record's merge state: before it, so earlier
/// writes keep their own time, and after it, so this edit is stamped with its own. Every
/// such update goes through this (the entities' `update` functions in this layer call it);
/// the data layer's update functions know nothing of sync.
pub fn settled<T>(
    conn: &mut diesel::PgConnection,
    coll: &Collection,
    owner: Uuid,
    id: Uuid,
    write: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    settle(conn, coll, owner, id)?;
    let written = write(conn)?;
    settle(conn, coll, owner, id)?;
    Ok(written)
}

/// A conflict the merge reported on record `id` of `coll`, as kept for `user` to see.
pub fn conflict_row(user: Uuid, coll: &Collection, id: Uuid, c: Conflict) -> crate::db::sync::NewConflict {
    crate::db::sync::NewConflict {
        user_id: user,
        collection: coll.name.to_owned(),
        record_id: id,
        field: c.field,
        kind: c.kind.as_str().to_owned(),
        kept: c.kept,
        lost: c.lost,
        lost_stamp: c.lost_stamp.to_string(),
        lost_device: sync_core::node_hex(c.lost_device),
    }
}

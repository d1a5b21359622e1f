//! Applying a pushed batch in one transaction, with the device's last mutation id.
//!
//! A batch is first applied whole: every record it names is locked up front (one statement
//! per collection, in key order), each mutation is merged in memory in the device's order,
//! and the records are written at the end, one statement per collection and shape of
//! columns. Nothing a refused mutation did reaches the records. If the database refuses the
//! batched writes (a constraint, a concurrent insert), they are rolled back to a savepoint
//! and the batch is applied again one mutation at a time, each read, merged and written in
//! its own savepoint, so the refusal is reported against the mutation that caused it.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use sync_core::{check_skew, merge_owned, FieldChange, FieldState, Mutation, Op, RecordState, SyncSchema};
use utoipa::ToSchema;
use uuid::Uuid;

use std::collections::{BTreeSet, HashMap};

use crate::db;
use crate::db::sync::{NewConflict, RowWrite, StateWrite};
use crate::domain::attendances::{self, Actor, CheckIn, Current, Decision};
use crate::domain::synced;
use crate::domain::synced::{
    column_value, conflict_row, element, reconcile, stored_state, uuid_of, Access, Collection, PullView, Ty,
    MAX_EXTRA_FIELDS, MAX_MUTATION_ID,
};
use crate::domain::{contacts, nul_paths, resolve_local, Region, TimeZone};
use crate::error::{ApiError, FieldErrors, Problem};

/// What became of one pushed mutation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MutationResult {
    /// The mutation's id, null when it carried none.
    pub mutation_id: Option<u64>,
    /// `applied`, `duplicate` or `rejected`.
    #[schema(example = "applied")]
    pub status: &'static str,
    /// Why it was rejected (a problem object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

impl MutationResult {
    fn applied(id: u64) -> Self {
        MutationResult {
            mutation_id: Some(id),
            status: "applied",
            error: None,
        }
    }

    fn duplicate(id: u64) -> Self {
        MutationResult {
            mutation_id: Some(id),
            status: "duplicate",
            error: None,
        }
    }

    fn rejected(id: Option<u64>, error: &ApiError) -> Self {
        MutationResult {
            mutation_id: id,
            status: "rejected",
            error: Some(error.problem()),
        }
    }
}

/// The answer to a push.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushAnswer {
    pub results: Vec<MutationResult>,
    /// The last mutation id the server applied for this device.
    pub last_mutation_id: i64,
}

/// What a push needs besides the connection.
pub struct PushContext<'a> {
    pub user: Uuid,
    pub device: Uuid,
    pub now_ms: u64,
    pub max_skew_ms: u64,
    /// Replay stamps older than this (Unix ms: now minus the tombstone retention) are
    /// forgotten when a record is written; per-device `mutation_id`s guard replays that old.
    pub replay_horizon_ms: u64,
    pub schema: &'a SyncSchema,
}

/// Why a mutation did not apply: refused (reported, consumed) or a database failure.
enum Fail {
    Rejected(ApiError),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail::Rejected(e)
    }
}

fn unavailable() -> ApiError {
    ApiError::unprocessable("record_unavailable", "No record of yours has this id.")
}

fn read_only(detail: &str) -> ApiError {
    ApiError::unprocessable("read_only", detail.to_owned())
}

/// Columns a client can never write, whatever the collection.
const SERVER_COLUMNS: &[&str] = &[
    "id",
    "owner_id",
    "sync_state",
    "created_at",
    "updated_at",
    "deleted_at",
];

/// How a batch is applied (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Batch,
    OneByOne,
}

/// A record as this push knows it: its columns after the push's own writes (`None` while
/// it does not exist) and its merge state.
#[derive(Debug, Clone, Default)]
struct Record {
    columns: Option<Map<String, Value>>,
    state: RecordState,
}

/// A record written by this push, waiting to be flushed.
struct Pending {
    coll: &'static Collection,
    id: Uuid,
    insert: bool,
    values: Map<String, Value>,
}

/// Collections in the order their writes are flushed: referenced records first.
const FLUSH_ORDER: [&Collection; 6] = [
    &synced::EVENTS,
    &synced::CONTACTS,
    &synced::INTERACTIONS,
    &synced::REMINDERS,
    &synced::ATTENDANCES,
    &synced::PROFILE,
];

struct Push<'a> {
    ctx: &'a PushContext<'a>,
    region: Option<Region>,
    mode: Mode,
    scope: Option<(Vec<Uuid>, Vec<Uuid>)>,
    records: HashMap<(&'static str, Uuid), Record>,
    pending: Vec<Pending>,
    conflicts: Vec<NewConflict>,
    /// Contacts this push deleted, whose interactions and reminders are deleted at flush.
    deleted_contacts: Vec<Uuid>,
    /// Events whose places this push freed (with their capacity), whose waitlist moves up
    /// at flush.
    freed_places: Vec<(Uuid, Option<i32>)>,
    /// The side effects owed once the records are written (see [`Effects`]).
    effects: Effects,
}

/// The domain's side effects of a push, run after its records are written, as the REST
/// routes run them after theirs.
#[derive(Debug, Default)]
struct Effects {
    /// Contacts whose interactions changed: last contact time and keep-in-touch reminder.
    interactions_of: BTreeSet<Uuid>,
    /// Contacts whose cadence or name changed: their keep-in-touch reminder.
    cadence_of: BTreeSet<Uuid>,
}

/// Applies `mutations` in order for `ctx.device`, in one transaction.
pub fn push(
    conn: &mut PgConnection,
    ctx: &PushContext,
    mutations: Vec<Value>,
) -> Result<PushAnswer, ApiError> {
    conn.transaction(|conn| {
        let last = db::sync::lock_device(conn, ctx.user, ctx.device)?.ok_or(ApiError::NotFound)?;
        let user = db::users::find(conn, ctx.user)?;
        let region = user
            .region
            .as_deref()
            .and_then(|r| Region::parse(r).ok())
            .or_else(|| Region::from_locale(&user.locale));
        let batch = conn.transaction(|conn| Push::new(ctx, region, Mode::Batch).apply(conn, &mutations, last));
        let (results, last) = match batch {
            Ok(done) => done,
            Err(e) => {
                tracing::info!(error = %e, "batched push refused by the database; applying it one mutation at a time");
                Push::new(ctx, region, Mode::OneByOne).apply(conn, &mutations, last)?
            }
        };
        db::sync::set_device_last_mutation(conn, ctx.device, last)?;
        Ok(PushAnswer {
            results,
            last_mutation_id: last,
        })
    })
}

fn is_constraint(e: &diesel::result::Error) -> bool {
    use diesel::result::DatabaseErrorKind as K;
    matches!(
        e,
        diesel::result::Error::DatabaseError(
            K::UniqueViolation | K::ForeignKeyViolation | K::NotNullViolation | K::CheckViolation,
            _
        )
    )
}

impl<'a> Push<'a> {
    fn new(ctx: &'a PushContext<'a>, region: Option<Region>, mode: Mode) -> Self {
        Push {
            ctx,
            region,
            mode,
            scope: None,
            records: HashMap::new(),
            pending: Vec::new(),
            conflicts: Vec::new(),
            deleted_contacts: Vec::new(),
            freed_places: Vec::new(),
            effects: Effects::default(),
        }
    }

    /// Applies the batch after `last`: the result of each mutation and the new last id.
    fn apply(
        mut self,
        conn: &mut PgConnection,
        mutations: &[Value],
        mut last: i64,
    ) -> Result<(Vec<MutationResult>, i64), diesel::result::Error> {
        if self.mode == Mode::Batch {
            self.lock_named_records(conn, mutations)?;
        }
        let mut results = Vec::with_capacity(mutations.len());
        for wire in mutations {
            let given = wire.get("mutation_id").and_then(Value::as_u64);
            let Some(id) = given.filter(|id| (1..=MAX_MUTATION_ID).contains(id)) else {
                // Past 2^53 a JavaScript client cannot even hold its own ids exactly; taking
                // one would make every later id of the device look like a replay.
                let error = ApiError::unprocessable(
                    "invalid_mutation_id",
                    format!(
                        "Each mutation needs a `mutation_id`, a whole number from 1 to {MAX_MUTATION_ID}."
                    ),
                );
                results.push(MutationResult::rejected(given, &error));
                continue;
            };
            let signed = i64::try_from(id).unwrap_or(i64::MAX);
            if signed <= last {
                results.push(MutationResult::duplicate(id));
                continue;
            }
            results.push(self.one(conn, id, wire)?);
            last = signed;
        }
        if self.mode == Mode::Batch {
            self.flush(conn)?;
            if let Err(e) = self.run_effects(conn) {
                // Applied one by one, a failing side effect rejects its own mutation only.
                tracing::warn!(error = %e, "a side effect of a batched push failed");
                return Err(diesel::result::Error::RollbackTransaction);
            }
        }
        Ok((results, last))
    }

    /// The domain's side effects of what this push wrote (see [`Effects`]).
    fn run_effects(&mut self, conn: &mut PgConnection) -> Result<(), ApiError> {
        let effects = std::mem::take(&mut self.effects);
        let user = self.ctx.user;
        for contact in &effects.interactions_of {
            contacts::after_interactions_changed(conn, user, *contact)?;
        }
        for contact in effects.cadence_of.difference(&effects.interactions_of) {
            match db::contacts::find_by_id_and_owner(conn, user, *contact) {
                Ok(row) => contacts::refresh_keep_in_touch(conn, user, &row)?,
                Err(diesel::result::Error::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The effects wrote outside sync; take their writes into the merge state now, so the
        // records keep a pull view (as rows written by the push itself do).
        for contact in effects.interactions_of.union(&effects.cadence_of) {
            synced::settle(conn, &synced::CONTACTS, user, *contact)?;
            if let Some(reminder) = db::reminders::find_keep_in_touch(conn, user, *contact)? {
                synced::settle(conn, &synced::REMINDERS, user, reminder.id)?;
            }
        }
        Ok(())
    }

    /// Locks every record the batch names, and the contacts it refers to, so merging reads
    /// them from memory.
    fn lock_named_records(
        &mut self,
        conn: &mut PgConnection,
        mutations: &[Value],
    ) -> Result<(), diesel::result::Error> {
        let mut wanted: HashMap<&'static str, Vec<Uuid>> = HashMap::new();
        for wire in mutations.iter().filter_map(Value::as_object) {
            let coll = wire
                .get("collection")
                .and_then(Value::as_str)
                .and_then(synced::collection);
            if let (Some(coll), Some(id)) = (coll, uuid_of(wire, "id")) {
                wanted.entry(coll.name).or_default().push(id);
            }
            let fields = wire.get("fields").and_then(Value::as_object);
            if let Some(contact) = fields.and_then(|f| uuid_of(f, "contact_id")) {
                wanted.entry(synced::CONTACTS.name).or_default().push(contact);
            }
        }
        if let Some(ids) = wanted.get(synced::ATTENDANCES.name) {
            // Event first, as every flow that changes places locks it.
            db::events::lock_of_attendances(conn, ids)?;
        }
        for coll in synced::COLLECTIONS {
            let Some(mut ids) = wanted.remove(coll.name) else {
                continue;
            };
            ids.sort_unstable();
            ids.dedup();
            for row in db::sync::lock_rows(conn, coll, &ids)? {
                let Some(id) = uuid_of(&row.meta, coll.key) else {
                    continue;
                };
                self.records.insert((coll.name, id), Self::known(row));
            }
            for id in ids {
                self.records.entry((coll.name, id)).or_default();
            }
        }
        Ok(())
    }

    fn known(row: db::sync::SyncedRow) -> Record {
        Record {
            state: stored_state(row.state.as_deref()),
            columns: Some(row.into_columns()),
        }
    }

    /// The record as this push knows it, read and locked if it is not known yet.
    fn record(
        &mut self,
        conn: &mut PgConnection,
        coll: &'static Collection,
        id: Uuid,
    ) -> Result<Record, Fail> {
        if let Some(record) = self.records.get(&(coll.name, id)) {
            return Ok(record.clone());
        }
        if coll.access == Access::Attendance {
            db::events::lock_of_attendances(conn, &[id])?;
        }
        let record = db::sync::lock_row(conn, coll, id)?
            .map(Self::known)
            .unwrap_or_default();
        self.records.insert((coll.name, id), record.clone());
        Ok(record)
    }

    fn one(
        &mut self,
        conn: &mut PgConnection,
        id: u64,
        wire: &Value,
    ) -> Result<MutationResult, diesel::result::Error> {
        let mutation = match self.prepare(wire) {
            Ok(m) => m,
            Err(e) => return Ok(MutationResult::rejected(Some(id), &e)),
        };
        let outcome = match self.mode {
            Mode::Batch => self.merge(conn, mutation),
            Mode::OneByOne => {
                // Read from the database each time: a rolled-back savepoint leaves nothing
                // this push could remember.
                self.records.clear();
                let outcome = conn.transaction(|conn| {
                    let applied = self.merge(conn, mutation)?;
                    self.flush(conn)?;
                    self.run_effects(conn)?;
                    Ok(applied)
                });
                if outcome.is_err() {
                    self.pending.clear();
                    self.conflicts.clear();
                    self.deleted_contacts.clear();
                    self.freed_places.clear();
                    self.effects = Effects::default();
                    self.scope = None;
                }
                outcome
            }
        };
        match outcome {
            Ok(true) => Ok(MutationResult::applied(id)),
            Ok(false) => Ok(MutationResult::duplicate(id)),
            Err(Fail::Rejected(e)) => Ok(MutationResult::rejected(Some(id), &e)),
            Err(Fail::Db(e)) if self.mode == Mode::OneByOne && is_constraint(&e) => {
                tracing::info!(error = %e, "pushed mutation refused by a constraint");
                let error = ApiError::unprocessable(
                    "constraint_violated",
                    "The record would break a rule of its collection (a reference to a record that is not yours, a duplicate, or inconsistent fields).",
                );
                Ok(MutationResult::rejected(Some(id), &error))
            }
            Err(Fail::Db(e)) => Err(e),
        }
    }

    /// Writes the records this push changed: inserts then updates, collection by
    /// collection, the organizer's attendance of each new event, and the conflicts.
    fn flush(&mut self, conn: &mut PgConnection) -> Result<(), diesel::result::Error> {
        let pending = std::mem::take(&mut self.pending);
        for coll in FLUSH_ORDER {
            let mut states = Vec::new();
            for p in pending.iter().filter(|p| std::ptr::eq(p.coll, coll)) {
                let state = &self.records[&(coll.name, p.id)].state;
                let json = serde_json::value::to_raw_value(state)
                    .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
                states.push((p, json, PullView::text_of(coll, state), state.is_deleted()));
            }
            let rows = |insert: bool| -> Vec<RowWrite> {
                states
                    .iter()
                    .filter(|(p, ..)| p.insert == insert)
                    .map(|(p, state, view, deleted)| RowWrite {
                        id: p.id,
                        owner: self.ctx.user,
                        values: &p.values,
                        write: StateWrite { state, view },
                        deleted: *deleted,
                    })
                    .collect()
            };
            let (inserts, updates) = (rows(true), rows(false));
            if !inserts.is_empty() {
                db::sync::insert_rows(conn, coll, &inserts)?;
                if coll.access == Access::Event {
                    for row in &inserts {
                        let code = crate::domain::new_checkin_code();
                        db::sync::insert_organizer_attendance(conn, row.id, self.ctx.user, &code)?;
                    }
                }
            }
            if !updates.is_empty() {
                db::sync::update_rows(conn, coll, &updates)?;
            }
        }
        let deleted_contacts = std::mem::take(&mut self.deleted_contacts);
        if !deleted_contacts.is_empty() {
            db::interactions::delete_for_contacts(conn, self.ctx.user, &deleted_contacts)?;
            db::reminders::delete_for_contacts(conn, self.ctx.user, &deleted_contacts)?;
        }
        let freed = std::mem::take(&mut self.freed_places);
        for (event, capacity) in &freed {
            attendances::free_places(conn, *event, *capacity)?;
        }
        if !freed.is_empty() {
            // Promoted attendances changed behind this push's back: read them again.
            self.records
                .retain(|(coll, _), _| *coll != synced::ATTENDANCES.name);
        }
        db::sync::insert_conflicts(conn, &std::mem::take(&mut self.conflicts))?;
        Ok(())
    }

    /// The checks that need no database: shape, stamp, fields, set elements.
    fn prepare(&self, wire: &Value) -> Result<Mutation, ApiError> {
        let mut mutation = self
            .ctx
            .schema
            .decode(wire)
            .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
        if Uuid::parse_str(&mutation.id).is_err() {
            return Err(ApiError::unprocessable(
                "invalid_id",
                "The record id must be a UUID.",
            ));
        }
        if mutation.hlc.node != self.ctx.device.as_u128() {
            return Err(ApiError::unprocessable(
                "stamp_device_mismatch",
                "The stamp's node must be the pushing device's id.",
            ));
        }
        if let Err(e) = check_skew(mutation.hlc, self.ctx.now_ms, self.ctx.max_skew_ms) {
            return Err(ApiError::unprocessable(
                "stamp_too_far_ahead",
                format!(
                    "The stamp is {} ms ahead of the server's clock (at most {} ms allowed): correct the device clock and stamp the edit again.",
                    e.stamp.millis.saturating_sub(e.server_now_ms),
                    e.max_skew_ms
                ),
            ));
        }
        let coll = synced::collection(&mutation.collection).ok_or_else(unavailable)?;
        let mut errors = FieldErrors::new();
        let mut extra = 0;
        for (name, change) in mutation.fields.iter_mut() {
            if coll.is_derived(name) || SERVER_COLUMNS.contains(&name.as_str()) {
                return Err(read_only(&format!("`{name}` is set by the server.")));
            }
            if coll.field(name).is_none() {
                extra += 1;
                if let Err(e) = synced::extra_field(name, change) {
                    errors.add(name.as_str(), e.code, e.message);
                }
            }
            if let (Some(field), FieldChange::Set { add, remove }) = (coll.field(name), change) {
                if let Ty::Set(elem) = field.ty {
                    for (i, v) in add.iter_mut().chain(remove.iter_mut()).enumerate() {
                        match element(elem, v, self.region) {
                            Ok(normal) => *v = normal,
                            Err(e) => errors.add(format!("{name}[{i}]"), e.code, e.message),
                        }
                    }
                }
            }
        }
        if extra > MAX_EXTRA_FIELDS {
            errors.add(
                "fields",
                "too_many_fields",
                format!("at most {MAX_EXTRA_FIELDS} fields this server does not know in one record"),
            );
        }
        // A NUL anywhere (a value, a merge base, the envelope) is refused for this mutation
        // alone, as REST refuses it (the HTTP layer leaves a push's mutations to this check);
        // a field's value is named by the field, as REST names it.
        for path in nul_paths(wire) {
            let path = path.strip_prefix("fields.").unwrap_or(&path);
            let path = path.strip_suffix(".value").unwrap_or(path);
            errors.add(path, "nul_character", "must not contain a NUL character");
        }
        errors.into_result()?;
        Ok(mutation)
    }

    fn scope(&mut self, conn: &mut PgConnection) -> Result<&(Vec<Uuid>, Vec<Uuid>), Fail> {
        if self.scope.is_none() {
            self.scope = Some(db::sync::scope_events(conn, self.ctx.user)?);
        }
        self.scope
            .as_ref()
            .ok_or_else(|| Fail::Rejected(ApiError::internal("scope missing")))
    }

    /// Who may write this record: refuses what the user may not touch.
    fn check_access(
        &mut self,
        conn: &mut PgConnection,
        coll: &Collection,
        id: Uuid,
        row: Option<&Map<String, Value>>,
        mutation: &Mutation,
    ) -> Result<Option<Actor>, Fail> {
        let me = self.ctx.user;
        match coll.access {
            Access::Owned => {
                if row.is_some_and(|r| uuid_of(r, "owner_id") != Some(me)) {
                    return Err(unavailable().into());
                }
            }
            Access::Profile => {
                if id != me {
                    return Err(unavailable().into());
                }
                if mutation.op != Op::Upsert {
                    return Err(ApiError::unprocessable(
                        "not_deletable",
                        "The profile card cannot be deleted.",
                    )
                    .into());
                }
            }
            Access::Event => {
                if let Some(row) = row {
                    if uuid_of(row, "organizer_id") != Some(me) {
                        let (events, _) = self.scope(conn)?;
                        return Err(if events.contains(&id) {
                            read_only("Only the organizer can change an event.")
                        } else {
                            unavailable()
                        }
                        .into());
                    }
                }
            }
            Access::Attendance => {
                let Some(row) = row else {
                    return Err(ApiError::unprocessable(
                        "not_supported",
                        "Attendances are created by joining an event or by its organizer.",
                    )
                    .into());
                };
                let event = uuid_of(row, "event_id");
                let (events, organised) = self.scope(conn)?;
                let organizer = event.is_some_and(|e| organised.contains(&e));
                let member = event.is_some_and(|e| events.contains(&e));
                let own = uuid_of(row, "user_id") == Some(me);
                let (allowed, actor): (&[&str], _) = if organizer {
                    (&["status", "role"], Actor::Organizer)
                } else if own {
                    (&["status", "share_profile"], Actor::Attendee)
                } else if member {
                    return Err(read_only("Only the organizer can change another attendance.").into());
                } else {
                    return Err(unavailable().into());
                };
                if mutation.op != Op::Upsert {
                    return Err(read_only("Attendances are cancelled through their status.").into());
                }
                let organizer_role = row.get("role").and_then(Value::as_str) == Some("organizer");
                for (name, change) in &mutation.fields {
                    let makes_organizer = matches!(change, FieldChange::Scalar(v) if v == "organizer");
                    if !allowed.contains(&name.as_str())
                        || (name == "role" && (organizer_role || makes_organizer))
                    {
                        return Err(read_only(&format!("`{name}` cannot be changed here.")).into());
                    }
                }
                return Ok(Some(actor));
            }
        }
        Ok(None)
    }

    /// Merges one mutation into its record and writes it back. `Ok(false)` for a replay.
    fn merge(&mut self, conn: &mut PgConnection, mut mutation: Mutation) -> Result<bool, Fail> {
        let coll = synced::collection(&mutation.collection).ok_or_else(unavailable)?;
        let schema = self.ctx.schema.get(coll.name).ok_or_else(unavailable)?;
        let id = Uuid::parse_str(&mutation.id).map_err(|_| unavailable())?;
        let Record {
            columns: row,
            mut state,
        } = self.record(conn, coll, id)?;
        let actor = self.check_access(conn, coll, id, row.as_ref(), &mutation)?;
        if row.is_none() && mutation.op == Op::Delete && coll.access != Access::Profile {
            // Deleting what the server never had: nothing to do.
            return Ok(true);
        }
        let mut conflicts = match &row {
            Some(row) => reconcile(coll, schema, &mut state, row),
            None => Vec::new(),
        };
        if row.is_none() && mutation.op == Op::Upsert {
            for field in coll.fields {
                if let Some(default) = field.default {
                    mutation
                        .fields
                        .entry(field.name.to_owned())
                        .or_insert_with(|| FieldChange::Scalar(Value::String(default.to_owned())));
                }
            }
        }
        let outcome = merge_owned(&mut state, mutation, schema)
            .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
        if outcome.duplicate {
            return Ok(false);
        }
        state.forget_applied_before(self.ctx.replay_horizon_ms);
        conflicts.extend(outcome.conflicts);
        synced::check_extra_fields(coll, &state)?;
        let mut server_columns = Map::new();
        if let (Some(actor), Some(row)) = (actor, &row) {
            if outcome.changed_fields.iter().any(|f| f == "status") {
                self.decide_attendance_status(conn, actor, row, &mut state, &mut server_columns)?;
            }
        }

        let mut values = Map::new();
        let mut errors = FieldErrors::new();
        for field in coll.fields {
            match state.fields.get_mut(field.name) {
                Some(fs) => match column_value(field.ty, &fs.value(), self.region) {
                    Ok(column) => {
                        // The register keeps the value as stored, so reconcile sees no edit.
                        if let FieldState::Scalar(s) = fs {
                            s.value = column.clone();
                        }
                        values.insert(field.name.to_owned(), column);
                    }
                    Err(e) => errors.add(field.name, e.code, e.message),
                },
                None if row.is_none() && coll.required.contains(&field.name) => {
                    errors.add(field.name, "required", "is required to create the record")
                }
                None => {}
            }
        }
        errors.into_result()?;
        values.extend(server_columns);
        self.check_references(conn, coll, &values, &outcome.changed_fields)?;
        self.derive(coll, row.as_ref(), &mut values, &outcome.changed_fields)?;
        self.note_effects(coll, id, row.as_ref(), &values, &outcome.changed_fields);

        let user = self.ctx.user;
        self.conflicts
            .extend(conflicts.into_iter().map(|c| conflict_row(user, coll, id, c)));
        if row.is_none() && coll.access == Access::Event {
            // Its organizer is now a member: later mutations may refer to it.
            self.scope(conn)?;
            if let Some((events, organised)) = &mut self.scope {
                events.push(id);
                organised.push(id);
            }
        }
        let was_alive = row
            .as_ref()
            .is_some_and(|r| r.get("deleted_at").is_none_or(Value::is_null));
        if std::ptr::eq(coll, &synced::CONTACTS) && was_alive && state.is_deleted() {
            // As the REST delete does: the contact's interactions and reminders go with it.
            self.deleted_contacts.push(id);
        }
        self.remember_write(coll, id, row, values, state);
        Ok(true)
    }

    /// Decides a pushed attendance status by the rules the REST API obeys
    /// ([`attendances::decide_status`]): the merged register takes the status the rules
    /// give, `server_columns` the check-in time, and a freed place moves the waitlist at
    /// flush. Places are counted with the event locked and this push's earlier writes
    /// flushed, as each REST request sees the ones before it.
    fn decide_attendance_status(
        &mut self,
        conn: &mut PgConnection,
        actor: Actor,
        row: &Map<String, Value>,
        state: &mut RecordState,
        server_columns: &mut Map<String, Value>,
    ) -> Result<(), Fail> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let current_status = text(row.get("status"));
        let requested = text(state.value("status").as_ref());
        let decision = attendances::decide_status(
            actor,
            Current {
                status: &current_status,
                role: &text(row.get("role")),
            },
            &requested,
        )?;
        let event = uuid_of(row, "event_id").ok_or_else(unavailable)?;
        self.flush(conn)?;
        let capacity = attendances::lock_event(conn, event)?.ok_or_else(unavailable)?;
        let full = decision == Decision::Register && attendances::is_full(conn, event, capacity)?;
        let status = match decision.resolve(full) {
            None => current_status,
            Some(change) => {
                match change.checked_in_at {
                    CheckIn::Keep => {}
                    CheckIn::Clear => {
                        server_columns.insert("checked_in_at".into(), Value::Null);
                    }
                    CheckIn::Now if row.get("checked_in_at").is_some_and(|v| !v.is_null()) => {}
                    CheckIn::Now => {
                        server_columns.insert(
                            "checked_in_at".into(),
                            Value::String(chrono::Utc::now().to_rfc3339()),
                        );
                    }
                }
                if change.frees_place {
                    self.freed_places.push((event, capacity));
                }
                change.status.to_owned()
            }
        };
        if let Some(FieldState::Scalar(register)) = state.fields.get_mut("status") {
            register.value = Value::String(status);
        }
        Ok(())
    }

    /// Notes the side effects a written record owes (run by [`Push::run_effects`]).
    fn note_effects(
        &mut self,
        coll: &Collection,
        id: Uuid,
        row: Option<&Map<String, Value>>,
        values: &Map<String, Value>,
        changed: &[String],
    ) {
        let changed = |name: &str| changed.iter().any(|c| c == name);
        if std::ptr::eq(coll, &synced::INTERACTIONS) {
            // Logged, edited, moved to another contact, deleted or restored: both contacts.
            let before = row.and_then(|r| uuid_of(r, "contact_id"));
            let after = uuid_of(values, "contact_id");
            self.effects
                .interactions_of
                .extend(before.into_iter().chain(after));
        } else if std::ptr::eq(coll, &synced::CONTACTS)
            && (changed("keep_in_touch_days") || (changed("name") && row.is_some()))
        {
            self.effects.cadence_of.insert(id);
        } else if std::ptr::eq(coll, &synced::EVENTS) && row.is_some() && changed("capacity") {
            // More places (or no limit any more): the waitlist moves up.
            let capacity = values.get("capacity").and_then(Value::as_i64);
            self.freed_places
                .push((id, capacity.and_then(|c| i32::try_from(c).ok())));
        }
    }

    /// Takes a merged record into what this push knows, and queues its write.
    fn remember_write(
        &mut self,
        coll: &'static Collection,
        id: Uuid,
        row: Option<Map<String, Value>>,
        values: Map<String, Value>,
        state: RecordState,
    ) {
        let insert = row.is_none();
        let mut columns = row.unwrap_or_else(|| {
            let mut new = Map::new();
            new.insert(coll.key.to_owned(), Value::String(id.to_string()));
            if let Some(owner) = coll.owner_column() {
                new.insert(owner.to_owned(), Value::String(self.ctx.user.to_string()));
            }
            new
        });
        columns.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        if coll.deletable {
            let deleted_at = match (state.is_deleted(), columns.remove("deleted_at")) {
                (true, Some(at)) if !at.is_null() => at,
                (true, _) => Value::String(chrono::Utc::now().to_rfc3339()),
                (false, _) => Value::Null,
            };
            columns.insert("deleted_at".to_owned(), deleted_at);
        }
        match self
            .pending
            .iter_mut()
            .find(|p| std::ptr::eq(p.coll, coll) && p.id == id)
        {
            Some(pending) => pending.values.extend(values),
            None => self.pending.push(Pending {
                coll,
                id,
                insert,
                values,
            }),
        }
        self.records.insert(
            (coll.name, id),
            Record {
                columns: Some(columns),
                state,
            },
        );
    }

    /// References to other records must stay within the user's own records and events.
    fn check_references(
        &mut self,
        conn: &mut PgConnection,
        coll: &Collection,
        values: &Map<String, Value>,
        changed: &[String],
    ) -> Result<(), Fail> {
        let mut errors = FieldErrors::new();
        for name in changed {
            let Some(target) = values.get(name).and_then(Value::as_str) else {
                continue;
            };
            let Ok(target) = Uuid::parse_str(target) else {
                continue;
            };
            let ok = match (coll.name, name.as_str()) {
                (_, "contact_id") => match self.records.get(&(synced::CONTACTS.name, target)) {
                    // Known to this push (locked with the batch, or written by it).
                    Some(contact) => contact.columns.as_ref().is_some_and(|c| {
                        uuid_of(c, "owner_id") == Some(self.ctx.user)
                            && c.get("deleted_at").is_none_or(Value::is_null)
                    }),
                    None => db::sync::owns_contact(conn, self.ctx.user, target)?,
                },
                (_, "event_id") | ("contacts", "met_at_event_id") => self.scope(conn)?.0.contains(&target),
                _ => true,
            };
            if !ok {
                errors.add(
                    name.as_str(),
                    "unknown_reference",
                    "no record of yours has this id",
                );
            }
        }
        Ok(errors.into_result()?)
    }

    /// Columns the server computes from the synced ones.
    fn derive(
        &self,
        coll: &Collection,
        row: Option<&Map<String, Value>>,
        values: &mut Map<String, Value>,
        changed: &[String],
    ) -> Result<(), Fail> {
        match coll.name {
            "reminders" => {
                let local = values.get("due_local").and_then(|v| synced::local(v).ok());
                let zone = values
                    .get("timezone")
                    .and_then(Value::as_str)
                    .and_then(|z| TimeZone::parse(z).ok());
                if let (Some(local), Some(zone)) = (local, zone) {
                    let at = resolve_local(local, zone).map_err(|e| ApiError::invalid("due_local", e))?;
                    values.insert("due_at".into(), Value::String(at.to_rfc3339()));
                }
            }
            "events" if row.is_none() => {
                values.insert("join_code".into(), Value::String(crate::domain::new_join_code()));
            }
            "attendances" if changed.iter().any(|c| c == "share_profile") => {
                let shares = values.get("share_profile").and_then(Value::as_bool) == Some(true);
                values.insert(
                    "share_profile_at".into(),
                    if shares {
                        Value::String(chrono::Utc::now().to_rfc3339())
                    } else {
                        Value::Null
                    },
                );
            }
            _ => {}
        }
        Ok(())
    }
}

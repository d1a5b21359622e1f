//! The per-record merge state and [`merge`], which applies one mutation to it.
//!
//! [`RecordState`] is what the api stores next to the row (as JSONB): the existence
//! register, one merge state per field, and the stamps of the mutations already applied.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::conflict::{Conflict, ConflictKind, EXISTENCE_FIELD};
use crate::hlc::Hlc;
use crate::mutation::{FieldChange, Mutation, MutationError, Op};
use crate::schema::{CollectionSchema, FieldKind};
use crate::set::{SetElement, SetField};
use crate::text::merge3;

/// A last-writer-wins register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalarField {
    /// The winning value.
    pub value: Value,
    /// Its stamp.
    pub stamp: Hlc,
}

/// A text field's merged text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextField {
    /// The text with every applied edit merged in.
    pub value: String,
    /// The greatest stamp of the edits merged in.
    pub stamp: Hlc,
}

/// The merge state of one field, tagged with its kind in JSON (`{"kind": "scalar", …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldState {
    /// See [`ScalarField`].
    Scalar(ScalarField),
    /// See [`SetField`].
    Set(SetField),
    /// See [`TextField`].
    Text(TextField),
}

impl FieldState {
    fn empty(kind: FieldKind) -> Self {
        match kind {
            FieldKind::Scalar => FieldState::Scalar(ScalarField {
                value: Value::Null,
                stamp: Hlc::zero(),
            }),
            FieldKind::Set => FieldState::Set(SetField::default()),
            FieldKind::Text => FieldState::Text(TextField {
                value: String::new(),
                stamp: Hlc::zero(),
            }),
        }
    }

    /// The field's kind.
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldState::Scalar(_) => FieldKind::Scalar,
            FieldState::Set(_) => FieldKind::Set,
            FieldState::Text(_) => FieldKind::Text,
        }
    }

    /// The field's value in the pull format: scalar value, array of set elements, text.
    pub fn value(&self) -> Value {
        match self {
            FieldState::Scalar(s) => s.value.clone(),
            FieldState::Set(s) => Value::Array(s.values()),
            FieldState::Text(t) => Value::String(t.value.clone()),
        }
    }

    /// The field's stamp in the pull format: greatest stamp merged into it.
    pub fn stamp(&self) -> Hlc {
        match self {
            FieldState::Scalar(s) => s.stamp,
            FieldState::Set(s) => s.stamp(),
            FieldState::Text(t) => t.stamp,
        }
    }

    /// Re-reads a field stored under another kind (the schema declared a field that older
    /// app versions sent as an unknown scalar). Its content and stamp are carried over.
    fn converted(self, kind: FieldKind) -> Self {
        let stamp = self.stamp();
        let value = self.value();
        match kind {
            FieldKind::Scalar => FieldState::Scalar(ScalarField { value, stamp }),
            FieldKind::Text => FieldState::Text(TextField {
                value: match value {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                },
                stamp,
            }),
            FieldKind::Set => {
                let items = match value {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    other => vec![other],
                };
                let mut set = SetField::default();
                for v in items {
                    set.elements.insert(
                        crate::schema::normalise_key(&v),
                        SetElement {
                            value: v,
                            added: Some(stamp),
                            removed: None,
                        },
                    );
                }
                FieldState::Set(set)
            }
        }
    }
}

/// The existence register: a last-writer-wins register over {alive, deleted}, written only
/// by `delete` and `restore`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Existence {
    /// Whether the record is a tombstone.
    pub deleted: bool,
    /// Stamp of the winning delete or restore; zero if neither ever arrived.
    pub stamp: Hlc,
}

/// Everything the engine keeps about one record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordState {
    /// Deleted or alive.
    pub existence: Existence,
    /// Merge state per field, unknown fields included.
    pub fields: BTreeMap<String, FieldState>,
    /// Stamps of every mutation applied to this record, so a replay is recognised (see the
    /// crate docs, "Idempotence").
    pub applied: BTreeSet<Hlc>,
}

/// What one [`merge`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeOutcome {
    /// The mutation had already been applied: nothing changed, nothing reported.
    pub duplicate: bool,
    /// The record was deleted or restored by this mutation.
    pub existence_changed: bool,
    /// Fields whose value or stamp changed, in name order.
    pub changed_fields: Vec<String>,
    /// Automatic choices a user may want to see or undo.
    pub conflicts: Vec<Conflict>,
}

impl MergeOutcome {
    /// Whether anything in the record changed (the api bumps the row's revision then).
    pub fn changed(&self) -> bool {
        self.existence_changed || !self.changed_fields.is_empty()
    }
}

/// The record as the pull format shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedRecord {
    /// Tombstone flag.
    pub deleted: bool,
    /// Field values (a deleted record keeps its fields, for a restore).
    pub record: Map<String, Value>,
    /// Per-field stamps.
    pub stamps: BTreeMap<String, Hlc>,
}

impl RecordState {
    /// A record the server has not seen yet.
    pub fn new() -> Self {
        RecordState::default()
    }

    /// Whether the record is currently a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.existence.deleted
    }

    /// Forgets the replay stamps of mutations stamped before `horizon_ms` (Unix ms) and
    /// answers how many were dropped, so the replay guard stays bounded for a record edited
    /// for years. Safe once the server's own dedup by per-device `mutation_id` covers replays
    /// of that age: a mutation older than the horizon that was never applied still merges
    /// normally (its stamp is simply not in the set), and every field keeps its stamp, so
    /// registers and sets decide exactly as before.
    pub fn forget_applied_before(&mut self, horizon_ms: u64) -> usize {
        let before = self.applied.len();
        self.applied = self.applied.split_off(&Hlc {
            millis: horizon_ms,
            counter: 0,
            node: 0,
        });
        before - self.applied.len()
    }

    /// The record and its per-field stamps, for pull.
    pub fn render(&self) -> RenderedRecord {
        RenderedRecord {
            deleted: self.existence.deleted,
            record: self.fields.iter().map(|(k, f)| (k.clone(), f.value())).collect(),
            stamps: self.fields.iter().map(|(k, f)| (k.clone(), f.stamp())).collect(),
        }
    }

    /// The value of one field in the pull format, if it was ever written.
    pub fn value(&self, field: &str) -> Option<Value> {
        self.fields.get(field).map(FieldState::value)
    }
}

/// Applies `mutation` to `state` and reports what it decided.
///
/// The mutation is first checked against `schema` ([`Mutation::check`]). A mutation whose
/// stamp was already applied to this record is a no-op (`duplicate`). Otherwise:
///
/// - `delete` / `restore` write the existence register (later stamp wins);
/// - each field change is merged by its kind's rule: [`merge_scalar`], the set rule
///   ([`SetField::add`], [`SetField::remove`]) or [`merge_text`];
/// - field changes are applied even when the record is deleted (see [`merge`]'s
///   `delete_edit` rule in the crate docs), so a later restore brings them back.
///
/// [`merge_owned`] does the same and gives the same result, consuming the mutation so that
/// winning values are moved into the state instead of cloned; prefer it when the mutation is
/// not needed afterwards (the server's push path).
pub fn merge(
    state: &mut RecordState,
    mutation: &Mutation,
    schema: &CollectionSchema,
) -> Result<MergeOutcome, MutationError> {
    let Some(mut outcome) = begin(state, mutation, schema)? else {
        return Ok(duplicate());
    };
    merge_fields(state, &mutation.fields, mutation.hlc, &mut outcome);
    Ok(outcome)
}

/// [`merge`], consuming the mutation: same checks, same state, same outcome (conflicts and
/// changed fields in the same order), fewer allocations. A scalar that wins is moved into
/// the register rather than cloned, a scalar that loses is moved into its conflict, and the
/// mutation's field names are moved into [`MergeOutcome::changed_fields`]. This is the path
/// the server's push handler calls, and the one the `scalar` benchmark measures.
///
/// ```
/// use serde_json::json;
/// use sync_core::{merge_owned, CollectionSchema, FieldChange, Hlc, Mutation, Op, RecordState};
///
/// let schema = CollectionSchema::new("contacts");
/// let edit = |name: &str, node: u128, millis: u64| Mutation {
///     mutation_id: millis,
///     collection: "contacts".into(),
///     id: "c1".into(),
///     op: Op::Upsert,
///     hlc: Hlc::new(millis, 0, node).unwrap(),
///     fields: [("name".to_owned(), FieldChange::Scalar(json!(name)))].into(),
/// };
/// let mut state = RecordState::new();
/// merge_owned(&mut state, edit("Lise", 0xa, 1), &schema)?;
/// let outcome = merge_owned(&mut state, edit("Lise Cardinal", 0xb, 2), &schema)?;
/// assert_eq!(outcome.changed_fields, ["name"]);
/// assert_eq!(outcome.conflicts[0].lost, json!("Lise"));
/// assert_eq!(state.value("name"), Some(json!("Lise Cardinal")));
/// # Ok::<(), sync_core::MutationError>(())
/// ```
pub fn merge_owned(
    state: &mut RecordState,
    mutation: Mutation,
    schema: &CollectionSchema,
) -> Result<MergeOutcome, MutationError> {
    let Some(mut outcome) = begin(state, &mutation, schema)? else {
        return Ok(duplicate());
    };
    let stamp = mutation.hlc;
    merge_fields(state, mutation.fields, stamp, &mut outcome);
    Ok(outcome)
}

fn duplicate() -> MergeOutcome {
    MergeOutcome {
        duplicate: true,
        ..MergeOutcome::default()
    }
}

/// The part of a merge before the fields: check, replay guard, existence. `None` for a
/// mutation already applied.
fn begin(
    state: &mut RecordState,
    mutation: &Mutation,
    schema: &CollectionSchema,
) -> Result<Option<MergeOutcome>, MutationError> {
    mutation.check(schema)?;
    if !state.applied.insert(mutation.hlc) {
        return Ok(None);
    }
    let mut outcome = MergeOutcome {
        changed_fields: Vec::with_capacity(mutation.fields.len()),
        ..MergeOutcome::default()
    };
    match mutation.op {
        Op::Upsert => {}
        Op::Delete => merge_delete(state, mutation.hlc, &mut outcome),
        Op::Restore => merge_restore(state, mutation.hlc, &mut outcome),
    }
    Ok(Some(outcome))
}

/// A field change as [`merge`] (borrowed) or [`merge_owned`] (owned) applies it.
trait Change {
    /// The field name; owned names are moved into [`MergeOutcome::changed_fields`].
    type Name: AsRef<str> + Into<String>;

    fn kind(&self) -> FieldKind;

    /// Applies the change to `field`, already of the change's kind.
    fn apply(self, name: &str, field: &mut FieldState, stamp: Hlc, conflicts: &mut Vec<Conflict>) -> bool;
}

impl<'m> Change for &'m FieldChange {
    type Name = &'m String;

    fn kind(&self) -> FieldKind {
        FieldChange::kind(self)
    }

    fn apply(self, name: &str, field: &mut FieldState, stamp: Hlc, conflicts: &mut Vec<Conflict>) -> bool {
        match (field, self) {
            (FieldState::Scalar(f), FieldChange::Scalar(v)) => merge_scalar(name, f, v, stamp, conflicts),
            (FieldState::Set(f), FieldChange::Set { add, remove }) => {
                merge_set(name, f, add, remove, stamp, conflicts)
            }
            (FieldState::Text(f), FieldChange::Text { base, value }) => {
                merge_text(name, f, base, value, stamp, conflicts)
            }
            // Kinds are aligned before a change is applied.
            _ => false,
        }
    }
}

impl Change for FieldChange {
    type Name = String;

    fn kind(&self) -> FieldKind {
        FieldChange::kind(self)
    }

    fn apply(self, name: &str, field: &mut FieldState, stamp: Hlc, conflicts: &mut Vec<Conflict>) -> bool {
        match (field, self) {
            (FieldState::Scalar(f), FieldChange::Scalar(v)) => {
                merge_scalar_owned(name, f, v, stamp, conflicts)
            }
            (FieldState::Set(f), FieldChange::Set { add, remove }) => {
                merge_set(name, f, &add, &remove, stamp, conflicts)
            }
            (FieldState::Text(f), FieldChange::Text { base, value }) => {
                merge_text(name, f, &base, &value, stamp, conflicts)
            }
            // Kinds are aligned before a change is applied.
            _ => false,
        }
    }
}

/// Applies every field change, in name order, to the record's fields.
///
/// Both maps are sorted by name, so unless the record has many more fields than the mutation
/// changes, the stored fields are walked in step with the changes (one name comparison per
/// field instead of a tree search with several); a field the record does not have yet is
/// inserted and the walk resumes after it.
fn merge_fields<C: Change>(
    state: &mut RecordState,
    changes: impl IntoIterator<Item = (C::Name, C), IntoIter: ExactSizeIterator>,
    stamp: Hlc,
    outcome: &mut MergeOutcome,
) {
    let changes = changes.into_iter();
    let mut remaining = changes.len();
    let deleted = state.existence.deleted;
    let sparse = state.fields.len() > 4 * remaining;
    let fields = &mut state.fields;
    let mut rest = fields.range_mut::<str, _>(..).peekable();
    for (name, change) in changes {
        let key = name.as_ref();
        let kind = change.kind();
        // Worst case every remaining field loses a race: grow once, not by doubling.
        if outcome.conflicts.len() == outcome.conflicts.capacity() && !outcome.conflicts.is_empty() {
            outcome.conflicts.reserve(remaining);
        }
        remaining -= 1;
        if sparse {
            rest = fields
                .range_mut::<str, _>((Bound::Included(key), Bound::Unbounded))
                .peekable();
        }
        // Skip the stored fields before `key`: one comparison per stored field.
        let found = loop {
            match rest.peek().map(|(k, _)| k.as_str().cmp(key)) {
                Some(Ordering::Less) => {
                    rest.next();
                }
                Some(Ordering::Equal) => break rest.next(),
                Some(Ordering::Greater) | None => break None,
            }
        };
        let (changed, value) = match found {
            Some((_, field)) => apply(change, key, kind, field, stamp, deleted, outcome),
            None => {
                let field = fields
                    .entry(key.to_owned())
                    .or_insert_with(|| FieldState::empty(kind));
                let done = apply(change, key, kind, field, stamp, deleted, outcome);
                rest = fields
                    .range_mut::<str, _>((Bound::Excluded(key), Bound::Unbounded))
                    .peekable();
                done
            }
        };
        if let Some(value) = value {
            outcome.conflicts.push(Conflict::new(
                key,
                ConflictKind::DeleteEdit,
                json!({ "deleted": true }),
                value,
                stamp,
            ));
        }
        if changed {
            outcome.changed_fields.push(name.into());
        }
    }
}

/// Aligns `field` to the change's kind and applies the change. Returns whether the field
/// changed and, if it did while the record is deleted, its value for the `delete_edit`
/// conflict.
fn apply<C: Change>(
    change: C,
    name: &str,
    kind: FieldKind,
    field: &mut FieldState,
    stamp: Hlc,
    deleted: bool,
    outcome: &mut MergeOutcome,
) -> (bool, Option<Value>) {
    align(field, kind);
    let changed = change.apply(name, field, stamp, &mut outcome.conflicts);
    let value = (changed && deleted).then(|| field.value());
    (changed, value)
}

/// Brings a stored field to `kind`: a field stored under another kind is converted.
fn align(field: &mut FieldState, kind: FieldKind) {
    if field.kind() != kind {
        let old = std::mem::replace(field, FieldState::empty(kind));
        *field = old.converted(kind);
    }
}

/// **Set fields**: every add, then every remove, by the element rule of [`SetField`].
fn merge_set(
    name: &str,
    field: &mut SetField,
    add: &[Value],
    remove: &[Value],
    stamp: Hlc,
    conflicts: &mut Vec<Conflict>,
) -> bool {
    let mut changed = false;
    for v in add {
        changed |= field.add(name, v, stamp, conflicts);
    }
    for v in remove {
        changed |= field.remove(name, v, stamp, conflicts);
    }
    changed
}

/// **Delete.** Existence is a last-writer-wins register over {alive, deleted} written only by
/// `delete` and `restore`; a delete with a greater stamp than the register's makes the record
/// a tombstone, an older one changes nothing. Replacing a restore from another device, or
/// losing to one, is an `overwrite` conflict on [`EXISTENCE_FIELD`]. When a delete makes an
/// alive record a tombstone, every field whose stamp is greater than the delete's (edits the
/// deleting device cannot have seen) is reported as a `delete_edit` conflict.
fn merge_delete(state: &mut RecordState, stamp: Hlc, outcome: &mut MergeOutcome) {
    let prev = state.existence;
    if stamp > prev.stamp {
        state.existence = Existence { deleted: true, stamp };
        outcome.existence_changed = true;
        if !prev.deleted {
            if !prev.stamp.is_zero() && prev.stamp.node != stamp.node {
                outcome.conflicts.push(Conflict::new(
                    EXISTENCE_FIELD,
                    ConflictKind::Overwrite,
                    Value::Bool(true),
                    Value::Bool(false),
                    prev.stamp,
                ));
            }
            for (name, field) in &state.fields {
                let field_stamp = field.stamp();
                if field_stamp > stamp {
                    outcome.conflicts.push(Conflict::new(
                        name,
                        ConflictKind::DeleteEdit,
                        json!({ "deleted": true }),
                        field.value(),
                        field_stamp,
                    ));
                }
            }
        }
    } else if !prev.deleted && prev.stamp.node != stamp.node {
        outcome.conflicts.push(Conflict::new(
            EXISTENCE_FIELD,
            ConflictKind::Overwrite,
            Value::Bool(false),
            Value::Bool(true),
            stamp,
        ));
    }
}

/// **Restore.** The counterpart of [`merge_delete`]: a restore with a greater stamp than the
/// register's brings the record back with all its fields (including edits made while it was
/// deleted); an older one changes nothing. Cross-device races are `overwrite` conflicts on
/// [`EXISTENCE_FIELD`].
fn merge_restore(state: &mut RecordState, stamp: Hlc, outcome: &mut MergeOutcome) {
    let prev = state.existence;
    if stamp > prev.stamp {
        state.existence = Existence {
            deleted: false,
            stamp,
        };
        outcome.existence_changed = true;
        if prev.deleted && prev.stamp.node != stamp.node {
            outcome.conflicts.push(Conflict::new(
                EXISTENCE_FIELD,
                ConflictKind::Overwrite,
                Value::Bool(false),
                Value::Bool(true),
                prev.stamp,
            ));
        }
    } else if prev.deleted && prev.stamp.node != stamp.node {
        outcome.conflicts.push(Conflict::new(
            EXISTENCE_FIELD,
            ConflictKind::Overwrite,
            Value::Bool(true),
            Value::Bool(false),
            stamp,
        ));
    }
}

/// **Scalar fields: last-writer-wins register.** The write with the greatest stamp wins
/// (node breaks ties, so two writes never tie); an equal stamp is the same write and changes
/// nothing. When the winner and loser come from different devices and hold different values,
/// an `overwrite` conflict records the loser's value, stamp and device, whether the loser
/// arrived first (it is replaced) or second (it is refused). The wire carries no causal
/// context, so an edit made after seeing the other value is reported too: the history is a
/// superset of the real races. Replacing a value written by the same device is its own
/// newer edit, not a conflict.
pub fn merge_scalar(
    field: &str,
    state: &mut ScalarField,
    value: &Value,
    stamp: Hlc,
    conflicts: &mut Vec<Conflict>,
) -> bool {
    let cross_device = state.stamp.node != stamp.node && !state.stamp.is_zero();
    if stamp > state.stamp {
        if cross_device && state.value != *value {
            let lost = std::mem::replace(&mut state.value, value.clone());
            conflicts.push(Conflict::new(
                field,
                ConflictKind::Overwrite,
                value.clone(),
                lost,
                state.stamp,
            ));
        } else {
            state.value = value.clone();
        }
        state.stamp = stamp;
        true
    } else {
        if stamp < state.stamp && cross_device && state.value != *value {
            conflicts.push(Conflict::new(
                field,
                ConflictKind::Overwrite,
                state.value.clone(),
                value.clone(),
                stamp,
            ));
        }
        false
    }
}

/// [`merge_scalar`], consuming the incoming value: the same rule and the same conflicts,
/// with the value moved into the register when it wins (only the conflict's `kept` copy is
/// cloned) and moved into the conflict when it loses.
pub fn merge_scalar_owned(
    field: &str,
    state: &mut ScalarField,
    value: Value,
    stamp: Hlc,
    conflicts: &mut Vec<Conflict>,
) -> bool {
    let cross_device = state.stamp.node != stamp.node && !state.stamp.is_zero();
    if stamp > state.stamp {
        if cross_device && state.value != value {
            let kept = value.clone();
            let lost = std::mem::replace(&mut state.value, value);
            conflicts.push(Conflict::new(
                field,
                ConflictKind::Overwrite,
                kept,
                lost,
                state.stamp,
            ));
        } else {
            state.value = value;
        }
        state.stamp = stamp;
        true
    } else {
        if stamp < state.stamp && cross_device && state.value != value {
            conflicts.push(Conflict::new(
                field,
                ConflictKind::Overwrite,
                state.value.clone(),
                value,
                stamp,
            ));
        }
        false
    }
}

/// **Text fields: three-way merge.** Text edits are not last-writer-wins: every edit,
/// whatever its stamp, is merged into the current text with [`merge3`] against the base it
/// was made from. Different passages edited on different devices all survive; a passage
/// edited differently on both sides keeps both versions (the server's first) and is reported
/// as a `text_overlap` conflict (`kept` = the server's version of the passage, `lost` = the
/// incoming one, both present in the text). The field's stamp is the greatest merged stamp.
pub fn merge_text(
    field: &str,
    state: &mut TextField,
    base: &str,
    value: &str,
    stamp: Hlc,
    conflicts: &mut Vec<Conflict>,
) -> bool {
    let merged = merge3(&state.value, base, value);
    for overlap in merged.overlaps {
        conflicts.push(Conflict::new(
            field,
            ConflictKind::TextOverlap,
            Value::String(overlap.kept),
            Value::String(overlap.incoming),
            stamp,
        ));
    }
    let mut changed = false;
    if merged.text != state.value {
        state.value = merged.text;
        changed = true;
    }
    if stamp > state.stamp {
        state.stamp = stamp;
        changed = true;
    }
    changed
}

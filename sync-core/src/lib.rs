//! Carnet's merge engine: what a record becomes when edits from several offline devices
//! arrive, in any order.
//!
//! Pure logic: no database, network, runtime or clock reads. Time (`now_ms`) and ids are
//! passed in; the api converts rows to and from these types and stores [`RecordState`] as
//! JSONB next to the row.
//!
//! # Flow
//!
//! 1. The api declares a [`CollectionSchema`] per collection (which field is a scalar, a set,
//!    a text) in a [`SyncSchema`].
//! 2. For each pushed mutation: [`SyncSchema::decode`] (typed [`MutationError`] per case),
//!    then [`Clock::observe`] with the server's wall clock (refuses stamps too far ahead,
//!    [`StampTooFarAhead`]), then [`merge`] into the stored [`RecordState`] ([`merge_owned`]
//!    when the mutation is not needed afterwards: same result, winning values moved instead
//!    of cloned).
//! 3. [`MergeOutcome::conflicts`] go to the conflict history; [`RecordState::render`] gives
//!    the pull format (`record` and per-field `stamps`).
//!
//! ```
//! use serde_json::json;
//! use sync_core::{merge, Clock, CollectionSchema, RecordState, SyncSchema};
//!
//! let schemas = SyncSchema::new().with(
//!     CollectionSchema::new("contacts")
//!         .scalars(["name", "city"])
//!         .sets(["tags", "emails"])
//!         .texts(["notes"]),
//! );
//! let wire = json!({ "mutation_id": 1, "collection": "contacts", "id": "01935c1e", "op": "upsert",
//!     "hlc": "001763900000000-00000-8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f",
//!     "fields": { "name": "Lise Cardinal",
//!                 "tags": { "add": ["réseautage"], "remove": [] },
//!                 "notes": { "base": "", "value": "Lunch chez Magnan" } } });
//!
//! let mutation = schemas.decode(&wire)?;
//! let mut server_clock = Clock::new(0x5e);
//! server_clock.observe(mutation.hlc, 1_763_900_000_500)?;
//! let schema = schemas.get(&mutation.collection).ok_or("no schema")?;
//! let mut state = RecordState::new();
//! let outcome = merge(&mut state, &mutation, schema)?;
//! assert!(outcome.conflicts.is_empty());
//!
//! let pulled = state.render();
//! assert_eq!(pulled.record["name"], json!("Lise Cardinal"));
//! assert_eq!(pulled.stamps["name"].to_string(), "001763900000000-00000-8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f");
//! let stored = serde_json::to_value(&state)?; // JSONB next to the row
//! # let _ = stored;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Stamps
//!
//! A stamp ([`Hlc`]) is `(millis, counter, node)` from a hybrid logical clock; its wire form
//! `{unix_ms:015}-{counter:05}-{node}` (node = device id, 32 lowercase hex digits) sorts as
//! text in clock order. Stamps are totally ordered, the node breaking ties, so no two edits
//! tie. [`Clock::tick`] stamps a local event, [`Clock::observe`] takes in a received stamp;
//! both return a stamp greater than everything the clock has issued or seen.
//!
//! # Clock skew
//!
//! A stamp more than `max_skew_ms` (default [`DEFAULT_MAX_SKEW_MS`], 5 minutes) ahead of the
//! server's wall clock is **rejected**: [`Clock::observe`] returns [`StampTooFarAhead`] and
//! the api rejects the mutation (reported and consumed, so the phone's queue never wedges;
//! the app must correct its clock and re-stamp). Rejection was chosen over clamping because
//! it is explicit and keeps a mutation's stamp immutable: a clamped stamp would depend on when
//! the mutation arrived, so a replay would carry a different stamp and the engine's
//! stamp-based idempotence and convergence would break. Consequence: a device whose clock is
//! a year ahead never gets a stamp into any register, so it cannot win over later real edits;
//! an accepted stamp is at most `max_skew_ms` ahead, which bounds how long it can win.
//!
//! # Merge rules
//!
//! **Scalar fields** ([`merge_scalar`]) are last-writer-wins registers: the greatest stamp
//! wins, an equal stamp is the same write. When the loser's value differs and it came from
//! another device, an `overwrite` [`Conflict`] keeps the loser's value, stamp and device.
//! The wire carries no causal context, so the engine cannot tell a race from an edit made
//! after seeing the other value: every cross-device replacement is reported (a superset of
//! the real races; nothing lost silently). A device replacing its own value is not a conflict.
//!
//! **Set fields** (tags, emails, phones, links; [`SetField`]) merge element by element. An
//! element is identified by its normalised key ([`normalise_key`]: strings trimmed and
//! lowercased; phones arrive already normalised by the api; other JSON values by their
//! canonical JSON). Each element keeps its greatest add stamp and greatest remove stamp and is
//! present iff `add_stamp >= remove_stamp`: a remove takes away only adds stamped before it,
//! ties go to the add, and removed elements keep a tombstone so a late, older add cannot bring
//! them back. Limit, stated honestly: without observed tags, an add and a truly concurrent
//! remove are ordered by stamp like scalars; "add wins" is guaranteed for adds stamped after
//! the remove and for equal stamps, not for every concurrent pair. Cross-device flips are
//! reported as `overwrite` conflicts (`{"add": [x]}` against `{"remove": [x]}`).
//!
//! **Text fields** (notes, how_we_met, they_brought, i_can_offer, descriptions;
//! [`merge_text`], [`text::merge3`]) merge three-way. The mutation carries the text it was
//! edited from (`base`) and the new text; the engine diffs `base → new` and `base → current`
//! word by word and applies the device's changes where the server's text still matches the
//! base. Passages changed differently on both sides keep both versions, the server's first,
//! and produce a `text_overlap` conflict. Text edits are never last-writer-wins: an edit with
//! an older stamp still merges. The diff is Myers' algorithm from the `similar` crate
//! (maintained, dependency-free, works on token slices and so on words), after trimming the
//! common prefix and suffix, which makes the usual small edit of a long note cheap.
//!
//! **Record existence** ([`Existence`]) is a last-writer-wins register over {alive, deleted},
//! written only by `delete` and `restore` (`upsert` creates a record but never revives a
//! tombstone: if it did, delivery order would decide whether a record ends deleted). A field
//! edit arriving while the record is deleted is applied to the deleted record's fields and
//! reported as a `delete_edit` conflict; a delete that tombstones an alive record reports
//! every field stamped after it (edits the deleting device cannot have seen). The record
//! stays deleted until a restore with a greater stamp brings it back with all its fields.
//! Delete/restore races across devices are `overwrite` conflicts on [`EXISTENCE_FIELD`].
//!
//! **Unknown fields** (sent by a newer app version, not in the schema) are kept and merged as
//! scalars. If the schema later declares such a field as a set or a text, its stored value is
//! converted, keeping its content and stamp.
//!
//! # Idempotence
//!
//! Each [`RecordState`] keeps the stamps of the mutations applied to it
//! ([`RecordState::applied`]). A device ticks its clock for every mutation, so a stamp names
//! one mutation; a mutation whose stamp is already there is a `duplicate`: nothing changes
//! and no conflict is reported again. Registers and sets would be idempotent from their
//! stamps alone, but the conflict history and the text merge are not (a replayed text edit
//! whose neighbourhood changed in between would be inserted twice), hence the explicit set.
//! It grows by one stamp per mutation of the record; the api's own dedup by `mutation_id`
//! sits in front of it.
//!
//! # What converges, what does not
//!
//! Guaranteed, whatever the delivery order, duplication or batching (proven by the property
//! tests in `tests/properties.rs`): scalar registers, sets (elements, presence, display value)
//! and existence end in the same state, with the same per-field stamps; applying a mutation
//! twice equals applying it once; every piece of text inserted by any device is in the merged
//! text; every scalar value and set add that lost a race to another device appears in the
//! returned conflicts.
//!
//! Not guaranteed: the merged **text** may depend on delivery order (where two edits touch
//! the same passage, the one that arrived first comes first, and an edit arriving before the
//! edit its base came from may duplicate text), though it never loses inserted text. The
//! **conflict history** is also order-dependent in its details (which side is `kept`, and
//! whether a delete/edit race is seen from the delete or from the edit), while still
//! recording every lost value.

#![warn(missing_docs)]

pub mod conflict;
pub mod hlc;
pub mod mutation;
pub mod record;
pub mod schema;
pub mod set;
pub mod text;

pub use conflict::{Conflict, ConflictKind, EXISTENCE_FIELD};
pub use hlc::{check_skew, node_hex, Clock, Hlc, ParseHlcError, StampTooFarAhead, DEFAULT_MAX_SKEW_MS};
pub use mutation::{FieldChange, Mutation, MutationError, Op, SyncSchema};
pub use record::{
    merge, merge_owned, merge_scalar, merge_scalar_owned, merge_text, Existence, FieldState, MergeOutcome,
    RecordState, RenderedRecord, ScalarField, TextField,
};
pub use schema::{normalise_key, CollectionSchema, FieldKind};
pub use set::{SetElement, SetField};

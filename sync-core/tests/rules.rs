//! One test group per merge rule, against a simple reference model, plus named regression
//! tests for every failure the property tests found.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use sync_core::{
    merge, Clock, CollectionSchema, ConflictKind, FieldChange, Hlc, MergeOutcome, Mutation, Op, RecordState,
    SetField, EXISTENCE_FIELD,
};

const A: u128 = 0xa;
const B: u128 = 0xb;
const C: u128 = 0xc;

fn schema() -> CollectionSchema {
    CollectionSchema::new("contacts")
        .scalars(["name", "city"])
        .sets(["tags", "emails"])
        .texts(["notes"])
}

fn at(millis: u64, node: u128) -> Hlc {
    Hlc::new(millis, 0, node).unwrap()
}

fn mutation(op: Op, hlc: Hlc, fields: &[(&str, FieldChange)]) -> Mutation {
    Mutation {
        mutation_id: hlc.millis,
        collection: "contacts".into(),
        id: "c1".into(),
        op,
        hlc,
        fields: fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
    }
}

fn scalar(field: &str, v: Value, hlc: Hlc) -> Mutation {
    mutation(Op::Upsert, hlc, &[(field, FieldChange::Scalar(v))])
}

fn tags(add: &[&str], remove: &[&str], hlc: Hlc) -> Mutation {
    let change = FieldChange::Set {
        add: add.iter().map(|s| json!(s)).collect(),
        remove: remove.iter().map(|s| json!(s)).collect(),
    };
    mutation(Op::Upsert, hlc, &[("tags", change)])
}

fn notes(base: &str, value: &str, hlc: Hlc) -> Mutation {
    let change = FieldChange::Text {
        base: base.into(),
        value: value.into(),
    };
    mutation(Op::Upsert, hlc, &[("notes", change)])
}

fn apply(state: &mut RecordState, m: &Mutation) -> MergeOutcome {
    merge(state, m, &schema()).unwrap()
}

fn apply_all(ms: &[Mutation]) -> (RecordState, Vec<sync_core::Conflict>) {
    let mut state = RecordState::new();
    let mut conflicts = Vec::new();
    for m in ms {
        conflicts.extend(apply(&mut state, m).conflicts);
    }
    (state, conflicts)
}

/// Every permutation of a small list.
fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first.clone());
            out.push(p);
        }
    }
    out
}

// ---- scalar: last-writer-wins ------------------------------------------------------------

#[test]
fn scalar_greatest_stamp_wins_in_every_order() {
    let writes = vec![
        scalar("name", json!("Lise"), at(10, A)),
        scalar("name", json!("Lise C."), at(12, B)),
        scalar("name", json!("L. Cardinal"), at(12, C)), // same millis: node breaks the tie
    ];
    // Reference model: the max stamp.
    let expected = json!("L. Cardinal");
    for order in permutations(&writes) {
        let (state, conflicts) = apply_all(&order);
        assert_eq!(state.value("name"), Some(expected.clone()));
        assert_eq!(state.render().stamps["name"], at(12, C));
        for lost in [("Lise", at(10, A)), ("Lise C.", at(12, B))] {
            assert!(
                conflicts.iter().any(|c| c.kind == ConflictKind::Overwrite
                    && c.lost == json!(lost.0)
                    && c.lost_stamp == lost.1
                    && c.lost_device == lost.1.node),
                "{lost:?} not reported in {conflicts:?}"
            );
        }
    }
}

#[test]
fn scalar_same_device_replacement_and_equal_values_are_not_conflicts() {
    let (state, conflicts) = apply_all(&[
        scalar("city", json!("Paris"), at(1, A)),
        scalar("city", json!("Lyon"), at(2, A)),
        scalar("city", json!("Lyon"), at(3, B)),
    ]);
    assert_eq!(state.value("city"), Some(json!("Lyon")));
    assert!(conflicts.is_empty(), "{conflicts:?}");
}

// ---- sets: element-wise, add wins ties ---------------------------------------------------

#[test]
fn set_matches_max_stamp_model_in_every_order() {
    let ops = vec![
        tags(&["Paris", "apero"], &[], at(1, A)),
        tags(&[], &["paris"], at(2, B)),
        tags(&[" PARIS "], &[], at(3, C)),
        tags(&[], &["APERO"], at(4, C)),
        tags(&["jelly"], &["jelly"], at(5, A)), // same stamp: add wins
    ];
    let mut first: Option<SetField> = None;
    for order in permutations(&ops) {
        let (state, _) = apply_all(&order);
        assert_eq!(
            state.value("tags"),
            Some(json!(["jelly", " PARIS "])), // key order
            "{order:?}"
        );
        let sync_core::FieldState::Set(set) = &state.fields["tags"] else {
            panic!("tags is not a set")
        };
        match &first {
            None => first = Some(set.clone()),
            Some(f) => assert_eq!(f, set),
        }
    }
}

#[test]
fn set_remove_losing_to_later_add_is_reported() {
    let (state, conflicts) = apply_all(&[tags(&["lyon"], &[], at(5, A)), tags(&[], &["Lyon"], at(3, B))]);
    assert_eq!(state.value("tags"), Some(json!(["lyon"])));
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].lost, json!({"remove": ["Lyon"]}));
    assert_eq!(conflicts[0].lost_stamp, at(3, B));
}

// ---- text: three-way ---------------------------------------------------------------------

#[test]
fn text_concurrent_edits_of_different_parts_both_survive_in_both_orders() {
    let base = "Met at the apero. Works on maps.";
    let a = notes(base, "Met Lise at the apero. Works on maps.", at(2, A));
    let b = notes(base, "Met at the apero. Works on open maps.", at(2, B));
    let create = notes("", base, at(1, A));
    for order in [
        vec![create.clone(), a.clone(), b.clone()],
        vec![create.clone(), b.clone(), a.clone()],
    ] {
        let (state, conflicts) = apply_all(&order);
        assert_eq!(
            state.value("notes"),
            Some(json!("Met Lise at the apero. Works on open maps."))
        );
        assert!(conflicts.is_empty());
    }
}

#[test]
fn text_overlap_keeps_both_versions_and_reports() {
    let (state, conflicts) = apply_all(&[
        notes("", "call back", at(1, A)),
        notes("call back", "call Nicolas back", at(2, A)),
        notes("call back", "call Lise back", at(3, B)),
    ]);
    let text = state.value("notes").unwrap();
    let text = text.as_str().unwrap();
    assert!(text.contains("Nicolas") && text.contains("Lise"), "{text}");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].kind, ConflictKind::TextOverlap);
    assert_eq!(conflicts[0].lost_device, B);
}

#[test]
fn text_older_stamp_still_merges() {
    let (state, _) = apply_all(&[
        notes("", "a b c", at(1, A)),
        notes("a b c", "a b c d", at(9, B)),
        notes("a b c", "z a b c", at(5, C)),
    ]);
    assert_eq!(state.value("notes"), Some(json!("z a b c d")));
    assert_eq!(state.render().stamps["notes"], at(9, B));
}

// ---- existence: delete, restore, delete_edit ---------------------------------------------

#[test]
fn edit_concurrent_with_delete_is_kept_hidden_and_restorable() {
    let delete = mutation(Op::Delete, at(5, A), &[]);
    let edit = scalar("city", json!("Montréal"), at(6, B));
    for order in [[delete.clone(), edit.clone()], [edit.clone(), delete.clone()]] {
        let mut all = vec![scalar("name", json!("Lise"), at(1, A))];
        all.extend(order);
        let (mut state, conflicts) = apply_all(&all);
        assert!(state.is_deleted());
        assert_eq!(state.value("city"), Some(json!("Montréal")));
        let de: Vec<_> = conflicts
            .iter()
            .filter(|c| c.kind == ConflictKind::DeleteEdit)
            .collect();
        assert_eq!(de.len(), 1, "{conflicts:?}");
        assert_eq!(de[0].field, "city");
        assert_eq!(de[0].lost, json!("Montréal"));
        assert_eq!(de[0].lost_device, B);
        // A restore with a greater stamp brings everything back.
        let out = apply(&mut state, &mutation(Op::Restore, at(7, A), &[]));
        assert!(out.existence_changed && !state.is_deleted());
        let r = state.render();
        assert_eq!(r.record["city"], json!("Montréal"));
        assert_eq!(r.record["name"], json!("Lise"));
    }
}

#[test]
fn upsert_never_revives_and_existence_is_lww_over_delete_restore() {
    let ops = vec![
        scalar("name", json!("Lise"), at(1, A)),
        mutation(Op::Delete, at(2, B), &[]),
        scalar("name", json!("Lise C."), at(3, C)),
        mutation(Op::Restore, at(4, A), &[]),
        mutation(Op::Delete, at(6, C), &[]),
    ];
    for order in permutations(&ops) {
        let (state, _) = apply_all(&order);
        assert!(state.is_deleted(), "{order:?}");
        assert_eq!(state.existence.stamp, at(6, C));
        assert_eq!(state.value("name"), Some(json!("Lise C.")));
    }
}

#[test]
fn restore_losing_to_later_delete_is_reported() {
    let (state, conflicts) = apply_all(&[
        mutation(Op::Delete, at(9, A), &[]),
        mutation(Op::Restore, at(4, B), &[]),
    ]);
    assert!(state.is_deleted());
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, EXISTENCE_FIELD);
    assert_eq!(conflicts[0].lost, json!(false));
}

// ---- schema, idempotence, rendering ------------------------------------------------------

#[test]
fn unknown_fields_are_kept_and_merged_as_scalars() {
    let (state, _) = apply_all(&[
        scalar("pronouns", json!("she/her"), at(1, A)),
        scalar("pronouns", json!("elle"), at(2, B)),
    ]);
    assert_eq!(state.render().record["pronouns"], json!("elle"));
}

#[test]
fn field_stored_as_unknown_scalar_converts_when_declared_as_set() {
    let mut state = RecordState::new();
    let old = CollectionSchema::new("contacts");
    merge(&mut state, &scalar("links", json!(["https://a"]), at(1, A)), &old).unwrap();
    let new = schema().field("links", sync_core::FieldKind::Set);
    let add = FieldChange::Set {
        add: vec![json!("https://b")],
        remove: vec![],
    };
    merge(
        &mut state,
        &mutation(Op::Upsert, at(2, A), &[("links", add)]),
        &new,
    )
    .unwrap();
    assert_eq!(state.value("links"), Some(json!(["https://a", "https://b"])));
}

#[test]
fn replay_is_a_silent_no_op() {
    let m = notes("", "hello", at(1, A));
    let losing = scalar("name", json!("x"), at(1, B));
    let mut state = RecordState::new();
    apply(&mut state, &scalar("name", json!("y"), at(5, C)));
    apply(&mut state, &m);
    assert_eq!(apply(&mut state, &losing).conflicts.len(), 1);
    let before = state.clone();
    for replay in [&m, &losing] {
        let out = apply(&mut state, replay);
        assert!(out.duplicate && out.conflicts.is_empty() && !out.changed());
    }
    assert_eq!(state, before);
}

#[test]
fn merge_refuses_a_change_of_the_wrong_kind() {
    let bad = mutation(Op::Upsert, at(1, A), &[("tags", FieldChange::Scalar(json!("x")))]);
    let err = merge(&mut RecordState::new(), &bad, &schema()).unwrap_err();
    assert_eq!(err.code(), "field_kind_mismatch");
}

#[test]
fn state_and_render_round_trip_through_json() {
    let (state, conflicts) = apply_all(&[
        scalar("name", json!("Lise"), at(1, A)),
        tags(&["apero"], &["x"], at(2, B)),
        notes("", "hi", at(3, C)),
        scalar("name", json!("Lise C."), at(4, B)),
    ]);
    let stored = serde_json::to_string(&state).unwrap();
    let back: RecordState = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, state);
    let pulled = serde_json::to_value(state.render()).unwrap();
    assert_eq!(pulled["record"]["tags"], json!(["apero"]));
    assert_eq!(
        pulled["stamps"]["name"],
        json!("000000000000004-00000-0000000000000000000000000000000b")
    );
    let c = serde_json::to_value(&conflicts[0]).unwrap();
    assert_eq!(c["kind"], json!("overwrite"));
    assert_eq!(c["lost"], json!("Lise"));
    assert_eq!(c["lost_device"], json!("0000000000000000000000000000000a"));
}

// ---- clock skew --------------------------------------------------------------------------

#[test]
fn device_a_year_ahead_cannot_win_over_a_later_real_edit() {
    let now = 1_763_900_000_000u64;
    let year = 365 * 24 * 3600 * 1000;
    let mut server = Clock::new(0x5e);
    let mut state = RecordState::new();
    let mut receive =
        |m: &Mutation, now: u64, state: &mut RecordState| server.observe(m.hlc, now).map(|_| apply(state, m));
    let ahead = scalar("name", json!("from the future"), at(now + year, A));
    let err = receive(&ahead, now, &mut state).unwrap_err();
    assert_eq!(err.max_skew_ms, sync_core::DEFAULT_MAX_SKEW_MS);
    let real = scalar("name", json!("Lise"), at(now + 1_000, B));
    receive(&real, now + 1_000, &mut state).unwrap();
    assert_eq!(state.value("name"), Some(json!("Lise")));
    // The server clock was not dragged forward by the refused stamp.
    assert!(server.last.millis < now + year);
}

// ---- regressions found by the property tests ----------------------------------------------

/// proptest-regressions/properties.txt, first entry: a tag removed twice (never added)
/// under two spellings showed whichever spelling arrived first, so two delivery orders
/// stored different display values. A tombstone now shows its greatest remove's value.
#[test]
fn regression_tombstone_display_value_independent_of_order() {
    let r1 = tags(&[], &["Paris"], at(2, A));
    let r2 = tags(&[], &[" PARIS"], at(3, B));
    let (s1, _) = apply_all(&[r1.clone(), r2.clone()]);
    let (s2, _) = apply_all(&[r2, r1]);
    assert_eq!(s1, s2);
    assert_eq!(s1.fields["tags"], s2.fields["tags"]);
}

// ---- memory per stored stamp (recorded in docs/BENCHMARKS.md) ---------------------------

#[test]
fn memory_per_field_stamp() {
    use std::mem::size_of;
    let sizes = [
        ("Hlc", size_of::<Hlc>()),
        ("ScalarField", size_of::<sync_core::ScalarField>()),
        ("TextField", size_of::<sync_core::TextField>()),
        ("SetElement", size_of::<sync_core::SetElement>()),
        ("FieldState", size_of::<sync_core::FieldState>()),
    ];
    eprintln!("sync-core sizes: {sizes:?}");
    assert_eq!(size_of::<Hlc>(), 32);
    assert!(size_of::<sync_core::ScalarField>() <= 64);
    let json = serde_json::to_string(&Hlc::zero()).unwrap();
    assert_eq!(json.len(), 56); // 54 characters and quotes in the stored JSONB
}

/// The field walk in `merge` has two modes (in step with the stored fields, or one search per
/// change when the record has many more fields than the mutation); both, with new fields
/// inserted mid-walk and a deleted record, must decide like a field-by-field reference.
#[test]
fn wide_records_and_new_fields_merge_like_single_field_edits() {
    let names: Vec<String> = (0..40).map(|i| format!("f{i:02}")).collect();
    let wide = |hlc: Hlc, pick: &dyn Fn(usize) -> bool, v: &str| {
        let fields: Vec<(&str, FieldChange)> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .map(|(_, n)| (n.as_str(), FieldChange::Scalar(json!(format!("{v} {n}")))))
            .collect();
        mutation(Op::Upsert, hlc, &fields)
    };
    let history = [
        wide(at(1, A), &|i| i % 3 == 0, "a"),
        wide(at(2, B), &|i| i % 2 == 0, "b"),
        mutation(Op::Delete, at(3, C), &[]),
        wide(at(4, A), &|i| i == 7 || i == 30, "a2"),
        wide(at(5, C), &|_| true, "c"),
        wide(at(6, B), &|i| i == 39, "b2"),
        wide(at(1, C), &|i| i % 5 == 1, "old"),
    ];
    let mut state = RecordState::new();
    let mut owned = RecordState::new();
    let mut reference = RecordState::new();
    for m in &history {
        let out = apply(&mut state, m);
        assert_eq!(
            sync_core::merge_owned(&mut owned, m.clone(), &schema()).unwrap(),
            out
        );
        assert_eq!(owned, state);
        // Reference: the same mutation's fields one at a time, existence first.
        let mut expected = MergeOutcome::default();
        let first = Mutation {
            fields: Default::default(),
            ..m.clone()
        };
        let head = apply(&mut reference, &first);
        expected.existence_changed = head.existence_changed;
        expected.conflicts = head.conflicts;
        for (name, change) in &m.fields {
            reference.applied.remove(&m.hlc);
            let one = Mutation {
                fields: [(name.clone(), change.clone())].into(),
                op: Op::Upsert,
                ..m.clone()
            };
            let o = apply(&mut reference, &one);
            expected.changed_fields.extend(o.changed_fields);
            expected.conflicts.extend(o.conflicts);
        }
        assert_eq!(reference, state);
        assert_eq!(out.changed_fields, expected.changed_fields);
        assert_eq!(out.conflicts, expected.conflicts);
    }
}

#[test]
fn forgetting_old_replay_stamps_keeps_the_record_and_later_guards() {
    let mut state = RecordState::new();
    let old = scalar("name", json!("Lise"), at(1_000, 1));
    let newer = scalar("city", json!("Montréal"), at(5_000, 2));
    apply(&mut state, &old);
    apply(&mut state, &newer);
    let rendered = state.render();

    assert_eq!(state.forget_applied_before(5_000), 1);
    assert_eq!(state.applied.len(), 1);
    assert_eq!(state.render(), rendered, "fields and stamps are untouched");
    // A stamp after the horizon is still recognised as a replay.
    assert!(apply(&mut state, &newer).duplicate);
    // An older edit is still decided by the field stamps: it loses to nothing newer here,
    // and re-applying the same value changes nothing visible.
    apply(&mut state, &old);
    assert_eq!(state.render(), rendered);
}

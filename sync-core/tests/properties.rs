//! Property tests: random histories of 3 to 5 offline devices (scalar, set, text, delete and
//! restore edits, pulls in between), delivered in random orders with duplicates and
//! re-batching, the state stored and reloaded as JSON between batches.
//!
//! The seed is printed at the start of each property; set `SYNC_CORE_SEED=<u64>` to replay a
//! run, `SYNC_CORE_CASES=<n>` to change the number of cases (default 64). Failures found are
//! saved in `proptest-regressions/properties.txt` (committed) and replayed first; each also
//! gets a named test in `tests/rules.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{build_history, deliver, schedule, History, Step};
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use serde_json::{json, Value};
use sync_core::{FieldState, Hlc, RecordState, SetField};

fn seed() -> u64 {
    let seed = std::env::var("SYNC_CORE_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        });
    seed
}

fn runner(property: &str, seed: u64) -> TestRunner {
    eprintln!("sync-core property `{property}`: SYNC_CORE_SEED={seed}");
    let cases = std::env::var("SYNC_CORE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let mut bytes = [0u8; 32];
    let mut mix = common::SplitMix(seed);
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&mix.next().to_le_bytes());
    }
    let config = Config {
        cases,
        source_file: Some(file!()),
        // Cargo runs tests from the package root, so this is sync-core/proptest-regressions.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn step() -> impl Strategy<Value = Step> {
    (any::<u8>(), any::<u8>(), any::<u32>(), any::<u32>(), any::<u8>()).prop_map(
        |(device, action, a, b, advance_ms)| Step {
            device,
            action,
            a,
            b,
            advance_ms,
        },
    )
}

/// (devices, steps, two delivery seeds)
fn histories() -> impl Strategy<Value = (usize, Vec<Step>, u64, u64)> {
    (
        3usize..=5,
        prop::collection::vec(step(), 1..40),
        any::<u64>(),
        any::<u64>(),
    )
}

fn run(property: &str, test: impl Fn(&History, u64, u64) -> Result<(), TestCaseError>) {
    let seed = seed();
    let mut runner = runner(property, seed);
    let result = runner.run(&histories(), |(devices, steps, s1, s2)| {
        let history = build_history(devices, &steps);
        test(&history, s1, s2)
    });
    if let Err(e) = result {
        panic!("{property} (replay with SYNC_CORE_SEED={seed}): {e}");
    }
}

/// Registers, sets, existence and stamps: the parts that must converge.
#[derive(Debug, PartialEq)]
struct Convergent {
    deleted: bool,
    existence_stamp: Hlc,
    scalars: BTreeMap<String, (Value, Hlc)>,
    sets: BTreeMap<String, SetField>,
    text_stamps: BTreeMap<String, Hlc>,
    applied: BTreeSet<Hlc>,
}

fn convergent(state: &RecordState) -> Convergent {
    let mut c = Convergent {
        deleted: state.existence.deleted,
        existence_stamp: state.existence.stamp,
        scalars: BTreeMap::new(),
        sets: BTreeMap::new(),
        text_stamps: BTreeMap::new(),
        applied: state.applied.clone(),
    };
    for (name, f) in &state.fields {
        match f {
            FieldState::Scalar(s) => {
                c.scalars.insert(name.clone(), (s.value.clone(), s.stamp));
            }
            FieldState::Set(s) => {
                c.sets.insert(name.clone(), s.clone());
            }
            FieldState::Text(t) => {
                c.text_stamps.insert(name.clone(), t.stamp);
            }
        }
    }
    c
}

fn notes(state: &RecordState) -> String {
    match state.fields.get("notes") {
        Some(FieldState::Text(t)) => t.value.clone(),
        _ => String::new(),
    }
}

/// The reference model: what registers, sets and existence must be, computed from the
/// history alone (max stamps), without the engine.
fn check_against_model(h: &History, state: &RecordState) -> Result<(), TestCaseError> {
    let mut winners: BTreeMap<&str, (&Value, Hlc)> = BTreeMap::new();
    for (field, value, stamp) in &h.scalar_writes {
        let e = winners.entry(field).or_insert((value, *stamp));
        if *stamp > e.1 {
            *e = (value, *stamp);
        }
    }
    for (field, (value, stamp)) in winners {
        match state.fields.get(field) {
            Some(FieldState::Scalar(s)) => {
                prop_assert_eq!(&s.value, value, "scalar {}", field);
                prop_assert_eq!(s.stamp, stamp);
            }
            other => prop_assert!(false, "scalar {} missing: {:?}", field, other),
        }
    }
    let mut elements: BTreeMap<&str, (Option<Hlc>, Option<Hlc>)> = BTreeMap::new();
    for (key, _, stamp, add) in &h.set_ops {
        let e = elements.entry(key).or_default();
        let slot = if *add { &mut e.0 } else { &mut e.1 };
        *slot = (*slot).max(Some(*stamp));
    }
    let tags = match state.fields.get("tags") {
        Some(FieldState::Set(s)) => s.clone(),
        _ => SetField::default(),
    };
    for (key, (added, removed)) in elements {
        let present = added.is_some() && added >= removed;
        let engine = tags.elements.get(key).is_some_and(|e| e.is_present());
        prop_assert_eq!(engine, present, "tag {}", key);
    }
    let expected_deleted = h
        .existence_ops
        .iter()
        .max_by_key(|(stamp, _)| *stamp)
        .is_some_and(|(_, deleted)| *deleted);
    prop_assert_eq!(state.existence.deleted, expected_deleted);
    Ok(())
}

#[test]
fn registers_sets_and_existence_converge_whatever_the_delivery() {
    run("convergence", |h, s1, s2| {
        let (a, _) = deliver(&schedule(h, s1));
        let (b, _) = deliver(&schedule(h, s2));
        prop_assert_eq!(convergent(&a), convergent(&b));
        check_against_model(h, &a)?;
        // Every device's latest stamp shows up in the pull stamps.
        let rendered = a.render();
        prop_assert_eq!(rendered.deleted, a.existence.deleted);
        Ok(())
    });
}

#[test]
fn applying_a_mutation_twice_equals_applying_it_once() {
    run("idempotence", |h, s1, _| {
        let schema = common::schema();
        let batches = schedule(h, s1);
        // The same order without the duplicates.
        let mut seen = BTreeSet::new();
        let once: Vec<_> = batches
            .concat()
            .into_iter()
            .filter(|m| seen.insert(m.hlc))
            .collect();
        let (with_dups, c1) = deliver(&batches);
        let (without, c2) = deliver(std::slice::from_ref(&once));
        prop_assert_eq!(&with_dups, &without);
        prop_assert_eq!(c1, c2);
        // Applying each mutation twice in a row: the second is a reported no-op.
        let mut state = RecordState::new();
        for m in &once {
            sync_core::merge(&mut state, m, &schema).unwrap();
            let before = state.clone();
            let again = sync_core::merge(&mut state, m, &schema).unwrap();
            prop_assert!(again.duplicate);
            prop_assert!(again.conflicts.is_empty() && !again.changed());
            prop_assert_eq!(&state, &before);
        }
        // Even if the applied-stamp set were lost, re-delivering everything leaves registers,
        // sets and existence as they were: those rules are idempotent by their stamps alone.
        let mut forgetful = state.clone();
        forgetful.applied.clear();
        for m in &once {
            sync_core::merge(&mut forgetful, m, &schema).unwrap();
        }
        prop_assert_eq!(convergent(&forgetful), convergent(&state));
        Ok(())
    });
}

#[test]
fn every_inserted_text_survives_whatever_the_order() {
    run("text", |h, s1, s2| {
        for seed in [s1, s2] {
            let (state, _) = deliver(&schedule(h, seed));
            let text = notes(&state);
            for id in &h.inserted {
                prop_assert!(text.contains(id.as_str()), "{} lost from {:?}", id, text);
            }
        }
        Ok(())
    });
}

#[test]
fn every_value_that_lost_a_race_is_in_the_conflicts() {
    run("nothing lost", |h, s1, _| {
        let (_, conflicts) = deliver(&schedule(h, s1));
        // Scalars: every write that is not the final winner, and that its own device did not
        // replace later, is reported as lost with its value and stamp.
        for (field, value, stamp) in &h.scalar_writes {
            let same_field = h.scalar_writes.iter().filter(|w| &w.0 == field);
            let winner = same_field.clone().map(|w| w.2).max();
            let replaced_by_self = same_field.clone().any(|w| w.2.node == stamp.node && w.2 > *stamp);
            if Some(*stamp) == winner || replaced_by_self {
                continue;
            }
            let reported = conflicts
                .iter()
                .any(|c| &c.field == field && &c.lost == value && c.lost_stamp == *stamp);
            prop_assert!(reported, "lost {} = {} at {} not reported", field, value, stamp);
        }
        // Sets: an element that ends absent although another device added it last (and that
        // device did not remove it again) is reported with that add.
        let keys: BTreeSet<&String> = h.set_ops.iter().map(|o| &o.0).collect();
        for key in keys {
            let ops: Vec<_> = h.set_ops.iter().filter(|o| &o.0 == key).collect();
            let Some(last_add) = ops.iter().filter(|o| o.3).max_by_key(|o| o.2) else {
                continue;
            };
            let later_removes: Vec<_> = ops.iter().filter(|o| !o.3 && o.2 > last_add.2).collect();
            if later_removes.is_empty() || later_removes.iter().any(|r| r.2.node == last_add.2.node) {
                continue;
            }
            let lost = json!({ "add": [last_add.1] });
            let reported = conflicts
                .iter()
                .any(|c| c.field == "tags" && c.lost == lost && c.lost_stamp == last_add.2);
            prop_assert!(reported, "lost add of {} at {} not reported", key, last_add.2);
        }
        Ok(())
    });
}

#[test]
fn owned_merge_decides_exactly_like_merge() {
    run("owned", |h, s1, _| {
        let schema = common::schema();
        let mut borrowed = RecordState::new();
        let mut owned = RecordState::new();
        for m in schedule(h, s1).concat() {
            let expected = sync_core::merge(&mut borrowed, &m, &schema).unwrap();
            let got = sync_core::merge_owned(&mut owned, m, &schema).unwrap();
            prop_assert_eq!(got, expected);
            prop_assert_eq!(&owned, &borrowed);
        }
        Ok(())
    });
}

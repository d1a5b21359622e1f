//! Merge throughput of the Carnet sync engine, with the equivalent automerge work in the
//! same run. Results and the command are recorded in docs/BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::json;
use sync_core::text::merge3;
use sync_core::{
    merge, merge_owned, merge_scalar, merge_scalar_owned, CollectionSchema, FieldChange, Hlc, Mutation, Op,
    RecordState, ScalarField,
};

const A: u128 = 0xaaaa_0000_0000_0000_0000_0000_0000_0001;
const B: u128 = 0xbbbb_0000_0000_0000_0000_0000_0000_0002;
/// Keys per map workload (both engines).
const KEYS: usize = 100;
/// Elements per set workload.
const ELEMENTS: usize = 100;

fn at(millis: u64, node: u128) -> Hlc {
    Hlc::new(millis, 0, node).unwrap()
}

fn field_names() -> Vec<String> {
    (0..KEYS).map(|i| format!("field_{i}")).collect()
}

fn schema() -> CollectionSchema {
    CollectionSchema::new("contacts").sets(["tags"]).texts(["notes"])
}

fn upsert(hlc: Hlc, fields: BTreeMap<String, FieldChange>) -> Mutation {
    Mutation {
        mutation_id: hlc.millis,
        collection: "contacts".into(),
        id: "c1".into(),
        op: Op::Upsert,
        hlc,
        fields,
    }
}

/// Device A's and device B's writes of the same `KEYS` scalar fields.
fn scalar_mutations() -> (Mutation, Mutation) {
    let names = field_names();
    let a = names
        .iter()
        .map(|n| (n.clone(), FieldChange::Scalar(json!(format!("a {n}")))))
        .collect();
    let b = names
        .iter()
        .map(|n| (n.clone(), FieldChange::Scalar(json!(format!("b {n}")))))
        .collect();
    (upsert(at(1, A), a), upsert(at(2, B), b))
}

/// A 2 KB note, and two devices' small edits of it (one near the start, one near the end).
fn notes() -> (String, String, String) {
    let sentence = "Met Lise at the apero on the canal; she maps bike lanes for the city. ";
    let mut base = String::new();
    while base.len() < 2048 {
        base.push_str(sentence);
    }
    base.truncate(2048);
    let mut current = base.clone();
    current.insert_str(120, "call her back about the Jelly day ");
    let mut incoming = base.clone();
    incoming.insert_str(1900, "she can offer an intro to the transit team ");
    (base, current, incoming)
}

fn configure() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

fn scalar_benches(c: &mut Criterion) {
    let schema = schema();
    let (ma, mb) = scalar_mutations();
    let mut base = RecordState::new();
    merge(&mut base, &ma, &schema).unwrap();

    let mut g = c.benchmark_group("scalar");
    g.throughput(Throughput::Elements(KEYS as u64));
    // Batching: every sync-core benchmark clones its input right before the timed call
    // (`BatchSize::PerIteration`), as the server decodes a record's state from its row just
    // before merging into it, so the state is in cache as it is there. Criterion's
    // `SmallInput` batches instead prepare thousands of states first (tens of MB) and keep
    // every outcome until the batch ends: the merge then runs on cold memory and allocates from
    // freshly faulted pages, which measured the machine's memory more than the merge (see
    // docs/BENCHMARKS.md); `sync_core_merge_owned_100_fields_cold` keeps that setting for
    // comparison. Timer overhead per iteration (two clock reads) is well under 1 % here.
    //
    // The server's path: check, dedup, then one LWW merge per field, conflicts recorded (every
    // field is a cross-device overwrite here). The decoded mutation is consumed
    // (`merge_owned`), so winning values are moved into the state, not cloned. Cloning the
    // state and the mutation is set-up, outside the timing; the state and the outcome are
    // returned so that freeing them is not timed either.
    g.bench_function("sync_core_merge_owned_100_fields", |bench| {
        bench.iter_batched(
            || (base.clone(), mb.clone()),
            |(mut state, m)| {
                let outcome = merge_owned(&mut state, m, &schema).unwrap();
                black_box((state, outcome))
            },
            BatchSize::PerIteration,
        )
    });
    // The same with criterion's `SmallInput` batches (cold caches, see above).
    g.bench_function("sync_core_merge_owned_100_fields_cold", |bench| {
        bench.iter_batched(
            || (base.clone(), mb.clone()),
            |(mut state, m)| {
                let outcome = merge_owned(&mut state, m, &schema).unwrap();
                black_box((state, outcome))
            },
            BatchSize::SmallInput,
        )
    });
    // The borrowing `merge` (the mutation stays usable; values are cloned).
    g.bench_function("sync_core_merge_100_fields", |bench| {
        bench.iter_batched_ref(
            || base.clone(),
            |state| black_box(merge(state, &mb, &schema).unwrap()),
            BatchSize::PerIteration,
        )
    });
    // The same with criterion's `SmallInput` batches: the setting of the first recorded run,
    // for a like-for-like comparison with it.
    g.bench_function("sync_core_merge_100_fields_cold", |bench| {
        bench.iter_batched_ref(
            || base.clone(),
            |state| black_box(merge(state, &mb, &schema).unwrap()),
            BatchSize::SmallInput,
        )
    });
    // The register rule alone.
    g.bench_function("sync_core_register_100_fields", |bench| {
        let values: Vec<_> = (0..KEYS).map(|i| json!(format!("b {i}"))).collect();
        bench.iter_batched_ref(
            || {
                (0..KEYS)
                    .map(|i| ScalarField {
                        value: json!(format!("a {i}")),
                        stamp: at(1, A),
                    })
                    .collect::<Vec<_>>()
            },
            |fields| {
                let mut conflicts = Vec::new();
                for (f, v) in fields.iter_mut().zip(&values) {
                    merge_scalar("name", f, v, at(2, B), &mut conflicts);
                }
                black_box(conflicts)
            },
            BatchSize::PerIteration,
        )
    });
    // The owned register rule alone (incoming values moved in; cloning them is set-up).
    g.bench_function("sync_core_register_owned_100_fields", |bench| {
        let values: Vec<_> = (0..KEYS).map(|i| json!(format!("b {i}"))).collect();
        bench.iter_batched_ref(
            || {
                let fields = (0..KEYS)
                    .map(|i| ScalarField {
                        value: json!(format!("a {i}")),
                        stamp: at(1, A),
                    })
                    .collect::<Vec<_>>();
                (fields, values.clone())
            },
            |(fields, values)| {
                let mut conflicts = Vec::new();
                for (f, v) in fields.iter_mut().zip(values.drain(..)) {
                    merge_scalar_owned("name", f, v, at(2, B), &mut conflicts);
                }
                black_box(conflicts)
            },
            BatchSize::PerIteration,
        )
    });
    // automerge: two actors set the same keys, then one merges the other.
    let names = field_names();
    let mut doc_a = AutoCommit::new();
    for n in &names {
        doc_a.put(ROOT, n.as_str(), "base").unwrap();
    }
    doc_a.commit();
    g.bench_function("automerge_merge_100_keys", |bench| {
        bench.iter_batched(
            || {
                let mut a = doc_a.fork();
                let mut b = doc_a.fork();
                for n in &names {
                    a.put(ROOT, n.as_str(), format!("a {n}")).unwrap();
                    b.put(ROOT, n.as_str(), format!("b {n}")).unwrap();
                }
                a.commit();
                b.commit();
                (a, b)
            },
            |(mut a, mut b)| {
                a.merge(&mut b).unwrap();
                black_box(a)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn set_benches(c: &mut Criterion) {
    let schema = schema();
    let tags: Vec<_> = (0..ELEMENTS).map(|i| json!(format!("Tag {i}"))).collect();
    let mut state = RecordState::new();
    let add_a = upsert(
        at(1, A),
        BTreeMap::from([(
            "tags".to_owned(),
            FieldChange::Set {
                add: tags.clone(),
                remove: vec![],
            },
        )]),
    );
    merge(&mut state, &add_a, &schema).unwrap();
    // Device B removes half the tags and re-adds the other half, concurrently.
    let change_b = upsert(
        at(2, B),
        BTreeMap::from([(
            "tags".to_owned(),
            FieldChange::Set {
                add: tags[..ELEMENTS / 2].to_vec(),
                remove: tags[ELEMENTS / 2..].to_vec(),
            },
        )]),
    );
    let mut g = c.benchmark_group("set");
    g.throughput(Throughput::Elements(ELEMENTS as u64));
    g.bench_function("sync_core_merge_100_elements", |bench| {
        // The server's path (`merge_owned`), as for scalars.
        bench.iter_batched(
            || (state.clone(), change_b.clone()),
            |(mut s, m)| {
                let outcome = merge_owned(&mut s, m, &schema).unwrap();
                black_box((s, outcome))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn text_benches(c: &mut Criterion) {
    let (base, current, incoming) = notes();
    let merged = merge3(&current, &base, &incoming);
    assert!(merged.overlaps.is_empty());
    assert_eq!(merged.text.len(), current.len() + incoming.len() - base.len());

    let mut g = c.benchmark_group("text_2kb");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sync_core_merge3", |bench| {
        bench.iter(|| black_box(merge3(black_box(&current), &base, &incoming)))
    });
    let schema = schema();
    let mut state = RecordState::new();
    let seed = upsert(
        at(1, A),
        BTreeMap::from([(
            "notes".to_owned(),
            FieldChange::Text {
                base: String::new(),
                value: current.clone(),
            },
        )]),
    );
    merge(&mut state, &seed, &schema).unwrap();
    let edit = upsert(
        at(2, B),
        BTreeMap::from([(
            "notes".to_owned(),
            FieldChange::Text {
                base: base.clone(),
                value: incoming.clone(),
            },
        )]),
    );
    g.bench_function("sync_core_merge_mutation", |bench| {
        // The server's path (`merge_owned`), as for scalars.
        bench.iter_batched(
            || (state.clone(), edit.clone()),
            |(mut s, m)| {
                let outcome = merge_owned(&mut s, m, &schema).unwrap();
                black_box((s, outcome))
            },
            BatchSize::PerIteration,
        )
    });
    // automerge: two actors edit the same 2 KB text, then one merges the other.
    let mut doc = AutoCommit::new();
    let text = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
    doc.splice_text(&text, 0, 0, &base).unwrap();
    doc.commit();
    g.bench_function("automerge_merge", |bench| {
        bench.iter_batched(
            || {
                let mut a = doc.fork();
                let mut b = doc.fork();
                a.splice_text(&text, 120, 0, "call her back about the Jelly day ")
                    .unwrap();
                b.splice_text(&text, 1900, 0, "she can offer an intro to the transit team ")
                    .unwrap();
                a.commit();
                b.commit();
                (a, b)
            },
            |(mut a, mut b)| {
                a.merge(&mut b).unwrap();
                black_box(a)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Writing a merge state as JSON, as the server stores it at every push: a contact's ten
/// fields (scalars, two sets, two texts), each with its stamp.
fn state_json_benches(c: &mut Criterion) {
    let schema = CollectionSchema::new("contacts")
        .sets(["tags", "emails"])
        .texts(["notes", "how_we_met"]);
    let mut fields: BTreeMap<String, FieldChange> = [
        "name",
        "organization",
        "job_title",
        "city",
        "starred",
        "met_in_person",
    ]
    .iter()
    .map(|n| (n.to_string(), FieldChange::Scalar(json!(format!("{n} of Lise")))))
    .collect();
    for set in ["tags", "emails"] {
        let add = vec![json!(format!("{set} one")), json!(format!("{set} two"))];
        fields.insert(set.into(), FieldChange::Set { add, remove: vec![] });
    }
    for text in ["notes", "how_we_met"] {
        let value = "Met at the apéro on the canal; talks about bikes and cooperatives.".to_owned();
        fields.insert(
            text.into(),
            FieldChange::Text {
                base: String::new(),
                value,
            },
        );
    }
    let mut state = RecordState::new();
    merge_owned(&mut state, upsert(at(1_795_460_473_712, A), fields), &schema).unwrap();
    let mut g = c.benchmark_group("state_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sync_core_contact_state_to_json", |bench| {
        bench.iter(|| black_box(serde_json::to_string(black_box(&state)).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = configure();
    targets = scalar_benches, set_benches, text_benches, state_json_benches
}
criterion_main!(benches);

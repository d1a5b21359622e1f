//! Random offline histories for the property tests: 3 to 5 devices editing one contact.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;

use serde_json::{json, Value};
use sync_core::{
    merge, normalise_key, Clock, CollectionSchema, Conflict, FieldChange, Hlc, Mutation, Op, RecordState,
};

pub const START_MS: u64 = 1_763_900_000_000;
pub const SEED_TEXT: &str = "we met at the apero near the canal and talked about maps and bikes";
const TAG_POOL: &[&str] = &[
    "Paris", "paris ", " PARIS", "lyon", "Lyon", "apero", "jelly", "colunch",
];

pub fn schema() -> CollectionSchema {
    CollectionSchema::new("contacts")
        .scalars(["name", "city"])
        .sets(["tags"])
        .texts(["notes"])
}

/// One step of a history, as raw numbers proptest can shrink.
#[derive(Debug, Clone)]
pub struct Step {
    pub device: u8,
    pub action: u8,
    pub a: u32,
    pub b: u32,
    pub advance_ms: u8,
}

/// Everything a history did, for the checks.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub mutations: Vec<Mutation>,
    /// (field, value, stamp) of every scalar write.
    pub scalar_writes: Vec<(String, Value, Hlc)>,
    /// (key, value, stamp, is_add) of every set change.
    pub set_ops: Vec<(String, Value, Hlc, bool)>,
    /// (stamp, deleted) of every delete / restore.
    pub existence_ops: Vec<(Hlc, bool)>,
    /// Ids inserted into the notes, each a unique `Q{device}K{n}Z`.
    pub inserted: Vec<String>,
}

struct Device {
    clock: Clock,
    skew_ms: u64,
    text: String,
}

fn node_of(device: usize) -> u128 {
    // Distinct, and not ordered like the device index.
    (0x9e37_79b9_7f4a_7c15_u128 * (device as u128 + 1)) ^ 0x5151
}

fn is_seed_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c == b' '
}

fn is_id_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// Builds the mutations of a random history. Devices edit offline from their own copy of
/// the notes and sometimes pull (from a server that applied everything in creation order).
pub fn build_history(devices: usize, steps: &[Step]) -> History {
    let schema = schema();
    let mut h = History::default();
    let mut devs: Vec<Device> = (0..devices)
        .map(|d| Device {
            clock: Clock::new(node_of(d)),
            skew_ms: (d as u64 * 37) % 90,
            text: SEED_TEXT.to_owned(),
        })
        .collect();
    let mut creation_order = RecordState::new();
    let mut now = START_MS;
    let mut next_id = 0u64;
    let mut push = |h: &mut History,
                    creation_order: &mut RecordState,
                    op: Op,
                    hlc: Hlc,
                    fields: BTreeMap<String, FieldChange>| {
        next_id += 1;
        let m = Mutation {
            mutation_id: next_id,
            collection: "contacts".into(),
            id: "c1".into(),
            op,
            hlc,
            fields,
        };
        merge(creation_order, &m, &schema).unwrap();
        h.mutations.push(m);
    };

    // Device 0 creates the contact.
    {
        let stamp = devs[0].clock.tick(now);
        let mut fields = BTreeMap::new();
        let name = json!("Lise");
        fields.insert("name".into(), FieldChange::Scalar(name.clone()));
        h.scalar_writes.push(("name".into(), name, stamp));
        fields.insert(
            "tags".into(),
            FieldChange::Set {
                add: vec![json!("apero")],
                remove: vec![],
            },
        );
        h.set_ops
            .push((normalise_key(&json!("apero")), json!("apero"), stamp, true));
        fields.insert(
            "notes".into(),
            FieldChange::Text {
                base: String::new(),
                value: SEED_TEXT.into(),
            },
        );
        push(&mut h, &mut creation_order, Op::Upsert, stamp, fields);
    }

    for (k, step) in steps.iter().enumerate() {
        now += u64::from(step.advance_ms % 40);
        let d = step.device as usize % devices;
        let dev = &mut devs[d];
        let local_now = now + dev.skew_ms;
        let mut fields = BTreeMap::new();
        let action = step.action % 12;
        let mut op = Op::Upsert;
        let scalar = |fields: &mut BTreeMap<String, FieldChange>, h: &mut History, stamp: Hlc| {
            let field = ["name", "city"][(step.a % 2) as usize];
            let value = json!(format!("d{d}-w{k}"));
            fields.insert(field.into(), FieldChange::Scalar(value.clone()));
            h.scalar_writes.push((field.into(), value, stamp));
        };
        match action {
            0 | 1 => {
                let stamp = dev.clock.tick(local_now);
                scalar(&mut fields, &mut h, stamp);
                push(&mut h, &mut creation_order, op, stamp, fields);
            }
            2 | 3 => {
                let stamp = dev.clock.tick(local_now);
                let tag = json!(TAG_POOL[step.a as usize % TAG_POOL.len()]);
                let add = action == 2;
                h.set_ops.push((normalise_key(&tag), tag.clone(), stamp, add));
                let (add, remove) = if add {
                    (vec![tag], vec![])
                } else {
                    (vec![], vec![tag])
                };
                fields.insert("tags".into(), FieldChange::Set { add, remove });
                push(&mut h, &mut creation_order, op, stamp, fields);
            }
            4..=6 => {
                let stamp = dev.clock.tick(local_now);
                let base = dev.text.clone();
                let bytes = base.as_bytes();
                let mut pos = step.a as usize % (bytes.len() + 1);
                while pos > 0 && pos < bytes.len() && is_id_char(bytes[pos - 1]) && is_id_char(bytes[pos]) {
                    pos += 1;
                }
                let id = format!("Q{d}K{k}Z");
                let mut value = base.clone();
                value.insert_str(pos, &id);
                h.inserted.push(id);
                dev.text = value.clone();
                fields.insert("notes".into(), FieldChange::Text { base, value });
                if action == 6 {
                    scalar(&mut fields, &mut h, stamp);
                }
                push(&mut h, &mut creation_order, op, stamp, fields);
            }
            7 => {
                let base = dev.text.clone();
                let bytes = base.as_bytes();
                if bytes.is_empty() {
                    continue;
                }
                let start = step.a as usize % bytes.len();
                let mut end = start;
                let max = 1 + step.b as usize % 8;
                while end < bytes.len() && end - start < max && is_seed_char(bytes[end]) {
                    end += 1;
                }
                if end == start {
                    continue;
                }
                let stamp = dev.clock.tick(local_now);
                let mut value = base.clone();
                value.replace_range(start..end, "");
                dev.text = value.clone();
                fields.insert("notes".into(), FieldChange::Text { base, value });
                push(&mut h, &mut creation_order, op, stamp, fields);
            }
            8 | 9 => {
                let stamp = dev.clock.tick(local_now);
                op = if action == 8 { Op::Delete } else { Op::Restore };
                h.existence_ops.push((stamp, op == Op::Delete));
                if op == Op::Restore && step.b % 2 == 0 {
                    scalar(&mut fields, &mut h, stamp);
                }
                push(&mut h, &mut creation_order, op, stamp, fields);
            }
            _ => {
                // Pull: adopt the server's notes and observe its newest stamp.
                if let Some(sync_core::FieldState::Text(t)) = creation_order.fields.get("notes") {
                    dev.text = t.value.clone();
                }
                if let Some(last) = creation_order.applied.iter().next_back() {
                    let _ = dev.clock.observe(*last, local_now);
                }
            }
        }
    }
    h
}

/// A small deterministic generator for delivery schedules.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A delivery: the mutations in a random order, some delivered twice, cut into batches.
pub fn schedule(history: &History, seed: u64) -> Vec<Vec<Mutation>> {
    let mut rng = SplitMix(seed);
    let mut order: Vec<Mutation> = history.mutations.clone();
    for i in (1..order.len()).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    let mut with_dups = Vec::with_capacity(order.len() * 2);
    for m in order {
        let dup = rng.below(4) == 0;
        with_dups.push(m.clone());
        if dup {
            let at = rng.below(with_dups.len() + 1);
            with_dups.insert(at, m);
        }
    }
    let mut batches = Vec::new();
    let mut rest = with_dups.as_slice();
    while !rest.is_empty() {
        let n = (1 + rng.below(5)).min(rest.len());
        batches.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    batches
}

/// Delivers batches to a fresh record, storing and reloading the state (as JSON, as the api
/// does) between batches. Returns the final state and every conflict reported.
pub fn deliver(batches: &[Vec<Mutation>]) -> (RecordState, Vec<Conflict>) {
    let schema = schema();
    let mut stored = serde_json::to_value(RecordState::new()).unwrap();
    let mut conflicts = Vec::new();
    for batch in batches {
        let mut state: RecordState = serde_json::from_value(stored).unwrap();
        for m in batch {
            let outcome = merge(&mut state, m, &schema).unwrap();
            conflicts.extend(outcome.conflicts);
        }
        stored = serde_json::to_value(&state).unwrap();
    }
    (serde_json::from_value(stored).unwrap(), conflicts)
}

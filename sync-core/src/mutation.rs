//! Incoming mutations: their typed form and decoding from the push wire format.
//!
//! Decoding is checked against the collection's [`CollectionSchema`], so a mutation that
//! reaches [`crate::merge`] has the right change shape for every field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use thiserror::Error;

use crate::hlc::{Hlc, ParseHlcError};
use crate::schema::{CollectionSchema, FieldKind};

/// What a mutation does to the record's existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create the record if new, and change fields. Never revives a deleted record.
    Upsert,
    /// Delete the record (a tombstone; fields are kept for a restore).
    Delete,
    /// Bring a deleted record back, optionally changing fields too.
    Restore,
}

impl Op {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
            Op::Restore => "restore",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The change a mutation makes to one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldChange {
    /// New value of a scalar field (any JSON value, `null` included).
    Scalar(Value),
    /// Elements added to and removed from a set field.
    Set {
        /// Elements added.
        add: Vec<Value>,
        /// Elements removed.
        remove: Vec<Value>,
    },
    /// New text of a text field and the text the device edited from.
    Text {
        /// The text as the device had it before the edit.
        base: String,
        /// The text after the edit.
        value: String,
    },
}

impl FieldChange {
    /// The field kind this change applies to.
    pub fn kind(&self) -> FieldKind {
        match self {
            FieldChange::Scalar(_) => FieldKind::Scalar,
            FieldChange::Set { .. } => FieldKind::Set,
            FieldChange::Text { .. } => FieldKind::Text,
        }
    }

    /// The wire form of the change.
    pub fn to_wire(&self) -> Value {
        match self {
            FieldChange::Scalar(v) => v.clone(),
            FieldChange::Set { add, remove } => json!({ "add": add, "remove": remove }),
            FieldChange::Text { base, value } => json!({ "base": base, "value": value }),
        }
    }

    /// Decodes the wire form of a change to a field of kind `kind`.
    pub fn from_wire(field: &str, kind: FieldKind, wire: &Value) -> Result<Self, MutationError> {
        let mismatch = || MutationError::FieldKindMismatch {
            field: field.to_owned(),
            expected: kind,
        };
        match kind {
            FieldKind::Scalar => Ok(FieldChange::Scalar(wire.clone())),
            FieldKind::Set => {
                let obj = wire.as_object().ok_or_else(mismatch)?;
                if !obj.contains_key("add") && !obj.contains_key("remove") {
                    return Err(mismatch());
                }
                let list = |key: &str| -> Result<Vec<Value>, MutationError> {
                    match obj.get(key) {
                        None | Some(Value::Null) => Ok(Vec::new()),
                        Some(Value::Array(items)) => Ok(items.clone()),
                        Some(_) => Err(mismatch()),
                    }
                };
                Ok(FieldChange::Set {
                    add: list("add")?,
                    remove: list("remove")?,
                })
            }
            FieldKind::Text => {
                let obj = wire.as_object().ok_or_else(mismatch)?;
                let text = |key: &str| match obj.get(key) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    _ => Err(mismatch()),
                };
                Ok(FieldChange::Text {
                    base: text("base")?,
                    value: text("value")?,
                })
            }
        }
    }
}

/// One edit from a device's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Per-device increasing id; the api acknowledges replays by it.
    pub mutation_id: u64,
    /// Collection name (`contacts`, `events`, …).
    pub collection: String,
    /// Record id (a UUID string; opaque here).
    pub id: String,
    /// Effect on the record's existence.
    pub op: Op,
    /// The edit's stamp; its node is the device that made it.
    pub hlc: Hlc,
    /// Changed fields (empty for a delete).
    pub fields: BTreeMap<String, FieldChange>,
}

/// Why an incoming mutation was refused. One variant per case, so the api can map each to
/// a problem `code`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MutationError {
    /// The mutation is not a JSON object.
    #[error("mutation must be a JSON object")]
    NotAnObject,
    /// A required key is absent.
    #[error("mutation is missing `{key}`")]
    MissingKey {
        /// The absent key.
        key: &'static str,
    },
    /// A key has the wrong JSON type.
    #[error("mutation `{key}` must be {expected}")]
    InvalidKey {
        /// The offending key.
        key: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `op` is none of `upsert`, `delete`, `restore`.
    #[error("unknown op `{op}` (expected upsert, delete or restore)")]
    UnknownOp {
        /// The op as sent.
        op: String,
    },
    /// `hlc` is not a valid stamp.
    #[error("malformed stamp `{stamp}`: {error}")]
    MalformedStamp {
        /// The stamp as sent.
        stamp: String,
        /// What is wrong with it.
        #[source]
        error: ParseHlcError,
    },
    /// No schema is declared for the collection.
    #[error("unknown collection `{collection}`")]
    UnknownCollection {
        /// The collection as sent.
        collection: String,
    },
    /// The mutation names another collection than the schema it is checked against.
    #[error("mutation is for `{found}`, schema is for `{expected}`")]
    CollectionMismatch {
        /// The schema's collection.
        expected: String,
        /// The mutation's collection.
        found: String,
    },
    /// A field's change does not have the shape of its declared kind.
    #[error("field `{field}` is a {expected} field and its change does not have that shape")]
    FieldKindMismatch {
        /// The field.
        field: String,
        /// Its declared kind.
        expected: FieldKind,
    },
    /// A delete carries field changes.
    #[error("`{op}` takes no fields")]
    FieldsNotAllowed {
        /// The op.
        op: Op,
    },
}

impl MutationError {
    /// A stable snake_case code for problem responses.
    pub fn code(&self) -> &'static str {
        match self {
            MutationError::NotAnObject => "not_an_object",
            MutationError::MissingKey { .. } => "missing_key",
            MutationError::InvalidKey { .. } => "invalid_key",
            MutationError::UnknownOp { .. } => "unknown_op",
            MutationError::MalformedStamp { .. } => "malformed_stamp",
            MutationError::UnknownCollection { .. } => "unknown_collection",
            MutationError::CollectionMismatch { .. } => "collection_mismatch",
            MutationError::FieldKindMismatch { .. } => "field_kind_mismatch",
            MutationError::FieldsNotAllowed { .. } => "fields_not_allowed",
        }
    }
}

fn required<'a>(obj: &'a Map<String, Value>, key: &'static str) -> Result<&'a Value, MutationError> {
    obj.get(key).ok_or(MutationError::MissingKey { key })
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &'static str) -> Result<&'a str, MutationError> {
    required(obj, key)?.as_str().ok_or(MutationError::InvalidKey {
        key,
        expected: "a string",
    })
}

impl Mutation {
    /// The device that made the edit (the stamp's node).
    pub fn device(&self) -> u128 {
        self.hlc.node
    }

    /// Decodes one element of a push's `mutations` array, checking it against `schema`.
    ///
    /// Keys the decoder does not know are ignored; fields the schema does not declare are
    /// kept as scalars.
    pub fn from_wire(wire: &Value, schema: &CollectionSchema) -> Result<Self, MutationError> {
        let obj = wire.as_object().ok_or(MutationError::NotAnObject)?;
        let mutation_id = required(obj, "mutation_id")?
            .as_u64()
            .ok_or(MutationError::InvalidKey {
                key: "mutation_id",
                expected: "a non-negative integer",
            })?;
        let collection = required_str(obj, "collection")?;
        if collection != schema.name {
            return Err(MutationError::CollectionMismatch {
                expected: schema.name.clone(),
                found: collection.to_owned(),
            });
        }
        let id = required_str(obj, "id")?.to_owned();
        let op = match required_str(obj, "op")? {
            "upsert" => Op::Upsert,
            "delete" => Op::Delete,
            "restore" => Op::Restore,
            other => return Err(MutationError::UnknownOp { op: other.to_owned() }),
        };
        let stamp = required_str(obj, "hlc")?;
        let hlc = stamp
            .parse::<Hlc>()
            .map_err(|error| MutationError::MalformedStamp {
                stamp: stamp.to_owned(),
                error,
            })?;
        let mut fields = BTreeMap::new();
        match obj.get("fields") {
            None | Some(Value::Null) => {}
            Some(Value::Object(wire_fields)) => {
                for (name, change) in wire_fields {
                    let kind = schema.kind_of(name);
                    fields.insert(name.clone(), FieldChange::from_wire(name, kind, change)?);
                }
            }
            Some(_) => {
                return Err(MutationError::InvalidKey {
                    key: "fields",
                    expected: "an object",
                })
            }
        }
        let mutation = Mutation {
            mutation_id,
            collection: collection.to_owned(),
            id,
            op,
            hlc,
            fields,
        };
        mutation.check(schema)?;
        Ok(mutation)
    }

    /// Checks a mutation built in code against `schema`: same collection, each change of
    /// its field's kind (undeclared fields are scalars), no fields on a delete.
    pub fn check(&self, schema: &CollectionSchema) -> Result<(), MutationError> {
        if self.collection != schema.name {
            return Err(MutationError::CollectionMismatch {
                expected: schema.name.clone(),
                found: self.collection.clone(),
            });
        }
        if self.op == Op::Delete && !self.fields.is_empty() {
            return Err(MutationError::FieldsNotAllowed { op: self.op });
        }
        // Both maps are sorted by name: unless the schema declares many more fields than the
        // mutation changes, walk the declarations in step instead of searching each name.
        let sparse = schema.fields.len() > 4 * self.fields.len();
        let mut declared = schema.fields.iter().peekable();
        for (name, change) in &self.fields {
            let expected = if sparse {
                schema.kind_of(name)
            } else {
                loop {
                    match declared.peek() {
                        Some((k, kind)) => match k.as_str().cmp(name) {
                            std::cmp::Ordering::Less => {
                                declared.next();
                            }
                            std::cmp::Ordering::Equal => break **kind,
                            std::cmp::Ordering::Greater => break FieldKind::Scalar,
                        },
                        None => break FieldKind::Scalar,
                    }
                }
            };
            if change.kind() != expected {
                return Err(MutationError::FieldKindMismatch {
                    field: name.clone(),
                    expected,
                });
            }
        }
        Ok(())
    }

    /// The wire form, as a device would push it.
    pub fn to_wire(&self) -> Value {
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), v.to_wire()))
            .collect();
        json!({
            "mutation_id": self.mutation_id,
            "collection": self.collection,
            "id": self.id,
            "op": self.op.as_str(),
            "hlc": self.hlc.to_string(),
            "fields": fields,
        })
    }
}

/// The schemas of every synced collection, declared once by the api.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncSchema {
    /// Schemas by collection name.
    pub collections: BTreeMap<String, CollectionSchema>,
}

impl SyncSchema {
    /// No collections yet.
    pub fn new() -> Self {
        SyncSchema::default()
    }

    /// Adds a collection (builder style).
    pub fn with(mut self, schema: CollectionSchema) -> Self {
        self.collections.insert(schema.name.clone(), schema);
        self
    }

    /// The schema of `collection`.
    pub fn get(&self, collection: &str) -> Option<&CollectionSchema> {
        self.collections.get(collection)
    }

    /// Decodes a wire mutation against the schema of the collection it names.
    pub fn decode(&self, wire: &Value) -> Result<Mutation, MutationError> {
        let obj = wire.as_object().ok_or(MutationError::NotAnObject)?;
        let collection = required_str(obj, "collection")?;
        let schema = self
            .get(collection)
            .ok_or_else(|| MutationError::UnknownCollection {
                collection: collection.to_owned(),
            })?;
        Mutation::from_wire(wire, schema)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn contacts() -> CollectionSchema {
        CollectionSchema::new("contacts")
            .scalars(["name"])
            .sets(["tags"])
            .texts(["notes"])
    }

    fn product_example() -> Value {
        json!({ "mutation_id": 1, "collection": "contacts", "id": "01935c1e-0000", "op": "upsert",
          "hlc": "001763900000000-00000-8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f",
          "fields": {
            "name": "Lise Cardinal",
            "tags":  { "add": ["réseautage"], "remove": [] },
            "notes": { "base": "", "value": "Lunch chez Magnan" } } })
    }

    #[test]
    fn decodes_the_product_example() {
        let m = Mutation::from_wire(&product_example(), &contacts()).unwrap();
        assert_eq!(m.op, Op::Upsert);
        assert_eq!(m.device(), 0x8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f);
        assert_eq!(m.fields["name"], FieldChange::Scalar(json!("Lise Cardinal")));
        assert_eq!(
            m.fields["tags"],
            FieldChange::Set {
                add: vec![json!("réseautage")],
                remove: vec![]
            }
        );
        assert_eq!(
            m.fields["notes"],
            FieldChange::Text {
                base: String::new(),
                value: "Lunch chez Magnan".into()
            }
        );
        let again = Mutation::from_wire(&m.to_wire(), &contacts()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn unknown_fields_are_kept_as_scalars() {
        let mut wire = product_example();
        wire["fields"]["pronouns"] = json!({"add": ["she"]});
        let m = Mutation::from_wire(&wire, &contacts()).unwrap();
        assert_eq!(m.fields["pronouns"], FieldChange::Scalar(json!({"add": ["she"]})));
    }

    #[test]
    fn each_error_case_is_typed() {
        let s = contacts();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut w = product_example();
            f(&mut w);
            Mutation::from_wire(&w, &s).unwrap_err()
        };
        assert_eq!(
            Mutation::from_wire(&json!([]), &s).unwrap_err(),
            MutationError::NotAnObject
        );
        assert_eq!(
            with(&|w| w["op"] = json!("merge")),
            MutationError::UnknownOp { op: "merge".into() }
        );
        assert!(matches!(
            with(&|w| w["hlc"] = json!("yesterday")),
            MutationError::MalformedStamp {
                error: ParseHlcError::WrongLength(9),
                ..
            }
        ));
        assert_eq!(
            with(&|w| w["fields"]["tags"] = json!(["réseautage"])),
            MutationError::FieldKindMismatch {
                field: "tags".into(),
                expected: FieldKind::Set
            }
        );
        assert_eq!(
            with(&|w| w["fields"]["notes"] = json!("plain text")),
            MutationError::FieldKindMismatch {
                field: "notes".into(),
                expected: FieldKind::Text
            }
        );
        assert_eq!(
            with(&|w| w["fields"]["tags"] = json!({"add": "one"})),
            MutationError::FieldKindMismatch {
                field: "tags".into(),
                expected: FieldKind::Set
            }
        );
        assert_eq!(
            with(&|w| {
                w["op"] = json!("delete");
            }),
            MutationError::FieldsNotAllowed { op: Op::Delete }
        );
        assert_eq!(
            with(&|w| {
                if let Some(o) = w.as_object_mut() {
                    o.remove("hlc");
                }
            }),
            MutationError::MissingKey { key: "hlc" }
        );
        assert_eq!(
            with(&|w| w["mutation_id"] = json!(-1)),
            MutationError::InvalidKey {
                key: "mutation_id",
                expected: "a non-negative integer"
            }
        );
        assert_eq!(
            with(&|w| w["collection"] = json!("events")),
            MutationError::CollectionMismatch {
                expected: "contacts".into(),
                found: "events".into()
            }
        );
        let all = SyncSchema::new().with(s.clone());
        let mut w = product_example();
        w["collection"] = json!("invoices");
        assert_eq!(
            all.decode(&w).unwrap_err(),
            MutationError::UnknownCollection {
                collection: "invoices".into()
            }
        );
        assert_eq!(MutationError::NotAnObject.code(), "not_an_object");
    }

    /// `check` walks the schema in step with the fields, or searches it when the schema is
    /// much larger than the mutation: both must find every declared kind.
    #[test]
    fn check_finds_declared_kinds_in_both_walks() {
        let schema = CollectionSchema::new("contacts")
            .scalars(["b", "d"])
            .sets(["c", "f", "h", "j"])
            .texts(["e", "g", "i"]);
        let m = |fields: &[(&str, FieldChange)]| Mutation {
            mutation_id: 1,
            collection: "contacts".into(),
            id: "x".into(),
            op: Op::Upsert,
            hlc: Hlc::zero(),
            fields: fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        };
        let scalar = FieldChange::Scalar(json!(1));
        let set = FieldChange::Set {
            add: vec![],
            remove: vec![],
        };
        let text = FieldChange::Text {
            base: String::new(),
            value: String::new(),
        };
        let all = m(&[
            ("a", scalar.clone()),
            ("b", scalar.clone()),
            ("c", set.clone()),
            ("cc", scalar.clone()),
            ("e", text.clone()),
            ("j", set.clone()),
            ("z", scalar.clone()),
        ]);
        assert_eq!(all.check(&schema), Ok(()));
        for (field, change, expected) in [
            ("c", &scalar, FieldKind::Set),
            ("e", &set, FieldKind::Text),
            ("j", &text, FieldKind::Set),
            ("zz", &set, FieldKind::Scalar),
        ] {
            let err = MutationError::FieldKindMismatch {
                field: field.into(),
                expected,
            };
            // One field against nine declarations: searched.
            assert_eq!(m(&[(field, change.clone())]).check(&schema), Err(err.clone()));
            // Among several fields: walked in step.
            let mut many = all.clone();
            many.fields.insert(field.into(), change.clone());
            assert_eq!(many.check(&schema), Err(err));
        }
    }

    #[test]
    fn delete_without_fields_decodes() {
        let w = json!({ "mutation_id": 2, "collection": "contacts", "id": "x", "op": "delete",
            "hlc": "001763900000000-00001-8f0c2d1e9a7b4c3d8e2f1a0b9c8d7e6f" });
        let m = Mutation::from_wire(&w, &contacts()).unwrap();
        assert_eq!(m.op, Op::Delete);
        assert!(m.fields.is_empty());
    }
}

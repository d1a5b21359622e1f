//! Which field of a collection merges by which rule.
//!
//! The api declares one [`CollectionSchema`] per synced collection at start-up. A field the
//! schema does not name (sent by a newer app version) merges as a scalar and is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The merge rule of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Last-writer-wins register ordered by stamp (name, city, starred, dates…).
    Scalar,
    /// Element-wise set with add-wins ties (tags, emails, phones, links).
    Set,
    /// Free text merged three-way (notes, how_we_met, they_brought, descriptions…).
    Text,
}

impl std::fmt::Display for FieldKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FieldKind::Scalar => "scalar",
            FieldKind::Set => "set",
            FieldKind::Text => "text",
        })
    }
}

/// The field kinds of one collection (`contacts`, `events`, …).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CollectionSchema {
    /// The collection name as it appears in mutations.
    pub name: String,
    /// Declared fields. Fields not listed are scalars.
    pub fields: BTreeMap<String, FieldKind>,
}

impl CollectionSchema {
    /// An empty schema for `name`: every field a scalar until declared otherwise.
    pub fn new(name: impl Into<String>) -> Self {
        CollectionSchema {
            name: name.into(),
            fields: BTreeMap::new(),
        }
    }

    /// Declares `field` with `kind` (builder style).
    pub fn field(mut self, field: impl Into<String>, kind: FieldKind) -> Self {
        self.fields.insert(field.into(), kind);
        self
    }

    /// Declares several scalar fields.
    pub fn scalars<'a>(mut self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        for f in fields {
            self.fields.insert(f.to_owned(), FieldKind::Scalar);
        }
        self
    }

    /// Declares several set fields.
    pub fn sets<'a>(mut self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        for f in fields {
            self.fields.insert(f.to_owned(), FieldKind::Set);
        }
        self
    }

    /// Declares several text fields.
    pub fn texts<'a>(mut self, fields: impl IntoIterator<Item = &'a str>) -> Self {
        for f in fields {
            self.fields.insert(f.to_owned(), FieldKind::Text);
        }
        self
    }

    /// The declared kind of `field`, if declared.
    pub fn declared(&self, field: &str) -> Option<FieldKind> {
        self.fields.get(field).copied()
    }

    /// The kind `field` merges with: declared kind, or [`FieldKind::Scalar`] for a field this
    /// server does not know yet (kept, merged last-writer-wins).
    pub fn kind_of(&self, field: &str) -> FieldKind {
        self.declared(field).unwrap_or(FieldKind::Scalar)
    }
}

/// The key two set elements are compared by.
///
/// Strings are trimmed and lowercased (`" Réseautage"` and `"réseautage"` are one tag; emails
/// compare case-insensitively). The api normalises phone numbers to E.164 before they reach
/// the engine, so they need nothing more here. Any other JSON value (an object such as
/// `{"kind": "blog", "url": …}`) is keyed by its canonical JSON text, with object keys sorted,
/// so key order on the wire does not matter; that key starts with a space, which a trimmed
/// string key never does, so the number `1` and the string `"1"` stay distinct elements.
pub fn normalise_key(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_lowercase(),
        other => {
            let mut out = String::from(" ");
            canonical_json(other, &mut out);
            out
        }
    }
}

fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    canonical_json(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_scalars() {
        let s = CollectionSchema::new("contacts")
            .scalars(["name"])
            .sets(["tags"])
            .texts(["notes"]);
        assert_eq!(s.kind_of("tags"), FieldKind::Set);
        assert_eq!(s.kind_of("notes"), FieldKind::Text);
        assert_eq!(s.kind_of("nickname"), FieldKind::Scalar);
        assert_eq!(s.declared("nickname"), None);
    }

    #[test]
    fn keys_trim_and_lowercase_strings_and_sort_object_keys() {
        assert_eq!(normalise_key(&json!("  Réseautage ")), "réseautage");
        assert_eq!(normalise_key(&json!("Lise@Example.COM")), "lise@example.com");
        assert_eq!(
            normalise_key(&json!({"url": "https://a", "kind": "blog"})),
            normalise_key(&json!({"kind": "blog", "url": "https://a"}))
        );
        assert_ne!(normalise_key(&json!(1)), normalise_key(&json!("1")));
    }
}

//! Set fields (tags, emails, phones, links): element-wise merge, add wins ties.
//!
//! The wire carries no causal context (no observed tags), so the rule is built on stamps:
//! every element, keyed by [`normalise_key`], keeps the greatest stamp that added it and the
//! greatest stamp that removed it. It is present iff it has an add stamp and
//! `add_stamp >= remove_stamp`. Max is commutative, associative and idempotent, so every
//! delivery order, duplicate or batching ends in the same set.
//!
//! "Add wins over a concurrent remove" holds in this sense: a remove only takes away adds
//! with a smaller stamp, so an add stamped after the remove (which its device could not
//! have seen) survives it. Between a remove and an add that are truly concurrent, the later
//! stamp wins, as for scalars; only exactly equal stamps (impossible between two devices,
//! since the node is part of the stamp) fall to the add. Removed elements keep a tombstone
//! (their remove stamp) so a late, older add cannot resurrect them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::conflict::{Conflict, ConflictKind};
use crate::hlc::Hlc;
use crate::schema::normalise_key;

/// One element of a set, present or tombstoned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetElement {
    /// The element as written by its greatest add (or, never added, its greatest remove):
    /// the display form, compared by its normalised key.
    pub value: Value,
    /// Greatest stamp that added the element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<Hlc>,
    /// Greatest stamp that removed the element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Hlc>,
}

impl SetElement {
    /// Present iff added, and not removed by a greater stamp (ties go to the add).
    pub fn is_present(&self) -> bool {
        match (self.added, self.removed) {
            (Some(a), Some(r)) => a >= r,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// The merge state of one set field.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SetField {
    /// Elements by normalised key, tombstones included.
    pub elements: BTreeMap<String, SetElement>,
}

fn adds(v: &Value) -> Value {
    json!({ "add": [v] })
}

fn removes(v: &Value) -> Value {
    json!({ "remove": [v] })
}

impl SetField {
    /// The present elements, in normalised-key order.
    pub fn values(&self) -> Vec<Value> {
        self.elements
            .values()
            .filter(|e| e.is_present())
            .map(|e| e.value.clone())
            .collect()
    }

    /// Greatest stamp over every add and remove: the field's stamp in the pull format.
    pub fn stamp(&self) -> Hlc {
        self.elements
            .values()
            .flat_map(|e| e.added.into_iter().chain(e.removed))
            .max()
            .unwrap_or_else(Hlc::zero)
    }

    /// Adds `value` at `stamp`. Returns whether the field's state changed.
    ///
    /// Reports an `overwrite` conflict, when the two stamps come from different devices, if
    /// this add loses to a later remove (`lost` = `{"add": [value]}`), or if it brings back an
    /// element another device had removed (`lost` = `{"remove": [value]}`).
    pub fn add(&mut self, field: &str, value: &Value, stamp: Hlc, conflicts: &mut Vec<Conflict>) -> bool {
        let element = self
            .elements
            .entry(normalise_key(value))
            .or_insert_with(|| SetElement {
                value: value.clone(),
                added: None,
                removed: None,
            });
        let was_present = element.is_present();
        let mut changed = false;
        if element.added.is_none_or(|a| stamp > a) {
            element.added = Some(stamp);
            element.value = value.clone();
            changed = true;
        }
        let now_present = element.is_present();
        if let Some(removed) = element.removed.filter(|r| r.node != stamp.node) {
            if !now_present {
                conflicts.push(Conflict::new(
                    field,
                    ConflictKind::Overwrite,
                    removes(&element.value),
                    adds(value),
                    stamp,
                ));
            } else if !was_present {
                conflicts.push(Conflict::new(
                    field,
                    ConflictKind::Overwrite,
                    adds(value),
                    removes(value),
                    removed,
                ));
            }
        }
        changed
    }

    /// Removes `value` at `stamp`. Returns whether the field's state changed.
    ///
    /// Reports an `overwrite` conflict, when the stamps come from different devices, if this
    /// remove takes away another device's add (`lost` = `{"add": [value]}`) or loses to a
    /// later add (`lost` = `{"remove": [value]}`).
    pub fn remove(&mut self, field: &str, value: &Value, stamp: Hlc, conflicts: &mut Vec<Conflict>) -> bool {
        let element = self
            .elements
            .entry(normalise_key(value))
            .or_insert_with(|| SetElement {
                value: value.clone(),
                added: None,
                removed: None,
            });
        let was_present = element.is_present();
        let mut changed = false;
        if element.removed.is_none_or(|r| stamp > r) {
            element.removed = Some(stamp);
            if element.added.is_none() {
                // A tombstone shows the value of its latest remove, whatever the order.
                element.value = value.clone();
            }
            changed = true;
        }
        let now_present = element.is_present();
        if let Some(added) = element.added.filter(|a| a.node != stamp.node) {
            if was_present && !now_present {
                conflicts.push(Conflict::new(
                    field,
                    ConflictKind::Overwrite,
                    removes(&element.value),
                    adds(&element.value),
                    added,
                ));
            } else if now_present {
                conflicts.push(Conflict::new(
                    field,
                    ConflictKind::Overwrite,
                    adds(&element.value),
                    removes(value),
                    stamp,
                ));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(millis: u64, node: u128) -> Hlc {
        Hlc {
            millis,
            counter: 0,
            node,
        }
    }

    #[test]
    fn elements_compare_by_normalised_key() {
        let mut s = SetField::default();
        let mut c = Vec::new();
        s.add("tags", &json!("Réseautage"), at(1, 1), &mut c);
        s.add("tags", &json!(" réseautage "), at(2, 1), &mut c);
        assert_eq!(s.values(), vec![json!(" réseautage ")]);
        s.remove("tags", &json!("RÉSEAUTAGE"), at(3, 1), &mut c);
        assert!(s.values().is_empty());
        assert!(c.is_empty());
    }

    #[test]
    fn later_stamp_wins_and_ties_go_to_add() {
        for order in [true, false] {
            let mut s = SetField::default();
            let mut c = Vec::new();
            if order {
                s.add("tags", &json!("a"), at(5, 1), &mut c);
                s.remove("tags", &json!("a"), at(5, 1), &mut c);
            } else {
                s.remove("tags", &json!("a"), at(5, 1), &mut c);
                s.add("tags", &json!("a"), at(5, 1), &mut c);
            }
            assert_eq!(s.values(), vec![json!("a")]);
        }
    }

    #[test]
    fn late_old_add_does_not_resurrect_removed_element() {
        let mut s = SetField::default();
        let mut c = Vec::new();
        s.remove("tags", &json!("a"), at(9, 2), &mut c);
        s.add("tags", &json!("a"), at(3, 1), &mut c);
        assert!(s.values().is_empty());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].lost, json!({"add": ["a"]}));
        assert_eq!(c[0].lost_stamp, at(3, 1));
    }

    #[test]
    fn remove_losing_to_later_add_is_reported() {
        let mut s = SetField::default();
        let mut c = Vec::new();
        s.add("tags", &json!("a"), at(9, 1), &mut c);
        s.remove("tags", &json!("a"), at(3, 2), &mut c);
        assert_eq!(s.values(), vec![json!("a")]);
        assert_eq!(c[0].lost, json!({"remove": ["a"]}));
        assert_eq!(c[0].lost_device, 2);
    }

    #[test]
    fn own_device_changes_are_not_conflicts() {
        let mut s = SetField::default();
        let mut c = Vec::new();
        s.add("tags", &json!("a"), at(1, 1), &mut c);
        s.remove("tags", &json!("a"), at(2, 1), &mut c);
        s.add("tags", &json!("a"), at(3, 1), &mut c);
        assert!(c.is_empty());
        assert_eq!(s.stamp(), at(3, 1));
    }
}

//! What a merge decided that a user might want to see or undo.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hlc::{node_serde, Hlc};

/// Pseudo-field name under which races between `delete` and `restore` are reported.
pub const EXISTENCE_FIELD: &str = "_deleted";

/// The kind of automatic choice, as listed by `GET /v1/sync/conflicts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// A value from one device replaced (or was refused in favour of) another device's value:
    /// scalar registers, set elements (`{"add": [x]}` against `{"remove": [x]}`) and the
    /// existence register ([`EXISTENCE_FIELD`], `true` = deleted).
    Overwrite,
    /// Two edits touched the same passage of a text; both versions are in the text, `kept` is
    /// the passage as it was on the server, `lost` the incoming device's version of it.
    TextOverlap,
    /// A field edit and a delete raced: the edit is applied to the deleted record's fields
    /// (`lost` is the field's value, hidden while the record stays deleted) and a restore
    /// brings it back. `kept` is `{"deleted": true}`.
    DeleteEdit,
}

impl ConflictKind {
    /// The wire name (`overwrite`, `text_overlap`, `delete_edit`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ConflictKind::Overwrite => "overwrite",
            ConflictKind::TextOverlap => "text_overlap",
            ConflictKind::DeleteEdit => "delete_edit",
        }
    }
}

/// One automatic choice. The api stores it with the collection, record id and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The field concerned ([`EXISTENCE_FIELD`] for delete/restore races).
    pub field: String,
    /// What kind of choice.
    pub kind: ConflictKind,
    /// The value that stayed.
    pub kept: Value,
    /// The value that lost (or, for `text_overlap`, the incoming version of the passage).
    pub lost: Value,
    /// The stamp of the losing write.
    pub lost_stamp: Hlc,
    /// The device that made the losing write, as 32 hex digits on the wire.
    #[serde(with = "node_serde")]
    pub lost_device: u128,
}

impl Conflict {
    pub(crate) fn new(field: &str, kind: ConflictKind, kept: Value, lost: Value, lost_stamp: Hlc) -> Self {
        Conflict {
            field: field.to_owned(),
            kind,
            kept,
            lost,
            lost_stamp,
            lost_device: lost_stamp.node,
        }
    }
}

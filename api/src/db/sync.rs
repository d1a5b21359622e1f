//! Sync's data layer: synced rows read and written generically as JSON (one statement per
//! collection, built from its column list), the change feed, the device's last mutation id,
//! the conflict history and the tombstone horizon.
//!
//! Rows are read as JSON (`to_json` of their columns) and written from typed arrays, a
//! column's values as text cast to the column's type (read from the catalog), so PostgreSQL
//! does the column conversions and one code path serves every synced table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Json, Nullable, Text, Uuid as SqlUuid};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::schema::{devices, sync_conflicts, sync_horizon};

/// A synced table as this layer sees it. The synced collections (`crate::domain::synced`)
/// describe themselves with it, so the data layer reads and writes them knowing nothing of
/// the layers above.
pub trait SyncedTable: Sync {
    /// The collection's wire name, as the change feed and the conflict history record it.
    fn name(&self) -> &'static str;
    fn table(&self) -> &'static str;
    /// The column the record id is in.
    fn key(&self) -> &'static str;
    /// The column holding the user a new record belongs to, if the table has one.
    fn owner_column(&self) -> Option<&'static str>;
    /// Whether the table has `deleted_at` (records can be deleted and restored).
    fn deletable(&self) -> bool;
    /// The columns pull shows, in their order.
    fn record_columns(&self) -> Vec<&'static str>;
    /// The columns sync reads besides the record: the key, who may see and write the row,
    /// and its times.
    fn meta_columns(&self) -> &'static [&'static str];
}

#[derive(QueryableByName)]
struct RowJson {
    #[diesel(sql_type = Nullable<Text>)]
    record: Option<String>,
    #[diesel(sql_type = Json)]
    meta: Value,
    #[diesel(sql_type = Nullable<Text>)]
    state: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    view: Option<String>,
}

/// A synced row as stored, left unparsed where pull can pass it on as it is.
#[derive(Debug, Clone)]
pub struct SyncedRow {
    /// The columns pull shows (`SyncedTable::record_columns`) as a JSON object. Not read
    /// (`None`) by [`rows_by_ids`] when the row has a view.
    pub record: Option<String>,
    /// The key, who may see and write the row, `updated_at` and `deleted_at`
    /// (`SyncedTable::meta_columns`).
    pub meta: Map<String, Value>,
    /// The merge state as the JSON text of sync-core's `RecordState` (`{}` for a row never
    /// synced). Not read (`None`) by [`rows_by_ids`] when the row has a view.
    pub state: Option<String>,
    /// The pull view, present while the row is in step with its merge state.
    pub view: Option<String>,
}

impl SyncedRow {
    /// Every column read, record and meta, as one map.
    pub fn into_columns(self) -> Map<String, Value> {
        let mut columns: Map<String, Value> = self
            .record
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default();
        columns.extend(self.meta);
        columns
    }
}

impl From<RowJson> for SyncedRow {
    fn from(r: RowJson) -> Self {
        SyncedRow {
            record: r.record,
            meta: object(r.meta),
            state: r.state,
            view: r.view,
        }
    }
}

/// `(SELECT to_json(r) FROM (SELECT t.a, t.b) r)`: the columns as one JSON object, built
/// from a sub-row so the large merge state is not copied into it.
fn json_of<'a>(columns: impl IntoIterator<Item = &'a str>) -> Result<String, diesel::result::Error> {
    let columns = columns
        .into_iter()
        .map(|c| column(c).map(|c| format!("t.{c}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!(
        "(SELECT to_json(r) FROM (SELECT {}) r)",
        columns.join(", ")
    ))
}

/// The select list of a synced row: record, meta, the merge state as text and the view.
/// With `all`, record and state always; else only for rows without a view.
fn synced_row(coll: &dyn SyncedTable, all: bool) -> Result<String, diesel::result::Error> {
    let (open, close) = if all {
        ("", "")
    } else {
        ("CASE WHEN t.sync_view IS NULL THEN ", " END")
    };
    Ok(format!(
        "{open}{}::text{close} AS record, {} AS meta, {open}t.sync_state{close} AS state, \
         t.sync_view AS view",
        json_of(coll.record_columns())?,
        json_of(coll.meta_columns().iter().copied())?,
    ))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Column names come from the static collection declarations; this keeps a mistake there
/// from ever reaching SQL.
fn column(name: &str) -> Result<&str, diesel::result::Error> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        Ok(name)
    } else {
        Err(diesel::result::Error::QueryBuilderError(
            format!("not a column name: {name:?}").into(),
        ))
    }
}

/// The SQL that follows from the synced tables' record columns (`sync_views.sql`: each
/// table's record type and view trigger), for `tables`.
pub fn views_sql(tables: &[&dyn SyncedTable]) -> Result<String, diesel::result::Error> {
    let values = tables
        .iter()
        .map(|t| {
            let columns = t
                .record_columns()
                .into_iter()
                .map(|c| column(c).map(|c| format!("'{c}'")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!(
                "('{}', ARRAY[{}]::text[])",
                column(t.table())?,
                columns.join(", ")
            ))
        })
        .collect::<Result<Vec<_>, diesel::result::Error>>()?;
    Ok(include_str!("sync_views.sql").replace("/* tables */", &values.join(",\n        ")))
}

/// Brings each synced table's record type and view trigger in step with its declared
/// record columns (nothing is done for a table already in step).
pub fn install_views(
    conn: &mut PgConnection,
    tables: &[&dyn SyncedTable],
) -> Result<(), diesel::result::Error> {
    diesel::sql_query(views_sql(tables)?).execute(conn)?;
    Ok(())
}

/// The row of `id`, locked until the transaction ends (any owner: the caller checks access).
pub fn lock_row(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    id: Uuid,
) -> Result<Option<SyncedRow>, diesel::result::Error> {
    Ok(lock_rows(conn, coll, &[id])?.pop())
}

/// The row of `id` if `owner` owns it (its owner column, or its key for the profile card,
/// whose id is its owner's), locked until the transaction ends.
pub fn lock_owned_row(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    owner: Uuid,
    id: Uuid,
) -> Result<Option<SyncedRow>, diesel::result::Error> {
    let sql = format!(
        "SELECT {} FROM {} t WHERE t.{key} = $1 AND t.{owner} = $2 FOR UPDATE",
        synced_row(coll, true)?,
        coll.table(),
        key = coll.key(),
        owner = column(coll.owner_column().unwrap_or(coll.key()))?,
    );
    let row = diesel::sql_query(sql)
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(owner)
        .get_result::<RowJson>(conn)
        .optional()?;
    Ok(row.map(SyncedRow::from))
}

/// The rows of `ids` that exist, locked until the transaction ends, in key order (so two
/// pushes lock common rows in the same order).
pub fn lock_rows(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    ids: &[Uuid],
) -> Result<Vec<SyncedRow>, diesel::result::Error> {
    let sql = format!(
        "SELECT {} FROM {} t WHERE t.{key} = ANY($1) ORDER BY t.{key} FOR UPDATE",
        synced_row(coll, true)?,
        coll.table(),
        key = coll.key()
    );
    let rows = diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(ids)
        .load::<RowJson>(conn)?;
    Ok(rows.into_iter().map(SyncedRow::from).collect())
}

/// The rows of `ids` (those that still exist); with `all`, record and merge state of every
/// row, else only of rows without a view.
pub fn rows_by_ids(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    ids: &[Uuid],
    all: bool,
) -> Result<Vec<SyncedRow>, diesel::result::Error> {
    // A join with the ids rather than `= ANY($1)`: the planner estimates `= ANY` element by
    // element, about a millisecond of planning for a page of a thousand ids; it does not
    // look into `unnest`.
    let sql = format!(
        "SELECT {} FROM unnest($1::uuid[]) AS k(id) JOIN {} t ON t.{} = k.id",
        synced_row(coll, all)?,
        coll.table(),
        coll.key()
    );
    let rows = diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(ids)
        .load::<RowJson>(conn)?;
    Ok(rows.into_iter().map(SyncedRow::from).collect())
}

/// Of the rows `ids`, those whose merge state holds a stamp of node `node` (the 32 hex digits
/// of a device id): rows that device wrote. The ids come from the reader's own change feed,
/// which is the scope check (as for [`rows_by_ids`]).
pub fn written_by(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    ids: &[Uuid],
    node: &str,
) -> Result<Vec<Uuid>, diesel::result::Error> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
    }
    let sql = format!(
        "SELECT t.{key} AS id FROM unnest($1::uuid[]) AS k(id) JOIN {table} t ON t.{key} = k.id \
         WHERE strpos(t.sync_state::text, $2) > 0",
        key = column(coll.key())?,
        table = coll.table(),
    );
    let rows = diesel::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Text, _>(node)
        .load::<Key>(conn)?;
    Ok(rows.into_iter().map(|k| k.id).collect())
}

/// A merge state to store: the state (JSON, serialised once) and its pull view.
pub struct StateWrite<'a> {
    pub state: &'a RawValue,
    pub view: &'a str,
}

/// One record written by a push: its column values, merge state and view.
pub struct RowWrite<'a> {
    pub id: Uuid,
    /// The owner of a new record (ignored for updates and for collections without one).
    pub owner: Uuid,
    pub values: &'a Map<String, Value>,
    pub write: StateWrite<'a>,
    pub deleted: bool,
}

/// Rows of one statement: those whose `values` have the same columns.
fn by_shape<'r, 'a>(rows: &'r [RowWrite<'a>]) -> Vec<(Vec<&'r str>, Vec<&'r RowWrite<'a>>)> {
    let mut groups: Vec<(Vec<&str>, Vec<&RowWrite>)> = Vec::new();
    for row in rows {
        let shape: Vec<&str> = row.values.keys().map(String::as_str).collect();
        match groups.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, members)) => members.push(row),
            None => groups.push((shape, vec![row])),
        }
    }
    groups
}

/// How a column's values travel to PostgreSQL in a batched write: as text in the input syntax
/// of the column's type, cast back in the statement.
#[derive(Debug, Clone)]
struct ColumnType {
    /// The type as `format_type` names it, without modifier (`text[]`, `uuid`, `timestamp
    /// with time zone`); the assignment to the column applies any length limit.
    name: String,
    /// An array type: a JSON array is written as an array literal.
    array: bool,
    /// `json` or `jsonb`: every value is written as its JSON text.
    json: bool,
}

#[derive(QueryableByName)]
struct CatalogColumn {
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    type_name: String,
    #[diesel(sql_type = Bool)]
    array: bool,
}

/// A table's columns: their types.
type ColumnTypes = HashMap<String, ColumnType>;

/// The column types of a synced table, read from the catalog at its first batched write and
/// kept: migrations run before the server serves, so they do not change while it runs.
fn column_types(conn: &mut PgConnection, table: &str) -> Result<Arc<ColumnTypes>, diesel::result::Error> {
    static TYPES: Mutex<Option<HashMap<String, Arc<ColumnTypes>>>> = Mutex::new(None);
    let cached = |table: &str| {
        TYPES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|tables| tables.get(table).cloned())
    };
    if let Some(types) = cached(table) {
        return Ok(types);
    }
    let rows: Vec<CatalogColumn> = diesel::sql_query(
        "SELECT a.attname::text AS column_name, format_type(a.atttypid, NULL) AS type_name, \
                t.typcategory = 'A' AS array \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .bind::<Text, _>(table)
    .load(conn)?;
    let types: ColumnTypes = rows
        .into_iter()
        .map(|r| {
            let json = matches!(r.type_name.as_str(), "json" | "jsonb");
            let ty = ColumnType {
                name: r.type_name,
                array: r.array,
                json,
            };
            (r.column_name, ty)
        })
        .collect();
    let types = Arc::new(types);
    TYPES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(table.to_owned(), types.clone());
    Ok(types)
}

/// `value` in the input syntax of a column of type `ty`; `None` for SQL NULL. Strings go as
/// they are, JSON arrays into array columns as array literals, anything else as its JSON
/// text (numbers, booleans, and every value of a `json`/`jsonb` column).
fn text_input(value: &Value, ty: &ColumnType) -> Option<String> {
    match value {
        Value::Null => None,
        _ if ty.json => Some(value.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if ty.array => {
            let mut literal = String::from("{");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    literal.push(',');
                }
                match item {
                    Value::Null => literal.push_str("NULL"),
                    Value::String(s) => quote_element(&mut literal, s),
                    other => quote_element(&mut literal, &other.to_string()),
                }
            }
            literal.push('}');
            Some(literal)
        }
        other => Some(other.to_string()),
    }
}

/// Appends `s` to an array literal as a quoted element.
fn quote_element(literal: &mut String, s: &str) {
    literal.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            literal.push('\\');
        }
        literal.push(c);
    }
    literal.push('"');
}

/// One parameter of a batched write: a column of the batch.
enum Param<'a> {
    Uuids(Vec<Uuid>),
    Texts(Vec<Option<String>>),
    Strs(Vec<&'a str>),
    Flags(Vec<bool>),
}

/// The rows of one batched write, as `FROM` and parameters: `unnest($1, $2, …) AS u(k, o,
/// c0, c1, …, st, vw, del)`, one array per column: the keys (`u.k`), the owners of new
/// records (`u.o`, when `with_owner`), the values of the shape's columns as text, the merge
/// states, views and deleted flags. Typed arrays spare PostgreSQL parsing the batch as JSONB
/// and populating a record from each element (a fifth of its time in a push).
struct Batch<'a> {
    source: String,
    /// For each column of the shape, its value in `u`, cast to the column's type.
    values: Vec<String>,
    params: Vec<Param<'a>>,
}

impl<'a> Batch<'a> {
    fn new(
        coll: &dyn SyncedTable,
        types: &ColumnTypes,
        shape: &[&str],
        rows: &[&'a RowWrite<'a>],
        with_owner: bool,
    ) -> Result<Self, diesel::result::Error> {
        let unknown = |what: String| diesel::result::Error::QueryBuilderError(what.into());
        if types.is_empty() {
            return Err(unknown(format!("no table {}", coll.table())));
        }
        let mut params = vec![Param::Uuids(rows.iter().map(|r| r.id).collect())];
        let mut names = vec!["k".to_owned()];
        if with_owner {
            params.push(Param::Uuids(rows.iter().map(|r| r.owner).collect()));
            names.push("o".into());
        }
        let mut values = Vec::with_capacity(shape.len());
        for (i, name) in shape.iter().enumerate() {
            let ty = types
                .get(*name)
                .ok_or_else(|| unknown(format!("no column {}.{name}", coll.table())))?;
            params.push(Param::Texts(
                rows.iter()
                    .map(|r| r.values.get(*name).and_then(|v| text_input(v, ty)))
                    .collect(),
            ));
            names.push(format!("c{i}"));
            values.push(format!("u.c{i}::{}", ty.name));
        }
        params.push(Param::Strs(rows.iter().map(|r| r.write.state.get()).collect()));
        params.push(Param::Strs(rows.iter().map(|r| r.write.view).collect()));
        params.push(Param::Flags(rows.iter().map(|r| r.deleted).collect()));
        names.extend(["st", "vw", "del"].map(String::from));
        let arrays: Vec<String> = params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let ty = match p {
                    Param::Uuids(_) => "uuid",
                    Param::Texts(_) | Param::Strs(_) => "text",
                    Param::Flags(_) => "boolean",
                };
                format!("${}::{ty}[]", i + 1)
            })
            .collect();
        Ok(Batch {
            source: format!("unnest({}) AS u({})", arrays.join(", "), names.join(", ")),
            values,
            params,
        })
    }

    fn execute(self, conn: &mut PgConnection, sql: String) -> Result<(), diesel::result::Error> {
        let mut query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
        for param in self.params {
            query = match param {
                Param::Uuids(v) => query.bind::<Array<SqlUuid>, _>(v),
                Param::Texts(v) => query.bind::<Array<Nullable<Text>>, _>(v),
                Param::Strs(v) => query.bind::<Array<Text>, _>(v),
                Param::Flags(v) => query.bind::<Array<Bool>, _>(v),
            };
        }
        query.execute(conn)?;
        Ok(())
    }
}

/// Runs, for each shape of values among `rows`, the statement `sql` builds from the shape's
/// columns and their [`Batch`].
fn write_by_shape(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    rows: &[RowWrite],
    with_owner: bool,
    sql: impl Fn(&[&str], &Batch) -> String,
) -> Result<(), diesel::result::Error> {
    let types = column_types(conn, coll.table())?;
    for (shape, members) in by_shape(rows) {
        let shape = shape.into_iter().map(column).collect::<Result<Vec<_>, _>>()?;
        let batch = Batch::new(coll, &types, &shape, &members, with_owner)?;
        let sql = sql(&shape, &batch);
        batch.execute(conn, sql)?;
    }
    Ok(())
}

/// Inserts records created by a push, one statement per shape of values.
pub fn insert_rows(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    rows: &[RowWrite],
) -> Result<(), diesel::result::Error> {
    let owner = coll.owner_column().filter(|o| *o != coll.key());
    write_by_shape(conn, coll, rows, owner.is_some(), |shape, batch| {
        let mut columns: Vec<&str> = [coll.key()].into_iter().chain(owner).collect();
        let mut selects: Vec<String> = vec!["u.k".into()];
        if owner.is_some() {
            selects.push("u.o".into());
        }
        columns.extend(shape);
        selects.extend(batch.values.iter().cloned());
        columns.extend(["sync_state", "sync_view"]);
        selects.extend(["u.st".to_owned(), "u.vw".to_owned()]);
        if coll.deletable() {
            columns.push("deleted_at");
            selects.push("CASE WHEN u.del THEN now() END".into());
        }
        format!(
            "INSERT INTO {table} ({columns}) SELECT {selects} FROM {source}",
            table = coll.table(),
            columns = columns.join(", "),
            selects = selects.join(", "),
            source = batch.source,
        )
    })
}

/// Writes the merged values, states and views of existing records, one statement per shape.
pub fn update_rows(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    rows: &[RowWrite],
) -> Result<(), diesel::result::Error> {
    write_by_shape(conn, coll, rows, false, |shape, batch| {
        let mut sets: Vec<String> = shape
            .iter()
            .zip(&batch.values)
            .map(|(name, value)| format!("{name} = {value}"))
            .collect();
        sets.push("sync_state = u.st".into());
        sets.push("sync_view = u.vw".into());
        sets.push("updated_at = now()".into());
        if coll.deletable() {
            sets.push("deleted_at = CASE WHEN u.del THEN coalesce(t.deleted_at, now()) END".into());
        }
        format!(
            "UPDATE {table} AS t SET {sets} FROM {source} WHERE t.{key} = u.k",
            table = coll.table(),
            key = coll.key(),
            sets = sets.join(", "),
            source = batch.source,
        )
    })
}

/// Stores a record's merge state and view only (its columns are unchanged).
pub fn set_state(
    conn: &mut PgConnection,
    coll: &dyn SyncedTable,
    id: Uuid,
    write: &StateWrite,
) -> Result<(), diesel::result::Error> {
    let sql = format!(
        "UPDATE {} SET sync_state = $1, sync_view = $3 WHERE {} = $2",
        coll.table(),
        coll.key()
    );
    diesel::sql_query(sql)
        .bind::<Text, _>(write.state.get())
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(write.view)
        .execute(conn)?;
    Ok(())
}

/// The organizer's own attendance at an event created by a push.
pub fn insert_organizer_attendance(
    conn: &mut PgConnection,
    event_id: Uuid,
    organizer: Uuid,
    checkin_code: &str,
) -> Result<(), diesel::result::Error> {
    use super::schema::attendances;
    diesel::insert_into(attendances::table)
        .values((
            attendances::id.eq(Uuid::now_v7()),
            attendances::event_id.eq(event_id),
            attendances::user_id.eq(organizer),
            attendances::role.eq("organizer"),
            attendances::status.eq("registered"),
            attendances::checkin_code.eq(checkin_code),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    yes: bool,
}

/// True when `contact` is a live contact of `owner`.
pub fn owns_contact(
    conn: &mut PgConnection,
    owner: Uuid,
    contact: Uuid,
) -> Result<bool, diesel::result::Error> {
    let flag = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL) AS yes",
    )
    .bind::<SqlUuid, _>(contact)
    .bind::<SqlUuid, _>(owner)
    .get_result::<Flag>(conn)?;
    Ok(flag.yes)
}

#[derive(QueryableByName)]
struct EventId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// The events in `user`'s sync scope: those they organise, and those they attend (not
/// cancelled). Second list: the ones they organise.
pub fn scope_events(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<(Vec<Uuid>, Vec<Uuid>), diesel::result::Error> {
    let organised: Vec<EventId> = diesel::sql_query("SELECT id FROM events WHERE organizer_id = $1")
        .bind::<SqlUuid, _>(user)
        .load(conn)?;
    let attended: Vec<EventId> = diesel::sql_query(
        "SELECT event_id AS id FROM attendances \
         WHERE user_id = $1 AND status <> 'cancelled' AND deleted_at IS NULL",
    )
    .bind::<SqlUuid, _>(user)
    .load(conn)?;
    let organised: Vec<Uuid> = organised.into_iter().map(|e| e.id).collect();
    let mut all = organised.clone();
    for e in attended {
        if !all.contains(&e.id) {
            all.push(e.id);
        }
    }
    Ok((all, organised))
}

/// The device's last applied mutation id, the device row locked (pushes of one device are
/// applied one at a time). `None` when the device is not `owner`'s.
pub fn lock_device(
    conn: &mut PgConnection,
    owner: Uuid,
    device: Uuid,
) -> Result<Option<i64>, diesel::result::Error> {
    devices::table
        .filter(devices::id.eq(device))
        .filter(devices::owner_id.eq(owner))
        .select(devices::last_mutation_id)
        .for_update()
        .first(conn)
        .optional()
}

/// The device's last applied mutation id, `None` when the device is not `owner`'s.
pub fn device_last_mutation(
    conn: &mut PgConnection,
    owner: Uuid,
    device: Uuid,
) -> Result<Option<i64>, diesel::result::Error> {
    devices::table
        .filter(devices::id.eq(device))
        .filter(devices::owner_id.eq(owner))
        .select(devices::last_mutation_id)
        .first(conn)
        .optional()
}

pub fn set_device_last_mutation(
    conn: &mut PgConnection,
    device: Uuid,
    last: i64,
) -> Result<(), diesel::result::Error> {
    diesel::update(devices::table.filter(devices::id.eq(device)))
        .set(devices::last_mutation_id.eq(last))
        .execute(conn)?;
    Ok(())
}

/// One conflict to record.
#[derive(Debug, Insertable)]
#[diesel(table_name = sync_conflicts)]
pub struct NewConflict {
    pub user_id: Uuid,
    pub collection: String,
    pub record_id: Uuid,
    pub field: String,
    pub kind: String,
    pub kept: Value,
    pub lost: Value,
    pub lost_stamp: String,
    pub lost_device: String,
}

pub fn insert_conflicts(
    conn: &mut PgConnection,
    conflicts: &[NewConflict],
) -> Result<(), diesel::result::Error> {
    if !conflicts.is_empty() {
        diesel::insert_into(sync_conflicts::table)
            .values(conflicts)
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sync_conflicts)]
pub struct ConflictRow {
    pub id: i64,
    pub collection: String,
    pub record_id: Uuid,
    pub field: String,
    pub kind: String,
    pub kept: Value,
    pub lost: Value,
    pub lost_stamp: String,
    pub lost_device: String,
    pub at: DateTime<Utc>,
}

/// A page of the user's conflicts, newest first, below `before` (up to `limit + 1`).
pub fn list_conflicts(
    conn: &mut PgConnection,
    user: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ConflictRow>, diesel::result::Error> {
    let mut query = sync_conflicts::table
        .filter(sync_conflicts::user_id.eq(user))
        .order(sync_conflicts::id.desc())
        .limit(limit + 1)
        .select(ConflictRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(sync_conflicts::id.lt(before));
    }
    query.load(conn)
}

/// Removes the change rows addressed to a user (their erasure: nobody will pull them). Rows
/// addressed to an event's members stay, so the others learn what left.
pub fn forget_user(conn: &mut PgConnection, user: Uuid) -> Result<usize, diesel::result::Error> {
    diesel::sql_query("DELETE FROM sync_changes WHERE user_id = $1")
        .bind::<SqlUuid, _>(user)
        .execute(conn)
}

/// Every conflict recorded on the user's records, oldest first (for their export).
pub fn all_conflicts(conn: &mut PgConnection, user: Uuid) -> Result<Vec<ConflictRow>, diesel::result::Error> {
    sync_conflicts::table
        .filter(sync_conflicts::user_id.eq(user))
        .order(sync_conflicts::id)
        .select(ConflictRow::as_select())
        .load(conn)
}

/// A position in the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub xid: i64,
    pub seq: i64,
}

#[derive(Debug, QueryableByName)]
pub struct ChangeRow {
    #[diesel(sql_type = BigInt)]
    pub xid: i64,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub collection: String,
    #[diesel(sql_type = SqlUuid)]
    pub record_id: Uuid,
}

impl ChangeRow {
    pub fn position(&self) -> Position {
        Position {
            xid: self.xid,
            seq: self.seq,
        }
    }
}

/// The fence: every transaction below it has ended, so no change row below it can still
/// appear. Read in the caller's snapshot (call inside a repeatable-read transaction, first).
pub fn fence(conn: &mut PgConnection) -> Result<i64, diesel::result::Error> {
    Ok(snapshot(conn)?.xmin)
}

/// The transactions of the caller's snapshot: those below `xmin` have ended, those from
/// `xmax` on had not started, and `running` were in progress between the two.
#[derive(Debug, Clone, PartialEq, Eq, Default, QueryableByName)]
pub struct Snapshot {
    #[diesel(sql_type = BigInt)]
    pub xmin: i64,
    #[diesel(sql_type = BigInt)]
    pub xmax: i64,
    #[diesel(sql_type = Array<BigInt>)]
    pub running: Vec<i64>,
}

/// The caller's snapshot (call first in a repeatable-read transaction); its `xmin` is the
/// [`fence`].
pub fn snapshot(conn: &mut PgConnection) -> Result<Snapshot, diesel::result::Error> {
    diesel::sql_query(
        "SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax, \
                ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x) AS running \
         FROM pg_current_snapshot() AS s",
    )
    .get_result(conn)
}

/// Makes the rest of the transaction read the change feed by walking its (user or event,
/// xid, seq) indexes in order. Without it, right after a bulk write (before the statistics
/// catch up) the planner may collect every later row of the user and sort them on each page,
/// which makes an initial sync quadratic.
pub fn read_feed_in_order(conn: &mut PgConnection) -> Result<(), diesel::result::Error> {
    diesel::sql_query("SELECT set_config('enable_bitmapscan', 'off', true)").execute(conn)?;
    Ok(())
}

/// Up to `limit` change rows after `after` seen by `user` directly or as a member of
/// `events`, in feed order.
pub fn changes_after(
    conn: &mut PgConnection,
    user: Uuid,
    events: &[Uuid],
    after: Position,
    limit: i64,
) -> Result<Vec<ChangeRow>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT xid, seq, collection, record_id FROM ( \
           (SELECT xid, seq, collection, record_id FROM sync_changes \
             WHERE user_id = $1 AND (xid, seq) > ($2, $3) ORDER BY xid, seq LIMIT $4) \
           UNION ALL \
           (SELECT xid, seq, collection, record_id FROM sync_changes \
             WHERE event_id = ANY($5) AND (xid, seq) > ($2, $3) ORDER BY xid, seq LIMIT $4) \
         ) c ORDER BY xid, seq LIMIT $4",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<BigInt, _>(after.xid)
    .bind::<BigInt, _>(after.seq)
    .bind::<BigInt, _>(limit)
    .bind::<Array<SqlUuid>, _>(events)
    .load(conn)
}

/// Up to `limit` change rows in (`after`, `upto`] whose transaction is below `fence`:
/// the rows of a pull's window that are now final.
pub fn changes_settled(
    conn: &mut PgConnection,
    user: Uuid,
    events: &[Uuid],
    after: Position,
    upto: Position,
    fence: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, diesel::result::Error> {
    diesel::sql_query(
        "SELECT xid, seq, collection, record_id FROM ( \
           (SELECT xid, seq, collection, record_id FROM sync_changes \
             WHERE user_id = $1 AND (xid, seq) > ($2, $3) AND (xid, seq) <= ($6, $7) AND xid < $8 \
             ORDER BY xid, seq LIMIT $4) \
           UNION ALL \
           (SELECT xid, seq, collection, record_id FROM sync_changes \
             WHERE event_id = ANY($5) AND (xid, seq) > ($2, $3) AND (xid, seq) <= ($6, $7) AND xid < $8 \
             ORDER BY xid, seq LIMIT $4) \
         ) c ORDER BY xid, seq LIMIT $4",
    )
    .bind::<SqlUuid, _>(user)
    .bind::<BigInt, _>(after.xid)
    .bind::<BigInt, _>(after.seq)
    .bind::<BigInt, _>(limit)
    .bind::<Array<SqlUuid>, _>(events)
    .bind::<BigInt, _>(upto.xid)
    .bind::<BigInt, _>(upto.seq)
    .bind::<BigInt, _>(fence)
    .load(conn)
}

/// Whether anything in `user`'s scope changed after `after` (committed and visible).
pub fn has_changes_after(
    conn: &mut PgConnection,
    user: Uuid,
    events: &[Uuid],
    after: Position,
) -> Result<bool, diesel::result::Error> {
    Ok(!changes_after(conn, user, events, after, 1)?.is_empty())
}

/// The oldest cursor position still valid.
pub fn horizon(conn: &mut PgConnection) -> Result<Position, diesel::result::Error> {
    let (xid, seq) = sync_horizon::table
        .select((sync_horizon::xid, sync_horizon::seq))
        .first::<(i64, i64)>(conn)
        .optional()?
        .unwrap_or((0, 0));
    Ok(Position { xid, seq })
}

#[derive(QueryableByName)]
struct Boundary {
    #[diesel(sql_type = Nullable<BigInt>)]
    xid: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<i64>,
}

/// Tombstone retention: records deleted before `cutoff` are removed for good, change rows
/// older than `cutoff` are compacted to the latest one per record and audience, and the
/// horizon moves to the last compacted position (older cursors get `cursor_expired`).
/// Answers how many rows went.
pub fn collect_tombstones(
    conn: &mut PgConnection,
    tables: &[&dyn SyncedTable],
    cutoff: DateTime<Utc>,
) -> Result<usize, diesel::result::Error> {
    conn.transaction(|conn| {
        let mut removed = 0;
        for table in ["interactions", "reminders", "contacts", "attendances", "events"] {
            removed += diesel::sql_query(format!("DELETE FROM {table} WHERE deleted_at < $1"))
                .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
                .execute(conn)?;
        }
        let boundary = diesel::sql_query(
            "SELECT xid, seq FROM sync_changes \
             WHERE changed_at < $1 AND xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             ORDER BY xid DESC, seq DESC LIMIT 1",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
        .get_result::<Boundary>(conn)
        .optional()?;
        let Some(Boundary {
            xid: Some(xid),
            seq: Some(seq),
        }) = boundary
        else {
            return Ok(removed);
        };
        removed += diesel::sql_query(
            "DELETE FROM sync_changes c WHERE (c.xid, c.seq) <= ($1, $2) AND EXISTS ( \
               SELECT 1 FROM sync_changes d WHERE d.record_id = c.record_id AND d.collection = c.collection \
                 AND d.user_id IS NOT DISTINCT FROM c.user_id AND d.event_id IS NOT DISTINCT FROM c.event_id \
                 AND (d.xid, d.seq) > (c.xid, c.seq))",
        )
        .bind::<BigInt, _>(xid)
        .bind::<BigInt, _>(seq)
        .execute(conn)?;
        for coll in tables {
            removed += diesel::sql_query(format!(
                "DELETE FROM sync_changes c WHERE c.collection = $3 AND (c.xid, c.seq) <= ($1, $2) \
                 AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = c.record_id)",
                table = coll.table(),
                key = coll.key()
            ))
            .bind::<BigInt, _>(xid)
            .bind::<BigInt, _>(seq)
            .bind::<Text, _>(coll.name())
            .execute(conn)?;
        }
        diesel::sql_query(
            "UPDATE sync_horizon SET xid = $1, seq = $2, collected_at = now() WHERE (xid, seq) < ($1, $2)",
        )
        .bind::<BigInt, _>(xid)
        .bind::<BigInt, _>(seq)
        .execute(conn)?;
        Ok(removed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(name: &str) -> ColumnType {
        ColumnType {
            name: name.to_owned(),
            array: name.ends_with("[]"),
            json: matches!(name, "json" | "jsonb"),
        }
    }

    #[test]
    fn values_are_written_in_their_column_types_input_syntax() {
        assert_eq!(text_input(&json!(null), &ty("text")), None);
        assert_eq!(text_input(&json!("Lyon"), &ty("text")).as_deref(), Some("Lyon"));
        assert_eq!(text_input(&json!(true), &ty("boolean")).as_deref(), Some("true"));
        assert_eq!(text_input(&json!(30), &ty("integer")).as_deref(), Some("30"));
        assert_eq!(
            text_input(&json!("2026-11-23T18:45:00Z"), &ty("timestamp with time zone")).as_deref(),
            Some("2026-11-23T18:45:00Z")
        );
    }

    #[test]
    fn arrays_become_literals_with_every_element_quoted() {
        let tags = json!([
            "réseautage",
            "a,b",
            "say \"hi\"",
            "back\\slash",
            "{x}",
            "NULL",
            null,
            ""
        ]);
        assert_eq!(
            text_input(&tags, &ty("text[]")).as_deref(),
            Some(r#"{"réseautage","a,b","say \"hi\"","back\\slash","{x}","NULL",NULL,""}"#)
        );
        assert_eq!(text_input(&json!([]), &ty("text[]")).as_deref(), Some("{}"));
    }

    #[test]
    fn json_columns_get_json_text_even_for_strings() {
        assert_eq!(text_input(&json!("x"), &ty("jsonb")).as_deref(), Some(r#""x""#));
        assert_eq!(
            text_input(&json!([{"url": "https://example.org"}]), &ty("jsonb")).as_deref(),
            Some(r#"[{"url":"https://example.org"}]"#)
        );
    }
}

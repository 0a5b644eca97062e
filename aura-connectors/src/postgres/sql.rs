//! Statements built from JSON rows: identifiers checked and quoted, every value a `$n`
//! placeholder bound apart. Nothing here touches the network, so a bad name is refused before
//! any connection is made.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use aura_core::{Error, Result, Violation};
use serde_json::{Map, Value};

/// The most bind parameters one statement may carry (the protocol counts them in 16 bits).
pub(crate) const MAX_PARAMS: usize = 65_535;

/// A statement with its parameters, in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

/// Whether `name` is a plain identifier: a letter or `_`, then letters, digits, `_` or `$`, at
/// most 63 bytes (PostgreSQL's limit).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && name.len() <= 63
}

fn refused(field: &str, what: &str) -> Error {
    Error::invalid_input(
        format!("{field} is not a valid {what}"),
        vec![Violation::new(
            format!("/{field}"),
            format!("must be a plain {what} (letters, digits, _ and $, starting with a letter or _)"),
        )],
    )
    .with_context("field", field.to_owned())
}

/// A column name, quoted (`"created_at"`); `field` names the input field for the error.
pub(crate) fn column(name: &str, field: &str) -> Result<String> {
    if is_identifier(name) {
        Ok(format!("\"{name}\""))
    } else {
        Err(refused(field, "column name"))
    }
}

/// A table or function name, plain or schema-qualified (`orders`, `sales.orders`), quoted
/// (`"sales"."orders"`). Names are exact: quoting keeps their case.
pub(crate) fn qualified(name: &str, field: &str) -> Result<String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| is_identifier(p)) {
        return Err(refused(field, "name (or schema.name)"));
    }
    Ok(parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join("."))
}

/// ` RETURNING …` for the given column names (`*` for all), or nothing.
pub(crate) fn returning(columns: Option<&[String]>) -> Result<String> {
    let Some(columns) = columns.filter(|c| !c.is_empty()) else {
        return Ok(String::new());
    };
    if columns.len() == 1 && columns[0] == "*" {
        return Ok(" RETURNING *".to_owned());
    }
    let names = columns
        .iter()
        .map(|c| column(c, "returning"))
        .collect::<Result<Vec<_>>>()?;
    Ok(format!(" RETURNING {}", names.join(", ")))
}

fn too_many() -> Error {
    Error::invalid_input(
        format!("the statement would bind more than {MAX_PARAMS} values: send fewer rows at a time"),
        vec![Violation::new("/rows", "too many values for one statement")],
    )
}

/// `INSERT INTO t (cols…) VALUES ($1, …), (…)`: the columns are every key of every row (sorted);
/// a row without one of them gets `DEFAULT` there.
fn insert_values(table: &str, rows: &[Map<String, Value>]) -> Result<Statement> {
    if rows.is_empty() {
        return Err(Error::invalid_input(
            "no rows to write",
            vec![Violation::new("/rows", "must hold at least one row")],
        ));
    }
    let table = qualified(table, "table")?;
    let names: BTreeSet<&str> = rows.iter().flat_map(|r| r.keys().map(String::as_str)).collect();
    let quoted = names.iter().map(|n| column(n, "rows")).collect::<Result<Vec<_>>>()?;
    if names.is_empty() {
        if rows.len() > 1 {
            return Err(Error::invalid_input(
                "rows without any column can only be written one at a time",
                vec![Violation::new("/rows", "give at least one column")],
            ));
        }
        return Ok(Statement {
            sql: format!("INSERT INTO {table} DEFAULT VALUES"),
            params: Vec::new(),
        });
    }
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", quoted.join(", "));
    let mut params = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for (j, name) in names.iter().enumerate() {
            if j > 0 {
                sql.push_str(", ");
            }
            match row.get(*name) {
                Some(v) => {
                    params.push(v.clone());
                    if params.len() > MAX_PARAMS {
                        return Err(too_many());
                    }
                    // Writing to a String cannot fail.
                    let _ = write!(sql, "${}", params.len());
                }
                None => sql.push_str("DEFAULT"),
            }
        }
        sql.push(')');
    }
    Ok(Statement { sql, params })
}

/// An insert of `rows` into `table`.
pub(crate) fn insert(table: &str, rows: &[Map<String, Value>], returning_cols: Option<&[String]>) -> Result<Statement> {
    let mut st = insert_values(table, rows)?;
    st.sql.push_str(&returning(returning_cols)?);
    Ok(st)
}

/// An insert that updates the rows already there: `ON CONFLICT (on_conflict…) DO UPDATE SET`
/// each of `update` (default: every written column not in `on_conflict`) to the new value, or
/// `DO NOTHING` when there is nothing to update.
pub(crate) fn upsert(
    table: &str,
    rows: &[Map<String, Value>],
    on_conflict: &[String],
    update: Option<&[String]>,
    returning_cols: Option<&[String]>,
) -> Result<Statement> {
    if on_conflict.is_empty() {
        return Err(Error::invalid_input(
            "an upsert needs the columns of a unique constraint",
            vec![Violation::new("/on_conflict", "must name at least one column")],
        ));
    }
    let conflict = on_conflict
        .iter()
        .map(|c| column(c, "on_conflict"))
        .collect::<Result<Vec<_>>>()?;
    let mut st = insert_values(table, rows)?;
    let updated: Vec<String> = match update {
        Some(cols) => cols.iter().map(|c| column(c, "update")).collect::<Result<Vec<_>>>()?,
        None => {
            let written: BTreeSet<&str> = rows.iter().flat_map(|r| r.keys().map(String::as_str)).collect();
            written
                .into_iter()
                .filter(|n| !on_conflict.iter().any(|c| c == n))
                .map(|n| column(n, "rows"))
                .collect::<Result<Vec<_>>>()?
        }
    };
    let _ = write!(st.sql, " ON CONFLICT ({})", conflict.join(", "));
    if updated.is_empty() {
        st.sql.push_str(" DO NOTHING");
    } else {
        let set: Vec<String> = updated.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
        let _ = write!(st.sql, " DO UPDATE SET {}", set.join(", "));
    }
    st.sql.push_str(&returning(returning_cols)?);
    Ok(st)
}

/// ` WHERE "a" = $n AND "b" IS NULL …` for an equality map, its values pushed onto `params`.
fn where_clause(filter: &Map<String, Value>, params: &mut Vec<Value>, sql: &mut String) -> Result<()> {
    if filter.is_empty() {
        return Err(Error::invalid_input(
            "a `where` is required (an equality map of at least one column)",
            vec![Violation::new("/where", "must name at least one column")],
        ));
    }
    sql.push_str(" WHERE ");
    for (i, (name, value)) in filter.iter().enumerate() {
        if i > 0 {
            sql.push_str(" AND ");
        }
        let col = column(name, "where")?;
        if value.is_null() {
            let _ = write!(sql, "{col} IS NULL");
        } else {
            params.push(value.clone());
            let _ = write!(sql, "{col} = ${}", params.len());
        }
    }
    if params.len() > MAX_PARAMS {
        return Err(too_many());
    }
    Ok(())
}

/// `UPDATE t SET … WHERE …`.
pub(crate) fn update(
    table: &str,
    set: &Map<String, Value>,
    filter: &Map<String, Value>,
    returning_cols: Option<&[String]>,
) -> Result<Statement> {
    let table = qualified(table, "table")?;
    if set.is_empty() {
        return Err(Error::invalid_input(
            "nothing to update",
            vec![Violation::new("/set", "must name at least one column")],
        ));
    }
    let mut params = Vec::new();
    let mut sql = format!("UPDATE {table} SET ");
    for (i, (name, value)) in set.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        params.push(value.clone());
        let _ = write!(sql, "{} = ${}", column(name, "set")?, params.len());
    }
    where_clause(filter, &mut params, &mut sql)?;
    sql.push_str(&returning(returning_cols)?);
    Ok(Statement { sql, params })
}

/// `DELETE FROM t WHERE …`.
pub(crate) fn delete(table: &str, filter: &Map<String, Value>, returning_cols: Option<&[String]>) -> Result<Statement> {
    let table = qualified(table, "table")?;
    let mut params = Vec::new();
    let mut sql = format!("DELETE FROM {table}");
    where_clause(filter, &mut params, &mut sql)?;
    sql.push_str(&returning(returning_cols)?);
    Ok(Statement { sql, params })
}

/// `SELECT * FROM f($1, …)`: a function's result as rows (one column named after a scalar
/// function, the columns of a set-returning one).
pub(crate) fn call(function: &str, args: &[Value]) -> Result<Statement> {
    let function = qualified(function, "function")?;
    if args.len() > MAX_PARAMS {
        return Err(too_many());
    }
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
    Ok(Statement {
        sql: format!("SELECT * FROM {function}({})", placeholders.join(", ")),
        params: args.to_vec(),
    })
}

/// The new-rows poll: rows whose `key` is past the cursor, in key order, at most `limit`.
pub(crate) fn new_rows(
    table: &str,
    key: &str,
    columns: Option<&[String]>,
    after: Option<&Value>,
    limit: u32,
) -> Result<Statement> {
    let table = qualified(table, "table")?;
    let key = column(key, "key_column")?;
    let selected = match columns.filter(|c| !c.is_empty()) {
        None => "*".to_owned(),
        Some(cols) => cols
            .iter()
            .map(|c| column(c, "columns"))
            .collect::<Result<Vec<_>>>()?
            .join(", "),
    };
    let mut params = Vec::new();
    let mut sql = format!("SELECT {selected} FROM {table}");
    if let Some(after) = after {
        params.push(after.clone());
        let _ = write!(sql, " WHERE {key} > $1");
    } else {
        let _ = write!(sql, " WHERE {key} IS NOT NULL");
    }
    let _ = write!(sql, " ORDER BY {key} LIMIT {limit}");
    Ok(Statement { sql, params })
}

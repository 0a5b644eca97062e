//! Unit tests: no server.

use std::sync::Arc;

use aura_core::connection::{ConnectionRecord, StaticConnection};
use aura_core::{App, Context, Credentials, ErrorKind, Registry};
use serde_json::{Map, Value, json};

use super::codec::{self, PgKind, Scalar};
use super::sql;
use super::{PostgresApp, PostgresConfig, SslMode, from_sqlx, kind_of_sqlstate};

fn row(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

// ---- identifiers and statements ------------------------------------------------------------

#[test]
fn plain_and_schema_qualified_identifiers_are_accepted_and_quoted() {
    assert_eq!(sql::qualified("orders", "table").unwrap(), "\"orders\"");
    assert_eq!(sql::qualified("sales.Orders", "table").unwrap(), "\"sales\".\"Orders\"");
    assert_eq!(sql::qualified("_t$1", "table").unwrap(), "\"_t$1\"");
    assert_eq!(sql::column("created_at", "rows").unwrap(), "\"created_at\"");
    assert!(sql::is_identifier(&"a".repeat(63)));
}

#[test]
fn anything_but_an_identifier_is_refused_with_the_field_named() {
    for bad in [
        "",
        "1abc",
        "a b",
        "a;drop table x",
        "\"quoted\"",
        "a.b.c",
        ".a",
        "a.",
        "naïve",
        "a-b",
        "t)--",
        &"a".repeat(64),
    ] {
        let err = sql::qualified(bad, "table").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(err.context_value("field"), Some("table"));
        assert_eq!(err.violations()[0].path, "/table");
    }
    assert!(sql::column("a.b", "where").is_err(), "a column is never qualified");
}

#[test]
fn insert_binds_every_value_and_defaults_missing_columns() {
    let rows = vec![
        row(json!({ "name": "Ada", "age": 36 })),
        row(json!({ "name": "Bob'); DROP TABLE t; --" })),
    ];
    let st = sql::insert("app.people", &rows, Some(&["id".to_owned()])).unwrap();
    assert_eq!(
        st.sql,
        "INSERT INTO \"app\".\"people\" (\"age\", \"name\") VALUES ($1, $2), (DEFAULT, $3) RETURNING \"id\""
    );
    assert_eq!(
        st.params,
        vec![json!(36), json!("Ada"), json!("Bob'); DROP TABLE t; --")]
    );

    let st = sql::insert("t", &[Map::new()], Some(&["*".to_owned()])).unwrap();
    assert_eq!(st.sql, "INSERT INTO \"t\" DEFAULT VALUES RETURNING *");
    assert!(sql::insert("t", &[], None).is_err());
    let err = sql::insert("t", &[row(json!({ "bad name": 1 }))], None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(sql::insert("t", &[row(json!({ "a": 1 }))], Some(&["x y".to_owned()])).is_err());
}

#[test]
fn upsert_updates_the_written_columns_but_the_conflict_ones() {
    let rows = vec![row(json!({ "id": 1, "name": "Ada", "email": "a@x" }))];
    let st = sql::upsert("users", &rows, &["id".to_owned()], None, None).unwrap();
    assert_eq!(
        st.sql,
        "INSERT INTO \"users\" (\"email\", \"id\", \"name\") VALUES ($1, $2, $3) \
         ON CONFLICT (\"id\") DO UPDATE SET \"email\" = EXCLUDED.\"email\", \"name\" = EXCLUDED.\"name\""
    );
    let st = sql::upsert(
        "users",
        &rows,
        &["id".to_owned()],
        Some(&["name".to_owned()]),
        Some(&["*".to_owned()]),
    )
    .unwrap();
    assert!(
        st.sql
            .ends_with("ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\" RETURNING *")
    );
    let only_key = vec![row(json!({ "id": 1 }))];
    let st = sql::upsert("users", &only_key, &["id".to_owned()], None, None).unwrap();
    assert!(st.sql.ends_with("ON CONFLICT (\"id\") DO NOTHING"), "{}", st.sql);
    assert!(sql::upsert("users", &rows, &[], None, None).is_err());
    assert!(sql::upsert("users", &rows, &["id; --".to_owned()], None, None).is_err());
}

#[test]
fn update_and_delete_need_a_where_and_match_null_with_is_null() {
    let st = sql::update(
        "t",
        &row(json!({ "status": "done" })),
        &row(json!({ "id": 7, "deleted_at": null })),
        None,
    )
    .unwrap();
    assert_eq!(
        st.sql,
        "UPDATE \"t\" SET \"status\" = $1 WHERE \"deleted_at\" IS NULL AND \"id\" = $2"
    );
    assert_eq!(st.params, vec![json!("done"), json!(7)]);
    assert!(sql::update("t", &row(json!({ "a": 1 })), &Map::new(), None).is_err());
    assert!(sql::update("t", &Map::new(), &row(json!({ "a": 1 })), None).is_err());

    let st = sql::delete("t", &row(json!({ "id": 7 })), Some(&["id".to_owned()])).unwrap();
    assert_eq!(st.sql, "DELETE FROM \"t\" WHERE \"id\" = $1 RETURNING \"id\"");
    let err = sql::delete("t", &Map::new(), None).unwrap_err();
    assert_eq!(err.violations()[0].path, "/where");
}

#[test]
fn call_and_new_rows_statements() {
    let st = sql::call("billing.total", &[json!(1), json!("x")]).unwrap();
    assert_eq!(st.sql, "SELECT * FROM \"billing\".\"total\"($1, $2)");
    assert_eq!(sql::call("now", &[]).unwrap().sql, "SELECT * FROM \"now\"()");
    assert!(sql::call("pg_sleep(10); --", &[]).is_err());

    let st = sql::new_rows("t", "id", None, None, 10).unwrap();
    assert_eq!(
        st.sql,
        "SELECT * FROM \"t\" WHERE \"id\" IS NOT NULL ORDER BY \"id\" LIMIT 10"
    );
    let st = sql::new_rows("t", "id", Some(&["a".to_owned(), "id".to_owned()]), Some(&json!(5)), 3).unwrap();
    assert_eq!(
        st.sql,
        "SELECT \"a\", \"id\" FROM \"t\" WHERE \"id\" > $1 ORDER BY \"id\" LIMIT 3"
    );
    assert_eq!(st.params, vec![json!(5)]);
}

// ---- type mapping --------------------------------------------------------------------------

fn roundtrip(kind: &PgKind, value: Value) -> Value {
    let bytes = codec::encode(kind, &value).unwrap().unwrap();
    codec::decode(kind, &bytes).unwrap()
}

#[test]
fn numeric_is_exact_text_both_ways() {
    let n = PgKind::Scalar(Scalar::Numeric);
    for (given, expected) in [
        ("0", "0"),
        ("12.50", "12.50"),
        ("-0.0001", "-0.0001"),
        (
            "123456789012345678901234567890.123456789",
            "123456789012345678901234567890.123456789",
        ),
        ("10000", "10000"),
        ("0.00000001", "0.00000001"),
        ("1e3", "1000"),
        ("1.5e-3", "0.0015"),
        ("-7", "-7"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
    ] {
        assert_eq!(roundtrip(&n, json!(given)), json!(expected), "{given}");
    }
    assert_eq!(roundtrip(&n, json!(42)), json!("42"));
    assert_eq!(roundtrip(&n, json!(2.25)), json!("2.25"));
    // 12345.678 as PostgreSQL sends it: 3 digits, weight 1, positive, dscale 3: 1 2345 6780.
    let wire = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
    assert_eq!(codec::decode_numeric(&wire).unwrap(), "12345.678");
    let mut out = Vec::new();
    codec::encode_numeric("12345.678", &mut out).unwrap();
    assert_eq!(out, wire);
    assert!(codec::encode_numeric("12a", &mut Vec::new()).is_err());
    assert!(codec::encode_numeric("", &mut Vec::new()).is_err());
}

#[test]
fn scalars_map_to_json_as_documented() {
    let s = |scalar| PgKind::Scalar(scalar);
    assert_eq!(roundtrip(&s(Scalar::Int2), json!(-12)), json!(-12));
    assert_eq!(roundtrip(&s(Scalar::Int4), json!("42")), json!(42));
    assert_eq!(
        roundtrip(&s(Scalar::Int8), json!(9_007_199_254_740_993_i64)),
        json!(9_007_199_254_740_993_i64)
    );
    assert_eq!(roundtrip(&s(Scalar::Float8), json!(1.5)), json!(1.5));
    assert_eq!(roundtrip(&s(Scalar::Float4), json!("NaN")), json!("NaN"));
    assert_eq!(roundtrip(&s(Scalar::Float8), json!("-Infinity")), json!("-Infinity"));
    assert_eq!(roundtrip(&s(Scalar::Bool), json!(true)), json!(true));
    assert_eq!(roundtrip(&s(Scalar::Text), json!("héllo")), json!("héllo"));
    assert_eq!(roundtrip(&s(Scalar::Text), json!(12)), json!("12"));
    let doc = json!({ "a": [1, "two", null], "b": { "c": true } });
    assert_eq!(roundtrip(&s(Scalar::Json), doc.clone()), doc);
    assert_eq!(roundtrip(&s(Scalar::Jsonb), doc.clone()), doc);
    let uuid = "0190a4c2-7f4e-7c3a-9a8b-123456789abc";
    assert_eq!(roundtrip(&s(Scalar::Uuid), json!(uuid)), json!(uuid));
    assert_eq!(
        roundtrip(&s(Scalar::Timestamptz), json!("2026-03-04T05:06:07.123456+02:00")),
        json!("2026-03-04T03:06:07.123456Z")
    );
    assert_eq!(
        roundtrip(&s(Scalar::Timestamptz), json!("1999-12-31T23:59:59Z")),
        json!("1999-12-31T23:59:59Z")
    );
    assert_eq!(
        roundtrip(&s(Scalar::Timestamp), json!("2026-03-04 05:06:07.5")),
        json!("2026-03-04T05:06:07.500")
    );
    assert_eq!(roundtrip(&s(Scalar::Timestamptz), json!("infinity")), json!("infinity"));
    assert_eq!(roundtrip(&s(Scalar::Date), json!("1969-07-20")), json!("1969-07-20"));
    assert_eq!(roundtrip(&s(Scalar::Time), json!("23:59:58.25")), json!("23:59:58.250"));
    assert_eq!(roundtrip(&s(Scalar::Bytea), json!("AAEC/w==")), json!("AAEC/w=="));
    // The PostgreSQL epoch: 2000-01-01T00:00:00Z is 0 microseconds.
    assert_eq!(
        codec::decode_scalar(Scalar::Timestamptz, &0i64.to_be_bytes()).unwrap(),
        json!("2000-01-01T00:00:00Z")
    );
    assert_eq!(
        codec::decode_scalar(Scalar::Date, &0i32.to_be_bytes()).unwrap(),
        json!("2000-01-01")
    );
    assert_eq!(
        codec::decode_scalar(Scalar::Jsonb, b"\x01{\"k\":1}").unwrap(),
        json!({ "k": 1 })
    );
}

#[test]
fn null_is_sql_null_and_bad_values_are_refused() {
    let int2 = PgKind::Scalar(Scalar::Int2);
    assert_eq!(codec::encode(&int2, &Value::Null).unwrap(), None);
    assert_eq!(
        codec::encode(&PgKind::Scalar(Scalar::Jsonb), &Value::Null).unwrap(),
        None
    );
    assert!(codec::encode(&int2, &json!(40_000)).is_err());
    assert!(codec::encode(&int2, &json!(1.5)).is_err());
    assert!(codec::encode(&PgKind::Scalar(Scalar::Bool), &json!("yes")).is_err());
    assert!(codec::encode(&PgKind::Scalar(Scalar::Uuid), &json!("not-a-uuid")).is_err());
    assert!(codec::encode(&PgKind::Scalar(Scalar::Bytea), &json!("***")).is_err());
    assert!(codec::encode(&PgKind::Scalar(Scalar::Timestamptz), &json!("2026-01-01T00:00:00")).is_err());
    assert!(codec::encode(&PgKind::Unsupported("interval".into()), &json!("1 day")).is_err());
}

#[test]
fn arrays_round_trip_with_nulls_and_decode_several_dimensions() {
    let ints = PgKind::Array {
        elem: Scalar::Int4,
        elem_oid: 23,
    };
    assert_eq!(roundtrip(&ints, json!([1, null, 3])), json!([1, null, 3]));
    assert_eq!(roundtrip(&ints, json!([])), json!([]));
    let texts = PgKind::Array {
        elem: Scalar::Text,
        elem_oid: 25,
    };
    assert_eq!(roundtrip(&texts, json!(["a", "b"])), json!(["a", "b"]));
    assert!(codec::encode(&ints, &json!([[1], [2]])).is_err());

    // '{{1,2},{3,4}}'::int4[] as the server sends it.
    let mut wire = Vec::new();
    for v in [2i32, 0, 23, 2, 1, 2, 1] {
        wire.extend(v.to_be_bytes());
    }
    for v in [1i32, 2, 3, 4] {
        wire.extend(4i32.to_be_bytes());
        wire.extend(v.to_be_bytes());
    }
    assert_eq!(codec::decode(&ints, &wire).unwrap(), json!([[1, 2], [3, 4]]));
}

#[test]
fn builtin_type_oids_map_to_their_kinds() {
    assert_eq!(codec::scalar_of_oid(1700), Some(Scalar::Numeric));
    assert_eq!(codec::scalar_of_oid(1043), Some(Scalar::Text));
    assert_eq!(codec::scalar_of_oid(1186), None, "interval has no mapping");
    assert_eq!(codec::array_elem_oid(1007), Some(23));
    let info = sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(3807));
    assert_eq!(
        codec::kind_of(&info),
        PgKind::Array {
            elem: Scalar::Jsonb,
            elem_oid: 3802
        }
    );
}

// ---- errors --------------------------------------------------------------------------------

#[test]
fn sqlstates_map_to_error_kinds() {
    for (code, kind) in [
        ("28P01", ErrorKind::Unauthorized),
        ("28000", ErrorKind::Unauthorized),
        ("42501", ErrorKind::Forbidden),
        ("23505", ErrorKind::Conflict),
        ("23503", ErrorKind::Conflict),
        ("23502", ErrorKind::Conflict),
        ("23514", ErrorKind::Conflict),
        ("42601", ErrorKind::InvalidInput),
        ("42P01", ErrorKind::InvalidInput),
        ("42703", ErrorKind::InvalidInput),
        ("42883", ErrorKind::InvalidInput),
        ("22P02", ErrorKind::InvalidInput),
        ("22003", ErrorKind::InvalidInput),
        ("P0001", ErrorKind::InvalidInput),
        ("3D000", ErrorKind::NotFound),
        ("40001", ErrorKind::Unavailable),
        ("40P01", ErrorKind::Unavailable),
        ("53300", ErrorKind::Unavailable),
        ("57P01", ErrorKind::Unavailable),
        ("08006", ErrorKind::Unavailable),
        ("57014", ErrorKind::Timeout),
        ("XX000", ErrorKind::Upstream),
    ] {
        assert_eq!(kind_of_sqlstate(code), kind, "{code}");
    }
}

#[test]
fn driver_errors_map_to_retryable_kinds_without_the_password() {
    let creds = Credentials::custom([("host", "db"), ("password", "s3cret-pass-77")]);
    let scrubber = creds.scrubber();
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused s3cret-pass-77");
    let err = from_sqlx(sqlx::Error::Io(refused), &scrubber);
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable() && err.is_not_sent());
    assert!(!format!("{err} {err:?}").contains("s3cret-pass-77"));

    let err = from_sqlx(sqlx::Error::PoolTimedOut, &scrubber);
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let err = from_sqlx(
        sqlx::Error::Configuration("bad url postgres://u:s3cret-pass-77@h".into()),
        &scrubber,
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!format!("{err} {err:?}").contains("s3cret-pass-77"));
    let err = from_sqlx(sqlx::Error::Protocol("odd".into()), &scrubber);
    assert_eq!(err.kind(), ErrorKind::Internal);
}

// ---- config --------------------------------------------------------------------------------

#[test]
fn credentials_are_read_checked_and_never_printed() {
    let creds = Credentials::custom([
        ("host", "127.0.0.1"),
        ("port", "6543"),
        ("database", "shop"),
        ("user", "app"),
        ("password", "pw-canary-123"),
        ("ssl_mode", "verify-full"),
    ]);
    let config = PostgresConfig::from_credentials(&creds).unwrap();
    assert_eq!((config.port, config.ssl_mode), (6543, SslMode::VerifyFull));
    assert!(!format!("{config:?}").contains("pw-canary-123"));

    let err = PostgresConfig::from_credentials(&Credentials::custom([("host", "h"), ("port", "99999")])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/database", "/user", "/password", "/port"]);
    let err = PostgresConfig::from_credentials(&Credentials::custom([
        ("host", "h"),
        ("database", "d"),
        ("user", "u"),
        ("password", "p"),
        ("ssl_mode", "sometimes"),
    ]))
    .unwrap_err();
    assert_eq!(err.violations()[0].path, "/ssl_mode");
    assert!(PostgresConfig::from_credentials(&Credentials::bearer("t")).is_err());
}

// ---- the app -------------------------------------------------------------------------------

#[test]
fn manifest_declares_the_custom_fields_and_validates() {
    let app = PostgresApp::new();
    let manifest = app.manifest();
    manifest.validate().unwrap();
    assert!(manifest.accepts(&Credentials::custom([("host", "h")])));
    let keys: Vec<String> = app.actions().iter().map(|a| a.manifest().key.clone()).collect();
    assert_eq!(
        keys,
        ["query", "insert", "update", "upsert", "delete", "call", "transaction"]
    );
    let registry = Registry::new();
    registry.register(PostgresApp::new()).unwrap();
}

/// A connection to a port where nothing listens: a test that gets `InvalidInput` from it was
/// refused before any connection was tried.
fn nowhere() -> Context {
    let record = ConnectionRecord::new(
        "postgres",
        "nowhere",
        Credentials::custom([
            ("host", "127.0.0.1"),
            ("port", "1"),
            ("database", "d"),
            ("user", "u"),
            ("password", "p-unused-1"),
        ]),
    );
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build()
}

#[tokio::test]
async fn bad_names_are_refused_before_any_connection() {
    let registry = Registry::new();
    registry.register(PostgresApp::new()).unwrap();
    for (action, input) in [
        (
            "postgres.insert",
            json!({ "table": "t; DROP TABLE t", "row": { "a": 1 } }),
        ),
        ("postgres.insert", json!({ "table": "t", "row": { "a\"": 1 } })),
        ("postgres.insert", json!({ "table": "t" })),
        (
            "postgres.update",
            json!({ "table": "t", "set": { "a": 1 }, "where": {} }),
        ),
        (
            "postgres.upsert",
            json!({ "table": "t", "row": { "a": 1 }, "on_conflict": ["a b"] }),
        ),
        ("postgres.delete", json!({ "table": "a.b.c", "where": { "id": 1 } })),
        ("postgres.call", json!({ "function": "f()" })),
        ("postgres.query", json!({ "sql": 5 })),
        ("postgres.transaction", json!({ "statements": [] })),
    ] {
        let err = registry
            .action(action)
            .await
            .unwrap()
            .call(nowhere(), input.clone())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{action} {input}: {err}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let registry = Registry::new();
    registry.register(PostgresApp::new()).unwrap();
    let err = registry.test_connection(&nowhere()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(!format!("{err:?}").contains("p-unused-1"));
}

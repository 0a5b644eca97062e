//! Queries, rows from JSON, transactions and functions.

use super::*;

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn query_maps_postgres_types_to_json() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("types");
    let out = f
        .ok(
            "postgres.query",
            json!({
                "sql": "SELECT 1::int2 AS i2, 2::int4 AS i4, 9007199254740993::int8 AS i8, 1.5::float4 AS f4, \
                        'NaN'::float8 AS nan, 12.50::numeric AS n, -0.000123::numeric(10,6) AS small, true AS b, \
                        'héllo'::text AS t, 'x'::varchar(3) AS v, 'ab'::char(3) AS c, \
                        '{\"a\":[1,2]}'::jsonb AS jb, '[1, \"x\"]'::json AS j, \
                        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, \
                        '2026-03-04 05:06:07.123456+02'::timestamptz AS tz, \
                        '2026-03-04 05:06:07'::timestamp AS ts, '2026-03-04'::date AS d, '13:14:15.5'::time AS tm, \
                        '\\x0001ff'::bytea AS by, ARRAY[1, NULL, 3]::int4[] AS arr, \
                        ARRAY[['a','b'],['c','d']] AS grid, ARRAY[]::text[] AS empty, NULL::int AS nothing"
            }),
        )
        .await;
    assert_eq!(
        out["rows"][0],
        json!({
            "i2": 1, "i4": 2, "i8": 9_007_199_254_740_993_i64, "f4": 1.5, "nan": "NaN",
            "n": "12.50", "small": "-0.000123", "b": true, "t": "héllo", "v": "x", "c": "ab ",
            "jb": { "a": [1, 2] }, "j": [1, "x"], "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "tz": "2026-03-04T03:06:07.123456Z", "ts": "2026-03-04T05:06:07", "d": "2026-03-04",
            "tm": "13:14:15.500", "by": "AAH/", "arr": [1, null, 3], "grid": [["a", "b"], ["c", "d"]],
            "empty": [], "nothing": null
        })
    );

    // Parameters are bound as the types the server infers, from JSON.
    let out = f
        .ok(
            "postgres.query",
            json!({
                "sql": "SELECT $1::numeric + 1 AS n, $2::timestamptz AS tz, $3::uuid AS u, $4::int[] AS a, \
                        $5::jsonb -> 'k' AS k, $6::bytea AS b, $7::text IS NULL AS was_null, $8::date AS d",
                "params": ["12345678901234567890.5", "2026-01-01T00:00:00+01:00",
                           "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", [3, 4], { "k": [true] }, "AAH/", null, "2026-02-03"]
            }),
        )
        .await;
    assert_eq!(
        out["rows"][0],
        json!({
            "n": "12345678901234567891.5", "tz": "2025-12-31T23:00:00Z",
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a": [3, 4], "k": [true], "b": "AAH/",
            "was_null": true, "d": "2026-02-03"
        })
    );

    // A column without a JSON mapping is refused before the statement runs, with the cast to use.
    let err = f
        .call("postgres.query", json!({ "sql": "SELECT interval '1 day' AS span" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("span::text"), "{err}");
    // A value that does not fit its parameter's type names the parameter.
    let err = f
        .call(
            "postgres.query",
            json!({ "sql": "SELECT $1::int AS x", "params": ["twelve"] }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.violations()[0].path, "/params/0");
    let err = f
        .call("postgres.query", json!({ "sql": "SELECT $1::int AS x", "params": [] }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // max_rows bounds what comes back.
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": "SELECT g FROM generate_series(1, 50) g", "max_rows": 10 }),
        )
        .await;
    assert_eq!(
        (out["row_count"].clone(), out["truncated"].clone()),
        (json!(10), json!(true))
    );
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn rows_are_inserted_updated_upserted_and_deleted_from_json() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("crud");
    let schema = Schema::new(&f.server, "crud").await;
    schema
        .exec(
            "CREATE TABLE $S.people (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text, \
             age int DEFAULT 30, tags text[], meta jsonb)",
        )
        .await;
    let table = format!("{}.people", schema.name);

    let out = f
        .ok(
            "postgres.insert",
            json!({
                "table": table,
                "rows": [
                    { "email": "ada@x", "name": "Ada", "age": 36, "tags": ["math"], "meta": { "k": 1 } },
                    { "email": "bob@x", "name": "Bob'); DROP TABLE people; --" }
                ],
                "returning": ["id", "email", "age"]
            }),
        )
        .await;
    assert_eq!(out["row_count"], 2);
    assert_eq!(out["rows"][1]["age"], 30, "a missing column gets its DEFAULT");

    let out = f
        .ok(
            "postgres.update",
            json!({ "table": table, "set": { "age": 37 }, "where": { "email": "ada@x" }, "returning": ["*"] }),
        )
        .await;
    assert_eq!(out["rows"][0]["age"], 37);
    assert_eq!(out["rows"][0]["tags"], json!(["math"]));
    assert_eq!(out["rows"][0]["meta"], json!({ "k": 1 }));
    let out = f
        .ok(
            "postgres.update",
            json!({ "table": table, "set": { "name": "?" }, "where": { "email": "nobody@x" } }),
        )
        .await;
    assert_eq!(out["row_count"], 0);

    let out = f
        .ok(
            "postgres.upsert",
            json!({
                "table": table,
                "rows": [{ "email": "ada@x", "name": "Ada L." }, { "email": "cy@x", "name": "Cy" }],
                "on_conflict": ["email"],
                "returning": ["email", "name", "age"]
            }),
        )
        .await;
    assert_eq!(out["row_count"], 2);
    assert_eq!(out["rows"][0], json!({ "email": "ada@x", "name": "Ada L.", "age": 37 }));

    // A duplicate is a Conflict naming the constraint.
    let err = f
        .call("postgres.insert", json!({ "table": table, "row": { "email": "cy@x" } }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.context_value("sqlstate"), Some("23505"));
    assert_eq!(err.context_value("constraint"), Some("people_email_key"));

    let out = f
        .ok(
            "postgres.delete",
            json!({ "table": table, "where": { "email": "bob@x" }, "returning": ["name"] }),
        )
        .await;
    assert_eq!(out["rows"][0]["name"], "Bob'); DROP TABLE people; --");
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": format!("SELECT count(*) AS n FROM {table}") }),
        )
        .await;
    assert_eq!(out["rows"][0]["n"], 2);

    // Unknown names are the server's InvalidInput (42P01, 42703).
    let err = f
        .call(
            "postgres.insert",
            json!({ "table": format!("{}.nope", schema.name), "row": { "a": 1 } }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("42P01"))
    );
    let err = f.call("postgres.query", json!({ "sql": "SELEC 1" })).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("42601"))
    );
    let err = f
        .call("postgres.query", json!({ "sql": "SELECT * FROM pg_authid" }))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::Forbidden, Some("42501"))
    );
    let err = f
        .call(
            "postgres.query",
            json!({ "sql": "SELECT 1 / $1::int AS x", "params": [0] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("22012"))
    );
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_failed_transaction_keeps_nothing_and_a_good_one_returns_each_result() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("tx");
    let schema = Schema::new(&f.server, "tx").await;
    schema
        .exec("CREATE TABLE $S.accounts (id int PRIMARY KEY, balance numeric NOT NULL CHECK (balance >= 0))")
        .await;
    schema.exec("INSERT INTO $S.accounts VALUES (1, 100), (2, 0)").await;
    let s = &schema.name;
    let transfer = |amount: i64| {
        json!({
            "statements": [
                { "sql": format!("UPDATE {s}.accounts SET balance = balance + $1 WHERE id = 2"), "params": [amount] },
                { "sql": format!("UPDATE {s}.accounts SET balance = balance - $1 WHERE id = 1 RETURNING balance"), "params": [amount] },
                { "sql": format!("SELECT sum(balance) AS total FROM {s}.accounts") }
            ],
            "isolation": "serializable"
        })
    };

    let err = f.call("postgres.transaction", transfer(150)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "the CHECK fails: {err}");
    assert_eq!(err.context_value("statement"), Some("1"));
    assert_eq!(err.context_value("sqlstate"), Some("23514"));
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": format!("SELECT id, balance FROM {s}.accounts ORDER BY id") }),
        )
        .await;
    assert_eq!(
        out["rows"],
        json!([{ "id": 1, "balance": "100" }, { "id": 2, "balance": "0" }]),
        "the first update was rolled back"
    );

    let out = f.ok("postgres.transaction", transfer(40)).await;
    assert_eq!(out["results"][0]["row_count"], 1);
    assert_eq!(out["results"][1]["rows"], json!([{ "balance": "60" }]));
    assert_eq!(out["results"][2]["rows"], json!([{ "total": "100" }]));

    // A statement past its timeout is a Timeout (57014), and rolls the transaction back.
    let err = f
        .call(
            "postgres.transaction",
            json!({ "statements": [
                { "sql": format!("DELETE FROM {s}.accounts") },
                { "sql": "SET LOCAL statement_timeout = 100" },
                { "sql": "SELECT pg_sleep(5)" }
            ] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::Timeout, Some("57014"))
    );
    assert!(err.is_retryable());
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": format!("SELECT count(*) AS n FROM {s}.accounts") }),
        )
        .await;
    assert_eq!(out["rows"][0]["n"], 2);
    // A void function's result is null.
    let out = f
        .ok("postgres.query", json!({ "sql": "SELECT pg_sleep(0) AS slept" }))
        .await;
    assert_eq!(out["rows"], json!([{ "slept": null }]));

    // The pooled connection is usable after a rollback, outside any transaction.
    let out = f
        .ok(
            "postgres.query",
            json!({ "sql": "SELECT current_setting('transaction_isolation') AS iso" }),
        )
        .await;
    assert_eq!(out["rows"][0]["iso"], "read committed");
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_function_is_called_with_bound_arguments() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("call");
    let schema = Schema::new(&f.server, "call").await;
    schema
        .exec("CREATE FUNCTION $S.add_tax(amount numeric, rate numeric) RETURNS numeric LANGUAGE sql AS 'SELECT round(amount * (1 + rate), 2)'")
        .await;
    schema
        .exec("CREATE FUNCTION $S.upto(n int) RETURNS TABLE (i int, sq int) LANGUAGE sql AS 'SELECT g, g * g FROM generate_series(1, n) g'")
        .await;
    schema
        .exec(
            "CREATE FUNCTION $S.fail(msg text) RETURNS int LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''%'', msg; END'",
        )
        .await;
    let s = &schema.name;
    let out = f
        .ok(
            "postgres.call",
            json!({ "function": format!("{s}.add_tax"), "args": ["10.00", 0.2] }),
        )
        .await;
    assert_eq!(out["rows"], json!([{ "add_tax": "12.00" }]));
    let out = f
        .ok("postgres.call", json!({ "function": format!("{s}.upto"), "args": [3] }))
        .await;
    assert_eq!(
        out["rows"],
        json!([{ "i": 1, "sq": 1 }, { "i": 2, "sq": 4 }, { "i": 3, "sq": 9 }])
    );
    let err = f
        .call(
            "postgres.call",
            json!({ "function": format!("{s}.fail"), "args": ["no stock"] }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.context_value("sqlstate")),
        (ErrorKind::InvalidInput, Some("P0001"))
    );
    assert_eq!(err.context_value("server_message"), Some("no stock"));
    schema.drop().await;
}

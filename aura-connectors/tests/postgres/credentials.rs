//! Refused and replaced passwords.

use super::*;

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn test_connection_refuses_a_wrong_password_without_showing_it() {
    let _gate = PASSWORD_GATE.read().await;
    let server = server();
    let registry = Arc::new(Registry::new());
    registry.register(PostgresApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry.clone()).build();
    let canary = "wrong-Passw0rd-canary";
    let err = manager
        .create(NewConnection::new("postgres", "bad", server.credentials_with(canary)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(err.context_value("sqlstate"), Some("28P01"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(canary), "{shown}");

    // An action with the bad credentials is refused the same way.
    let err = registry
        .action("postgres.query")
        .await
        .unwrap()
        .call(
            context(server.credentials_with(canary), "bad-action"),
            json!({ "sql": "SELECT 1 AS one" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(!format!("{err} {err:?}").contains(canary));
}

/// Sessions of the role whose `application_name` starts with `prefix`.
async fn sessions(admin: &PgPool, prefix: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE $1 || '%'")
        .bind(prefix)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_replaced_password_drops_the_old_pool() {
    let _gate = PASSWORD_GATE.write().await;
    let server = server();
    // One session, opened before the password changes and kept (a pool would open another).
    let admin = server.admin_of(1).await;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let new_password = format!("Rotated{nanos:x}");
    // The body runs as a task so that the original password is restored even if it fails.
    let body = {
        let (server, admin, new_password) = (server.clone(), admin.clone(), new_password.clone());
        tokio::spawn(async move {
            let app = PostgresApp::new();
            let registry = Arc::new(Registry::new());
            registry.register(app.clone()).unwrap();
            let manager = ConnectionManager::builder(registry.clone()).build();
            let record = manager
                .create(NewConnection::new("postgres", "rotating", server.credentials()))
                .await
                .unwrap();
            let live = manager.connections().get(&record.id).unwrap();
            let cx = Context::builder().connection(live).build();
            let query = registry.action("postgres.query").await.unwrap();
            let select = json!({ "sql": "SELECT current_setting('application_name') AS app" });
            let out = query.call(cx.clone(), select.clone()).await.unwrap();
            let old_name = format!("aura v{} {}", record.version, record.id);
            assert_eq!(out["rows"][0]["app"], json!(old_name));
            assert_eq!(app.pools(), vec![(record.id.clone(), record.version)]);

            exec(&admin, &format!("ALTER ROLE CURRENT_USER PASSWORD '{new_password}'")).await;
            // The old pool's sessions outlive the change: only dropping the pool ends them.
            assert!(sessions(&admin, &old_name).await >= 1);
            let replaced = manager
                .replace_credentials(&record.id, server.credentials_with(&new_password), true)
                .await
                .expect("the new password passes test_connection");
            assert!(replaced.version > record.version);

            let out = query.call(cx.clone(), select).await.unwrap();
            let new_name = format!("aura v{} {}", replaced.version, record.id);
            assert_eq!(out["rows"][0]["app"], json!(new_name));
            assert_eq!(app.pools(), vec![(record.id.clone(), replaced.version)]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while sessions(&admin, &old_name).await > 0 {
                assert!(Instant::now() < deadline, "the old pool's sessions were not closed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The old password is refused now.
            let err = registry
                .test_connection(&context(server.credentials(), "old-password"))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unauthorized);
        })
    };
    let outcome = body.await;
    exec(
        &admin,
        &format!(
            "ALTER ROLE CURRENT_USER PASSWORD '{}'",
            server.password.replace('\'', "''")
        ),
    )
    .await;
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

//! The PostgreSQL test server and a schema of each test's own on it, shared by the test
//! binaries that need a server (`#[ignore = "needs postgres: see .ci/run"]`).

#![allow(dead_code)] // Each binary uses its part.

use aura_core::store::{PostgresStore, PostgresStoreBuilder};
use secrecy::SecretBox;
use sqlx::Connection;

/// The server's URL, from `AURA_TEST_POSTGRES_URL`; a test that needs it fails without it.
pub(crate) fn server_url() -> String {
    match std::env::var("AURA_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "AURA_TEST_POSTGRES_URL is not set: this test needs a PostgreSQL server \
             (.ci/run starts one; or set it to postgres://user:password@host:port/database)"
        ),
    }
}

/// The key the stores of these tests seal exact payloads with.
pub(crate) fn key() -> SecretBox<[u8; 32]> {
    SecretBox::new(Box::new([7u8; 32]))
}

/// A schema of this test's own on the test server, dropped (with everything in it) when the
/// guard goes.
pub(crate) struct Schema {
    pub(crate) url: String,
    pub(crate) name: String,
}

impl Schema {
    pub(crate) fn new() -> Self {
        Self {
            url: server_url(),
            name: format!("aura_t_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// A store builder for this schema.
    pub(crate) fn builder(&self) -> PostgresStoreBuilder {
        PostgresStore::builder(self.url.clone()).schema(self.name.clone())
    }

    /// The store in this schema, keeping exact payloads (sealed with [`key`]).
    pub(crate) async fn open(&self) -> PostgresStore {
        self.builder().exact_payload_key(key()).open().await.unwrap()
    }

    /// A plain connection to the server, in this schema (created if the store has not yet).
    pub(crate) async fn raw(&self) -> sqlx::PgConnection {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {0}; SET search_path TO {0}",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs outside any runtime a test could lend: a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("the test schema {} could not be dropped: {e}", self.name),
            Err(_) => eprintln!("dropping the test schema {} panicked", self.name),
        }
    }
}

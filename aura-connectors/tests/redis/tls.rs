//! TLS with the server's CA.

use super::*;

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// The TLS port's credentials (`AURA_TEST_REDIS_TLS_URL`, `rediss://:PASSWORD@HOST:PORT`, and
/// the CA that signed the server's certificate, `AURA_TEST_REDIS_CA`, a PEM file), with or
/// without that CA.
fn tls_credentials(with_ca: bool) -> Credentials {
    let url = std::env::var("AURA_TEST_REDIS_TLS_URL")
        .expect("AURA_TEST_REDIS_TLS_URL is not set: start redis-server with TLS (see .ci/servers/redis.sh)");
    let ca = std::env::var("AURA_TEST_REDIS_CA").expect("AURA_TEST_REDIS_CA (the CA's PEM file) is not set");
    let rest = url
        .strip_prefix("rediss://")
        .expect("AURA_TEST_REDIS_TLS_URL must be rediss://:PASSWORD@HOST:PORT");
    let (auth, addr) = rest.rsplit_once('@').unwrap();
    let password = auth.split_once(':').map_or(auth, |(_, p)| p);
    let (host, port) = addr.trim_end_matches('/').rsplit_once(':').unwrap();
    let mut fields = vec![
        ("host", host.to_owned()),
        ("port", port.to_owned()),
        ("password", password.to_owned()),
        ("tls", "true".to_owned()),
    ];
    if with_ca {
        fields.push(("ca_cert", std::fs::read_to_string(ca).unwrap()));
    }
    Credentials::custom(fields)
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn tls_with_the_servers_ca_works_and_an_untrusted_certificate_is_refused() {
    let registry = registry().await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("redis", "tls", tls_credentials(true)))
        .await
        .unwrap();
    let cx = Context::builder()
        .connection(manager.connections().get(&record.id).unwrap())
        .build();
    let key = unique("tls");
    call(&registry, &cx, "redis.set", json!({ "key": key, "value": "over tls" }))
        .await
        .unwrap();
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": "over tls" }));

    // The system's roots do not know the test CA.
    let err = manager
        .create(NewConnection::new("redis", "untrusted", tls_credentials(false)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(
        !err.is_retryable(),
        "a certificate nobody trusts does not get better: {err}"
    );
}

//! The default HTTP client across tokio runtimes: a pooled connection belongs to the runtime
//! that opened it, so a request from another runtime must not be handed to it (it would hang
//! while that runtime is idle, and fail once it is dropped).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aura_core::Context;
use aura_core::connection::{ConnectionRecord, Credentials, StaticConnection};
use tokio::runtime::{Builder, Runtime};

/// A local HTTP/1.1 server that keeps connections alive and answers `200 ok` to every request;
/// counts the connections it accepted.
fn keep_alive_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ping", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    // Read one request head (these requests have no body).
                    let mut line = String::new();
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok";
                    if writer.write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

fn runtime() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

/// One GET through `Context::send` with the default client, built in the runtime it runs in.
fn get(rt: &Runtime, url: &str) -> Result<String, String> {
    rt.block_on(async {
        let cx = Context::new();
        let send = async {
            let resp = cx.send(cx.http().get(url)).await.map_err(|e| format!("{e:?}"))?;
            resp.text().await.map_err(|e| e.to_string())
        };
        tokio::time::timeout(Duration::from_secs(10), send)
            .await
            .unwrap_or_else(|_| Err("the request hung".to_owned()))
    })
}

#[test]
fn the_default_client_is_safe_across_runtimes() {
    let (url, accepted) = keep_alive_server();

    // Runtime A opens a pooled connection, then stays alive but idle (nothing drives it).
    let a = runtime();
    assert_eq!(get(&a, &url).as_deref(), Ok("ok"));

    // Runtime B must not be handed A's connection: it would wait for A forever.
    let b = runtime();
    assert_eq!(get(&b, &url).as_deref(), Ok("ok"));
    assert_eq!(get(&b, &url).as_deref(), Ok("ok"));

    // A is dropped, with its connection's task: B and a new runtime C keep working.
    drop(a);
    assert_eq!(get(&b, &url).as_deref(), Ok("ok"));
    let c = runtime();
    assert_eq!(get(&c, &url).as_deref(), Ok("ok"));

    // Within one runtime the pool is reused: one connection each for A, B and C.
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn a_context_built_outside_any_runtime_sends_through_the_runtime_it_sends_from() {
    let (url, _) = keep_alive_server();
    let conn = StaticConnection::new(ConnectionRecord::new("svc", "c", Credentials::bearer("t0ken-abc")));
    // Built in no runtime at all, then used from two runtimes, the first one left idle.
    let cx = Context::builder().connection(Arc::new(conn)).build();
    let send = |rt: &Runtime| {
        rt.block_on(async {
            let go = async {
                cx.send(cx.http().get(&url))
                    .await?
                    .text()
                    .await
                    .map_err(aura_core::Error::from)
            };
            tokio::time::timeout(Duration::from_secs(10), go)
                .await
                .map_err(|_| "the request hung".to_owned())?
                .map_err(|e| format!("{e:?}"))
        })
    };
    let a = runtime();
    assert_eq!(send(&a).as_deref(), Ok("ok"));
    let b = runtime();
    assert_eq!(send(&b).as_deref(), Ok("ok"));
}

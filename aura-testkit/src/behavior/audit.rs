//! The [`AuditLog`] behaviour suite: entries appended, read back exactly, listed newest first
//! in pages. [`audit_behavior!`](crate::audit_behavior) writes one `#[tokio::test]` per check.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use aura_core::ErrorKind;
use aura_core::store::{AuditAction, AuditEntry, AuditLog, Cursor, PageRequest};
use serde_json::json;

/// A fresh, empty audit log under test.
pub struct AuditFixture {
    log: Arc<dyn AuditLog>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for AuditFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditFixture").finish_non_exhaustive()
    }
}

impl AuditFixture {
    /// A fixture over `log`.
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log, _guard: None }
    }

    /// Keeps `guard` alive as long as the fixture (a temporary directory holding the file …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Writes one `#[tokio::test]` per check of [`behavior::audit`](crate::behavior::audit), each on
/// the fixture the expression (a future of an
/// [`AuditFixture`](crate::behavior::audit::AuditFixture)) makes afresh; attributes in front go
/// on every test, as for [`store_behavior!`](crate::store_behavior).
#[macro_export]
macro_rules! audit_behavior {
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::audit::AuditFixture = $fixture.await;
            $crate::behavior::audit::$check(&fixture).await;
        }
        $crate::audit_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::audit_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::audit_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::audit_behavior!(@run [$($attrs)*] $fixture;
            entries_list_newest_first_in_pages,
            every_action_reads_back_as_itself,
            append_twice_is_a_conflict,
            a_bad_audit_cursor_is_invalid_input,
        );
    };
    ($($input:tt)*) => {
        $crate::audit_behavior!(@attrs [] $($input)*);
    };
}

fn entry(n: usize) -> AuditEntry {
    AuditEntry::new(format!("user-{n}"), AuditAction::CredentialsReplaced)
        .connection(format!("conn-{n}"), "crm")
        .detail(json!({ "version": n, "fields": ["name"], "note": "ü \"quoted\"" }))
}

/// Entries read back exactly as appended, newest first, a page at a time.
pub async fn entries_list_newest_first_in_pages(f: &AuditFixture) {
    let appended: Vec<AuditEntry> = (0..5).map(entry).collect();
    for e in &appended {
        f.log.append(e).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut page = f.log.list_audit(PageRequest::first(2)).await.unwrap();
    loop {
        assert!(page.items.len() <= 2);
        seen.extend(page.items.clone());
        match page.next.clone() {
            Some(next) => page = f.log.list_audit(PageRequest::first(2).after(next)).await.unwrap(),
            None => break,
        }
    }
    let newest_first: Vec<AuditEntry> = appended.into_iter().rev().collect();
    assert_eq!(seen, newest_first);
    assert!(f.log.list_audit(PageRequest::first(0)).await.unwrap().items.is_empty());
}

/// Every action, with and without a connection, reads back as itself.
pub async fn every_action_reads_back_as_itself(f: &AuditFixture) {
    let actions = [
        AuditAction::ConnectionCreated,
        AuditAction::ConnectionUpdated,
        AuditAction::CredentialsReplaced,
        AuditAction::ConnectionDisconnected,
        AuditAction::ConnectionDeleted,
        AuditAction::KeyRotated,
    ];
    let mut appended = Vec::new();
    for action in actions {
        let e = AuditEntry::new("admin@example.com", action);
        let e = if action == AuditAction::KeyRotated {
            e.detail(json!({ "key_id": "2026-01", "rotated": 3 }))
        } else {
            e.connection("c1", "crm")
        };
        f.log.append(&e).await.unwrap();
        appended.push(e);
    }
    let listed = f.log.list_audit(PageRequest::first(100)).await.unwrap();
    assert!(listed.next.is_none());
    appended.reverse();
    assert_eq!(listed.items, appended);
}

/// An entry's id is its identity: appending it twice is refused.
pub async fn append_twice_is_a_conflict(f: &AuditFixture) {
    let e = entry(1);
    f.log.append(&e).await.unwrap();
    let err = f.log.append(&e).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(f.log.list_audit(PageRequest::first(10)).await.unwrap().items, [e]);
}

/// A cursor the store did not write is refused.
pub async fn a_bad_audit_cursor_is_invalid_input(f: &AuditFixture) {
    let err = f
        .log
        .list_audit(PageRequest::first(1).after(Cursor::new("not a cursor")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

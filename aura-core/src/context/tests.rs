//! The context's unit tests: extensions, pass values, cancellation, renewal in place.

use super::*;

#[derive(Clone, Debug, PartialEq)]
struct Tag(&'static str);

struct NoValues;

impl PassValues for NoValues {
    fn get(&self, _: TypeId) -> Option<&(dyn Any + Send + Sync)> {
        None
    }
}

/// A pass that has a `Tag` of its own.
struct Tagged(Tag);

impl PassValues for Tagged {
    fn get(&self, id: TypeId) -> Option<&(dyn Any + Send + Sync)> {
        (id == TypeId::of::<Tag>()).then_some(&self.0 as _)
    }
}

#[test]
fn a_pass_value_is_found_before_the_extension_set_and_kept_by_copies() {
    let mut set = http::Extensions::new();
    set.insert(Tag("engine"));
    set.insert(5u16);
    let cx: Context = NodeContext {
        connection: None,
        span: tracing::Span::none(),
        node_id: "n".into(),
        item: None,
        run: RunParts::for_pass(
            None,
            Arc::new(CancellationToken::new()),
            "s".into(),
            "e".into(),
            Arc::new(set),
            Arc::new(Tagged(Tag("pass"))),
        ),
    }
    .into();
    assert_eq!(cx.extension::<Tag>(), Some(&Tag("pass")));
    assert_eq!(cx.extension::<u16>(), Some(&5));
    assert_eq!(cx.extension::<u8>(), None);
    let retry = cx.to_builder().attempt(2).extension(9u8).build();
    assert_eq!(retry.extension::<Tag>(), Some(&Tag("pass")));
    assert_eq!(retry.extension::<u8>(), Some(&9));
}

#[test]
fn a_context_is_renewed_in_place_only_when_no_clone_of_it_is_left() {
    let run = RunParts::for_pass(
        None,
        Arc::new(CancellationToken::new()),
        "s".into(),
        "e".into(),
        Arc::default(),
        Arc::new(NoValues),
    );
    let parts = |node: &str, item| NodeContext {
        connection: None,
        span: tracing::Span::none(),
        node_id: node.into(),
        item,
        run: run.clone(),
    };
    let mut cx: Context = parts("a", None).into();
    assert_eq!(cx.idempotency_key(), Some("e/a"));
    let before = Arc::as_ptr(&cx.inner);
    assert!(cx.renew(parts("b", Some(3))).is_ok());
    assert!(std::ptr::eq(before, Arc::as_ptr(&cx.inner)), "the same allocation");
    // Everything of the node before is gone, its derived key among them.
    assert_eq!((cx.node_id(), cx.idempotency_key()), (Some("b"), Some("e/b/3")));
    // A clone still held (a task the node left running) keeps its context as it was.
    let kept = cx.clone();
    let refused = cx.renew(parts("c", None)).expect_err("a clone is held");
    assert_eq!(refused.node_id.as_ref(), "c");
    assert_eq!((kept.node_id(), cx.node_id()), (Some("b"), Some("b")));
}

#[test]
fn extensions_are_found_by_type_and_absent_when_none_were_attached() {
    assert_eq!(Context::new().extension::<Tag>(), None);
    let cx = Context::builder().extension(Tag("a")).extension(7u32).build();
    assert_eq!(cx.extension::<Tag>(), Some(&Tag("a")));
    assert_eq!(cx.extension::<u32>(), Some(&7));
    // A prepared set replaces what was attached before, and a copy keeps it.
    let mut set = http::Extensions::new();
    set.insert(Tag("b"));
    let cx = Context::builder().extension(1u8).extensions(Arc::new(set)).build();
    assert_eq!(cx.extension::<u8>(), None);
    assert_eq!(cx.to_builder().attempt(2).build().extension::<Tag>(), Some(&Tag("b")));
}

#[test]
fn a_cancel_reaches_every_copy_whether_the_token_is_its_own_or_shared() {
    let own = Context::new();
    let copy = own.to_builder().attempt(3).build();
    own.cancellation().cancel();
    assert!(copy.is_cancelled() && own.clone().is_cancelled());

    let execution = Arc::new(CancellationToken::new());
    let run = RunParts::for_pass(
        None,
        execution.clone(),
        "s".into(),
        "e".into(),
        Arc::default(),
        Arc::new(NoValues),
    );
    let node: Context = NodeContext {
        connection: None,
        span: tracing::Span::none(),
        node_id: "n".into(),
        item: Some(2),
        run: run.clone(),
    }
    .into();
    // Another node of the same pass shares its parts, and its cancel.
    let sibling: Context = NodeContext {
        connection: None,
        span: tracing::Span::none(),
        node_id: "m".into(),
        item: None,
        run,
    }
    .into();
    assert_eq!(sibling.execution_id(), Some("e"));
    assert_eq!(sibling.idempotency_key(), Some("e/m"));
    let retry = node.to_builder().attempt(2).build();
    assert!(!retry.is_cancelled());
    execution.cancel();
    assert!(node.is_cancelled() && retry.is_cancelled() && sibling.is_cancelled());
    assert_eq!(retry.idempotency_key(), Some("e/n/2"));
}

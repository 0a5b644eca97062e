//! Iterate nodes: the body once per element, and the aggregate after it.

use super::*;

impl Exec {
    /// Runs an iterate node's body once per element; returns the step after its aggregate.
    pub(super) async fn iterate(self: &Arc<Self>, frame: &Arc<Frame>, it: usize, array: &Value) -> Result<Step> {
        let node = &self.plan.nodes[it];
        let Some(body) = &node.body else {
            return Ok(Step {
                from: it,
                targets: Targets::None,
                also_skip: None,
            });
        };
        let items = array.as_array().cloned().unwrap_or_default();
        let total = self.plan.nodes.len();
        let results: Vec<Option<Value>> = stream::iter(items.into_iter().enumerate())
            .map(|(i, item)| {
                let child = Arc::new(Frame::child(frame, it, i, item, total));
                async move {
                    self.walk(&child, Entry::Body(it)).await?;
                    match body.aggregate {
                        Some(agg) => self.aggregate_item(&child, agg),
                        None => Ok(None),
                    }
                }
            })
            .buffered(body.concurrency.max(1))
            .try_collect()
            .await?;
        let Some(agg) = body.aggregate else {
            return Ok(Step {
                from: it,
                targets: Targets::None,
                also_skip: None,
            });
        };
        let collected = Arc::new(Value::Array(results.into_iter().flatten().collect()));
        frame.set(agg, collected.clone());
        let (recorded, cleaned) = self.recorded(agg, frame.item_index(), &collected).await?;
        let now = Utc::now();
        self.save(agg, frame.item_index(), |r| {
            r.status = NodeStatus::Completed;
            r.output = Some(recorded);
            r.output_cleaned = cleaned;
            r.attempts = 1;
            r.started_at = Some(now);
            r.ended_at = Some(now);
        })
        .await?;
        self.emit(|| Emitted::Node(NodeEvent::Completed(Duration::ZERO), agg, frame.item_index()));
        if let Some(stop) = self.breakpoint(agg) {
            stop.await;
        }
        Ok(Step {
            from: agg,
            targets: Targets::Next,
            also_skip: None,
        })
    }

    /// One element's contribution to an aggregate: `None` when no edge taken in the body led to it
    /// (a filter dropped the element, or its branch stopped).
    pub(super) fn aggregate_item(&self, child: &Arc<Frame>, agg: usize) -> Result<Option<Value>> {
        let node = &self.plan.nodes[agg];
        if !child.reached_aggregate.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        match &node.mapping {
            Some(m) => m
                .eval(&self.scope(child))
                .map(Some)
                .map_err(|e| e.with_context("node", node.id.to_string())),
            None => Ok(Some(Arc::unwrap_or_clone(self.default_input(child, agg)))),
        }
    }
}

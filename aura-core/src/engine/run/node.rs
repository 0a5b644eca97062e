//! One node: its input, its run, its result (completed or failed).

use super::*;

/// What a node that ended well leaves for [`Exec::complete`].
pub(super) struct Done {
    value: Arc<Value>,
    input: Arc<Value>,
    route: Route,
    attempts: u32,
    started_at: chrono::DateTime<Utc>,
    /// When it started, on the monotonic clock its duration is measured with.
    clock: Instant,
}

impl Exec {
    /// The output given for a node in this frame: pinned by the caller (outside iterate
    /// bodies), or reused by a re-run or resume (for one element, inside them).
    fn pinned(&self, frame: &Frame, idx: usize) -> Option<&Pinned> {
        let id = &self.plan.nodes[idx].id;
        match frame.item_index() {
            None if frame.iterate.is_none() => self.options.pinned.get(&**id),
            Some(item) => self.options.reused.get(&(id.clone(), item)),
            None => None,
        }
    }

    /// Runs one node of the pass. `may_park`: nothing else of the execution is in flight, so
    /// that a long wait ([`Route::Wait`]) may park the execution instead of holding its task.
    /// `spare`: the context of the node run before this one, on the same walk, for this one's
    /// to reuse when nothing else holds it ([`Context::renew`]); this one's is left there.
    /// (Not an `async fn`: its future is `run_node_after`'s, without a layer around it.)
    pub(super) fn run_node<'a>(
        self: &'a Arc<Self>,
        pass: &'a Pass,
        idx: usize,
        may_park: bool,
        spare: Option<&'a mut Option<Context>>,
    ) -> impl Future<Output = Result<Step>> + 'a {
        self.run_node_after(pass, idx, may_park, None, spare)
    }

    /// [`run_node`](Self::run_node), with `done` attempts made before when its retry was
    /// parked (`None`: a first run, or a resume, which finds a parked retry in the record).
    pub(super) async fn run_node_after(
        self: &Arc<Self>,
        pass: &Pass,
        idx: usize,
        may_park: bool,
        mut done: Option<u32>,
        mut spare: Option<&mut Option<Context>>,
    ) -> Result<Step> {
        let frame = &pass.frame;
        let node = &self.plan.nodes[idx];
        let item = frame.item_index();

        if let Some(pinned) = self.pinned(frame, idx) {
            if let Some(wakes_at) = pinned.wakes_at {
                return Box::pin(self.wait_on(pass, idx, pinned.output.clone(), wakes_at, may_park)).await;
            }
            let output = pinned.output.clone();
            frame.set(idx, output.clone());
            let route = pinned.route.clone();
            let (recorded, cleaned) = self.recorded(idx, item, &output).await?;
            self.save(idx, item, |r| {
                r.status = NodeStatus::Completed;
                r.output = Some(recorded);
                r.output_cleaned = cleaned;
                r.route.clone_from(&route);
                r.pinned = true;
            })
            .await?;
            if let Some(body) = &node.body {
                if let Some(agg) = body.aggregate
                    && let Some(done) = self.pinned(frame, agg)
                {
                    let agg_output = done.output.clone();
                    frame.set(agg, agg_output.clone());
                    let (recorded, cleaned) = self.recorded(agg, item, &agg_output).await?;
                    self.save(agg, item, |r| {
                        r.status = NodeStatus::Completed;
                        r.output = Some(recorded);
                        r.output_cleaned = cleaned;
                        r.pinned = true;
                    })
                    .await?;
                    return Ok(Step {
                        from: agg,
                        targets: Targets::Next,
                        also_skip: None,
                    });
                }
                return Box::pin(self.iterate(frame, idx, &output)).await;
            }
            let targets = match route {
                Some(r) => Targets::Route(r.into()),
                None => Targets::Next,
            };
            return Ok(Step {
                from: idx,
                targets,
                also_skip: None,
            });
        }

        // A resume finds a retry parked in the record: it waits out what is left of the
        // back-off (parked again, if long), then goes on counting the attempts made.
        if done.is_none()
            && !self.options.retry_at.is_empty()
            && let Some(&(at, attempts)) = self.options.retry_at.get(&(node.id.clone(), item))
        {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            if may_park && wait >= self.engine.park_after {
                return Ok(self.retry_parked(idx, attempts, wait));
            }
            self.engine.clock.sleep(wait).await;
            done = Some(attempts);
        }
        let clock = Instant::now();
        // One clock read: wall time from the execution's start plus the monotonic offset.
        let started_at = crate::clock::wall_after(self.started_utc, clock - self.started_instant);
        self.emit(|| Emitted::Node(NodeEvent::Started, idx, item));
        let input = match self.build_input(pass, idx) {
            Ok(input) => input,
            Err(e) => return Box::pin(self.failed(frame, idx, null(), e, 0, started_at)).await,
        };
        // Only a recovery has nodes in flight: no lookup (nor key) otherwise.
        if !node.info.idempotent
            && !self.options.in_flight.is_empty()
            && self.options.in_flight.contains(&(node.id.clone(), item))
        {
            if !self.plan.settings().error_policy.rerun_in_flight {
                let err = Error::conflict(
                    "the node may have run: it was in flight when the process stopped and is not idempotent, \
                     so it is not called again (check the service, then rerun the execution, or set \
                     error_policy.rerun_in_flight)",
                )
                .with_context("may_have_run", "true")
                .persistent();
                return Box::pin(self.failed(frame, idx, input, err, 0, started_at)).await;
            }
            tracing::warn!(node = %node.id, execution = %self.id, "a node that may have run before the process stopped runs again (rerun_in_flight)");
        }
        let mut cx = self.context(pass, idx, spare.as_mut().and_then(|s| s.take()));
        // A pure node with no retry policy, no cache and no connection (whose rate limit it
        // would wait for) that ends at once ends here ([`Node::run_now`]): nothing can see it
        // run, so it is not recorded as running first.
        let at_once =
            node.info.pure && node.retry.retries == 0 && node.info.cache_ttl.is_none() && node.connection.is_none();
        let now = match at_once {
            true => node.node.run_now(&cx, &input),
            false => None,
        };
        let attempted = match now {
            Some(Ok(out)) => Attempted::Done(out, 1),
            Some(Err(e)) => Attempted::Failed(spent(e), 1),
            None => {
                // The result is checkpointed when the node ends; while it runs, the record
                // holds it as running (not in the store, unless the call may not be repeated),
                // so that a cancel or the max duration can record it.
                self.begin(idx, item, started_at, &input);
                if self.mark_in_flight() && !node.info.idempotent {
                    Box::pin(self.save_running(idx, item)).await?;
                }
                self.attempts(pass, idx, &cx, &input, done.unwrap_or(0), self.parks_retries(may_park))
                    .await
            }
        };
        match spare {
            Some(spare) => {
                // Kept for the next node, without this node's span (it ends with the node).
                cx.end_span();
                *spare = Some(cx);
            }
            None => drop(cx),
        }
        match attempted {
            Attempted::Done(out, attempts) => {
                let SharedOutput { value, route } = out;
                let mut done = Done {
                    value,
                    input,
                    route,
                    attempts,
                    started_at,
                    clock,
                };
                if let Route::Wait(wait) = done.route {
                    done.route = Route::Next;
                    return Box::pin(self.wait_out(pass, idx, done, wait, may_park)).await;
                }
                self.complete(pass, idx, done).await
            }
            Attempted::Failed(e, attempts) => Box::pin(self.failed(frame, idx, input, e, attempts, started_at)).await,
            Attempted::Later(e, attempts, wait) => {
                let kind = e.kind().as_str();
                tracing::debug!(node = %node.id, execution = %self.id, ?wait, error = kind, "a retry parks");
                Box::pin(self.save_retry(idx, item, &input, e, attempts, wait)).await?;
                self.emit(|| EventKind::NodeRetrying {
                    node: node.id.clone(),
                    attempt: attempts,
                    delay: wait,
                    error: kind,
                });
                Ok(self.retry_parked(idx, attempts, wait))
            }
        }
    }

    /// The back-off from which a failed node's retry parks the execution in the store rather
    /// than sleeping, when this node may park: see
    /// [`EngineBuilder::park_in_store_after`](crate::engine::EngineBuilder::park_in_store_after).
    fn parks_retries(&self, may_park: bool) -> Option<Duration> {
        let eligible = may_park
            && self.mark_in_flight()
            && self.options.lease.is_some()
            && self.options.depth == 0
            && self.options.breakpoint.is_none()
            && self.engine.park_in_store_after != Duration::MAX;
        eligible.then_some(self.engine.park_in_store_after)
    }

    /// The step of a node whose retry waits parked, `wait` from now.
    fn retry_parked(&self, idx: usize, attempts: u32, wait: Duration) -> Step {
        Step {
            from: idx,
            targets: Targets::Parked(Box::new(Waiting {
                idx,
                then: Then::Retry { attempts },
                until: self.engine.clock.now().saturating_add(wait),
            })),
            also_skip: None,
        }
    }

    /// Saves a node whose retry is parked: waiting, with its last error and attempts, until
    /// the retry is due (its `ended_at`), so that a resume goes on from there.
    async fn save_retry(
        &self,
        idx: usize,
        item: Option<usize>,
        input: &Arc<Value>,
        err: Error,
        attempts: u32,
        wait: Duration,
    ) -> Result<()> {
        let recorded_input = self.clean(input);
        let record = self
            .redactor
            .error(&err.with_context("node", self.plan.nodes[idx].id.to_string()));
        let due = wakes_at(wait);
        self.save(idx, item, |r| {
            r.status = NodeStatus::Waiting;
            r.input = recorded_input;
            r.output = None;
            r.error = Some(Box::new(record));
            r.attempts = attempts;
            r.ended_at = Some(due);
        })
        .await
    }

    /// A node ended well but waits (`wait`) before its successors run: parked when it may
    /// park and the wait is long, waited in place otherwise; then completed. A long wait of an
    /// execution checkpointed on a durable store is saved first ([`NodeStatus::Waiting`]), so
    /// that a resume after a crash waits out only what is left of it.
    async fn wait_out(
        self: &Arc<Self>,
        pass: &Pass,
        idx: usize,
        done: Done,
        wait: Duration,
        may_park: bool,
    ) -> Result<Step> {
        let long = wait >= self.engine.park_after;
        if long && self.mark_in_flight() {
            self.save_waiting(pass.frame.item_index(), idx, &done, wait).await?;
        }
        if may_park && long {
            let until = self.engine.clock.now().saturating_add(wait);
            tracing::debug!(node = %self.plan.nodes[idx].id, execution = %self.id, ?wait, "parked");
            return Ok(Step {
                from: idx,
                targets: Targets::Parked(Box::new(Waiting {
                    idx,
                    then: Then::Complete(done),
                    until,
                })),
                also_skip: None,
            });
        }
        // A cancel or the max duration stops the walk, and this wait with it.
        self.engine.clock.sleep(wait).await;
        self.complete(pass, idx, done).await
    }

    /// Saves a node whose wait has begun: its output, and when the wait ends.
    async fn save_waiting(&self, item: Option<usize>, idx: usize, done: &Done, wait: Duration) -> Result<()> {
        let (recorded, cleaned) = self.recorded(idx, item, &done.value).await?;
        let recorded_input = self.clean(&done.input);
        let wakes_at = wakes_at(wait);
        let attempts = done.attempts;
        self.save(idx, item, |r| {
            r.status = NodeStatus::Waiting;
            r.input = recorded_input;
            r.output = Some(recorded);
            r.output_cleaned = cleaned;
            r.attempts = attempts;
            r.ended_at = Some(wakes_at);
        })
        .await
    }

    /// A waiting node taken up again (by a resume): it is not called again; what is left of
    /// its wait is waited out (or parked), then it completes with its recorded output.
    async fn wait_on(
        self: &Arc<Self>,
        pass: &Pass,
        idx: usize,
        value: Arc<Value>,
        wakes_at: chrono::DateTime<Utc>,
        may_park: bool,
    ) -> Result<Step> {
        let item = pass.frame.item_index();
        let (input, attempts, started_at) = {
            let mut state = self.lock();
            let slot = super::checkpoint::slot(&mut state, &self.ids, idx, item);
            let r = &state.record.nodes[slot];
            (r.input.clone(), r.attempts, r.started_at.unwrap_or_else(Utc::now))
        };
        let now = Utc::now();
        let since = (now - started_at).to_std().unwrap_or_default();
        let done = Done {
            value,
            input,
            route: Route::Next,
            attempts,
            started_at,
            // Its duration counts from when it started, before the resume.
            clock: Instant::now().checked_sub(since).unwrap_or_else(Instant::now),
        };
        let wait = (wakes_at - now).to_std().unwrap_or_default();
        self.wait_out(pass, idx, done, wait, may_park).await
    }

    /// A node ended well: its output set, its result checkpointed, its edges chosen.
    /// A plain function around an `async move` block that reads `done`'s fields in place: an
    /// `async fn` taking `done` and taking it apart would keep it twice in its future.
    #[expect(
        clippy::manual_async_fn,
        reason = "an `async fn` would keep `done` twice in its future"
    )]
    pub(super) fn complete<'a>(
        self: &'a Arc<Self>,
        pass: &'a Pass,
        idx: usize,
        mut done: Done,
    ) -> impl Future<Output = Result<Step>> + 'a {
        async move {
            let frame = &pass.frame;
            let node = &self.plan.nodes[idx];
            let item = frame.item_index();
            let (targets, route_name) = match std::mem::replace(&mut done.route, Route::Next) {
                Route::Next | Route::Wait(_) => (Targets::Next, None),
                Route::Branch(r) => {
                    let name = r.clone().into_owned();
                    (Targets::Route(r), Some(name))
                }
                Route::Stop => (Targets::None, None),
            };
            frame.set(idx, done.value.clone());
            let (recorded, cleaned) = self.recorded(idx, item, &done.value).await?;
            // The input is recorded (cleaned) in place of the one `begin` left there; a node that
            // passed its input on has it cleaned already, as its output.
            let recorded_input = if Arc::ptr_eq(&done.input, &done.value) {
                recorded.clone()
            } else {
                self.clean_shared(done.input)
            };
            let elapsed = done.clock.elapsed();
            let started_at = done.started_at;
            let ended_at = crate::clock::wall_after(started_at, elapsed);
            let attempts = done.attempts;
            self.save(idx, item, |r| {
                r.status = NodeStatus::Completed;
                r.input = recorded_input;
                // (An error of an attempt whose retry parked is not this node's end.)
                r.error = None;
                r.started_at = Some(started_at);
                r.output = Some(recorded);
                r.output_cleaned = cleaned;
                r.attempts = attempts;
                r.route = route_name;
                r.ended_at = Some(ended_at);
            })
            .await?;
            self.emit(|| Emitted::Node(NodeEvent::Completed(elapsed), idx, item));
            node.duration_metric.record(elapsed.as_secs_f64());
            if let Some(stop) = self.breakpoint(idx) {
                stop.await;
            }
            if node.body.is_some() {
                return Box::pin(self.iterate(frame, idx, &done.value)).await;
            }
            Ok(Step {
                from: idx,
                targets,
                also_skip: None,
            })
        }
    }

    pub(super) async fn failed(
        &self,
        frame: &Frame,
        idx: usize,
        input: Arc<Value>,
        err: Error,
        attempts: u32,
        started_at: chrono::DateTime<Utc>,
    ) -> Result<Step> {
        let node = &self.plan.nodes[idx];
        let item = frame.item_index();
        // An error from a child scenario names the child's node: this node is added after it.
        let named = err.context().iter().any(|(k, v)| *k == "node" && **v == *node.id);
        let err = if named {
            err
        } else {
            err.with_context("node", node.id.to_string())
        };
        let record = self.redactor.error(&err);
        let error_output = Arc::new(json!({ "error": record }));
        let continues = !matches!(node.on_error, OnError::Stop);
        if continues {
            frame.set(idx, error_output.clone());
        }
        let recorded_input = self.clean(&input);
        self.save(idx, item, |r| {
            r.status = NodeStatus::Failed;
            r.input = recorded_input;
            r.error = Some(Box::new(record.clone()));
            r.output = continues.then(|| error_output.clone());
            r.attempts = attempts;
            r.started_at.get_or_insert(started_at);
            r.ended_at = Some(Utc::now());
        })
        .await?;
        self.emit(|| EventKind::NodeFailed {
            node: node.id.clone(),
            item,
            error: err.kind().as_str(),
        });
        metrics::counter!("aura_node_failures_total", "scenario" => self.plan.id.clone(), "node" => node.id.clone())
            .increment(1);
        let also_skip = node.body.as_ref().and_then(|b| b.aggregate);
        match &node.on_error {
            OnError::Stop => Err(err),
            OnError::Continue => {
                let targets = if node.body.is_some() {
                    Targets::None
                } else {
                    Targets::Next
                };
                Ok(Step {
                    from: idx,
                    targets,
                    also_skip,
                })
            }
            OnError::Route(_) => Ok(Step {
                from: idx,
                targets: Targets::Error,
                also_skip,
            }),
        }
    }

    pub(super) fn build_input(&self, pass: &Pass, idx: usize) -> Result<Arc<Value>> {
        let node = &self.plan.nodes[idx];
        match &node.mapping {
            Some(m) => m.eval(&pass.values.scope).map(Arc::new),
            None => Ok(self.default_input(&pass.frame, idx)),
        }
    }

    /// Without a mapping: the trigger data for the trigger node, the element for the first
    /// node of an iterate body, the predecessor's output, or every predecessor's by id.
    /// (Shared, not copied, when it is one value that exists already.)
    pub(super) fn default_input(&self, frame: &Frame, idx: usize) -> Arc<Value> {
        if idx == self.plan.root {
            return self.trigger.clone();
        }
        let node = &self.plan.nodes[idx];
        let from = |p: usize| -> Option<Arc<Value>> {
            if Some(p) == frame.iterate {
                return frame.item.as_ref().map(|(_, item, _)| item.clone());
            }
            frame.json(p)
        };
        match node.preds.as_slice() {
            [only] => from(*only).unwrap_or_else(null),
            many => Arc::new(Value::Object(
                many.iter()
                    .filter_map(|&p| Some((self.plan.nodes[p].id.to_string(), Arc::unwrap_or_clone(from(p)?))))
                    .collect::<Map<_, _>>(),
            )),
        }
    }
}

/// When a wait of `wait` from now ends, on the wall clock.
fn wakes_at(wait: Duration) -> chrono::DateTime<Utc> {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|w| Utc::now().checked_add_signed(w))
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
}

//! Active health checks: probing every provider that has a probe, once or on an interval.

use std::sync::Arc;

use aura_core::{Context, Error};
use tokio::task::JoinHandle;

use super::Router;
use super::complete::on_transition;
use crate::clock::to_nanos;
use crate::health::HealthChecks;
use crate::provider::ProviderId;

/// The task [`Router::spawn_health_checks`] started; dropping it stops the checks.
#[derive(Debug)]
pub struct HealthCheckTask(JoinHandle<()>);

impl HealthCheckTask {
    /// Stops the checks.
    pub fn stop(self) {}
}

impl Drop for HealthCheckTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Router {
    /// Runs one round of active health checks: probes every provider that has a
    /// [probe](crate::ProviderBuilder::probe), all at once, each within `checks.timeout`, and
    /// ejects or restores its operations by the thresholds. Returns each probed provider and
    /// whether its probe passed.
    pub async fn check_health(&self, checks: &HealthChecks) -> Vec<(ProviderId, bool)> {
        let table = self.load_table();
        let clock = &*self.clock;
        let probes = table.providers.iter().filter_map(|provider| {
            let probe = provider.def.probe.clone()?;
            Some(async move {
                let timer = clock.sleep(checks.timeout);
                let result = tokio::select! {
                    biased;
                    result = probe(Context::new()) => result,
                    () = timer => Err(Error::timeout("the health probe timed out")),
                };
                let ok = result.is_ok();
                let streak = provider.probes.record(ok);
                let now = to_nanos(clock.now());
                for op in &provider.ops {
                    let transition = if ok && streak >= checks.healthy_threshold.max(1) {
                        op.health.force_recover(now)
                    } else if !ok && streak >= checks.unhealthy_threshold.max(1) {
                        op.health.force_eject(now, &self.settings.health)
                    } else {
                        None
                    };
                    on_transition(transition, provider, op);
                }
                if let Err(e) = &result {
                    tracing::debug!(provider = %provider.def.id, error = %e, "health probe failed");
                }
                (provider.def.id.clone(), ok)
            })
        });
        futures::future::join_all(probes).await
    }

    /// Starts active health checks on the router's clock: a round every `checks.interval`
    /// until the returned task is dropped or the router is. Needs a tokio runtime.
    ///
    /// With a [`ManualClock`](crate::ManualClock), whose sleeps end at once, this would race
    /// through time: call [`check_health`](Self::check_health) yourself instead.
    pub fn spawn_health_checks(self: &Arc<Self>, checks: HealthChecks) -> HealthCheckTask {
        let router = Arc::downgrade(self);
        let clock = self.clock.clone();
        HealthCheckTask(tokio::spawn(async move {
            loop {
                clock.sleep(checks.interval).await;
                let Some(router) = router.upgrade() else {
                    break;
                };
                router.check_health(&checks).await;
            }
        }))
    }
}

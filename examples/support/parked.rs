//! What the parking examples print and check (`#[path = "support/parked.rs"] mod parked;`).

use std::time::Instant;

use aura_core::Result;
use aura_core::engine::ExecutionHandle;
use aura_core::store::ExecutionStatus;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Prints the resident memory before and after parking `count` executions, and the verdict
/// against the target (≤ 500 MiB resident).
pub(crate) fn report(count: usize, before: u64, after: u64) {
    let grown = after.saturating_sub(before);
    println!("resident before: {:>8.1} MiB", mib(before));
    println!("resident after:  {:>8.1} MiB", mib(after));
    println!(
        "grown:           {:>8.1} MiB ({:.0} bytes per execution, its handle included)",
        mib(grown),
        grown as f64 / count as f64
    );
    let verdict = if after <= 500 * 1024 * 1024 { "within" } else { "over" };
    println!("target: ≤ 500 MiB resident: {verdict}");
}

/// Cancels every execution through its handle and checks that each ended `cancelled`.
pub(crate) async fn cancel_all(handles: Vec<ExecutionHandle>) -> Result<()> {
    let (count, cancelling) = (handles.len(), Instant::now());
    for handle in &handles {
        handle.cancel();
    }
    let mut cancelled = 0;
    for handle in handles {
        if handle.wait().await?.status == ExecutionStatus::Cancelled {
            cancelled += 1;
        }
    }
    println!("cancelled {cancelled}/{count} in {:.2?}", cancelling.elapsed());
    if cancelled != count {
        return Err(aura_core::Error::internal("not every parked execution ended cancelled"));
    }
    Ok(())
}

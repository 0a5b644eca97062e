//! The process's resident memory, for the memory examples
//! (`#[path = "support/rss.rs"] mod rss;`).

use aura_core::{Error, Result};

/// Resident memory in bytes (`VmRSS` in `/proc/self/status`, Linux only).
pub(crate) fn rss() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::unavailable("cannot read /proc/self/status (Linux only)").with_source(e))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| Error::internal("no VmRSS line in /proc/self/status"))?;
    Ok(kib * 1024)
}

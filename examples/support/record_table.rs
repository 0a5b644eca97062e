//! Prints an execution record as a table: each node's status, duration and a summary of its
//! output. Shared by the examples (`#[path = "support/record_table.rs"] mod record_table;`).

use std::time::Duration;

use aura_core::store::ExecutionRecord;
use serde::Serialize;
use serde_json::Value;

/// A status as the record serializes it (`"completed"`, `"skipped"` …).
pub(crate) fn status_name(status: impl Serialize) -> String {
    match serde_json::to_value(status) {
        Ok(Value::String(s)) => s,
        _ => "?".to_owned(),
    }
}

fn format_duration(d: Option<Duration>) -> String {
    match d {
        None => "-".to_owned(),
        Some(d) if d < Duration::from_millis(1) => format!("{} µs", d.as_micros()),
        Some(d) => format!("{:.2} ms", d.as_secs_f64() * 1000.0),
    }
}

/// Compact JSON (an object's `id` first), cut to `max` characters.
fn truncate_json(value: &Value, max: usize) -> String {
    let text = match value {
        Value::Object(map) => {
            let ids = map.iter().filter(|(k, _)| *k == "id");
            let rest = map.iter().filter(|(k, _)| *k != "id");
            let fields: Vec<String> = ids
                .chain(rest)
                .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    };
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

pub(crate) fn print_record(title: &str, record: &ExecutionRecord) {
    println!("\n{title}");
    println!("  {:<16} {:<10} {:>9}  output", "node", "status", "duration");
    println!("  {:-<16} {:-<10} {:->9}  {:-<70}", "", "", "", "");
    for node in &record.nodes {
        let summary = match (&node.error, &node.output, &node.route) {
            (Some(e), _, _) => format!("error {}: {}", e.kind, e.message),
            (None, Some(out), Some(route)) => format!("route {route:?} · {}", truncate_json(out, 55)),
            (None, Some(out), None) => truncate_json(out, 70),
            (None, None, _) => "-".to_owned(),
        };
        println!(
            "  {:<16} {:<10} {:>9}  {summary}",
            node.node_id,
            status_name(node.status),
            format_duration(node.duration())
        );
    }
    println!(
        "  execution {}: {} in {}",
        record.id,
        status_name(record.status),
        format_duration(record.duration())
    );
    if let Some(e) = &record.error {
        println!("  error: {} ({})", e.message, e.kind);
    }
}

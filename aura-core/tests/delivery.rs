//! Outbound webhook delivery: behaviour tests.

//! Encryption at rest for connection records (being written).

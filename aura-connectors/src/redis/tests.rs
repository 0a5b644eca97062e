//! Unit tests: command building, error mapping, config and cursors (no server).

//! Unit tests: no server.

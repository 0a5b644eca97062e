//! Unit tests of the SQLite store: the file checks and the migrations.

#![doc = include_str!("docs.md")]

mod auth;
mod body;
mod components;
mod document;
mod import;
mod names;
mod options;
mod params;
mod refs;
mod schema;
mod servers;
mod warnings;

pub use self::import::{Import, import, import_str};
pub use self::options::{DEFAULT_MAX_DESCRIPTION_BYTES, DEFAULT_MAX_SCHEMA_DEPTH, ImportOptions};
pub use self::warnings::ImportWarning;

#[cfg(test)]
mod tests;

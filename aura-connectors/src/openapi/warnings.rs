//! What the importer could not map exactly: a warning names the place in the spec (a JSON
//! pointer) and says what was done instead.

use std::fmt;

/// Something the importer skipped or approximated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportWarning {
    /// Where in the spec, as a JSON pointer (`/paths/~1repos~1{owner}/get/requestBody`).
    pub path: String,
    /// What happened.
    pub message: String,
}

impl ImportWarning {
    /// A warning at `path` saying `message`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A JSON pointer under construction: `Pointer::root().key("paths").key("/repos")` is
/// `/paths/~1repos`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pointer(String);

impl Pointer {
    /// The whole document (the empty pointer).
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    /// A pointer given as text (already escaped).
    pub(crate) fn parse(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// This pointer, one object key deeper (`~` and `/` escaped).
    #[must_use]
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut out = String::with_capacity(self.0.len() + key.len() + 1);
        out.push_str(&self.0);
        out.push('/');
        for c in key.chars() {
            match c {
                '~' => out.push_str("~0"),
                '/' => out.push_str("~1"),
                c => out.push(c),
            }
        }
        Self(out)
    }

    /// This pointer, one array index deeper.
    #[must_use]
    pub(crate) fn index(&self, index: usize) -> Self {
        Self(format!("{}/{index}", self.0))
    }

    /// The pointer as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The warnings of one import (or of one operation, kept apart until the operation is known
/// to be imported).
#[derive(Debug, Default)]
pub(crate) struct Warnings(pub(crate) Vec<ImportWarning>);

impl Warnings {
    /// Records a warning at `at`.
    pub(crate) fn push(&mut self, at: &Pointer, message: impl Into<String>) {
        self.0.push(ImportWarning::new(at.as_str(), message));
    }

    /// Moves every warning of `other` here.
    pub(crate) fn extend(&mut self, other: Warnings) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_slash_and_tilde_in_keys() {
        let p = Pointer::root().key("paths").key("/repos/{owner}").key("a~b").index(2);
        assert_eq!(p.as_str(), "/paths/~1repos~1{owner}/a~0b/2");
    }
}

//! Keys and references: the names of apps, actions and triggers, checked once.
//!
//! A [`Key`] is an app id or the key of an action or trigger within its app: lowercase ASCII
//! letters, digits, `_` and `-`, starting with a letter, at most 64 bytes. Keys never contain
//! `.`, which separates app and key in a [`Reference`] (`"slack.send_message"`), the way
//! scenarios name what a node runs.
//!
//! This module depends on nothing but [`crate::error`], so that apps, actions, triggers, the
//! registry and the compiler can all use it without depending on each other.
//!
//! ```
//! use aura_core::key::{Key, Reference};
//!
//! let reference: Reference = "slack.send_message".parse()?;
//! assert_eq!(reference.app().as_str(), "slack");
//! assert_eq!(reference.key().as_str(), "send_message");
//! assert_eq!(reference.to_string(), "slack.send_message");
//!
//! let app: Key = "crm".parse()?;
//! let built = Reference::new(app, "create_contact".parse()?);
//! assert_eq!(built.as_str(), "crm.create_contact");
//!
//! let err = "Slack.send".parse::<Reference>().unwrap_err();
//! assert_eq!(err.context_value("reference"), Some("Slack.send"));
//! # Ok::<(), aura_core::Error>(())
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64;

/// A checked app id or action/trigger key: lowercase ASCII letters, digits, `_` and `-`,
/// starting with a letter, at most [`MAX_KEY_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// Checks `key`; an error names the bad key (context `key`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidDefinition`](crate::ErrorKind::InvalidDefinition) when `key` breaks
    /// the rules above.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        Self::named("key", key)
    }

    /// Checks `key` as a `what` (`"app id"`, `"action key"` …), which the error message names.
    pub(crate) fn named(what: &'static str, key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        check(what, &key)?;
        Ok(Self(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks `key` as a `what` (`"app id"`, `"action key"` …): the error message says which, and
/// the context `key` holds the bad input.
pub(crate) fn check(what: &'static str, key: &str) -> Result<()> {
    let mut bytes = key.bytes();
    let ok = key.len() <= MAX_KEY_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_definition(format!(
            "{what} {key:?} must be lowercase letters, digits, '_' or '-', start with a letter and be at most {MAX_KEY_LEN} bytes"
        ))
        .with_context("key", key.to_owned()))
    }
}

impl FromStr for Key {
    type Err = Error;

    fn from_str(key: &str) -> Result<Self> {
        Self::new(key)
    }
}

impl TryFrom<String> for Key {
    type Error = Error;

    fn try_from(key: String) -> Result<Self> {
        Self::new(key)
    }
}

impl TryFrom<&str> for Key {
    type Error = Error;

    fn try_from(key: &str) -> Result<Self> {
        Self::new(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        Self::new(key).map_err(serde::de::Error::custom)
    }
}

/// `"app.key"`: an action or trigger of an app, the way scenarios refer to it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    /// `app.key`, kept whole so that [`Reference::as_str`] costs nothing.
    text: String,
    app: Key,
    key: Key,
}

impl Reference {
    /// The reference to `key` of the app `app`.
    pub fn new(app: Key, key: Key) -> Self {
        Self {
            text: format!("{app}.{key}"),
            app,
            key,
        }
    }

    /// Parses `"app.key"`; an error names the bad reference (context `reference`) and says
    /// which part is wrong.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidDefinition`](crate::ErrorKind::InvalidDefinition) when there is not
    /// exactly one `.` or either side is not a valid [`Key`].
    pub fn parse(reference: &str) -> Result<Self> {
        let located = |e: Error| e.with_context("reference", reference.to_owned());
        let Some((app, key)) = reference.split_once('.') else {
            return Err(located(Error::invalid_definition(format!(
                "a reference is written \"app.key\", not {reference:?}"
            ))));
        };
        if key.contains('.') {
            return Err(located(Error::invalid_definition(format!(
                "a reference is written \"app.key\" with one '.', not {reference:?}"
            ))));
        }
        check("the app id of a reference", app).map_err(located)?;
        check("the key of a reference", key).map_err(located)?;
        Ok(Self {
            text: reference.to_owned(),
            app: Key(app.to_owned()),
            key: Key(key.to_owned()),
        })
    }

    /// The app.
    pub fn app(&self) -> &Key {
        &self.app
    }

    /// The action or trigger key within the app.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// `"app.key"`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(reference: &str) -> Result<Self> {
        Self::parse(reference)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl AsRef<str> for Reference {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for Reference {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Reference {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let reference = String::deserialize(deserializer)?;
        Self::parse(&reference).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn keys_follow_the_rules_and_name_the_bad_input() {
        for good in ["a", "send_message", "x-1", &"k".repeat(MAX_KEY_LEN)] {
            assert_eq!(Key::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "1a", "_a", "Send", "a.b", "a b", "é", &"k".repeat(MAX_KEY_LEN + 1)] {
            let err = bad.parse::<Key>().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{bad:?}");
            assert_eq!(err.context_value("key"), Some(bad));
        }
    }

    #[test]
    fn references_round_trip_through_text_and_json() {
        let reference: Reference = "slack.send_message".parse().unwrap();
        assert_eq!(reference.app(), &Key::new("slack").unwrap());
        assert_eq!(reference.key(), "send_message");
        assert_eq!(reference.to_string(), "slack.send_message");
        assert_eq!(
            reference,
            Reference::new(Key::new("slack").unwrap(), Key::new("send_message").unwrap())
        );
        let json = serde_json::to_value(&reference).unwrap();
        assert_eq!(json, "slack.send_message");
        assert_eq!(serde_json::from_value::<Reference>(json).unwrap(), reference);
        assert!(serde_json::from_value::<Reference>(serde_json::json!("Slack.x")).is_err());
    }

    #[test]
    fn bad_references_name_the_reference_and_the_bad_part() {
        for bad in ["slack", ".x", "slack.", "a.b.c", "Slack.x", "slack.Send"] {
            let err = Reference::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{bad:?}");
            assert_eq!(err.context_value("reference"), Some(bad));
            assert!(err.to_string().contains(bad), "{bad:?}: {err}");
        }
        let err = Reference::parse("slack.Send").unwrap_err();
        assert!(err.to_string().contains("key of a reference"), "{err}");
        assert_eq!(err.context_value("key"), Some("Send"));
    }
}

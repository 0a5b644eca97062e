//! An app's manifest: what it is, how it authenticates, how fast it may be called.

use std::fmt;
use std::str::FromStr;

use semver::Version;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// How a connection authenticates: declared on a manifest, defined in the low `connection` layer
// (next to the credentials they describe) because the OAuth2 client reads them too.
use crate::connection::Credentials;
pub use crate::connection::auth_method::{AuthMethod, CredentialField, OAuth2Grant};
use crate::error::{Error, Result};

/// What an app is: id, names, version, category, how it authenticates.
///
/// ```
/// use aura_core::app::{AppManifest, AuthMethod, Category};
/// use aura_core::connection::ApiKeyPlacement;
///
/// let manifest = AppManifest::new("crm", "Acme CRM", semver::Version::new(1, 2, 0))
///     .category(Category::Crm)
///     .description("Contacts, deals and tasks")
///     .tags(["contacts", "sales"])
///     .auth(AuthMethod::ApiKey { placement: ApiKeyPlacement::header("X-Api-Key") });
/// manifest.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppManifest {
    /// Stable lowercase id (`"slack"`): letters, digits, `_` and `-`, starting with a letter.
    pub id: String,
    /// Display name (`"Slack"`).
    pub name: String,
    /// Semantic version of the connector.
    pub version: Version,
    /// Where it sits in a catalogue.
    pub category: Category,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// An icon (file name or URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Free tags for search (`["messaging", "chat"]`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The vendor's API documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    /// The ways a connection can authenticate, first preferred.
    #[serde(default)]
    pub auth: Vec<AuthMethod>,
    /// The vendor's documented rate limit per connection, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl AppManifest {
    /// A manifest with the required parts; category `workflow` until set.
    pub fn new(id: impl Into<String>, name: impl Into<String>, version: Version) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            version,
            category: Category::Workflow,
            description: String::new(),
            icon: None,
            tags: Vec::new(),
            docs_url: None,
            auth: Vec::new(),
            rate_limit: None,
        }
    }

    /// Sets the category.
    #[must_use]
    pub fn category(mut self, category: Category) -> Self {
        self.category = category;
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the icon.
    #[must_use]
    pub fn icon(mut self, icon: impl Into<String>) -> Self {
        self.icon = Some(icon.into());
        self
    }

    /// Sets the tags.
    #[must_use]
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the documentation URL.
    #[must_use]
    pub fn docs_url(mut self, url: impl Into<String>) -> Self {
        self.docs_url = Some(url.into());
        self
    }

    /// Adds a supported authentication method.
    #[must_use]
    pub fn auth(mut self, method: AuthMethod) -> Self {
        self.auth.push(method);
        self
    }

    /// Sets the documented rate limit.
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Checks the manifest: id format, a name, a docs URL that is a URL, a sane rate limit.
    /// Errors name the app and the field.
    pub fn validate(&self) -> Result<()> {
        let at = |field: &'static str, e: Error| e.with_context("app", self.id.clone()).with_context("field", field);
        crate::key::check("app id", &self.id).map_err(|e| at("id", e))?;
        if self.name.trim().is_empty() {
            return Err(at("name", Error::invalid_definition("an app needs a display name")));
        }
        if let Some(url) = &self.docs_url
            && reqwest::Url::parse(url).is_err()
        {
            return Err(at("docs_url", Error::invalid_definition("docs_url is not a URL")));
        }
        if let Some(limit) = &self.rate_limit
            && (limit.requests == 0 || limit.per.is_zero())
        {
            return Err(at(
                "rate_limit",
                Error::invalid_definition("a rate limit needs requests > 0 over a non-zero period"),
            ));
        }
        Ok(())
    }

    /// Whether any declared auth method accepts these credentials (an app that declares none
    /// accepts only [`Credentials::None`]).
    pub fn accepts(&self, credentials: &Credentials) -> bool {
        if self.auth.is_empty() {
            return matches!(credentials, Credentials::None);
        }
        self.auth.iter().any(|m| m.kind() == credentials.kind())
    }
}

/// The catalogue categories of the product documents, or a custom one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    /// Slack, Discord, Teams, email, SMS.
    Communication,
    /// Salesforce, HubSpot, Pipedrive.
    Crm,
    /// PostgreSQL, MySQL, MongoDB.
    Database,
    /// AWS, Azure, GCP.
    Cloud,
    /// Notion, Airtable, Trello.
    Productivity,
    /// GitHub, GitLab, Jira.
    Development,
    /// Shopify, WooCommerce, Stripe.
    Ecommerce,
    /// Google Analytics, Mixpanel.
    Analytics,
    /// OpenAI, Anthropic, Hugging Face.
    AiMl,
    /// S3, Dropbox, Google Drive.
    Storage,
    /// X, LinkedIn, Facebook.
    Social,
    /// Mailchimp, SendGrid.
    Marketing,
    /// Aura's own building blocks.
    Workflow,
    /// Webhook, schedule.
    Triggers,
    /// Anything else, lowercase (`"iot"`).
    Custom(String),
}

impl Category {
    /// Every built-in category.
    pub const BUILT_IN: [Category; 14] = [
        Self::Communication,
        Self::Crm,
        Self::Database,
        Self::Cloud,
        Self::Productivity,
        Self::Development,
        Self::Ecommerce,
        Self::Analytics,
        Self::AiMl,
        Self::Storage,
        Self::Social,
        Self::Marketing,
        Self::Workflow,
        Self::Triggers,
    ];

    /// The category's name (`"ai-ml"`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Communication => "communication",
            Self::Crm => "crm",
            Self::Database => "database",
            Self::Cloud => "cloud",
            Self::Productivity => "productivity",
            Self::Development => "development",
            Self::Ecommerce => "ecommerce",
            Self::Analytics => "analytics",
            Self::AiMl => "ai-ml",
            Self::Storage => "storage",
            Self::Social => "social",
            Self::Marketing => "marketing",
            Self::Workflow => "workflow",
            Self::Triggers => "triggers",
            Self::Custom(s) => s,
        }
    }
}

impl FromStr for Category {
    type Err = Error;

    /// Built-in names map to their variant; any other lowercase name is a custom category.
    fn from_str(s: &str) -> Result<Self> {
        if let Some(c) = Self::BUILT_IN.iter().find(|c| c.as_str() == s) {
            return Ok(c.clone());
        }
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self::Custom(s.to_owned()))
        } else {
            Err(Error::invalid_definition("a category is a non-empty lowercase name").with_context("category", s))
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An app's documented rate limit per connection: Aura's one rate-limit type, from
/// [`crate::rate_limit`].
pub use crate::rate_limit::RateLimit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_through_their_names() {
        for c in Category::BUILT_IN {
            let json = serde_json::to_value(&c).unwrap();
            assert_eq!(serde_json::from_value::<Category>(json).unwrap(), c);
        }
        assert_eq!("ai-ml".parse::<Category>().unwrap(), Category::AiMl);
        assert_eq!("iot".parse::<Category>().unwrap(), Category::Custom("iot".into()));
        assert!("Not Lowercase".parse::<Category>().is_err());
    }

    #[test]
    fn manifest_validation_names_the_field() {
        let bad = AppManifest::new("Slack!", "Slack", Version::new(1, 0, 0));
        let err = bad.validate().unwrap_err();
        assert_eq!(err.context_value("field"), Some("id"));

        let bad = AppManifest::new("slack", " ", Version::new(1, 0, 0));
        assert_eq!(bad.validate().unwrap_err().context_value("field"), Some("name"));

        let bad = AppManifest::new("slack", "Slack", Version::new(1, 0, 0)).docs_url("not a url");
        assert_eq!(bad.validate().unwrap_err().context_value("field"), Some("docs_url"));
    }

    #[test]
    fn manifest_serializes_for_a_ui() {
        let m = AppManifest::new("slack", "Slack", Version::new(1, 0, 0))
            .category(Category::Communication)
            .auth(AuthMethod::OAuth2 {
                authorization_url: Some("https://slack.com/oauth/v2/authorize".into()),
                token_url: "https://slack.com/api/oauth.v2.access".into(),
                scopes: vec!["chat:write".into()],
                grants: vec![OAuth2Grant::AuthorizationCode, OAuth2Grant::RefreshToken],
            })
            .rate_limit(RateLimit::per_minute(50));
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["version"], "1.0.0");
        assert_eq!(json["category"], "communication");
        assert_eq!(json["auth"][0]["type"], "oauth2");
        assert_eq!(json["rate_limit"]["per_secs"], 60.0);
        assert_eq!(serde_json::from_value::<AppManifest>(json).unwrap(), m);
    }

    #[test]
    fn accepts_matches_credential_kinds() {
        let m = AppManifest::new("x", "X", Version::new(1, 0, 0)).auth(AuthMethod::Bearer);
        assert!(m.accepts(&Credentials::bearer("t")));
        assert!(!m.accepts(&Credentials::basic("u", "p")));
        let none = AppManifest::new("y", "Y", Version::new(1, 0, 0));
        assert!(none.accepts(&Credentials::None));
    }
}

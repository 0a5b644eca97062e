//! Credentials: the secret part of a connection, and how it goes on the wire.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue, header::AUTHORIZATION};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::secret::{REDACTED, Scrubber};

/// The secret part of a connection.
///
/// Every secret is a [`SecretString`]: it prints as `[REDACTED]` in `Debug`, never appears in
/// `Display`, and serializes as `"[redacted]"`. Only [`Credentials::exposed`], meant for an
/// encrypting credential store, serializes the secrets themselves. Deserializing a redacted
/// value is refused, so a redacted copy can never be mistaken for real credentials.
///
/// ```
/// use aura_core::connection::{ApiKeyPlacement, Credentials};
///
/// let creds = Credentials::api_key("sk_live_123", ApiKeyPlacement::header("X-Api-Key"));
/// assert!(!format!("{creds:?}").contains("sk_live_123"));
/// assert!(!serde_json::to_string(&creds).unwrap().contains("sk_live_123"));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No authentication.
    #[default]
    None,
    /// A static API key sent in a header or in the query string.
    ApiKey {
        /// The key.
        key: SecretString,
        /// Where it goes.
        placement: ApiKeyPlacement,
    },
    /// A static bearer token (`Authorization: Bearer …`).
    Bearer {
        /// The token.
        token: SecretString,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password.
        password: SecretString,
    },
    /// OAuth 2.0 tokens.
    OAuth2(OAuth2Token),
    /// A set of request headers, every value secret (`X-Client-Id` plus `X-Client-Secret`,
    /// a vendor's own scheme …).
    Headers {
        /// Header name to value.
        headers: BTreeMap<String, SecretString>,
    },
    /// Named fields for services with their own scheme (a database DSN's parts, an account id
    /// and a signing secret …). The connector reads them with [`Credentials::field`].
    Custom {
        /// The fields, every one kept secret.
        fields: BTreeMap<String, SecretString>,
    },
}

/// Where an API key goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "in", content = "name", rename_all = "snake_case")]
pub enum ApiKeyPlacement {
    /// In the named request header.
    Header(String),
    /// In the named query parameter.
    Query(String),
}

impl ApiKeyPlacement {
    /// In the named header.
    pub fn header(name: impl Into<String>) -> Self {
        Self::Header(name.into())
    }

    /// In the named query parameter.
    pub fn query(name: impl Into<String>) -> Self {
        Self::Query(name.into())
    }
}

/// OAuth 2.0 tokens as a token endpoint returned them.
#[derive(Clone, Debug)]
pub struct OAuth2Token {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, if the grant gave one.
    pub refresh_token: Option<SecretString>,
    /// The token type, usually `Bearer`.
    pub token_type: String,
    /// When the access token expires, if known.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the access token was issued, if known (set when a token endpoint answers): with
    /// `expires_at` it gives the token's lifetime, which caps how early it is refreshed.
    pub issued_at: Option<DateTime<Utc>>,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

impl OAuth2Token {
    /// A bearer access token with no expiry and no refresh token.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Self {
            access_token: SecretString::from(access_token.into()),
            refresh_token: None,
            token_type: "Bearer".to_owned(),
            expires_at: None,
            issued_at: None,
            scopes: Vec::new(),
        }
    }

    /// Whether the access token has expired at `now` (or will within `leeway`).
    pub fn is_expired(&self, now: DateTime<Utc>, leeway: chrono::Duration) -> bool {
        // A leeway too large to subtract means "always refresh", never a panic.
        self.expires_at
            .is_some_and(|at| at.checked_sub_signed(leeway).is_none_or(|at| at <= now))
    }

    /// Whether the access token should be refreshed at `now`, `leeway` before it expires: the
    /// leeway is capped to half the token's lifetime when that is known, so a token that lives
    /// less than twice the leeway (10 s against 60 s) is used for half its life instead of
    /// being fetched again on every call.
    ///
    /// ```
    /// use aura_core::connection::OAuth2Token;
    /// use chrono::{Duration, Utc};
    ///
    /// let now = Utc::now();
    /// let token = OAuth2Token {
    ///     issued_at: Some(now),
    ///     expires_at: Some(now + Duration::seconds(10)),
    ///     ..OAuth2Token::bearer("at")
    /// };
    /// assert!(!token.refresh_due(now + Duration::seconds(1), Duration::seconds(60)));
    /// assert!(token.refresh_due(now + Duration::seconds(6), Duration::seconds(60)));
    /// ```
    pub fn refresh_due(&self, now: DateTime<Utc>, leeway: chrono::Duration) -> bool {
        let half_life = self
            .issued_at
            .zip(self.expires_at)
            .map(|(issued, expires)| (expires - issued) / 2)
            .filter(|half| *half >= chrono::Duration::zero());
        let leeway = half_life.map_or(leeway, |half| half.min(leeway));
        self.is_expired(now, leeway)
    }
}

impl Credentials {
    /// An API key in a header or the query.
    pub fn api_key(key: impl Into<String>, placement: ApiKeyPlacement) -> Self {
        Self::ApiKey {
            key: SecretString::from(key.into()),
            placement,
        }
    }

    /// A static bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer {
            token: SecretString::from(token.into()),
        }
    }

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// A set of secret request headers.
    pub fn headers<K: Into<String>, V: Into<String>>(headers: impl IntoIterator<Item = (K, V)>) -> Self {
        Self::Headers {
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.into(), SecretString::from(v.into())))
                .collect(),
        }
    }

    /// Custom named fields.
    pub fn custom<K: Into<String>, V: Into<String>>(fields: impl IntoIterator<Item = (K, V)>) -> Self {
        Self::Custom {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.into(), SecretString::from(v.into())))
                .collect(),
        }
    }

    /// The kind of credentials, as named in manifests (`"api_key"`, `"oauth2"` …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ApiKey { .. } => "api_key",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
            Self::OAuth2(_) => "oauth2",
            Self::Headers { .. } => "headers",
            Self::Custom { .. } => "custom",
        }
    }

    /// A custom field, for [`Credentials::Custom`].
    pub fn field(&self, name: &str) -> Option<&SecretString> {
        match self {
            Self::Custom { fields } => fields.get(name),
            _ => None,
        }
    }

    /// Puts the credentials on an outgoing request: the single place where secrets meet the wire.
    ///
    /// API keys go in their header or query parameter, bearer and OAuth2 tokens and basic
    /// credentials in `Authorization`, header sets header by header. Header values are marked
    /// sensitive so that HTTP libraries never log them. `Custom`
    /// credentials are applied by their connector and leave the request unchanged. An expired
    /// OAuth2 token is refused with [`crate::ErrorKind::Unauthorized`]: renewing it is the
    /// connection's job.
    pub fn apply(&self, request: &mut reqwest::Request) -> Result<()> {
        match self {
            Self::None | Self::Custom { .. } => Ok(()),
            Self::ApiKey { key, placement } => match placement {
                ApiKeyPlacement::Header(name) => {
                    let name = header_name(name)?;
                    request.headers_mut().insert(name, sensitive(key.expose_secret())?);
                    Ok(())
                }
                ApiKeyPlacement::Query(name) => {
                    request
                        .url_mut()
                        .query_pairs_mut()
                        .append_pair(name, key.expose_secret());
                    Ok(())
                }
            },
            Self::Bearer { token } => set_authorization("Bearer", token.expose_secret(), request),
            Self::Headers { headers } => {
                for (name, value) in headers {
                    let name = header_name(name)?;
                    request.headers_mut().insert(name, sensitive(value.expose_secret())?);
                }
                Ok(())
            }
            Self::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose_secret());
                let encoded = SecretString::from(base64::engine::general_purpose::STANDARD.encode(raw));
                set_authorization("Basic", encoded.expose_secret(), request)
            }
            Self::OAuth2(token) => {
                if token.is_expired(Utc::now(), chrono::Duration::zero()) {
                    return Err(Error::unauthorized("the OAuth2 access token has expired"));
                }
                set_authorization(&token.token_type, token.access_token.expose_secret(), request)
            }
        }
    }

    /// Every secret of these credentials, in every form it takes on the wire (see
    /// [`Scrubber`]), to scrub them out of errors and records. For basic authentication this
    /// covers `user:password` too, the text `Authorization: Basic …` encodes.
    ///
    /// ```
    /// use aura_core::connection::Credentials;
    ///
    /// let scrubber = Credentials::basic("alice", "wonderland").scrubber();
    /// // A service echoing the header it refused: `Basic base64("alice:wonderland")`.
    /// assert_eq!(scrubber.scrub("got Basic YWxpY2U6d29uZGVybGFuZA==").as_deref(), Some("got Basic [redacted]"));
    /// ```
    pub fn scrubber(&self) -> Scrubber {
        let mut out = Scrubber::new();
        match self {
            Self::None => {}
            Self::ApiKey { key, .. } => out.add(key.expose_secret()),
            Self::Bearer { token } => out.add(token.expose_secret()),
            Self::Basic { username, password } => {
                out.add(password.expose_secret());
                let joined = Zeroizing::new(format!("{username}:{}", password.expose_secret()));
                out.add(&joined);
            }
            Self::OAuth2(t) => {
                out.add(t.access_token.expose_secret());
                if let Some(r) = &t.refresh_token {
                    out.add(r.expose_secret());
                }
            }
            Self::Headers { headers: fields } | Self::Custom { fields } => {
                for v in fields.values() {
                    out.add(v.expose_secret());
                }
            }
        }
        out
    }

    /// A view that serializes the secrets themselves. Only for an encrypting credential store:
    /// the output must be encrypted before it is written anywhere.
    pub fn exposed(&self) -> ExposedCredentials<'_> {
        ExposedCredentials(self)
    }

    fn to_wire(&self, expose: bool) -> Wire<'_> {
        fn reveal(s: &SecretString, expose: bool) -> Cow<'_, str> {
            Cow::Borrowed(if expose { s.expose_secret() } else { REDACTED })
        }
        let secret = |s| reveal(s, expose);
        match self {
            Self::None => Wire::None,
            Self::ApiKey { key, placement } => Wire::ApiKey {
                key: secret(key),
                placement: placement.clone(),
            },
            Self::Bearer { token } => Wire::Bearer { token: secret(token) },
            Self::Basic { username, password } => Wire::Basic {
                username: Cow::Borrowed(username),
                password: secret(password),
            },
            Self::OAuth2(t) => Wire::Oauth2 {
                access_token: secret(&t.access_token),
                refresh_token: t.refresh_token.as_ref().map(secret),
                token_type: Cow::Borrowed(&t.token_type),
                expires_at: t.expires_at,
                issued_at: t.issued_at,
                scopes: t.scopes.clone(),
            },
            Self::Headers { headers } => Wire::Headers {
                headers: headers
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), secret(v)))
                    .collect(),
            },
            Self::Custom { fields } => Wire::Custom {
                fields: fields
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), secret(v)))
                    .collect(),
            },
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName> {
    HeaderName::try_from(name).map_err(|_| {
        Error::invalid_definition("a credential header name is not a valid HTTP header name")
            .with_context("header", name)
    })
}

fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_input("a credential contains characters not allowed in an HTTP header", vec![]))?;
    v.set_sensitive(true);
    Ok(v)
}

fn set_authorization(scheme: &str, secret: &str, request: &mut reqwest::Request) -> Result<()> {
    let value = SecretString::from(format!("{scheme} {secret}"));
    request
        .headers_mut()
        .insert(AUTHORIZATION, sensitive(value.expose_secret())?);
    Ok(())
}

impl fmt::Display for Credentials {
    /// Names the kind and where it goes, never a secret: `api key in header X-Api-Key`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("no credentials"),
            Self::ApiKey {
                placement: ApiKeyPlacement::Header(h),
                ..
            } => write!(f, "api key in header {h}"),
            Self::ApiKey {
                placement: ApiKeyPlacement::Query(q),
                ..
            } => write!(f, "api key in query parameter {q}"),
            Self::Bearer { .. } => f.write_str("bearer token"),
            Self::Basic { username, .. } => write!(f, "basic auth as {username}"),
            Self::OAuth2(t) => write!(f, "oauth2 {} token", t.token_type),
            Self::Headers { headers } => {
                f.write_str("headers")?;
                for (i, k) in headers.keys().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    f.write_str(k)?;
                }
                Ok(())
            }
            Self::Custom { fields } => {
                f.write_str("custom fields")?;
                for (i, k) in fields.keys().enumerate() {
                    f.write_str(if i == 0 { " " } else { ", " })?;
                    f.write_str(k)?;
                }
                Ok(())
            }
        }
    }
}

/// The serialized shape of [`Credentials`], secrets either redacted or exposed.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Wire<'a> {
    None,
    ApiKey {
        #[serde(borrow)]
        key: Cow<'a, str>,
        placement: ApiKeyPlacement,
    },
    Bearer {
        #[serde(borrow)]
        token: Cow<'a, str>,
    },
    Basic {
        #[serde(borrow)]
        username: Cow<'a, str>,
        #[serde(borrow)]
        password: Cow<'a, str>,
    },
    Oauth2 {
        #[serde(borrow)]
        access_token: Cow<'a, str>,
        #[serde(borrow, default)]
        refresh_token: Option<Cow<'a, str>>,
        #[serde(borrow, default = "bearer_type")]
        token_type: Cow<'a, str>,
        #[serde(default)]
        expires_at: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issued_at: Option<DateTime<Utc>>,
        #[serde(default)]
        scopes: Vec<String>,
    },
    Headers {
        #[serde(borrow)]
        headers: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    },
    Custom {
        #[serde(borrow)]
        fields: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    },
}

fn bearer_type() -> Cow<'static, str> {
    Cow::Borrowed("Bearer")
}

impl Serialize for Credentials {
    /// Serializes with every secret replaced by `"[redacted]"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_wire(false).serialize(serializer)
    }
}

/// Serializes [`Credentials`] with the secrets themselves; see [`Credentials::exposed`].
pub struct ExposedCredentials<'a>(&'a Credentials);

impl Serialize for ExposedCredentials<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.to_wire(true).serialize(serializer)
    }
}

impl fmt::Debug for ExposedCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let wire = Wire::deserialize(deserializer)?;
        let secret = |s: Cow<'_, str>| -> std::result::Result<SecretString, D::Error> {
            if s == REDACTED {
                Err(D::Error::custom(
                    "these credentials were redacted; load real ones from a credential store",
                ))
            } else {
                Ok(SecretString::from(s.into_owned()))
            }
        };
        Ok(match wire {
            Wire::None => Self::None,
            Wire::ApiKey { key, placement } => Self::ApiKey {
                key: secret(key)?,
                placement,
            },
            Wire::Bearer { token } => Self::Bearer { token: secret(token)? },
            Wire::Basic { username, password } => Self::Basic {
                username: username.into_owned(),
                password: secret(password)?,
            },
            Wire::Oauth2 {
                access_token,
                refresh_token,
                token_type,
                expires_at,
                issued_at,
                scopes,
            } => Self::OAuth2(OAuth2Token {
                access_token: secret(access_token)?,
                refresh_token: refresh_token.map(secret).transpose()?,
                token_type: token_type.into_owned(),
                expires_at,
                issued_at,
                scopes,
            }),
            Wire::Headers { headers } => Self::Headers {
                headers: headers
                    .into_iter()
                    .map(|(k, v)| Ok((k.into_owned(), secret(v)?)))
                    .collect::<std::result::Result<_, D::Error>>()?,
            },
            Wire::Custom { fields } => Self::Custom {
                fields: fields
                    .into_iter()
                    .map(|(k, v)| Ok((k.into_owned(), secret(v)?)))
                    .collect::<std::result::Result<_, D::Error>>()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-7f3a9c";

    fn request(url: &str) -> reqwest::Request {
        reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap())
    }

    fn every_kind() -> Vec<Credentials> {
        vec![
            Credentials::api_key(CANARY, ApiKeyPlacement::header("X-Api-Key")),
            Credentials::api_key(CANARY, ApiKeyPlacement::query("api_key")),
            Credentials::bearer(CANARY),
            Credentials::basic("alice", CANARY),
            Credentials::OAuth2(OAuth2Token {
                refresh_token: Some(SecretString::from(CANARY)),
                ..OAuth2Token::bearer(CANARY)
            }),
            Credentials::headers([("X-Client-Secret", CANARY)]),
            Credentials::custom([("signing_secret", CANARY)]),
        ]
    }

    #[test]
    fn secrets_never_reach_debug_display_or_serde() {
        for creds in every_kind() {
            let debug = format!("{creds:?}");
            let display = creds.to_string();
            let json = serde_json::to_string(&creds).unwrap();
            for out in [&debug, &display, &json] {
                assert!(!out.contains(CANARY), "{} leaked: {out}", creds.kind());
            }
            assert!(json.contains(REDACTED), "{json}");
        }
    }

    #[test]
    fn exposed_round_trips_and_redacted_is_refused() {
        for creds in every_kind() {
            let exposed = serde_json::to_value(creds.exposed()).unwrap();
            assert!(exposed.to_string().contains(CANARY));
            let back: Credentials = serde_json::from_value(exposed).unwrap();
            assert_eq!(
                serde_json::to_value(back.exposed()).unwrap(),
                serde_json::to_value(creds.exposed()).unwrap()
            );

            let redacted = serde_json::to_value(&creds).unwrap();
            let err = serde_json::from_value::<Credentials>(redacted).unwrap_err();
            assert!(err.to_string().contains("redacted"), "{err}");
        }
    }

    #[test]
    fn deserialize_errors_do_not_echo_secrets() {
        let bad = serde_json::json!({ "type": "bearer", "token": CANARY, "extra": CANARY });
        let err = serde_json::from_value::<Credentials>(bad).unwrap_err();
        assert!(!err.to_string().contains(CANARY), "{err}");
    }

    #[test]
    fn api_key_in_header() {
        let mut req = request("https://api.example.com/x");
        Credentials::api_key("k1", ApiKeyPlacement::header("X-Api-Key"))
            .apply(&mut req)
            .unwrap();
        assert_eq!(req.headers()["x-api-key"], "k1");
        assert!(req.headers()["x-api-key"].is_sensitive());
    }

    #[test]
    fn api_key_in_query() {
        let mut req = request("https://api.example.com/x?a=1");
        Credentials::api_key("k 1", ApiKeyPlacement::query("key"))
            .apply(&mut req)
            .unwrap();
        assert_eq!(req.url().query(), Some("a=1&key=k+1"));
    }

    #[test]
    fn bearer_and_basic_and_oauth2() {
        let mut req = request("https://api.example.com/");
        Credentials::bearer("tok").apply(&mut req).unwrap();
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer tok");
        assert!(req.headers()[AUTHORIZATION].is_sensitive());

        Credentials::basic("Aladdin", "open sesame").apply(&mut req).unwrap();
        // RFC 7617 section 2's example.
        assert_eq!(req.headers()[AUTHORIZATION], "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");

        Credentials::OAuth2(OAuth2Token::bearer("at")).apply(&mut req).unwrap();
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer at");
    }

    #[test]
    fn expiry_with_leeway() {
        let now = Utc::now();
        let token = OAuth2Token {
            expires_at: Some(now + chrono::Duration::seconds(30)),
            ..OAuth2Token::bearer("t")
        };
        assert!(!token.is_expired(now, chrono::Duration::zero()));
        assert!(token.is_expired(now, chrono::Duration::seconds(60)));
        assert!(token.is_expired(now, chrono::Duration::MAX));
        assert!(!OAuth2Token::bearer("t").is_expired(now, chrono::Duration::MAX));
    }

    #[test]
    fn expired_oauth2_token_is_unauthorized() {
        let token = OAuth2Token {
            expires_at: Some(Utc::now() - chrono::Duration::seconds(5)),
            ..OAuth2Token::bearer(CANARY)
        };
        let err = Credentials::OAuth2(token)
            .apply(&mut request("https://x.test/"))
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unauthorized);
        assert!(!format!("{err} {err:?}").contains(CANARY));
    }

    #[test]
    fn header_sets_go_on_the_request_marked_sensitive() {
        let mut req = request("https://x.test/");
        Credentials::headers([("X-Client-Id", "id-1"), ("X-Client-Secret", "s3cret")])
            .apply(&mut req)
            .unwrap();
        assert_eq!(req.headers()["x-client-id"], "id-1");
        assert_eq!(req.headers()["x-client-secret"], "s3cret");
        assert!(req.headers()["x-client-secret"].is_sensitive());
        let err = Credentials::headers([("bad header", "v")])
            .apply(&mut request("https://x.test/"))
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidDefinition);
    }

    #[test]
    fn custom_and_none_leave_the_request_alone() {
        let mut req = request("https://x.test/");
        Credentials::None.apply(&mut req).unwrap();
        Credentials::custom([("a", "b")]).apply(&mut req).unwrap();
        assert!(req.headers().is_empty());
        assert_eq!(
            Credentials::custom([("a", "b")])
                .field("a")
                .map(|s| s.expose_secret().to_owned()),
            Some("b".into())
        );
    }

    #[test]
    fn a_bad_header_name_is_a_definition_error() {
        let err = Credentials::api_key("k", ApiKeyPlacement::header("bad header"))
            .apply(&mut request("https://x.test/"))
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidDefinition);
    }
}

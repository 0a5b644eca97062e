//! Unit tests of the OAuth2 client's pieces.

use secrecy::{ExposeSecret, SecretString};

use crate::connection::OAuth2Token;
use crate::error::ErrorKind;

use super::wire::TokenAnswer;
use super::*;

#[test]
fn pkce_matches_rfc_7636_appendix_b() {
    let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
    assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    assert!(!format!("{pkce:?}").contains("dBjftJeZ"));
}

#[test]
fn generated_verifiers_are_valid_and_distinct() {
    let a = Pkce::generate().unwrap();
    let b = Pkce::generate().unwrap();
    assert_eq!(a.verifier().expose_secret().len(), 43);
    assert_ne!(a.verifier().expose_secret(), b.verifier().expose_secret());
    // The generated verifier passes the same check as a given one.
    Pkce::from_verifier(a.verifier().expose_secret().to_owned()).unwrap();
}

#[test]
fn bad_verifiers_are_refused() {
    assert!(Pkce::from_verifier("short").is_err());
    assert!(Pkce::from_verifier("x".repeat(129)).is_err());
    assert!(Pkce::from_verifier(format!("{}+", "a".repeat(43))).is_err());
}

#[test]
fn authorization_url_carries_every_parameter() {
    let client = OAuth2Client::new("cid", "https://auth.test/token")
        .unwrap()
        .authorization_url("https://auth.test/authorize?tenant=1")
        .unwrap()
        .redirect_url("https://app.test/cb")
        .unwrap()
        .scopes(["read", "write"])
        .authorization_param("access_type", "offline");
    let req = client.authorization_request().unwrap();
    let pairs: std::collections::HashMap<_, _> = req.url().query_pairs().into_owned().collect();
    assert_eq!(pairs["tenant"], "1");
    assert_eq!(pairs["response_type"], "code");
    assert_eq!(pairs["client_id"], "cid");
    assert_eq!(pairs["redirect_uri"], "https://app.test/cb");
    assert_eq!(pairs["scope"], "read write");
    assert_eq!(pairs["state"], req.state());
    assert_eq!(pairs["code_challenge"], req.pkce().challenge());
    assert_eq!(pairs["code_challenge_method"], "S256");
    assert_eq!(pairs["access_type"], "offline");
    assert!(!req.url().as_str().contains(req.pkce().verifier().expose_secret()));
    assert_ne!(req.state(), client.authorization_request().unwrap().state());
}

#[test]
fn no_authorization_url_is_a_definition_error() {
    let err = OAuth2Client::new("cid", "https://auth.test/token")
        .unwrap()
        .authorization_request()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("field"), Some("authorization_url"));
    let err = OAuth2Client::new("cid", "not a url").unwrap_err();
    assert_eq!(err.context_value("field"), Some("token_url"));
}

#[test]
fn token_error_codes_map_to_kinds() {
    let kind = |code: &str, status| {
        TokenError {
            code: code.into(),
            description: None,
            uri: None,
            status,
        }
        .kind()
    };
    assert_eq!(kind("invalid_grant", 400), ErrorKind::Unauthorized);
    assert_eq!(kind("invalid_client", 401), ErrorKind::Unauthorized);
    assert_eq!(kind("unauthorized_client", 400), ErrorKind::Forbidden);
    assert_eq!(kind("invalid_scope", 400), ErrorKind::InvalidDefinition);
    assert_eq!(kind("unsupported_grant_type", 400), ErrorKind::InvalidDefinition);
    assert_eq!(kind("invalid_request", 400), ErrorKind::InvalidDefinition);
    assert_eq!(kind("temporarily_unavailable", 503), ErrorKind::Unavailable);
    assert_eq!(kind("temporarily_unavailable", 400), ErrorKind::Unavailable);
    assert_eq!(kind("slow_down", 429), ErrorKind::RateLimited);
    assert_eq!(kind("bad_verification_code", 200), ErrorKind::Upstream);
}

#[test]
fn expires_in_accepts_numbers_and_strings() {
    let a: TokenAnswer = serde_json::from_str(r#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
    let b: TokenAnswer = serde_json::from_str(r#"{"access_token":"a","expires_in":3600}"#).unwrap();
    let c: TokenAnswer = serde_json::from_str(r#"{"access_token":"a","expires_in":-5}"#).unwrap();
    assert_eq!(a.expires_in.unwrap().seconds(), Some(3600));
    assert_eq!(b.expires_in.unwrap().seconds(), Some(3600));
    assert_eq!(c.expires_in.unwrap().seconds(), None);
}

#[test]
fn refresh_keeps_the_old_refresh_token_and_scopes_when_none_come_back() {
    let old = OAuth2Token {
        refresh_token: Some(SecretString::from("rt-old")),
        scopes: vec!["read".into()],
        ..OAuth2Token::bearer("at-old")
    };
    let answer: TokenAnswer =
        serde_json::from_str(r#"{"access_token":"at-new","token_type":"bearer","expires_in":60}"#).unwrap();
    let token = answer.into_token(Some(&old), &old.scopes);
    assert_eq!(token.access_token.expose_secret(), "at-new");
    assert_eq!(token.refresh_token.unwrap().expose_secret(), "rt-old");
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.scopes, ["read"]);
    assert!(token.expires_at.is_some());
}

#[test]
fn callbacks_parse_from_urls_and_query_strings() {
    let c = Callback::parse("https://app.test/cb?code=abc&state=xyz");
    assert_eq!((c.code.as_deref(), c.state.as_deref()), (Some("abc"), Some("xyz")));
    let c = Callback::parse("?error=access_denied&state=s");
    assert_eq!(c.error.as_deref(), Some("access_denied"));
}

//! The authorization endpoint, `GET /authorize` (RFC 6749 §4.1.1, RFC 7636 §4.3).

use std::time::Instant;

use http::{Method, header};
use wiremock::{Request, ResponseTemplate};

use super::params::{Params, is_base64url, parse_scope, sanitize};
use super::response::{error_page, redirect};
use super::state::{Code, State, random_token};

impl State {
    pub(super) fn authorize(&mut self, request: &Request) -> ResponseTemplate {
        self.authorization_requests += 1;
        if request.method != Method::GET {
            return error_page(405, "The authorization endpoint takes GET requests.")
                .insert_header(header::ALLOW, "GET");
        }
        let params = Params::parse(request.url.query().unwrap_or_default().as_bytes());

        // Errors about the client or the redirect URI must not redirect (§4.1.2.1).
        if params.is_repeated("client_id") {
            return error_page(400, "The client_id parameter is repeated.");
        }
        if params.is_repeated("redirect_uri") {
            return error_page(400, "The redirect_uri parameter is repeated.");
        }
        let Some(client_id) = params.get("client_id") else {
            return error_page(400, "The client_id parameter is missing.");
        };
        let Some(client) = self.clients.get(client_id) else {
            return error_page(400, "The client_id is unknown.");
        };
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return error_page(400, "The redirect_uri parameter is missing: this server requires it.");
        };
        if !client.redirect_uris.iter().any(|registered| registered == redirect_uri) {
            return error_page(400, "The redirect_uri is not registered for this client.");
        }
        let client_state = params.get("state");
        let redirect_error = |error: &str, description: &str| {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(client_state) = client_state {
                pairs.push(("state", client_state));
            }
            redirect(redirect_uri, &pairs)
        };

        if let Some(name) = params.repeated.first() {
            return redirect_error(
                "invalid_request",
                &sanitize(&format!("The parameter {name} is repeated.")),
            );
        }
        match params.get("response_type") {
            None => return redirect_error("invalid_request", "The response_type parameter is missing."),
            Some("code") => {}
            Some(_) => {
                return redirect_error("unsupported_response_type", "Only response_type=code is supported.");
            }
        }
        let Some(challenge) = params.get("code_challenge") else {
            return redirect_error(
                "invalid_request",
                "PKCE is required: the code_challenge parameter is missing.",
            );
        };
        match params.get("code_challenge_method") {
            Some("S256") => {}
            None => {
                return redirect_error(
                    "invalid_request",
                    "The code_challenge_method is missing, which means plain: only S256 is supported.",
                );
            }
            Some(_) => {
                return redirect_error("invalid_request", "Only code_challenge_method=S256 is supported.");
            }
        }
        if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
            return redirect_error(
                "invalid_request",
                "The code_challenge is not 43 base64url characters, as an S256 challenge is.",
            );
        }
        let scope = match parse_scope(params.get("scope"), &self.scopes) {
            Ok(scope) => scope,
            Err(description) => return redirect_error("invalid_scope", &description),
        };
        if std::mem::take(&mut self.deny_next) {
            return redirect_error("access_denied", "The resource owner denied the request.");
        }

        let Some(code) = random_token("code_") else {
            return redirect_error("server_error", "No randomness for the code.");
        };
        let family = self.new_family();
        let stored = Code {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scope,
            expires_at: Instant::now() + self.code_ttl,
            used: false,
            family,
        };
        self.codes.insert(code.clone(), stored);
        let mut pairs = vec![("code", code.as_str())];
        if let Some(client_state) = client_state {
            pairs.push(("state", client_state));
        }
        redirect(redirect_uri, &pairs)
    }
}

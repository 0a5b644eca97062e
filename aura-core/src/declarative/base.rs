//! The base URL and its placeholders, filled from the connection.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use super::model::Variable;
use super::operation::placeholders;
use crate::context::Context;
use crate::error::{Error, Result, Violation};

/// A base URL with `{name}` placeholders.
#[derive(Debug)]
pub(crate) struct BaseUrl {
    template: String,
    variables: BTreeMap<String, Variable>,
    /// Whether it has any placeholder (else [`resolve`](Self::resolve) is the template).
    templated: bool,
    /// A path without a host (an imported spec whose servers are relative): the host must
    /// set the base URL before anything is sent.
    relative: bool,
}

impl BaseUrl {
    /// Whether it is a path without a host.
    pub(crate) fn is_relative(&self) -> bool {
        self.relative
    }

    /// Checks the template (a path without a host is kept for the host to complete): every
    /// placeholder declared, every default allowed, the URL
    /// parsing once filled with defaults (or sample values).
    pub(crate) fn new(
        template: &str,
        variables: &BTreeMap<String, Variable>,
    ) -> std::result::Result<Self, Vec<Violation>> {
        let template = template.trim_end_matches('/').to_owned();
        if template.is_empty() || (template.starts_with('/') && !template.starts_with("//")) {
            return Ok(Self {
                template,
                variables: variables.clone(),
                templated: false,
                relative: true,
            });
        }
        let mut problems = Vec::new();
        let names = placeholders(&template);
        for name in &names {
            if !variables.contains_key(name) {
                problems.push(Violation::new(
                    "/base_url",
                    format!("has `{{{name}}}`, which `variables` does not declare"),
                ));
            }
        }
        for (name, v) in variables {
            if let Some(d) = &v.default
                && !v.allowed.is_empty()
                && !v.allowed.contains(d)
            {
                problems.push(Violation::new(
                    format!("/variables/{name}/default"),
                    "is not one of the allowed values",
                ));
            }
        }
        let mut sample = template.clone();
        for name in &names {
            let value = variables
                .get(name)
                .and_then(|v| v.default.clone())
                .unwrap_or_else(|| "sample".into());
            sample = sample.replace(&format!("{{{name}}}"), &value);
        }
        match reqwest::Url::parse(&sample) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => problems.push(Violation::new(
                "/base_url",
                "is an absolute http(s) URL (or a path, for the host to complete)",
            )),
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            templated: !names.is_empty(),
            template,
            variables: variables.clone(),
            relative: false,
        })
    }

    /// The base URL for the context's connection: each placeholder from a custom credential
    /// field of the same name, else its default.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the variable when it has no
    /// value, a value outside its allowed ones, or characters other than letters, digits,
    /// `-`, `_` and `.` (a value cannot move the request to another host or path).
    pub(crate) fn resolve(&self, cx: &Context) -> Result<String> {
        if self.relative {
            return Err(Error::invalid_definition(
                "the app's base URL is a path without a host: set one with `DeclarativeApp::base_url`",
            )
            .with_context("base_url", self.template.clone()));
        }
        if !self.templated {
            return Ok(self.template.clone());
        }
        let credentials = cx.connection().map(|c| c.credentials());
        let mut out = self.template.clone();
        for (name, var) in &self.variables {
            let placeholder = format!("{{{name}}}");
            if !out.contains(&placeholder) {
                continue;
            }
            let given = credentials
                .as_ref()
                .and_then(|c| c.field(name))
                .map(|s| s.expose_secret().to_owned());
            let bad = |why: &str| {
                Error::invalid_input(
                    "the base URL's variable has no usable value",
                    vec![Violation::new(format!("/variables/{name}"), why.to_owned())],
                )
            };
            let value = given
                .or_else(|| var.default.clone())
                .ok_or_else(|| bad("has no default: give the connection a custom field of this name"))?;
            if !var.allowed.is_empty() && !var.allowed.contains(&value) {
                return Err(bad("is not one of the allowed values"));
            }
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                return Err(bad("may hold only letters, digits, `-`, `_` and `.`"));
            }
            out = out.replace(&placeholder, &value);
        }
        Ok(out)
    }
}

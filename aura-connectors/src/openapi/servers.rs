//! The base URL: a `servers[]` entry, its `{name}` placeholders made
//! [`Variable`]s.

use std::collections::BTreeMap;

use aura_core::declarative::Variable;
use aura_core::{Error, Result};
use serde_json::Value;

use super::names::truncate;
use super::params::placeholders;
use super::warnings::{Pointer, Warnings};

/// The base URL and its variables.
#[derive(Debug)]
pub(crate) struct BaseUrl {
    /// `https://{region}.example.com/v1` (no trailing `/`), or `/` without servers.
    pub(crate) url: String,
    /// The placeholders.
    pub(crate) variables: BTreeMap<String, Variable>,
}

/// The base URL from `servers[index]` (default the first).
///
/// # Errors
///
/// `InvalidDefinition` when `index` was asked for and there is no such server.
pub(crate) fn base_url(
    spec: &Value,
    index: Option<usize>,
    max_description: usize,
    warnings: &mut Warnings,
) -> Result<BaseUrl> {
    let servers_at = Pointer::root().key("servers");
    let servers = spec
        .get("servers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let chosen = index.unwrap_or(0);
    let Some(server) = servers.get(chosen) else {
        if index.is_some() {
            return Err(Error::invalid_definition(format!(
                "the spec has no server {chosen} ({} servers)",
                servers.len()
            ))
            .with_context("path", servers_at.index(chosen).as_str()));
        }
        warnings.push(&servers_at, "no servers: the base URL is `/` (the host sets it)");
        return Ok(BaseUrl {
            url: "/".to_owned(),
            variables: BTreeMap::new(),
        });
    };
    let at = servers_at.index(chosen);
    let Some(raw) = server.get("url").and_then(Value::as_str) else {
        warnings.push(&at, "server without a `url`: the base URL is `/` (the host sets it)");
        return Ok(BaseUrl {
            url: "/".to_owned(),
            variables: BTreeMap::new(),
        });
    };
    let url = match raw.trim().trim_end_matches('/') {
        "" => "/".to_owned(),
        trimmed => trimmed.to_owned(),
    };
    let absolute = url.contains("://") || url.starts_with('{');
    if !absolute {
        warnings.push(
            &at.key("url"),
            format!("relative server URL `{url}` kept: the host sets the scheme and host"),
        );
    }
    let declared = server.get("variables").and_then(Value::as_object);
    let mut variables = BTreeMap::new();
    for name in placeholders(&url) {
        let Some(variable) = declared.and_then(|d| d.get(name)) else {
            warnings.push(
                &at.key("url"),
                format!("placeholder `{{{name}}}` has no variable: the connection must give it"),
            );
            variables.insert(name.to_owned(), Variable::default());
            continue;
        };
        let text = |key: &str| variable.get(key).and_then(Value::as_str);
        variables.insert(
            name.to_owned(),
            Variable {
                default: text("default").map(str::to_owned),
                allowed: variable
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                description: text("description")
                    .map(|d| truncate(d, max_description))
                    .unwrap_or_default(),
            },
        );
    }
    Ok(BaseUrl { url, variables })
}

//! Parameters: the path item's and the operation's (the operation's win by name and
//! location), refs inlined, each a [`ParamFull`] under a unique input name.

use std::collections::BTreeMap;

use aura_core::declarative::{Param, ParamFull, ParamLocation};
use serde_json::{Value, json};

use super::names::{input_name, truncate, with_suffix};
use super::refs::{RefProblem, resolve};
use super::schema::{Found, SchemaConverter};
use super::warnings::Pointer;

/// An operation's parameters, and its path with placeholders named by input name.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// By input name.
    pub(crate) params: BTreeMap<String, Param>,
    /// The input names that must be given.
    pub(crate) required: Vec<String>,
    /// The path, `{wire}` placeholders renamed `{input}` where the two differ.
    pub(crate) path: String,
}

/// One parameter as the spec gives it.
struct Declared<'a> {
    name: String,
    location: ParamLocation,
    object: &'a Value,
    at: Pointer,
}

/// The parameters of one operation: `lists` are the path item's and the operation's
/// `parameters` (in that order); `body` says whether the input has a `body` field already.
pub(crate) fn collect(
    converter: &SchemaConverter<'_>,
    path: &str,
    lists: &[(Option<&Value>, Pointer)],
    body: bool,
    found: &mut Found,
) -> Result<Params, RefProblem> {
    let mut declared: Vec<Declared<'_>> = Vec::new();
    for (list, at) in lists {
        let Some(list) = list else { continue };
        let Some(items) = list.as_array() else {
            found.warnings.push(at, "`parameters` must be a list: ignored");
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            if let Some(one) = declare(converter.spec, item, &at.index(i), found)? {
                match declared
                    .iter_mut()
                    .find(|d| d.name == one.name && d.location == one.location)
                {
                    Some(existing) => *existing = one,
                    None => declared.push(one),
                }
            }
        }
    }
    declared.sort_by_key(|d| rank(d.location));

    let mut out = Params {
        path: path.to_owned(),
        ..Params::default()
    };
    let mut renamed: Vec<(String, String)> = Vec::new();
    for d in declared {
        let input = unique_input(&d, &out.params, body);
        if input != input_name(&d.name) {
            found.warnings.push(
                &d.at,
                format!("parameter `{}` is the input `{input}` (its name is taken)", d.name),
            );
        }
        let param = full(converter, &d, &input, found)?;
        if param.required {
            out.required.push(input.clone());
        }
        if d.location == ParamLocation::Path && input != d.name {
            renamed.push((d.name.clone(), input.clone()));
        }
        out.params.insert(input, Param::Full(param));
    }
    out.path = rename_placeholders(path, &renamed);
    add_missing_path_params(&mut out, lists.last().map(|(_, at)| at), found);
    Ok(out)
}

/// One entry of a `parameters` list, resolved; `None` (with a warning) when unusable.
fn declare<'a>(
    spec: &'a Value,
    item: &'a Value,
    at: &Pointer,
    found: &mut Found,
) -> Result<Option<Declared<'a>>, RefProblem> {
    let (object, at) = match resolve(spec, item, at) {
        Ok(resolved) => resolved,
        Err(remote @ RefProblem::Remote { .. }) => return Err(remote),
        Err(problem) => {
            found
                .warnings
                .push(problem.at(), format!("parameter: {}", problem.message()));
            return Ok(None);
        }
    };
    let (Some(name), Some(location)) = (
        object.get("name").and_then(Value::as_str),
        object.get("in").and_then(Value::as_str),
    ) else {
        found
            .warnings
            .push(&at, "a parameter needs a string `name` and `in`: skipped");
        return Ok(None);
    };
    let location = match location {
        "path" => ParamLocation::Path,
        "query" => ParamLocation::Query,
        "header" => ParamLocation::Header,
        "cookie" => {
            found
                .warnings
                .push(&at, format!("cookie parameter `{name}` skipped (cookies are not sent)"));
            return Ok(None);
        }
        other => {
            found.warnings.push(
                &at,
                format!("parameter `{name}` in `{other}` skipped (unknown location)"),
            );
            return Ok(None);
        }
    };
    if let Some(style) = object.get("style").and_then(Value::as_str)
        && !matches!(style, "form" | "simple")
    {
        found.warnings.push(
            &at,
            format!("parameter `{name}`: style `{style}` is sent as the default style"),
        );
    }
    Ok(Some(Declared {
        name: name.to_owned(),
        location,
        object,
        at,
    }))
}

/// Path parameters first (they keep their names), then query, then header.
fn rank(location: ParamLocation) -> u8 {
    match location {
        ParamLocation::Path => 0,
        ParamLocation::Query => 1,
        ParamLocation::Header => 2,
        ParamLocation::Body => 3,
    }
}

/// The input name of `d`: its own when free, else prefixed by its location
/// (`header_id`), else numbered.
fn unique_input(d: &Declared<'_>, taken: &BTreeMap<String, Param>, body: bool) -> String {
    let free = |name: &str| !(taken.contains_key(name) || (body && name == "body"));
    let own = input_name(&d.name);
    if free(&own) {
        return own;
    }
    let prefix = match d.location {
        ParamLocation::Path => "path",
        ParamLocation::Query => "query",
        ParamLocation::Header => "header",
        ParamLocation::Body => "body",
    };
    let prefixed = format!("{prefix}_{own}");
    if free(&prefixed) {
        return prefixed;
    }
    (2..)
        .map(|n| with_suffix(&prefixed, n))
        .find(|name| free(name))
        .unwrap_or(prefixed)
}

/// The [`ParamFull`] of `d`, known as `input`.
fn full(
    converter: &SchemaConverter<'_>,
    d: &Declared<'_>,
    input: &str,
    found: &mut Found,
) -> Result<ParamFull, RefProblem> {
    let schema_at = d.at.key("schema");
    let schema = match d.object.get("schema") {
        Some(schema) => Some(converter.convert(schema, &schema_at, found)?),
        None => match d
            .object
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| c.iter().next())
        {
            Some((media, content)) => match content.get("schema") {
                Some(schema) => {
                    Some(converter.convert(schema, &d.at.key("content").key(media).key("schema"), found)?)
                }
                None => None,
            },
            None => None,
        },
    };
    Ok(ParamFull {
        location: Some(d.location),
        kind: None,
        schema,
        name: Some(d.name.clone()).filter(|wire| *wire != input),
        required: d.location == ParamLocation::Path || d.object.get("required").and_then(Value::as_bool) == Some(true),
        description: d
            .object
            .get("description")
            .and_then(Value::as_str)
            .map(|text| truncate(text, converter.max_description))
            .unwrap_or_default(),
    })
}

/// The `{name}` placeholders of a path.
pub(crate) fn placeholders(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = after.find('}') else { break };
        out.push(after.get(..end).unwrap_or_default());
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out
}

/// `path` with `{from}` placeholders renamed `{to}`.
fn rename_placeholders(path: &str, renamed: &[(String, String)]) -> String {
    renamed.iter().fold(path.to_owned(), |path, (from, to)| {
        path.replace(&format!("{{{from}}}"), &format!("{{{to}}}"))
    })
}

/// A string path parameter for each placeholder no parameter declares (with a warning).
fn add_missing_path_params(out: &mut Params, at: Option<&Pointer>, found: &mut Found) {
    let root = Pointer::root();
    let at = at.unwrap_or(&root);
    let missing: Vec<String> = placeholders(&out.path)
        .into_iter()
        .filter(|name| !out.params.contains_key(*name))
        .map(str::to_owned)
        .collect();
    for name in missing {
        found.warnings.push(
            at,
            format!("path placeholder `{{{name}}}` has no parameter: added as a required string"),
        );
        out.required.push(name.clone());
        out.params.insert(
            name,
            Param::Full(ParamFull {
                location: Some(ParamLocation::Path),
                schema: Some(json!({"type": "string"})),
                required: true,
                ..ParamFull::default()
            }),
        );
    }
}

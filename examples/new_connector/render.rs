//! The templates, filled: a standalone crate (module mode) or a YAML manifest.

use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::Serialize;

use super::model::Model;

/// One file to write: its path inside the output and its text.
pub(crate) type File = (PathBuf, String);

const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("templates/Cargo.toml.tmpl")),
    ("lib.rs", include_str!("templates/lib.rs.tmpl")),
    ("mod.rs", include_str!("templates/mod.rs.tmpl")),
    ("config.rs", include_str!("templates/config.rs.tmpl")),
    ("core.rs", include_str!("templates/core.rs.tmpl")),
    ("error.rs", include_str!("templates/error.rs.tmpl")),
    ("actions.rs", include_str!("templates/actions.rs.tmpl")),
    ("triggers.rs", include_str!("templates/triggers.rs.tmpl")),
    ("docs.md", include_str!("templates/docs.md.tmpl")),
    ("test.rs", include_str!("templates/test.rs.tmpl")),
    ("manifest.yaml", include_str!("templates/manifest.yaml.tmpl")),
];

/// The crates the generated connector depends on, from the Aura workspace's
/// `[workspace.dependencies]`.
const DEPENDENCIES: &[&str] = &["async-trait", "http", "schemars", "serde", "serde_json"];
const DEV_DEPENDENCIES: &[&str] = &["reqwest", "tokio", "wiremock"];

/// What module mode takes from the Aura workspace it points to.
#[derive(Debug, Serialize)]
struct Workspace {
    rust_version: String,
    aura_core_path: String,
    dependencies: Vec<String>,
    dev_dependencies: Vec<String>,
    lints: String,
}

impl Workspace {
    /// Reads `aura/Cargo.toml`.
    fn read(aura: &Path) -> Result<Self, String> {
        let manifest = aura.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|e| {
            format!(
                "cannot read {} (is --aura-path the Aura repository?): {e}",
                manifest.display()
            )
        })?;
        let deps = section(&text, "workspace.dependencies");
        let pick = |names: &[&str]| -> Result<Vec<String>, String> {
            names
                .iter()
                .map(|name| {
                    deps.iter()
                        .find(|line| line.split('=').next().map(str::trim) == Some(*name))
                        .map(|line| (*line).to_owned())
                        .ok_or_else(|| format!("{} has no `{name}` in [workspace.dependencies]", manifest.display()))
                })
                .collect()
        };
        let rust_version = section(&text, "workspace.package")
            .iter()
            .find_map(|line| line.strip_prefix("rust-version"))
            .and_then(|rest| rest.split('"').nth(1))
            .unwrap_or("1.85")
            .to_owned();
        let mut lints = Vec::new();
        for table in ["rust", "clippy", "rustdoc"] {
            let lines = section(&text, &format!("workspace.lints.{table}"));
            if !lines.is_empty() {
                lints.push(format!("[lints.{table}]\n{}", lines.join("\n")));
            }
        }
        let core = aura.join("aura-core");
        Ok(Self {
            rust_version,
            aura_core_path: toml_escape(&core.to_string_lossy()),
            dependencies: pick(DEPENDENCIES)?,
            dev_dependencies: pick(DEV_DEPENDENCIES)?,
            lints: lints.join("\n\n"),
        })
    }
}

/// The non-empty, non-comment lines of a TOML table `[name]`, up to the next table.
fn section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("[{name}]");
    text.lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .collect()
}

fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn environment() -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    // Block tags on lines of their own leave no blank lines behind.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| format!("template syntax: {e}"))?;
    env.set_syntax(syntax);
    // Undefined variables are mistakes in a template, not empty strings.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(env)
}

/// The context a template sees: the model, the workspace's pieces and the test's matchers.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    model: &'a Model,
    #[serde(flatten)]
    workspace: Workspace,
    matchers: String,
    schema: String,
}

fn render(env: &Environment<'_>, template: &str, context: &Context<'_>) -> Result<String, String> {
    let context = serde_json::to_value(context).map_err(|e| format!("template context: {e}"))?;
    env.get_template(template)
        .and_then(|t| t.render(jinja(&context)))
        .map_err(|e| format!("template {template}: {e:#}"))
}

/// A JSON value as a template value (minijinja is built without its `serde` feature here).
fn jinja(value: &serde_json::Value) -> minijinja::Value {
    use serde_json::Value as Json;
    match value {
        Json::Null => minijinja::Value::from(()),
        Json::Bool(b) => minijinja::Value::from(*b),
        Json::Number(n) => n.as_i64().map_or_else(
            || minijinja::Value::from(n.as_f64().unwrap_or_default()),
            minijinja::Value::from,
        ),
        Json::String(s) => minijinja::Value::from(s.as_str()),
        Json::Array(items) => minijinja::Value::from(items.iter().map(jinja).collect::<Vec<_>>()),
        Json::Object(fields) => minijinja::Value::from(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), jinja(v)))
                .collect::<std::collections::BTreeMap<_, _>>(),
        ),
    }
}

/// The files of a standalone crate for `model`, with path dependencies into `aura`.
pub(crate) fn module(model: &Model, aura: &Path) -> Result<Vec<File>, String> {
    let env = environment()?;
    let mut matchers = vec!["method", "path", "query_param", "query_param_is_missing"];
    matchers.extend(model.auth.matcher_fns.iter().copied());
    matchers.sort_unstable();
    matchers.dedup();
    let context = Context {
        model,
        workspace: Workspace::read(aura)?,
        matchers: matchers.join(", "),
        schema: String::new(),
    };
    let name = &model.name;
    let src = PathBuf::from("src").join(name);
    let mut files = vec![
        (PathBuf::from("Cargo.toml"), render(&env, "Cargo.toml", &context)?),
        (PathBuf::from("src/lib.rs"), render(&env, "lib.rs", &context)?),
    ];
    for part in [
        "mod.rs",
        "config.rs",
        "core.rs",
        "error.rs",
        "actions.rs",
        "triggers.rs",
        "docs.md",
    ] {
        files.push((src.join(part), render(&env, part, &context)?));
    }
    files.push((
        PathBuf::from(format!("tests/{name}.rs")),
        render(&env, "test.rs", &context)?,
    ));
    // The workspace's formatting and clippy settings, so that `cargo fmt` and `cargo clippy`
    // judge the crate as they judge Aura.
    for config in ["rustfmt.toml", "clippy.toml"] {
        if let Ok(text) = std::fs::read_to_string(aura.join(config)) {
            files.push((PathBuf::from(config), text));
        }
    }
    // The workspace's lock file: the crate builds with the versions Aura is tested with (and
    // shares their build artifacts when CARGO_TARGET_DIR is Aura's); cargo drops the rest.
    if let Ok(text) = std::fs::read_to_string(aura.join("Cargo.lock")) {
        files.push((PathBuf::from("Cargo.lock"), text));
    }
    files.push((PathBuf::from(".gitignore"), "/target\n".to_owned()));
    Ok(files)
}

/// The skeleton manifest for `model`.
pub(crate) fn manifest(model: &Model, aura: &Path) -> Result<String, String> {
    let env = environment()?;
    let context = Context {
        model,
        workspace: Workspace::read(aura)?,
        matchers: String::new(),
        schema: schema_path(aura),
    };
    render(&env, "manifest.yaml", &context)
}

/// Where the manifest JSON Schema is, for the `yaml-language-server` line.
pub(crate) fn schema_path(aura: &Path) -> String {
    aura.join("aura-core/manifest.schema.json")
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_section_ends_at_the_next_table() {
        let text = "[a]\nx = 1\n# note\n\n[b]\ny = 2\n";
        assert_eq!(section(text, "a"), ["x = 1"]);
        assert_eq!(section(text, "b"), ["y = 2"]);
        assert!(section(text, "c").is_empty());
    }
}

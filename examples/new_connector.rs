//! The connector generator: one command writes a compiling, tested connector skeleton — a
//! standalone crate in the house layout, or a declarative YAML manifest.
//!
//! ```text
//! cargo run --example new_connector -- <name> [--out DIR] [--force] [--aura-path DIR]
//!     [--manifest] [--from-openapi FILE [--operation ID]... [--tag TAG]...]
//! cargo run --example new_connector -- --check FILE.yaml
//! ```
//!
//! - **Module mode** (the default) writes the crate `./aura-connector-<name>`: `Cargo.toml`
//!   (path dependencies on this repository's aura-core, its lint levels, its lock file),
//!   `src/lib.rs`, `src/<name>/{mod.rs, config.rs, core.rs, error.rs, actions.rs,
//!   triggers.rs, docs.md}` (one typed action, one polling trigger with a cursor, requests
//!   built apart from sending, a `ResponseCheck` for errors sent with a success status) and
//!   `tests/<name>.rs` (the action and two polls through a `Registry`, against wiremock).
//!   It passes `cargo test`, `cargo clippy --all-targets -- -D warnings` and `cargo fmt
//!   --check` as written.
//! - **`--manifest`** writes `<name>.yaml` instead: one operation and one poll trigger.
//! - **`--from-openapi FILE`** starts from an OpenAPI document: in module mode its base URL,
//!   authentication and first `GET` operation (or `--operation ID`) become the action; with
//!   `--manifest` the whole import (filtered by `--operation` and `--tag`) is written.
//! - **`--check FILE`** loads a manifest as `DeclarativeApp` and registers it (CI's check).
//!
//! Existing files are never overwritten without `--force`.

#![allow(clippy::print_stdout)]

#[path = "new_connector/model.rs"]
mod model;
#[path = "new_connector/render.rs"]
mod render;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aura_connectors::openapi::{self, ImportOptions};
use aura_core::Registry;
use aura_core::declarative::{DeclarativeApp, HttpMethod, Manifest};

use self::model::{Model, validate_name};

const USAGE: &str = "\
usage: cargo run --example new_connector -- <name> [options]
       cargo run --example new_connector -- --check FILE.yaml

  <name>               the connector: lowercase letters, digits and `_` (`acme_tasks`)
  --out DIR            where to write (module: the crate directory, default ./aura-connector-<name>;
                       manifest: the directory of <name>.yaml, default .)
  --manifest           write a declarative YAML manifest instead of a Rust crate
  --from-openapi FILE  start from an OpenAPI 3.0/3.1 document (YAML or JSON)
  --operation ID       the operation to import (operationId or key; repeatable)
  --tag TAG            import the operations with this tag (manifest mode; repeatable)
  --aura-path DIR      the Aura repository the crate depends on (default: this one)
  --force              overwrite existing files
  --check FILE         load a manifest and register it; exit 1 when it is refused";

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
struct Args {
    name: String,
    out: Option<PathBuf>,
    manifest: bool,
    from_openapi: Option<PathBuf>,
    operations: Vec<String>,
    tags: Vec<String>,
    aura_path: Option<PathBuf>,
    force: bool,
    check: Option<PathBuf>,
}

impl Args {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut parsed = Self::default();
        let mut name = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
            match arg.as_str() {
                "--out" => parsed.out = Some(value("--out")?.into()),
                "--manifest" => parsed.manifest = true,
                "--from-openapi" => parsed.from_openapi = Some(value("--from-openapi")?.into()),
                "--operation" => parsed.operations.push(value("--operation")?),
                "--tag" => parsed.tags.push(value("--tag")?),
                "--aura-path" => parsed.aura_path = Some(value("--aura-path")?.into()),
                "--force" => parsed.force = true,
                "--check" => parsed.check = Some(value("--check")?.into()),
                "-h" | "--help" => return Err(String::new()),
                flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
                _ if name.is_some() => return Err(format!("one name only (got `{arg}` too)")),
                _ => name = Some(arg),
            }
        }
        if parsed.check.is_some() {
            return Ok(parsed);
        }
        parsed.name = name.ok_or("the connector's name is missing")?;
        validate_name(&parsed.name)?;
        if !parsed.manifest && parsed.from_openapi.is_none() && !parsed.operations.is_empty() {
            return Err("--operation needs --from-openapi".to_owned());
        }
        let imports_a_manifest = parsed.manifest && parsed.from_openapi.is_some();
        if !parsed.tags.is_empty() && !imports_a_manifest {
            return Err("--tag filters an OpenAPI import in manifest mode: add --manifest --from-openapi".to_owned());
        }
        if !parsed.manifest && parsed.operations.len() > 1 {
            return Err("module mode generates one action: give one --operation".to_owned());
        }
        Ok(parsed)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("new_connector: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match &args.check {
        Some(file) => check(file),
        None => generate(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("new_connector: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Loads a manifest and registers it, as a host would.
fn check(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let json = file.extension().is_some_and(|e| e == "json");
    let app = if json {
        DeclarativeApp::from_json(&text)
    } else {
        DeclarativeApp::from_yaml(&text)
    }
    .map_err(|e| format!("{} is refused: {e}", file.display()))?;
    let (id, operations, triggers) = {
        let m = app.manifest();
        (m.id.clone(), m.operations.len(), m.triggers.len())
    };
    Registry::new()
        .register(app)
        .map_err(|e| format!("{} does not register: {e}", file.display()))?;
    println!(
        "ok: {} is the app `{id}`: {operations} operation(s), {triggers} trigger(s)",
        file.display()
    );
    Ok(())
}

fn generate(args: &Args) -> Result<(), String> {
    let aura = args
        .aura_path
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let aura = aura
        .canonicalize()
        .map_err(|e| format!("--aura-path {}: {e}", aura.display()))?;
    let name = &args.name;
    let (root, files, notes) = if args.manifest {
        let root = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
        let (text, notes) = match &args.from_openapi {
            Some(spec) => imported_manifest(args, spec, &aura)?,
            None => (render::manifest(&Model::skeleton(name)?, &aura)?, Vec::new()),
        };
        (root, vec![(PathBuf::from(format!("{name}.yaml")), text)], notes)
    } else {
        let root = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("aura-connector-{}", name.replace('_', "-"))));
        let (model, notes) = match &args.from_openapi {
            Some(spec) => imported_model(args, spec)?,
            None => (Model::skeleton(name)?, Vec::new()),
        };
        (root, render::module(&model, &aura)?, notes)
    };
    write(&root, &files, args.force)?;
    for note in &notes {
        println!("note: {note}");
    }
    if args.manifest {
        let file = root.join(format!("{name}.yaml"));
        println!(
            "\nnext:\n  cargo run --example new_connector -- --check {}",
            file.display()
        );
    } else {
        println!(
            "\nnext:\n  cd {}\n  cargo test\n  cargo clippy --all-targets -- -D warnings\n  cargo fmt --check",
            root.display()
        );
    }
    Ok(())
}

/// Writes `files` under `root`, refusing to overwrite any without `force` (checked before
/// anything is written).
fn write(root: &Path, files: &[render::File], force: bool) -> Result<(), String> {
    if !force {
        let existing: Vec<String> = files
            .iter()
            .map(|(path, _)| root.join(path))
            .filter(|path| path.exists())
            .map(|path| path.display().to_string())
            .collect();
        if !existing.is_empty() {
            return Err(format!("refusing to overwrite (use --force): {}", existing.join(", ")));
        }
    }
    println!("wrote:");
    for (path, text) in files {
        let path = root.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("  {}", path.display());
    }
    Ok(())
}

/// Module mode from OpenAPI: the whole import (for the base URL, the authentication and a list
/// operation for the trigger) and the chosen operation.
fn imported_model(args: &Args, spec: &Path) -> Result<(Model, Vec<String>), String> {
    let (all, mut notes) = import_openapi(spec, &args.name, &[], &[])?;
    let key = match args.operations.first() {
        Some(wanted) => {
            let (only, _) = import_openapi(spec, &args.name, std::slice::from_ref(wanted), &[])?;
            let mut keys = only.operations.keys();
            match (keys.next(), keys.next()) {
                (Some(key), None) => key.clone(),
                _ => {
                    return Err(format!(
                        "--operation {wanted} matches no single operation of {}",
                        spec.display()
                    ));
                }
            }
        }
        None => {
            // The first GET in the document's order, when it has an operationId; else the
            // first GET by key.
            let text = std::fs::read_to_string(spec).map_err(|e| format!("cannot read {}: {e}", spec.display()))?;
            let first = first_get_operation(&text)
                .and_then(|id| import_openapi(spec, &args.name, &[id], &[]).ok())
                .and_then(|(only, _)| only.operations.keys().next().cloned());
            let by_key = || {
                all.operations
                    .iter()
                    .find(|(_, op)| op.method == HttpMethod::GET)
                    .map(|(key, _)| key.clone())
            };
            first
                .or_else(by_key)
                .ok_or_else(|| format!("{} has no GET operation: name one with --operation", spec.display()))?
        }
    };
    let (model, more) = Model::from_manifest(&args.name, &all, &key)?;
    notes.extend(more);
    notes.push(format!("the action is the operation `{key}`"));
    Ok((model, notes))
}

/// The `operationId` of the document's first `GET` operation, in the document's order (YAML
/// mappings keep it; JSON is read as YAML).
fn first_get_operation(text: &str) -> Option<String> {
    let doc: serde_norway::Value = serde_norway::from_str(text).ok()?;
    let paths = doc.get("paths")?.as_mapping()?;
    paths
        .values()
        .filter_map(|item| item.get("get"))
        .find_map(|get| get.get("operationId")?.as_str().map(str::to_owned))
}

/// Manifest mode from OpenAPI: the filtered import, as YAML.
fn imported_manifest(args: &Args, spec: &Path, aura: &Path) -> Result<(String, Vec<String>), String> {
    let (manifest, notes) = import_openapi(spec, &args.name, &args.operations, &args.tags)?;
    let yaml = serde_norway::to_string(&manifest).map_err(|e| format!("the manifest does not serialize: {e}"))?;
    let text = format!(
        "# yaml-language-server: $schema={}\n# Imported from {} by `cargo run --example new_connector`.\n{yaml}",
        render::schema_path(aura),
        spec.display()
    );
    Ok((text, notes))
}

/// Imports an OpenAPI document into a manifest with the id `app_id`, filtered by operations
/// and tags; returns the importer's warnings as notes.
fn import_openapi(
    spec: &Path,
    app_id: &str,
    operations: &[String],
    tags: &[String],
) -> Result<(Manifest, Vec<String>), String> {
    let text = std::fs::read_to_string(spec).map_err(|e| format!("cannot read {}: {e}", spec.display()))?;
    let mut options = ImportOptions::new().app_id(app_id);
    for operation in operations {
        options = options.operation(operation.clone());
    }
    for tag in tags {
        options = options.tag(tag.clone());
    }
    let import = openapi::import_str(&text, &options).map_err(|e| format!("{}: {e}", spec.display()))?;
    if import.operations == 0 {
        return Err(format!(
            "{}: no operation was imported (check --operation and --tag)",
            spec.display()
        ));
    }
    let notes = import.warnings.iter().map(|w| format!("openapi {w}")).collect();
    Ok((import.manifest, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, String> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    fn aura() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn a_valid_command_line_is_parsed() {
        let args = parse("acme_tasks --out /tmp/x --force").unwrap();
        assert_eq!(args.name, "acme_tasks");
        assert_eq!(args.out, Some(PathBuf::from("/tmp/x")));
        assert!(args.force && !args.manifest);
        let args = parse("--manifest acme --from-openapi spec.yaml --tag pets --operation listPets").unwrap();
        assert!(args.manifest);
        assert_eq!(
            (args.tags, args.operations),
            (vec!["pets".to_owned()], vec!["listPets".to_owned()])
        );
    }

    #[test]
    fn bad_command_lines_are_refused_with_a_reason() {
        for (line, reason) in [
            ("", "name is missing"),
            ("Acme", "not a connector name"),
            ("acme-tasks", "not a connector name"),
            ("type", "keyword"),
            ("acme --out", "needs a value"),
            ("acme --frobnicate", "unknown option"),
            ("acme other", "one name only"),
            ("acme --operation x", "needs --from-openapi"),
            ("acme --from-openapi s.yaml --tag t", "--tag"),
            (
                "acme --from-openapi s.yaml --operation a --operation b",
                "one --operation",
            ),
        ] {
            let err = parse(line).unwrap_err();
            assert!(err.contains(reason), "{line:?}: {err}");
        }
    }

    #[test]
    fn the_module_templates_leave_nothing_unfilled() {
        let files = render::module(&Model::skeleton("acme_tasks").unwrap(), &aura()).unwrap();
        let paths: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        for expected in [
            "Cargo.toml",
            "src/lib.rs",
            "src/acme_tasks/mod.rs",
            "src/acme_tasks/docs.md",
        ] {
            assert!(paths.iter().any(|p| p == expected), "{expected} in {paths:?}");
        }
        assert!(paths.iter().any(|p| p == "tests/acme_tasks.rs"), "{paths:?}");
        for (path, text) in files.iter().filter(|(p, _)| p.extension().is_some_and(|e| e != "lock")) {
            // `}}` alone is legitimate Rust (nested JSON in a raw string); an opening tag is not.
            for leftover in ["{{", "{%", "%}", "{#"] {
                assert!(!text.contains(leftover), "{} holds `{leftover}`", path.display());
            }
        }
        let (_, lib) = files.iter().find(|(p, _)| p.ends_with("lib.rs")).unwrap();
        assert!(
            lib.contains("pub use self::acme_tasks::{AcmeTasks, AcmeTasksConfig};"),
            "{lib}"
        );
    }

    #[test]
    fn the_skeleton_manifest_loads_as_an_app() {
        let yaml = render::manifest(&Model::skeleton("acme_tasks").unwrap(), &aura()).unwrap();
        assert!(yaml.starts_with("# yaml-language-server: $schema="), "{yaml}");
        assert!(!yaml.contains("{{") && !yaml.contains("{%"), "{yaml}");
        let app = DeclarativeApp::from_yaml(&yaml).unwrap();
        assert_eq!(app.manifest().id, "acme_tasks");
        assert_eq!(app.manifest().operations.len(), 1);
        assert_eq!(app.manifest().triggers.len(), 1);
    }

    #[test]
    fn the_first_get_operation_is_found_in_document_order() {
        let spec = "paths:\n  /z:\n    post: { operationId: makeZ }\n    get: { operationId: listZ }\n  /a:\n    get: { operationId: listA }\n";
        assert_eq!(first_get_operation(spec).as_deref(), Some("listZ"));
        assert_eq!(first_get_operation("paths: {}"), None);
    }

    #[test]
    fn the_petstore_import_gives_a_module_with_the_first_get_as_its_action() {
        let args = parse("petstore --from-openapi examples/new_connector/petstore.yaml").unwrap();
        let spec = aura().join("examples/new_connector/petstore.yaml");
        let (model, _) = imported_model(&args, &spec).unwrap();
        assert_eq!(model.action.key, "list_pets");
        assert_eq!(model.trigger.path, "/pets");
        assert_eq!(model.base_url, "https://petstore.example/v1");
        let files = render::module(&model, &aura()).unwrap();
        let (_, core) = files.iter().find(|(p, _)| p.ends_with("core.rs")).unwrap();
        assert!(core.contains("request.query(\"limit\""), "{core}");
    }

    #[test]
    fn existing_files_are_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![(PathBuf::from("a.txt"), "one".to_owned())];
        write(dir.path(), &files, false).unwrap();
        let err = write(dir.path(), &files, false).unwrap_err();
        assert!(err.contains("--force"), "{err}");
        write(dir.path(), &[(PathBuf::from("a.txt"), "two".to_owned())], true).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "two");
    }
}

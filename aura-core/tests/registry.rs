//! Registry behaviour: registration, versions, lookup, search, lazy loading, the catalogue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aura_core::app::{AppConfig, AuthMethod, Category};
use aura_core::semver::Version;
use aura_core::trigger::{Schedule, TriggerDef};
use aura_core::{ActionDef, App, AppManifest, Context, ErrorKind, Registry, Result};
use serde_json::{Value, json};

struct TestApp {
    manifest: AppManifest,
    inits: Arc<AtomicUsize>,
    cleanups: Arc<AtomicUsize>,
}

impl TestApp {
    fn new(id: &str, version: (u64, u64, u64), category: Category, tags: &[&str], description: &str) -> Self {
        Self {
            manifest: AppManifest::new(id, title(id), Version::new(version.0, version.1, version.2))
                .category(category)
                .tags(tags.iter().copied())
                .description(description),
            inits: Arc::default(),
            cleanups: Arc::default(),
        }
    }
}

fn title(id: &str) -> String {
    let mut c = id.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl App for TestApp {
    fn manifest(&self) -> AppManifest {
        self.manifest.clone()
    }

    fn actions(&self) -> Vec<ActionDef> {
        let version = self.manifest.version.to_string();
        vec![ActionDef::new("version", move |_cx: Context, _: Value| {
            let version = version.clone();
            async move { Ok(version) }
        })]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![TriggerDef::schedule(
            "hourly",
            Schedule::every(Duration::from_secs(3600)).unwrap_or_else(|_| unreachable!()),
        )]
    }

    async fn init(&self, config: &AppConfig) -> Result<()> {
        self.inits.fetch_add(1, Ordering::SeqCst);
        if config.as_json()["fail"] == true {
            return Err(aura_core::Error::invalid_input("bad config", vec![]));
        }
        Ok(())
    }

    async fn cleanup(&self) -> Result<()> {
        self.cleanups.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn catalogue() -> Registry {
    let r = Registry::new();
    r.register(TestApp::new(
        "slack",
        (1, 0, 0),
        Category::Communication,
        &["messaging", "chat"],
        "Team chat",
    ))
    .unwrap();
    r.register(TestApp::new(
        "discord",
        (2, 1, 0),
        Category::Communication,
        &["chat", "gaming"],
        "Voice and text chat",
    ))
    .unwrap();
    r.register(TestApp::new(
        "hubspot",
        (1, 0, 0),
        Category::Crm,
        &["contacts", "sales"],
        "Marketing, sales and service software",
    ))
    .unwrap();
    r.register(TestApp::new(
        "postgres",
        (1, 0, 0),
        Category::Database,
        &["sql"],
        "Open source relational database",
    ))
    .unwrap();
    r
}

#[test]
fn the_same_id_and_version_twice_is_a_conflict() {
    let r = catalogue();
    let err = r
        .register(TestApp::new("slack", (1, 0, 0), Category::Communication, &[], ""))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.context_value("app"), Some("slack"));
    assert_eq!(err.context_value("version"), Some("1.0.0"));
    // A new version of the same app is fine.
    r.register(TestApp::new("slack", (1, 1, 0), Category::Communication, &[], ""))
        .unwrap();
}

#[tokio::test]
async fn get_by_id_is_the_newest_version_and_by_version_is_exact() {
    let r = Registry::new();
    for v in [(1, 0, 0), (1, 10, 0), (1, 2, 0)] {
        r.register(TestApp::new("crm", v, Category::Crm, &[], "")).unwrap();
    }
    assert_eq!(r.app("crm").await.unwrap().manifest().version, Version::new(1, 10, 0));
    assert_eq!(
        r.app_version("crm", &Version::new(1, 2, 0))
            .await
            .unwrap()
            .manifest()
            .version,
        Version::new(1, 2, 0)
    );
    let v = r
        .action("crm.version")
        .await
        .unwrap()
        .call(Context::new(), json!(null))
        .await
        .unwrap();
    assert_eq!(v, "1.10.0");

    let err = r.app_version("crm", &Version::new(9, 0, 0)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.context_value("version"), Some("9.0.0"));
}

#[test]
fn list_by_category_and_by_tag() {
    let r = catalogue();
    let ids = |ms: Vec<AppManifest>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(r.list_by_category(&Category::Communication)), ["discord", "slack"]);
    assert_eq!(ids(r.list_by_category(&Category::Crm)), ["hubspot"]);
    assert!(r.list_by_category(&Category::AiMl).is_empty());
    assert_eq!(ids(r.list_by_tag("chat")), ["discord", "slack"]);
    assert_eq!(ids(r.list_by_tag("SQL")), ["postgres"]);
}

#[test]
fn search_matches_name_description_and_tags_best_first() {
    let r = catalogue();
    let ids = |q: &str| r.search(q).into_iter().map(|m| m.id).collect::<Vec<_>>();
    // Name match (slack) ranks above a description-only match.
    assert_eq!(ids("slack"), ["slack"]);
    // Tag match on both, description on discord too.
    assert_eq!(ids("chat"), ["discord", "slack"]);
    // Every word must match.
    assert_eq!(ids("chat gaming"), ["discord"]);
    // Prefixes and case do not matter.
    assert_eq!(ids("RELATION"), ["postgres"]);
    assert_eq!(ids("sales"), ["hubspot"]);
    assert!(ids("nothing-like-this").is_empty());
}

#[tokio::test]
async fn references_resolve_and_bad_ones_say_why() {
    let r = catalogue();
    assert_eq!(r.action("slack.version").await.unwrap().reference(), "slack.version");
    assert_eq!(r.trigger("slack.hourly").await.unwrap().reference(), "slack.hourly");

    let err = r.action("slack.nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.context_value("action"), Some("nope"));

    let err = r.action("nobody.version").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.context_value("app"), Some("nobody"));

    for bad in ["slack", ".x", "slack.", "a.b.c", "Slack.version", "slack.Version"] {
        let err = r.action(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{bad}");
        assert_eq!(err.context_value("reference"), Some(bad));
    }
}

#[tokio::test]
async fn lazy_factory_runs_once_under_concurrent_first_use() {
    let r = Arc::new(Registry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let inits = Arc::new(AtomicUsize::new(0));
    let manifest = AppManifest::new("heavy", "Heavy", Version::new(1, 0, 0))
        .category(Category::AiMl)
        .tags(["llm"]);
    {
        let runs = runs.clone();
        let inits = inits.clone();
        r.register_lazy(manifest, AppConfig::default(), move || {
            let runs = runs.clone();
            let inits = inits.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                // Slow construction widens the window for a race.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let mut app = TestApp::new("heavy", (1, 0, 0), Category::AiMl, &["llm"], "");
                app.inits = inits;
                Ok(app)
            }
        })
        .unwrap();
    }
    // Listed and found before it is loaded.
    assert_eq!(r.list_by_category(&Category::AiMl).len(), 1);
    assert_eq!(r.search("heavy").len(), 1);
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { r.action("heavy.version").await.map(|a| a.reference().to_owned()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "heavy.version");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(inits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_lazy_factory_is_retried_and_a_mismatch_is_refused() {
    let r = Registry::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    r.register_lazy(
        AppManifest::new("flaky", "Flaky", Version::new(1, 0, 0)),
        AppConfig::default(),
        move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(aura_core::Error::unavailable("model server not up yet"))
                } else {
                    Ok(TestApp::new("flaky", (1, 0, 0), Category::Workflow, &[], ""))
                }
            }
        },
    )
    .unwrap();
    let err = r.app("flaky").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.context_value("app"), Some("flaky"));
    r.app("flaky").await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2);

    r.register_lazy(
        AppManifest::new("liar", "Liar", Version::new(1, 0, 0)),
        AppConfig::default(),
        || async { Ok(TestApp::new("other", (1, 0, 0), Category::Workflow, &[], "")) },
    )
    .unwrap();
    assert_eq!(r.app("liar").await.unwrap_err().kind(), ErrorKind::InvalidDefinition);
}

#[tokio::test]
async fn init_runs_once_with_the_config_and_cleanup_runs_on_loaded_apps() {
    let r = Registry::new();
    let app = TestApp::new("crm", (1, 0, 0), Category::Crm, &[], "");
    let (inits, cleanups) = (app.inits.clone(), app.cleanups.clone());
    r.register_with_config(Arc::new(app), AppConfig::new(json!({ "base_url": "http://localhost" })))
        .unwrap();
    assert_eq!(inits.load(Ordering::SeqCst), 0, "init waits for first use");
    r.app("crm").await.unwrap();
    r.app("crm").await.unwrap();
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    r.cleanup().await.unwrap();
    assert_eq!(cleanups.load(Ordering::SeqCst), 1);

    let r = Registry::new();
    r.register_with_config(
        Arc::new(TestApp::new("bad", (1, 0, 0), Category::Crm, &[], "")),
        AppConfig::new(json!({ "fail": true })),
    )
    .unwrap();
    let err = r.app("bad").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.context_value("app"), Some("bad"));
}

#[tokio::test]
async fn catalogue_exports_manifests_with_schemas() {
    let r = catalogue();
    let cat = r.catalogue().await.unwrap();
    let apps = cat["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 4);
    let slack = apps.iter().find(|a| a["id"] == "slack").unwrap();
    assert_eq!(slack["category"], "communication");
    assert_eq!(slack["version"], "1.0.0");
    assert_eq!(slack["actions"][0]["key"], "version");
    assert_eq!(slack["actions"][0]["output_schema"]["type"], "string");
    assert_eq!(slack["triggers"][0]["kind"], "schedule");
    assert_eq!(slack["triggers"][0]["schedule"], json!({ "every_secs": 3600 }));
}

#[test]
fn invalid_manifests_and_duplicate_actions_are_refused() {
    struct Twice;
    #[async_trait::async_trait]
    impl App for Twice {
        fn manifest(&self) -> AppManifest {
            AppManifest::new("twice", "Twice", Version::new(1, 0, 0)).auth(AuthMethod::Bearer)
        }
        fn actions(&self) -> Vec<ActionDef> {
            let a = || ActionDef::new("same", |_cx: Context, v: Value| async move { Ok(v) });
            vec![a(), a()]
        }
    }
    let err = Registry::new().register(Twice).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("action"), Some("same"));

    let r = Registry::new();
    let err = r
        .register(TestApp::new("Bad Id", (1, 0, 0), Category::Crm, &[], ""))
        .unwrap_err();
    assert_eq!(err.context_value("field"), Some("id"));
}

//! Write a small connector, register it, find it, look at its schema and call it.
//!
//! ```text
//! cargo run --example custom_connector
//! ```
//!
//! The app, "Acme Tasks", has one typed action (`create_task`) and one polling trigger
//! (`new_tasks`). Everything runs in memory: the "service" is a vector behind a mutex.

#![allow(clippy::print_stdout)]

use std::sync::{Arc, Mutex, PoisonError};

use aura_core::app::{AuthMethod, Category};
use aura_core::connection::ApiKeyPlacement;
use aura_core::semver::Version;
use aura_core::trigger::{Poll, PollingTrigger, TriggerDef, TriggerItem};
use aura_core::{ActionDef, App, AppManifest, Context, Registry, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `create_task` takes.
#[derive(Deserialize, JsonSchema)]
struct NewTask {
    /// What to do.
    #[schemars(length(min = 1, max = 200))]
    title: String,
    /// Who does it.
    #[schemars(email)]
    assignee: String,
    /// 1 (highest) to 5.
    #[schemars(range(min = 1, max = 5))]
    priority: u8,
    /// Free labels.
    #[serde(default)]
    labels: Vec<String>,
}

/// What `create_task` returns, and what `new_tasks` produces.
#[derive(Clone, Serialize, JsonSchema)]
struct Task {
    id: u64,
    title: String,
    assignee: String,
    priority: u8,
    labels: Vec<String>,
}

/// The in-memory "service".
#[derive(Clone, Default)]
struct Backend(Arc<Mutex<Vec<Task>>>);

impl Backend {
    fn insert(&self, new: NewTask) -> Task {
        let mut tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let task = Task {
            id: tasks.len() as u64 + 1,
            title: new.title,
            assignee: new.assignee,
            priority: new.priority,
            labels: new.labels,
        };
        tasks.push(task.clone());
        task
    }

    fn after(&self, id: u64) -> Vec<Task> {
        let tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.iter().filter(|t| t.id > id).cloned().collect()
    }
}

/// New tasks since the highest id seen.
struct NewTasks(Backend);

#[async_trait::async_trait]
impl PollingTrigger for NewTasks {
    type Item = Task;
    type Cursor = u64;

    async fn poll(&self, _cx: &Context, cursor: Option<u64>) -> Result<Poll<Task, u64>> {
        let seen = cursor.unwrap_or(0);
        let tasks = self.0.after(seen);
        let next = tasks.last().map_or(seen, |t| t.id);
        let items = tasks
            .into_iter()
            .map(|t| TriggerItem::new(t.id.to_string(), t))
            .collect();
        Ok(Poll::new(items, next))
    }
}

struct AcmeTasks {
    backend: Backend,
}

#[async_trait::async_trait]
impl App for AcmeTasks {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("acme_tasks", "Acme Tasks", Version::new(1, 0, 0))
            .category(Category::Productivity)
            .description("Create and follow tasks in Acme's task tracker")
            .tags(["tasks", "todo", "project management"])
            .docs_url("https://docs.acme.test/api")
            .auth(AuthMethod::ApiKey {
                placement: ApiKeyPlacement::header("X-Acme-Key"),
            })
    }

    fn actions(&self) -> Vec<ActionDef> {
        let backend = self.backend.clone();
        vec![
            ActionDef::new("create_task", move |_cx: Context, input: NewTask| {
                let backend = backend.clone();
                async move { Ok(backend.insert(input)) }
            })
            .name("Create a task")
            .description("Creates a task and assigns it."),
        ]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![TriggerDef::polling("new_tasks", NewTasks(self.backend.clone())).name("New task")]
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let registry = Registry::new();
    registry.register(AcmeTasks {
        backend: Backend::default(),
    })?;

    // 1. Find it the way a UI would.
    let found = registry.search("task");
    println!(
        "search \"task\" found: {:?}",
        found.iter().map(|m| &m.name).collect::<Vec<_>>()
    );

    // 2. The action's input schema, as the catalogue shows it.
    let create = registry.action("acme_tasks.create_task").await?;
    println!("\ninput schema of {}:", create.reference());
    println!(
        "{}",
        serde_json::to_string_pretty(&create.manifest().input_schema).unwrap_or_default()
    );

    // 3. A valid call.
    let task = create
        .call(
            Context::new(),
            json!({ "title": "Call the lead back", "assignee": "sam@acme.test", "priority": 2 }),
        )
        .await?;
    println!("\nvalid input -> {task}");

    // 4. An invalid call: every bad field, by JSON path; the handler never runs.
    let err = create
        .call(
            Context::new(),
            json!({ "title": "", "assignee": "not-an-email", "priority": 9, "labels": [1] }),
        )
        .await
        .err();
    match err {
        Some(err) => println!("\ninvalid input -> {err}"),
        None => println!("\ninvalid input was accepted: this is a bug"),
    }

    // 5. The polling trigger sees the task that was created, then nothing new.
    let trigger = registry.trigger("acme_tasks.new_tasks").await?;
    let first = trigger.poll(&Context::new(), None).await?;
    println!(
        "\npoll 1: {} new item(s), keys {:?}, next cursor {}",
        first.items.len(),
        first.items.iter().map(|i| &i.dedupe_key).collect::<Vec<_>>(),
        first.cursor
    );
    let second = trigger.poll(&Context::new(), Some(first.cursor)).await?;
    println!("poll 2: {} new item(s)", second.items.len());
    Ok(())
}

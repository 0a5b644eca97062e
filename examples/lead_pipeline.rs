//! The lead pipeline: a form submission becomes a CRM contact, joins the nurture campaign, and
//! a hot lead gets a sales follow-up task.
//!
//! ```text
//! cargo run --example lead_pipeline
//! ```
//!
//! ```text
//! form ─▶ create_contact ─▶ add_to_nurture ─▶ hot_lead? ──true──▶ follow_up
//!         (crm, API key)    (email)           score ≥ 70          (crm, API key)
//! ```
//!
//! Two small apps are written here the way real connectors are: typed actions (serde +
//! schemars structs wrapped in `ActionDef::new`), a manifest, and for the CRM an API-key
//! authentication method, so that its nodes must run through a connection. The "services" are
//! in memory: no network, no setup. The records go to the embedded default store, a SQLite file
//! (here in a temporary directory): each node's result is on disk before the next node starts.
//! The scenario is built with the builder, deployed, and run twice: once for a hot lead, once
//! for a cold one, whose follow-up node is skipped. Each execution record is printed as a
//! table, then read back from the file.

#![allow(clippy::print_stdout)]

#[path = "support/record_table.rs"]
mod record_table;

use std::sync::{Arc, Mutex, PoisonError};

use aura_core::app::{AuthMethod, Category};
use aura_core::connection::{ApiKeyPlacement, ConnectionRecord, Connections, Credentials};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::secrecy::ExposeSecret;
use aura_core::semver::Version;
use aura_core::store::{ExecutionStore, PageRequest, SqliteStore};
use aura_core::{ActionDef, App, AppManifest, Context, Error, Registry, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Leads scoring at least this much get a sales follow-up.
const HOT_LEAD_SCORE: u32 = 70;

/// The nurture campaign every new contact joins.
const NURTURE_CAMPAIGN: &str = "nurture-q3";

/// The API key of the in-memory CRM (in real life: read from a secret store).
const CRM_API_KEY: &str = "crm-demo-key-7f3a";

// ---------------------------------------------------------------------------------------------
// The CRM app: contacts and tasks, behind an API key.
// ---------------------------------------------------------------------------------------------

/// What `crm.create_contact` takes.
#[derive(Deserialize, JsonSchema)]
struct NewContact {
    /// Full name.
    #[schemars(length(min = 1, max = 200))]
    name: String,
    /// Work email.
    #[schemars(email)]
    email: String,
    /// Company name.
    #[serde(default)]
    company: Option<String>,
    /// Lead score, 0 to 100.
    #[schemars(range(max = 100))]
    score: u32,
}

/// A CRM contact: what `crm.create_contact` returns.
#[derive(Clone, Serialize, JsonSchema)]
struct Contact {
    id: String,
    name: String,
    email: String,
    company: Option<String>,
    score: u32,
    stage: String,
}

/// What `crm.create_task` takes.
#[derive(Deserialize, JsonSchema)]
struct NewTask {
    /// The contact the task is about.
    contact_id: String,
    /// What to do.
    #[schemars(length(min = 1, max = 200))]
    title: String,
    /// Who does it.
    #[schemars(email)]
    assignee: String,
    /// Hours from now until it is due.
    #[serde(default = "one_day")]
    due_in_hours: u32,
}

fn one_day() -> u32 {
    24
}

/// A CRM task: what `crm.create_task` returns.
#[derive(Clone, Serialize, JsonSchema)]
struct Task {
    id: String,
    contact_id: String,
    title: String,
    assignee: String,
    due_in_hours: u32,
}

/// The in-memory CRM "service".
#[derive(Clone, Default)]
struct CrmBackend {
    contacts: Arc<Mutex<Vec<Contact>>>,
    tasks: Arc<Mutex<Vec<Task>>>,
}

impl CrmBackend {
    fn create_contact(&self, new: NewContact) -> Contact {
        let mut contacts = self.contacts.lock().unwrap_or_else(PoisonError::into_inner);
        let stage = if new.score >= HOT_LEAD_SCORE {
            "sales_qualified"
        } else {
            "marketing_qualified"
        };
        let contact = Contact {
            id: format!("ct_{:04}", contacts.len() + 1),
            name: new.name,
            email: new.email.to_lowercase(),
            company: new.company,
            score: new.score,
            stage: stage.to_owned(),
        };
        contacts.push(contact.clone());
        contact
    }

    fn create_task(&self, new: NewTask) -> Result<Task> {
        let contacts = self.contacts.lock().unwrap_or_else(PoisonError::into_inner);
        if !contacts.iter().any(|c| c.id == new.contact_id) {
            return Err(Error::not_found("no such contact").with_context("contact_id", new.contact_id));
        }
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let task = Task {
            id: format!("tk_{:04}", tasks.len() + 1),
            contact_id: new.contact_id,
            title: new.title,
            assignee: new.assignee,
            due_in_hours: new.due_in_hours,
        };
        tasks.push(task.clone());
        Ok(task)
    }

    fn counts(&self) -> (usize, usize) {
        let contacts = self.contacts.lock().unwrap_or_else(PoisonError::into_inner).len();
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner).len();
        (contacts, tasks)
    }
}

/// What the CRM "server" does with every request: check the API key of the step's connection.
/// A connector that speaks HTTP would call `cx.send(request)` instead, which puts the key in the
/// `X-Crm-Key` header; one that does not reads the credentials itself, as here.
fn authenticate(cx: &Context) -> Result<()> {
    match cx.require_connection()?.credentials() {
        Credentials::ApiKey { key, .. } if key.expose_secret() == CRM_API_KEY => Ok(()),
        _ => Err(Error::unauthorized("the CRM rejected the API key")),
    }
}

struct Crm {
    backend: CrmBackend,
}

#[aura_core::async_trait]
impl App for Crm {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("crm", "Acme CRM", Version::new(1, 0, 0))
            .category(Category::Crm)
            .description("Contacts, deals and tasks in Acme CRM")
            .tags(["crm", "contacts", "sales"])
            .auth(AuthMethod::ApiKey {
                placement: ApiKeyPlacement::header("X-Crm-Key"),
            })
    }

    fn actions(&self) -> Vec<ActionDef> {
        let contacts = self.backend.clone();
        let tasks = self.backend.clone();
        vec![
            ActionDef::new("create_contact", move |cx: Context, input: NewContact| {
                let backend = contacts.clone();
                async move {
                    authenticate(&cx)?;
                    Ok(backend.create_contact(input))
                }
            })
            .name("Create a contact")
            .description("Creates a contact; its stage follows its lead score."),
            ActionDef::new("create_task", move |cx: Context, input: NewTask| {
                let backend = tasks.clone();
                async move {
                    authenticate(&cx)?;
                    backend.create_task(input)
                }
            })
            .name("Create a task")
            .description("Creates a task about a contact and assigns it."),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The email marketing app: campaigns. No authentication (an internal service).
// ---------------------------------------------------------------------------------------------

/// What `email.add_to_campaign` takes.
#[derive(Deserialize, JsonSchema)]
struct Enroll {
    /// The campaign's id.
    campaign: String,
    /// Who joins it.
    #[schemars(email)]
    email: String,
    /// The CRM contact, for reporting.
    #[serde(default)]
    contact_id: Option<String>,
}

/// What `email.add_to_campaign` returns.
#[derive(Serialize, JsonSchema)]
struct Enrollment {
    campaign: String,
    email: String,
    contact_id: Option<String>,
    subscribers: usize,
}

/// The in-memory email "service": campaign → subscribers.
#[derive(Clone, Default)]
struct EmailBackend(Arc<Mutex<Vec<(String, String)>>>);

impl EmailBackend {
    fn enroll(&self, input: Enroll) -> Enrollment {
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|(c, e)| *c == input.campaign && *e == input.email) {
            list.push((input.campaign.clone(), input.email.clone()));
        }
        let subscribers = list.iter().filter(|(c, _)| *c == input.campaign).count();
        Enrollment {
            campaign: input.campaign,
            email: input.email,
            subscribers,
            contact_id: input.contact_id,
        }
    }
}

struct EmailMarketing {
    backend: EmailBackend,
}

#[aura_core::async_trait]
impl App for EmailMarketing {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("email", "Acme Mail", Version::new(1, 0, 0))
            .category(Category::Marketing)
            .description("Email campaigns")
            .tags(["email", "campaigns", "newsletter"])
    }

    fn actions(&self) -> Vec<ActionDef> {
        let backend = self.backend.clone();
        vec![
            ActionDef::new("add_to_campaign", move |_cx: Context, input: Enroll| {
                let backend = backend.clone();
                async move { Ok(backend.enroll(input)) }
            })
            .name("Add to a campaign")
            .description("Subscribes an address to a campaign (once).")
            .idempotent(true),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario.
// ---------------------------------------------------------------------------------------------

fn lead_pipeline() -> Scenario {
    Scenario::builder("lead_pipeline", "Lead pipeline")
        .description("Form submission → CRM contact → nurture campaign → sales follow-up for hot leads")
        .node(NodeBuilder::trigger("form").next(["create_contact"]))
        .node(
            NodeBuilder::action("create_contact", "crm.create_contact")
                .connection("crm-main")
                .input(json!({
                    "name": "{{ trigger.name }}",
                    "email": "{{ trigger.email | lower }}",
                    "company": "{{ trigger.company }}",
                    "score": "{{ trigger.score }}",
                }))
                .next(["add_to_nurture"]),
        )
        .node(
            NodeBuilder::action("add_to_nurture", "email.add_to_campaign")
                .input(json!({
                    "campaign": NURTURE_CAMPAIGN,
                    "email": "{{ steps.create_contact.output.email }}",
                    "contact_id": "{{ steps.create_contact.output.id }}",
                }))
                .next(["hot_lead"]),
        )
        .node(NodeBuilder::if_("hot_lead", format!("trigger.score >= {HOT_LEAD_SCORE}")).route("true", ["follow_up"]))
        .node(
            NodeBuilder::action("follow_up", "crm.create_task")
                .connection("crm-main")
                .input(json!({
                    "contact_id": "{{ steps.create_contact.output.id }}",
                    "title": "Call {{ trigger.name }} ({{ trigger.company }}): lead score {{ trigger.score }}",
                    "assignee": "sales@acme.test",
                    "due_in_hours": 4,
                })),
        )
        .build()
}

#[tokio::main]
async fn main() -> Result<()> {
    // 1. The catalogue: the two apps.
    let crm = CrmBackend::default();
    let registry = Arc::new(Registry::new());
    registry.register(Crm { backend: crm.clone() })?;
    registry.register(EmailMarketing {
        backend: EmailBackend::default(),
    })?;

    // 2. A connection to the CRM: its API key. Records, logs and errors only ever show it
    //    redacted.
    let connections = Arc::new(Connections::new());
    connections.insert_record(
        ConnectionRecord::new(
            "crm",
            "Acme CRM (production)",
            Credentials::api_key(CRM_API_KEY, ApiKeyPlacement::header("X-Crm-Key")),
        )
        .with_id("crm-main"),
    );

    // 3. The store: a SQLite file (WAL, fsynced commits, migrations run on open).
    let dir = tempfile::tempdir().map_err(|e| Error::internal(format!("no temporary directory: {e}")))?;
    let path = dir.path().join("aura.db");
    let store = Arc::new(SqliteStore::open(&path).await?);

    // 4. The engine; deploying compiles the scenario: every action, connection, mapping and
    //    condition is checked before anything runs.
    let engine = Engine::builder(registry)
        .connections(connections)
        .store(store.clone())
        .build();
    let plan = engine.deploy(lead_pipeline()).await?;
    println!(
        "deployed {:?}: form → create_contact → add_to_nurture → hot_lead (score ≥ {HOT_LEAD_SCORE}) → follow_up",
        plan.id()
    );

    // 5. Two form submissions.
    let hot = json!({ "name": "Ada Lovelace", "email": "Ada@Analytical.Engines", "company": "Analytical Engines Ltd", "score": 92 });
    let cold = json!({ "name": "Charles Babbage", "email": "charles@difference.works", "company": "Difference Works", "score": 35 });

    let record = engine.execute(&plan, hot).await?;
    record_table::print_record("Hot lead (score 92): the follow-up task is created", &record);

    let record = engine.execute(&plan, cold).await?;
    record_table::print_record("Cold lead (score 35): nurture only, the follow-up is skipped", &record);

    let (contacts, tasks) = crm.counts();
    println!("\nCRM now holds {contacts} contact(s) and {tasks} task(s).");

    // 6. What the file holds.
    let kept = store.list(plan.id(), PageRequest::first(10)).await?;
    println!("{} holds {} execution record(s):", path.display(), kept.items.len());
    for summary in &kept.items {
        println!("  {}  {:?}", summary.id, summary.status);
    }
    store.close().await;
    Ok(())
}

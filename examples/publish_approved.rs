//! Publish approved board items: when an item on the editorial board is approved, it becomes a
//! blog post.
//!
//! ```text
//! cargo run --example publish_approved
//! ```
//!
//! ```text
//! new_item ─▶ approved? ─▶ publish
//!             (filter)     (wordpress.create_post)
//! ```
//!
//! The trigger data is a board item as a Monday.com-style board sends it (id, name, column
//! values: status, text body, tags, author), passed in directly. A filter node lets only items
//! whose status is "Approved" through; `wordpress.create_post` builds the post from mapped
//! fields. The WordPress app is written here, in memory: one typed action, authenticated with
//! an application password (HTTP basic) through a connection. The scenario runs for an approved
//! item and for a draft, whose post node is skipped.

#![allow(clippy::print_stdout)]

#[path = "support/record_table.rs"]
mod record_table;

use std::sync::{Arc, Mutex, PoisonError};

use aura_core::app::{AuthMethod, Category};
use aura_core::connection::{ConnectionRecord, Connections, Credentials};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::{ActionDef, App, AppManifest, Context, Error, Registry, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The blog's address.
const BLOG: &str = "https://blog.acme.test";

/// What `wordpress.create_post` takes (a subset of `POST /wp-json/wp/v2/posts`).
#[derive(Deserialize, JsonSchema)]
struct NewPost {
    /// The title.
    #[schemars(length(min = 1, max = 300))]
    title: String,
    /// The body, as HTML.
    #[schemars(length(min = 1))]
    content: String,
    /// Where it goes.
    #[serde(default)]
    status: PostStatus,
    /// Tag names; unknown ones are created.
    #[serde(default)]
    tags: Vec<String>,
    /// The author's display name.
    #[serde(default)]
    author: Option<String>,
}

/// A post's status, as WordPress names it.
#[derive(Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum PostStatus {
    /// Public.
    Publish,
    /// Saved, not public.
    #[default]
    Draft,
    /// Waiting for review.
    Pending,
    /// Visible to editors only.
    Private,
}

/// A post: what `wordpress.create_post` returns.
#[derive(Clone, Serialize, JsonSchema)]
struct Post {
    id: u64,
    link: String,
    slug: String,
    status: PostStatus,
    title: String,
    tags: Vec<String>,
    author: Option<String>,
    content_length: usize,
}

/// The in-memory blog.
#[derive(Clone, Default)]
struct Blog(Arc<Mutex<Vec<Post>>>);

impl Blog {
    fn create(&self, new: NewPost) -> Post {
        let mut posts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let slug = slugify(&new.title);
        let post = Post {
            id: 100 + posts.len() as u64 + 1,
            link: format!("{BLOG}/{slug}/"),
            slug,
            status: new.status,
            title: new.title,
            tags: new.tags,
            author: new.author,
            content_length: new.content.chars().count(),
        };
        posts.push(post.clone());
        post
    }

    fn posts(&self) -> Vec<Post> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// `"Aura 0.1 is out!"` → `"aura-0-1-is-out"`.
fn slugify(title: &str) -> String {
    let lower = title.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.join("-")
}

struct WordPress {
    blog: Blog,
}

#[aura_core::async_trait]
impl App for WordPress {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("wordpress", "WordPress", Version::new(1, 0, 0))
            .category(Category::Custom("cms".to_owned()))
            .description("Posts and pages on a WordPress site")
            .tags(["blog", "cms", "publishing"])
            // Application passwords: a user name and a generated password, over HTTP basic.
            .auth(AuthMethod::Basic)
    }

    fn actions(&self) -> Vec<ActionDef> {
        let blog = self.blog.clone();
        vec![
            ActionDef::new("create_post", move |cx: Context, input: NewPost| {
                let blog = blog.clone();
                async move {
                    // The in-memory site only checks that a connection of the right kind is there;
                    // over HTTP, `cx.send(request)` would put it in the Authorization header.
                    if cx.require_connection()?.credentials().kind() != "basic" {
                        return Err(Error::unauthorized("WordPress wants an application password"));
                    }
                    Ok(blog.create(input))
                }
            })
            .name("Create a post")
            .description("Creates a post (published, draft, pending or private)."),
        ]
    }
}

fn publish_approved() -> Scenario {
    Scenario::builder("publish_approved", "Publish approved board items")
        .description("A board item whose status is Approved becomes a published blog post")
        .node(NodeBuilder::trigger("new_item").next(["approved"]))
        .node(NodeBuilder::filter("approved", "trigger.column_values.status == 'Approved'").next(["publish"]))
        .node(
            NodeBuilder::action("publish", "wordpress.create_post")
                .connection("wp-blog")
                .input(json!({
                    "title": "{{ trigger.name }}",
                    "content": "<p>{{ trigger.column_values.body }}</p>",
                    "status": "publish",
                    "tags": "{{ trigger.column_values.tags }}",
                    "author": "{{ trigger.column_values.author }}",
                })),
        )
        .build()
}

/// A board item, shaped like the item a Monday.com board sends on "item created".
fn board_item(id: &str, name: &str, status: &str, body: &str, tags: &[&str]) -> Value {
    json!({
        "id": id,
        "board": { "id": "4021", "name": "Editorial calendar" },
        "name": name,
        "group": "This month",
        "column_values": {
            "status": status,
            "body": body,
            "tags": tags,
            "author": "Grace Hopper",
            "due_date": "2025-07-01",
        },
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let blog = Blog::default();
    let registry = Arc::new(Registry::new());
    registry.register(WordPress { blog: blog.clone() })?;

    let connections = Arc::new(Connections::new());
    connections.insert_record(
        ConnectionRecord::new(
            "wordpress",
            "Acme blog",
            Credentials::basic("editor", "abcd efgh ijkl mnop"),
        )
        .with_id("wp-blog"),
    );

    let engine = Engine::builder(registry).connections(connections).build();
    let plan = engine.deploy(publish_approved()).await?;
    println!(
        "deployed {:?}: new_item → approved? (status == \"Approved\") → wordpress.create_post",
        plan.id()
    );

    let approved = board_item(
        "5710832941",
        "Aura 0.1: integrations as Rust crates",
        "Approved",
        "Aura is an embeddable integration runtime: scenarios, connectors and an engine, in your own service.",
        &["rust", "release", "integrations"],
    );
    let draft = board_item(
        "5710832977",
        "Ten workflow patterns, ranked",
        "Working on it",
        "TODO: write the intro.",
        &["workflows"],
    );

    let record = engine.execute(&plan, approved).await?;
    record_table::print_record("Approved item: published", &record);

    let record = engine.execute(&plan, draft).await?;
    record_table::print_record("Item still in progress: filtered out, nothing published", &record);

    let posts = blog.posts();
    println!("\nThe blog now has {} post(s):", posts.len());
    for post in posts {
        println!(
            "  #{} [{}] {:?} {} tags {:?}",
            post.id,
            record_table::status_name(post.status),
            post.title,
            post.link,
            post.tags
        );
    }
    Ok(())
}

//! The one way a chat call goes, whatever the vendor: settings, the request, sending, reading
//! the answer whole or streamed, and the vendor's error body refining the status mapping.

use aura_core::http::{HttpPolicy, HttpRequest};
use aura_core::{Context, Error, Result};
use serde_json::Value;

use super::chat::{self, ChatInput, ChatOutput};
use super::pricing::Pricing;

/// What differs between vendors: where requests go and the wire format both ways.
pub(crate) trait Vendor: Send + Sync + 'static {
    /// The highest temperature the vendor takes.
    const MAX_TEMPERATURE: f64;
    /// `POST` of a chat request to `base` (path and headers; the body comes from `wire`).
    fn chat_request(&self, base: &str) -> HttpRequest;
    /// A cheap authenticated call that tests a connection (the model list).
    fn models_request(&self, base: &str) -> HttpRequest;
    /// The request body for `input`.
    fn wire(&self, input: &ChatInput, model: &str, max_tokens: u32) -> Value;
    /// A whole answer.
    fn parse(&self, body: &Value) -> Result<ChatOutput>;
    /// A streamed answer, collected.
    fn collect_stream(&self, body: &str) -> Result<ChatOutput>;
    /// The vendor's error body refining `err`.
    fn refine(&self, err: Error, body: &[u8]) -> Error;
}

/// The settings every chat app has.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub(crate) base_url: String,
    pub(crate) default_model: Option<String>,
    pub(crate) max_tokens: u32,
    pub(crate) pricing: Pricing,
    pub(crate) policy: HttpPolicy,
}

impl Client {
    pub(crate) fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            default_model: None,
            max_tokens: 1024,
            pricing: Pricing::new(),
            policy: HttpPolicy::default(),
        }
    }

    pub(crate) fn set_base_url(&mut self, base_url: String) {
        self.base_url = base_url.trim_end_matches('/').to_owned();
    }

    /// The request `input` becomes: what the schema cannot check is checked first.
    pub(crate) fn request<V: Vendor>(&self, vendor: &V, input: &ChatInput) -> Result<HttpRequest> {
        let model = chat::check(input, self.default_model.as_deref(), V::MAX_TEMPERATURE)?;
        Ok(vendor
            .chat_request(&self.base_url)
            .json(vendor.wire(input, &model, self.max_tokens)))
    }

    /// Sends `input` and reads the answer, as `provider`.
    pub(crate) async fn chat<V: Vendor>(
        &self,
        vendor: &V,
        provider: &str,
        cx: &Context,
        input: &ChatInput,
    ) -> Result<ChatOutput> {
        let request = self.request(vendor, input)?;
        let answer = self.policy.send_unchecked(cx, &request).await?;
        if !answer.status.is_success() {
            return Err(vendor.refine(cx.failure(answer.status, &answer.headers, &answer.body), &answer.body));
        }
        let mut out = if input.stream {
            vendor.collect_stream(&String::from_utf8_lossy(&answer.body))?
        } else {
            vendor.parse(&answer.json()?)?
        };
        provider.clone_into(&mut out.provider);
        out.cost_usd = self.pricing.of(&out.model, &out.usage);
        Ok(out)
    }

    /// Tests a connection with the model list.
    pub(crate) async fn test<V: Vendor>(&self, vendor: &V, cx: &Context) -> Result<()> {
        let answer = self
            .policy
            .send_unchecked(cx, &vendor.models_request(&self.base_url))
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(vendor.refine(cx.failure(answer.status, &answer.headers, &answer.body), &answer.body))
        }
    }
}

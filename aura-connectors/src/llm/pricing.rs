//! What a model costs: prices per million tokens, read and written.

use std::collections::BTreeMap;

use super::chat::Usage;

/// Prices per million tokens by model, set by the host (vendors change them; Aura ships
/// none). A call's [`cost_usd`](super::ChatOutput::cost_usd) is filled when its model is here.
///
/// ```
/// use aura_connectors::llm::Pricing;
///
/// let pricing = Pricing::new().model("gpt-4o-mini", 0.15, 0.60);
/// assert_eq!(pricing.cost("gpt-4o-mini", 1_000_000, 500_000), Some(0.45));
/// assert_eq!(pricing.cost("unknown", 1, 1), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pricing {
    models: BTreeMap<String, (f64, f64)>,
}

impl Pricing {
    /// No prices.
    pub fn new() -> Self {
        Self::default()
    }

    /// `model` costs `input` US dollars per million tokens read and `output` per million
    /// written. A model the vendor names with a date suffix (`gpt-4o-mini-2024-07-18`) is
    /// priced by the longest name here it starts with.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>, input: f64, output: f64) -> Self {
        self.models.insert(model.into(), (input, output));
        self
    }

    /// What `input` tokens read and `output` written cost with `model`, if it is priced.
    pub fn cost(&self, model: &str, input: u64, output: u64) -> Option<f64> {
        let (per_in, per_out) = self.models.get(model).or_else(|| {
            self.models
                .iter()
                .filter(|(name, _)| model.starts_with(name.as_str()))
                .max_by_key(|(name, _)| name.len())
                .map(|(_, p)| p)
        })?;
        Some((input as f64 * per_in + output as f64 * per_out) / 1_000_000.0)
    }

    pub(crate) fn of(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.cost(model, usage.input_tokens, usage.output_tokens)
    }
}

//! [`CostModel`]: what one call of an operation costs, per call and per unit of the result.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a call costs: a price per call plus, for each [`Meter`], a price per unit read from the
/// result (tokens, seconds of audio, bytes …). Prices are in whatever currency the host counts
/// in; budgets and `max_price` use the same unit.
///
/// ```
/// use aura_router::CostModel;
/// use serde_json::json;
///
/// // $0.0001 a call plus $2 per million tokens.
/// let model = CostModel::per_call(0.0001).per_unit("/usage/total_tokens", 2e-6);
/// let cost = model.cost_of(&json!({ "usage": { "total_tokens": 1000 } }));
/// assert!((cost.amount - 0.0021).abs() < 1e-12);
/// assert_eq!(cost.units, 1000.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostModel {
    /// The price of one call, whatever it returns.
    #[serde(default)]
    pub per_call: f64,
    /// Prices per unit read from the result.
    #[serde(default)]
    pub meters: Vec<Meter>,
}

/// A price per unit, with the units read from the result at a JSON pointer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meter {
    /// Where the unit count is in the result, as a JSON pointer (`/usage/total_tokens`).
    pub pointer: String,
    /// The price of one unit.
    pub price: f64,
}

/// The cost of one result: the amount charged and the units counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    /// What the call cost.
    pub amount: f64,
    /// How many units the meters read (summed over meters).
    pub units: f64,
}

impl CostModel {
    /// Calls that cost nothing.
    pub fn free() -> Self {
        Self::default()
    }

    /// A fixed price per call.
    pub fn per_call(price: f64) -> Self {
        Self {
            per_call: sanitize(price),
            meters: Vec::new(),
        }
    }

    /// Adds a price per unit, the units read from the result at `pointer` (a JSON pointer).
    #[must_use]
    pub fn per_unit(mut self, pointer: impl Into<String>, price: f64) -> Self {
        self.meters.push(Meter {
            pointer: pointer.into(),
            price: sanitize(price),
        });
        self
    }

    /// What `result` cost. A meter whose pointer is missing, or whose value is not a finite,
    /// non-negative number, counts zero units: a malformed usage block never turns into
    /// phantom spend.
    pub fn cost_of(&self, result: &Value) -> Cost {
        let mut cost = Cost {
            amount: self.per_call,
            units: 0.0,
        };
        for meter in &self.meters {
            let units = result
                .pointer(&meter.pointer)
                .and_then(Value::as_f64)
                .map_or(0.0, sanitize);
            cost.amount += units * meter.price;
            cost.units += units;
        }
        cost
    }

    /// What a call is expected to cost: the per-call price plus, when the request says how
    /// many units it expects, that many units at every meter's price; otherwise `observed`, the
    /// running average of the per-unit part seen so far.
    pub(crate) fn expected(&self, expected_units: Option<f64>, observed: f64) -> f64 {
        match expected_units {
            Some(units) => self.per_call + self.meters.iter().map(|m| m.price * units).sum::<f64>(),
            None => self.per_call + observed,
        }
    }

    /// Whether every call costs nothing.
    pub fn is_free(&self) -> bool {
        self.per_call == 0.0 && self.meters.iter().all(|m| m.price == 0.0)
    }
}

/// A finite, non-negative number, or zero.
fn sanitize(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn malformed_usage_counts_nothing() {
        let model = CostModel::per_call(1.0).per_unit("/usage/tokens", 0.5);
        assert_eq!(model.cost_of(&json!({})).amount, 1.0);
        assert_eq!(model.cost_of(&json!({ "usage": { "tokens": -5 } })).amount, 1.0);
        assert_eq!(model.cost_of(&json!({ "usage": { "tokens": "lots" } })).amount, 1.0);
        assert_eq!(model.cost_of(&json!({ "usage": { "tokens": 4 } })).amount, 3.0);
    }

    #[test]
    fn expected_cost_uses_the_request_units_or_the_observed_average() {
        let model = CostModel::per_call(1.0).per_unit("/u", 0.5);
        assert_eq!(model.expected(Some(10.0), 99.0), 6.0);
        assert_eq!(model.expected(None, 2.0), 3.0);
    }
}

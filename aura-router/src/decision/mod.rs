//! [`Decision`]: the record of one routed call — the candidates, their scores, why each
//! excluded one was excluded, the pick, and every attempt with its outcome.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aura_core::ErrorKind;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::failover::FailoverAction;
use crate::millis;
use crate::provider::ProviderId;
use crate::table::Table;

/// Why a provider that serves the operation was not a candidate for this call.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum Exclusion {
    /// The request denies it.
    Denied,
    /// The request allows only other providers.
    NotAllowed,
    /// Its weight is 0.
    ZeroWeight,
    /// It lacks a tag the request requires (or has another value).
    MissingTag {
        /// The tag.
        key: Arc<str>,
        /// The value required.
        value: Arc<str>,
    },
    /// Its expected cost is above the request's maximum price.
    OverMaxPrice {
        /// What it was expected to cost.
        expected: f64,
        /// The maximum.
        max: f64,
    },
    /// Its budget for the window is spent.
    ProviderBudgetSpent {
        /// When the window ends (router clock).
        #[serde(rename = "until_ms", with = "millis")]
        until: Duration,
    },
    /// The capability's budget for the window is spent.
    CapabilityBudgetSpent {
        /// When the window ends (router clock).
        #[serde(rename = "until_ms", with = "millis")]
        until: Duration,
    },
    /// Ejected by outlier detection for this operation.
    Ejected {
        /// When it becomes half-open (router clock).
        #[serde(rename = "until_ms", with = "millis")]
        until: Duration,
    },
    /// Half-open, and its single probe is already in flight.
    ProbeInFlight,
    /// Cooling down after a rate limit.
    CoolingDown {
        /// Until when (router clock).
        #[serde(rename = "until_ms", with = "millis")]
        until: Duration,
    },
    /// At its maximum of calls in flight.
    AtMaxInFlight {
        /// The maximum.
        limit: usize,
    },
    /// Its rate limit has no room now.
    RateLimited {
        /// When it has room again (router clock).
        #[serde(rename = "next_ms", with = "millis")]
        next: Duration,
    },
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied => f.write_str("denied by the request"),
            Self::NotAllowed => f.write_str("not in the request's allowed providers"),
            Self::ZeroWeight => f.write_str("weight 0"),
            Self::MissingTag { key, value } => write!(f, "lacks tag {key}={value}"),
            Self::OverMaxPrice { expected, max } => write!(f, "expected cost {expected} is over the maximum {max}"),
            Self::ProviderBudgetSpent { until } => write!(f, "its budget is spent until {until:?}"),
            Self::CapabilityBudgetSpent { until } => write!(f, "the capability's budget is spent until {until:?}"),
            Self::Ejected { until } => write!(f, "ejected until {until:?}"),
            Self::ProbeInFlight => f.write_str("half-open, its probe is in flight"),
            Self::CoolingDown { until } => write!(f, "rate limited, cooling down until {until:?}"),
            Self::AtMaxInFlight { limit } => write!(f, "at its maximum of {limit} calls in flight"),
            Self::RateLimited { next } => write!(f, "its rate limit has no room until {next:?}"),
        }
    }
}

/// Something the router decided about the call as a whole.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "note")]
#[non_exhaustive]
pub enum Note {
    /// Every candidate was ejected: the least bad were tried anyway (panic rule).
    Panic,
    /// A retry was refused: the capability's retry budget is spent.
    RetryBudgetExhausted,
    /// The attempts allowed were all used.
    MaxAttemptsReached {
        /// How many.
        attempts: u32,
    },
    /// An error that may have been accepted, on an operation that is neither idempotent nor
    /// given an idempotency key it honours: not retried.
    NotRetriedMayHaveBeenAccepted {
        /// The provider that failed.
        provider: ProviderId,
    },
    /// Fewer providers ran at once than asked, because running the operation twice is not safe.
    ParallelismReduced {
        /// Asked for.
        asked: usize,
        /// Ran.
        allowed: usize,
    },
    /// [`Router::execute_parallel`](crate::Router::execute_parallel) asked for more providers at
    /// once than were eligible: all the eligible ones ran.
    FewerProvidersThanAsked {
        /// Asked for.
        asked: usize,
        /// Eligible.
        eligible: usize,
    },
    /// A hedge was sent: the first attempt was slower than its provider's recent percentile.
    Hedged {
        /// The delay after which the hedge went.
        #[serde(rename = "after_ms", with = "millis")]
        after: Duration,
    },
    /// The overall deadline passed.
    DeadlinePassed {
        /// The deadline.
        #[serde(rename = "deadline_ms", with = "millis")]
        deadline: Duration,
    },
    /// Every candidate that failed once was tried again after a pause.
    Backoff {
        /// The pause.
        #[serde(rename = "pause_ms", with = "millis")]
        pause: Duration,
    },
}

/// Why an attempt was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// The first attempt.
    First,
    /// After an earlier attempt failed.
    Failover,
    /// One of the providers asked for at once ([`Router::execute_parallel`](crate::Router::execute_parallel),
    /// [`Router::execute_all`](crate::Router::execute_all)).
    Parallel,
    /// A hedge: the first attempt was slow.
    Hedge,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AttemptOutcome {
    /// It answered.
    Success,
    /// It failed.
    Failed {
        /// The error kind. In JSON: `error_kind` (the attempt's own `kind` says why it was made).
        #[serde(rename = "error_kind", serialize_with = "kind_str", deserialize_with = "kind_parse")]
        kind: ErrorKind,
        /// The error, as text.
        message: String,
        /// What the router did next.
        then: FailoverAction,
    },
    /// The router cancelled it (another attempt won, or the deadline passed).
    Cancelled,
}

fn kind_str<S: Serializer>(kind: &ErrorKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

fn kind_parse<'de, D: Deserializer<'de>>(d: D) -> Result<ErrorKind, D::Error> {
    let name = String::deserialize(d)?;
    name.parse()
        .map_err(|_| serde::de::Error::custom(format!("unknown error kind {name:?}")))
}

/// One attempt of a routed call. Its JSON (one object, the outcome's fields inline, durations
/// in milliseconds) reads back into the same record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The provider tried.
    pub provider: ProviderId,
    /// Why it was tried.
    pub kind: AttemptKind,
    /// Whether it was the half-open probe of an ejected provider.
    pub probe: bool,
    /// Whether it went to an ejected provider under the panic rule.
    pub panic: bool,
    /// When it started (router clock). In JSON: `started_ms`.
    #[serde(rename = "started_ms", with = "millis")]
    pub started: Duration,
    /// How long it took (until it was cancelled, for a cancelled one). In JSON: `latency_ms`.
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    /// What it cost (estimated for a cancelled one: the per-call price plus the expected units).
    pub cost: f64,
}

/// One provider that serves the operation, as the decision saw it.
#[derive(Clone, Copy, Debug)]
pub struct CandidateRecord<'a> {
    /// The provider.
    pub provider: &'a ProviderId,
    /// Its score under the strategy (for eligible candidates).
    pub score: Option<f64>,
    /// Why it was excluded, if it was.
    pub exclusion: Option<&'a Exclusion>,
    /// Whether it was ejected and admitted anyway under the panic rule.
    pub panic: bool,
}

/// The rows of a decision, one per provider serving the operation (row `i` is the group's
/// member `i`), kept implicit so that the hot path writes nothing for them: the scores of the
/// eligible rows come from the candidate pool at the end, the exclusions on the side.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rows {
    len: u32,
    /// The scored rows, ascending, and their scores.
    records: Vec<u32>,
    scores: Vec<f64>,
    /// (row, why), sorted by row once the decision is finished.
    exclusions: Vec<(u32, Exclusion)>,
    /// The scored rows were admitted under the panic rule.
    panic: bool,
}

impl Rows {
    /// Starts over for `len` rows.
    pub(crate) fn reset(&mut self, len: usize) {
        self.len = u32::try_from(len).unwrap_or(u32::MAX);
        self.records.clear();
        self.scores.clear();
        self.exclusions.clear();
        self.panic = false;
    }

    /// Records why a row is excluded (once per row: the filter, or a claim that lost a race).
    pub(crate) fn exclude(&mut self, row: u32, why: Exclusion) {
        self.exclusions.push((row, why));
    }

    /// The scored rows were admitted under the panic rule.
    pub(crate) fn set_panic(&mut self) {
        self.panic = true;
    }

    /// The eligible rows (ascending) and their scores.
    pub(crate) fn set_scores(&mut self, records: Vec<u32>, scores: Vec<f64>) {
        self.records = records;
        self.scores = scores;
    }

    pub(crate) fn exclusions(&self) -> impl Iterator<Item = &Exclusion> + '_ {
        self.exclusions.iter().map(|(_, e)| e)
    }

    /// The excluded rows and why, in the order they were excluded.
    pub(crate) fn excluded_rows(&self) -> impl Iterator<Item = (u32, &Exclusion)> + '_ {
        self.exclusions.iter().map(|(i, e)| (*i, e))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sorts the exclusions for lookups by row.
    pub(crate) fn finish(&mut self) {
        self.exclusions.sort_by_key(|(i, _)| *i);
    }

    fn score(&self, row: u32) -> Option<f64> {
        self.records
            .binary_search(&row)
            .ok()
            .and_then(|i| self.scores.get(i).copied())
            .filter(|s| !s.is_nan())
    }

    fn sorted_exclusion(&self, row: u32) -> Option<&Exclusion> {
        self.exclusions
            .binary_search_by_key(&row, |(i, _)| *i)
            .ok()
            .map(|i| &self.exclusions[i].1)
    }
}

/// The record of one routed call: which providers could serve it, their scores, why the
/// others could not, which was picked, and every attempt with its outcome and cost.
///
/// Its `Display` is a short human explanation; it serializes to JSON for logs, with every
/// duration as float milliseconds in a `*_ms` field (`elapsed_ms`, `latency_ms`, `until_ms` …).
#[derive(Clone)]
pub struct Decision {
    pub(crate) table: Arc<Table>,
    pub(crate) capability: Arc<str>,
    pub(crate) operation: Arc<str>,
    pub(crate) strategy: &'static str,
    pub(crate) rows: Rows,
    pub(crate) attempts: Vec<AttemptRecord>,
    pub(crate) notes: Vec<Note>,
    pub(crate) picked: Option<ProviderId>,
    pub(crate) started: Duration,
    pub(crate) elapsed: Duration,
}

impl Decision {
    /// A decision with no attempt yet, for a call on `group`.
    pub(crate) fn new(
        table: Arc<Table>,
        group: &crate::table::Group,
        strategy: &'static str,
        rows: Rows,
        picked: Option<ProviderId>,
        started: Duration,
    ) -> Self {
        Self {
            table,
            capability: group.capability.name.clone(),
            operation: group.operation.clone(),
            strategy,
            rows,
            attempts: Vec::new(),
            notes: Vec::new(),
            picked,
            started,
            elapsed: Duration::ZERO,
        }
    }

    /// The capability asked for.
    pub fn capability(&self) -> &str {
        &self.capability
    }

    /// The operation asked for.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The strategy's name.
    pub fn strategy(&self) -> &'static str {
        self.strategy
    }

    /// Every provider that serves the operation, in registration order.
    pub fn candidates(&self) -> impl ExactSizeIterator<Item = CandidateRecord<'_>> + '_ {
        let members = self
            .table
            .group(&self.capability, &self.operation)
            .map_or(&[][..], |g| g.members.as_slice());
        let members = &members[..members.len().min(self.rows.len as usize)];
        members.iter().enumerate().map(|(i, member)| {
            let row = u32::try_from(i).unwrap_or(u32::MAX);
            let score = self.rows.score(row);
            CandidateRecord {
                provider: &self.table.providers[member.provider as usize].def.id,
                score,
                exclusion: self.rows.sorted_exclusion(row),
                panic: self.rows.panic && score.is_some(),
            }
        })
    }

    /// The record of one provider.
    pub fn candidate(&self, id: &str) -> Option<CandidateRecord<'_>> {
        self.candidates().find(|c| c.provider == id)
    }

    /// The excluded providers and why.
    pub fn excluded(&self) -> impl Iterator<Item = (&ProviderId, &Exclusion)> + '_ {
        self.candidates().filter_map(|c| c.exclusion.map(|e| (c.provider, e)))
    }

    /// The provider whose answer was returned (for a dry run, [`Router::select`](crate::Router::select),
    /// the one that would be tried first).
    pub fn picked(&self) -> Option<&ProviderId> {
        self.picked.as_ref()
    }

    /// Every attempt, in the order they started.
    pub fn attempts(&self) -> &[AttemptRecord] {
        &self.attempts
    }

    /// What the router decided about the call as a whole.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Whether the panic rule applied.
    pub fn panic(&self) -> bool {
        self.notes.contains(&Note::Panic)
    }

    /// What every attempt cost, losers and failures included.
    pub fn cost(&self) -> f64 {
        self.attempts.iter().map(|a| a.cost).sum()
    }

    /// When the call started (router clock).
    pub fn started(&self) -> Duration {
        self.started
    }

    /// How long the call took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} by {}", self.capability, self.operation, self.strategy)?;
        match &self.picked {
            Some(p) => writeln!(f, ": picked {p}")?,
            None => writeln!(f, ": no answer")?,
        }
        for c in self.candidates() {
            match (c.exclusion, c.score) {
                (Some(e), _) if !c.panic => writeln!(f, "  - {}: excluded, {e}", c.provider)?,
                (_, Some(s)) => writeln!(
                    f,
                    "  - {}: score {s:.4}{}",
                    c.provider,
                    if c.panic { " (panic)" } else { "" }
                )?,
                _ => writeln!(f, "  - {}: eligible", c.provider)?,
            }
        }
        for (i, a) in self.attempts.iter().enumerate() {
            let outcome = match &a.outcome {
                AttemptOutcome::Success => "ok".to_owned(),
                AttemptOutcome::Failed { kind, then, .. } => format!("{kind}, then {then:?}"),
                AttemptOutcome::Cancelled => "cancelled".to_owned(),
            };
            writeln!(
                f,
                "  attempt {} ({:?}{}): {} in {:.1?}, {}, cost {}",
                i + 1,
                a.kind,
                if a.probe { ", probe" } else { "" },
                a.provider,
                a.latency,
                outcome,
                a.cost
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n:?}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("capability", &self.capability)
            .field("operation", &self.operation)
            .field("strategy", &self.strategy)
            .field("candidates", &self.candidates().collect::<Vec<_>>())
            .field("attempts", &self.attempts)
            .field("notes", &self.notes)
            .field("picked", &self.picked)
            .finish()
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Candidate<'a> {
            provider: &'a ProviderId,
            #[serde(skip_serializing_if = "Option::is_none")]
            score: Option<f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            exclusion: Option<&'a Exclusion>,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            panic: bool,
        }
        let candidates: Vec<Candidate<'_>> = self
            .candidates()
            .map(|c| Candidate {
                provider: c.provider,
                score: c.score,
                exclusion: c.exclusion,
                panic: c.panic,
            })
            .collect();
        let mut st = s.serialize_struct("Decision", 10)?;
        st.serialize_field("capability", &*self.capability)?;
        st.serialize_field("operation", &*self.operation)?;
        st.serialize_field("strategy", self.strategy)?;
        st.serialize_field("picked", &self.picked)?;
        st.serialize_field("candidates", &candidates)?;
        st.serialize_field("attempts", &self.attempts)?;
        st.serialize_field("notes", &self.notes)?;
        st.serialize_field("cost", &self.cost())?;
        st.serialize_field("started_ms", &millis::ms(self.started))?;
        st.serialize_field("elapsed_ms", &millis::ms(self.elapsed))?;
        st.end()
    }
}

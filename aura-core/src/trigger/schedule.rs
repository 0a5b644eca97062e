//! Schedule triggers: cron expressions and fixed intervals.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// When a schedule trigger fires. Times are UTC.
///
/// ```
/// use aura_core::trigger::Schedule;
///
/// let weekday_mornings = Schedule::cron("0 9 * * MON-FRI").unwrap();
/// assert!(Schedule::cron("61 * * * *").is_err());
/// let every_five_minutes = Schedule::every(std::time::Duration::from_secs(300)).unwrap();
/// ```
#[derive(Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
    cron: Option<std::sync::Arc<croner::Cron>>,
}

/// A schedule as written in a manifest or a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ScheduleSpec {
    /// A cron expression: five fields, or six with seconds first.
    Cron(String),
    /// A fixed interval, in seconds.
    EverySecs(u64),
}

impl Schedule {
    /// A cron schedule (`"*/15 * * * *"`; a sixth, leading field gives seconds).
    pub fn cron(expression: &str) -> Result<Self> {
        Self::try_from(ScheduleSpec::Cron(expression.to_owned()))
    }

    /// A fixed interval of at least one second.
    pub fn every(interval: Duration) -> Result<Self> {
        Self::try_from(ScheduleSpec::EverySecs(interval.as_secs()))
    }

    /// The first firing strictly after `after`, if there is one.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_after_in(&after)
    }

    /// The first firing strictly after `after`, reading the cron expression in `after`'s time
    /// zone (`0 9 * * *` in `Europe/Paris` is 9:00 Paris time, winter and summer). A local
    /// time that a daylight-saving change skips fires at the first instant after the gap;
    /// one it repeats fires once.
    pub fn next_after_in<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        match (&self.spec, &self.cron) {
            (_, Some(cron)) => cron.find_next_occurrence(after, false).ok(),
            (ScheduleSpec::EverySecs(secs), None) => {
                let secs = i64::try_from(*secs).ok()?;
                after.clone().checked_add_signed(chrono::Duration::seconds(secs))
            }
            (ScheduleSpec::Cron(_), None) => None,
        }
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::try_from(ScheduleSpec::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Schedule {
    fn try_from(spec: ScheduleSpec) -> Result<Self> {
        match &spec {
            ScheduleSpec::Cron(expr) => {
                let parser = croner::parser::CronParser::builder()
                    .seconds(croner::parser::Seconds::Optional)
                    .build();
                let cron = parser.parse(expr).map_err(|e| {
                    Error::invalid_definition(format!("invalid cron expression: {e}"))
                        .with_context("schedule", expr.clone())
                })?;
                Ok(Self {
                    spec,
                    cron: Some(std::sync::Arc::new(cron)),
                })
            }
            ScheduleSpec::EverySecs(0) => Err(Error::invalid_definition(
                "a schedule interval must be at least one second",
            )),
            ScheduleSpec::EverySecs(_) => Ok(Self { spec, cron: None }),
        }
    }
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::cron(s)
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.spec {
            ScheduleSpec::Cron(expr) => write!(f, "Schedule::cron({expr:?})"),
            ScheduleSpec::EverySecs(secs) => write!(f, "Schedule::every({secs}s)"),
        }
    }
}

/// The item a schedule trigger produces each time it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScheduleTick {
    /// When the firing was due.
    pub scheduled_at: DateTime<Utc>,
    /// When it actually fired (later than due after a pause or a restart).
    pub fired_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cron_next_after() {
        let s = Schedule::cron("0 9 * * MON-FRI").unwrap();
        // Saturday 2026-11-21 10:00 UTC -> Monday 2026-11-23 09:00 UTC.
        let sat = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap();
        assert_eq!(
            s.next_after(sat),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap())
        );
    }

    #[test]
    fn cron_with_seconds() {
        let s = Schedule::cron("30 * * * * *").unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 30).unwrap())
        );
    }

    #[test]
    fn interval_next_after() {
        let s = Schedule::every(Duration::from_secs(90)).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            s.next_after(t),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 30).unwrap())
        );
    }

    #[test]
    fn bad_schedules_are_definition_errors() {
        let err = Schedule::cron("every day").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidDefinition);
        assert_eq!(err.context_value("schedule"), Some("every day"));
        assert!(Schedule::every(Duration::ZERO).is_err());
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let s = Schedule::cron("*/5 * * * *").unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json, serde_json::json!({ "cron": "*/5 * * * *" }));
        assert_eq!(serde_json::from_value::<Schedule>(json).unwrap(), s);
        assert!(serde_json::from_value::<Schedule>(serde_json::json!({ "cron": "nope" })).is_err());
        assert_eq!(
            serde_json::to_value(Schedule::every(Duration::from_secs(60)).unwrap()).unwrap(),
            serde_json::json!({ "every_secs": 60 })
        );
    }
}

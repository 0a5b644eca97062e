//! The schedule's arithmetic: missed-firing policies, time zones across daylight-saving changes.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::schedule::{Due, due};
use crate::trigger::setup::{ScheduleSetup, check};
use crate::trigger::{Missed, SchedulePlan, TriggerSetup};

fn plan(cron: &str, timezone: Option<&str>, missed: Missed) -> SchedulePlan {
    let setup = ScheduleSetup {
        cron: Some(cron.to_owned()),
        timezone: timezone.map(str::to_owned),
        missed,
        ..ScheduleSetup::default()
    };
    match check(None, Some(&setup), None, None).unwrap() {
        Some(TriggerSetup::Schedule(plan)) => plan,
        other => panic!("a schedule setup gives a schedule plan, not {other:?}"),
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

const GRACE: Duration = Duration::from_secs(60);

#[test]
fn an_on_time_firing_fires_under_every_policy() {
    for missed in [Missed::Skip, Missed::Once, Missed::All(5)] {
        let p = plan("*/10 * * * *", None, missed);
        let d = due(
            &p,
            utc(2026, 1, 1, 10, 0),
            utc(2026, 1, 1, 10, 10) + chrono::Duration::seconds(2),
            GRACE,
        );
        assert_eq!(
            d,
            Due {
                fire: vec![utc(2026, 1, 1, 10, 10)],
                dropped: 0,
                latest: Some(utc(2026, 1, 1, 10, 10)),
            },
            "{missed:?}"
        );
    }
}

#[test]
fn missed_firings_follow_the_policy() {
    // Down from 10:00 to 11:05: 10:10 … 11:00 missed (6 firings), none on time.
    let (last, now) = (utc(2026, 1, 1, 10, 0), utc(2026, 1, 1, 11, 5));
    let skip = due(&plan("*/10 * * * *", None, Missed::Skip), last, now, GRACE);
    assert_eq!((skip.fire.len(), skip.dropped), (0, 6));
    assert_eq!(skip.latest, Some(utc(2026, 1, 1, 11, 0)));
    let once = due(&plan("*/10 * * * *", None, Missed::Once), last, now, GRACE);
    assert_eq!((once.fire, once.dropped), (vec![utc(2026, 1, 1, 11, 0)], 5));
    let all = due(&plan("*/10 * * * *", None, Missed::All(3)), last, now, GRACE);
    assert_eq!(
        (all.fire, all.dropped),
        (
            vec![utc(2026, 1, 1, 10, 40), utc(2026, 1, 1, 10, 50), utc(2026, 1, 1, 11, 0)],
            3
        )
    );
    // Nothing due yet.
    let none = due(
        &plan("*/10 * * * *", None, Missed::Once),
        last,
        utc(2026, 1, 1, 10, 9),
        GRACE,
    );
    assert_eq!((none.fire.len(), none.dropped, none.latest), (0, 0, None));
}

#[test]
fn a_long_absence_of_a_schedule_of_seconds_is_cut_short() {
    let p = plan("* * * * * *", None, Missed::Once);
    let d = due(&p, utc(2026, 1, 1, 0, 0), utc(2026, 3, 1, 0, 0), GRACE);
    assert_eq!(d.fire, vec![utc(2026, 3, 1, 0, 0)]);
    assert!(d.dropped >= 86_400, "{}", d.dropped);
}

#[test]
fn cron_reads_in_its_time_zone_across_daylight_saving_changes() {
    // 09:00 Paris: 08:00 UTC in winter, 07:00 UTC in summer (the change: 29 March 2026).
    let nine = plan("0 9 * * *", Some("Europe/Paris"), Missed::Once);
    assert_eq!(nine.next_after(utc(2026, 3, 28, 12, 0)), Some(utc(2026, 3, 29, 7, 0)));
    assert_eq!(nine.next_after(utc(2026, 3, 27, 12, 0)), Some(utc(2026, 3, 28, 8, 0)));

    // 02:30 Paris does not exist on 29 March 2026 (02:00 → 03:00): it fires once that day,
    // at the first instant after the gap (03:00 local, 01:00 UTC).
    let half_past_two = plan("30 2 * * *", Some("Europe/Paris"), Missed::Once);
    let spring = half_past_two.next_after(utc(2026, 3, 28, 12, 0)).unwrap();
    assert_eq!(spring, utc(2026, 3, 29, 1, 0));
    assert_eq!(half_past_two.next_after(spring), Some(utc(2026, 3, 30, 0, 30)));

    // 02:30 Paris happens twice on 25 October 2026 (03:00 → 02:00): it fires once.
    let autumn = half_past_two.next_after(utc(2026, 10, 24, 12, 0)).unwrap();
    assert_eq!(autumn, utc(2026, 10, 25, 0, 30));
    assert_eq!(half_past_two.next_after(autumn), Some(utc(2026, 10, 26, 1, 30)));
}

#[test]
fn bad_setups_name_their_field() {
    let bad = |setup: ScheduleSetup| check(None, Some(&setup), None, None).unwrap_err();
    let e = bad(ScheduleSetup {
        cron: Some("0 9 * * *".into()),
        timezone: Some("Mars/Olympus".into()),
        ..ScheduleSetup::default()
    });
    assert_eq!(e.context_value("field"), Some("/config/schedule/timezone"));
    let e = bad(ScheduleSetup::default());
    assert_eq!(e.context_value("field"), Some("/config/schedule"));
    let e = bad(ScheduleSetup {
        cron: Some("61 * * * *".into()),
        ..ScheduleSetup::default()
    });
    assert_eq!(e.context_value("field"), Some("/config/schedule/cron"));
}

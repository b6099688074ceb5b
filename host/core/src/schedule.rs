//! When a target's queue is sent: at fixed times of day in a time zone (Sermersooq: 05:00,
//! 11:00 and 15:00 in Greenland), or every few minutes (Qeqqata: every 5 minutes).
//!
//! Pure maths on an injected "now", so a schedule is tested without sleeping. Time zones
//! come from the tz database bundled into the binary, so daylight saving time is right
//! on any machine.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp as JTimestamp, ToSpan};
use serde::Deserialize;

use crate::time::Timestamp;

/// `[target.schedule]` as written in hub.toml.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Times of day, `HH:MM`, e.g. `["05:00", "11:00", "15:00"]`.
    #[serde(default)]
    pub times: Vec<String>,
    /// The time zone the times are in (IANA name, e.g. `America/Nuuk`, `Europe/Berlin`).
    pub timezone: Option<String>,
    /// Or: every this many minutes (aligned to the hour: every 5 → :00, :05, :10, …).
    pub every_minutes: Option<u32>,
}

/// A checked schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Fixed times of day in a time zone, sorted.
    Times { times: Vec<Time>, tz: TimeZone },
    /// A fixed interval in minutes, aligned to midnight UTC.
    Every { minutes: u32 },
}

impl Schedule {
    /// Checks a schedule from hub.toml.
    pub fn from_config(c: &ScheduleConfig) -> Result<Schedule, String> {
        match (c.times.is_empty(), c.every_minutes) {
            (false, None) => {
                let tz_name = c.timezone.as_deref().ok_or(
                    "schedule.times needs schedule.timezone (e.g. \"America/Nuuk\")".to_string(),
                )?;
                let tz = TimeZone::get(tz_name).map_err(|_| {
                    format!("schedule.timezone `{tz_name}` is not a known time zone")
                })?;
                let mut times = Vec::new();
                for t in &c.times {
                    let parsed = parse_hhmm(t)
                        .ok_or_else(|| format!("schedule.times: `{t}` is not a time HH:MM"))?;
                    times.push(parsed);
                }
                times.sort();
                times.dedup();
                Ok(Schedule::Times { times, tz })
            }
            (true, Some(m)) if (1..=1440).contains(&m) && 1440 % m == 0 => {
                Ok(Schedule::Every { minutes: m })
            }
            (true, Some(m)) => Err(format!(
                "schedule.every_minutes = {m}: use a divisor of a day (1, 2, 5, 10, 15, 30, 60, …)"
            )),
            (false, Some(_)) => Err("schedule: give times or every_minutes, not both".into()),
            (true, None) => Err("schedule: give times (with timezone) or every_minutes".into()),
        }
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Timestamp {
        match self {
            Schedule::Every { minutes } => {
                let step = i64::from(*minutes) * 60_000;
                Timestamp((after.0.div_euclid(step) + 1) * step)
            }
            Schedule::Times { times, tz } => {
                let Ok(now) = JTimestamp::from_millisecond(after.0) else {
                    return Timestamp(after.0 + 86_400_000);
                };
                let today = now.to_zoned_datetime(tz.clone()).date();
                for day in 0..3 {
                    let Ok(date) = today.checked_add(day.days()) else {
                        continue;
                    };
                    for t in times {
                        // A time that falls into a DST gap runs at the first instant after it.
                        let Ok(ts) = tz.to_timestamp(date.to_datetime(*t)) else {
                            continue;
                        };
                        let ms = ts.as_millisecond();
                        if ms > after.0 {
                            return Timestamp(ms);
                        }
                    }
                }
                Timestamp(after.0 + 86_400_000)
            }
        }
    }
}

fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// Which targets are due: keeps each target's next run and advances it once fired. A
/// run that was missed (the machine was off at 11:00) fires once at the next check, not
/// once per missed slot.
#[derive(Debug, Clone, Default)]
pub struct Scheduler {
    entries: Vec<(String, Schedule, Timestamp)>,
}

impl Scheduler {
    /// Starts counting from `now`: nothing is due before the first slot after it.
    pub fn new(schedules: Vec<(String, Schedule)>, now: Timestamp) -> Self {
        Self {
            entries: schedules
                .into_iter()
                .map(|(name, s)| {
                    let next = s.next_after(now);
                    (name, s, next)
                })
                .collect(),
        }
    }

    /// Starts again after the hub was off: a target whose schedule was last looked at
    /// `Some(last)` (from an earlier run) is due at once when a slot fell between `last`
    /// and `now` (it runs once, however many slots were missed); a target never looked at
    /// before counts from `now`, as [`Scheduler::new`] does.
    pub fn resume(schedules: Vec<(String, Schedule, Option<Timestamp>)>, now: Timestamp) -> Self {
        Self {
            entries: schedules
                .into_iter()
                .map(|(name, s, last)| {
                    let next = match last {
                        Some(last) if last < now => s.next_after(last),
                        _ => s.next_after(now),
                    };
                    (name, s, next)
                })
                .collect(),
        }
    }

    /// Targets whose next run is at or before `now`, in configuration order; their next
    /// runs move past `now`.
    pub fn due(&mut self, now: Timestamp) -> Vec<String> {
        self.due_slots(now)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// As [`Scheduler::due`], with the slot each target fell due at: several workers on
    /// one store each see the slot, and the store lets one of them take it.
    pub fn due_slots(&mut self, now: Timestamp) -> Vec<(String, Timestamp)> {
        let mut out = Vec::new();
        for (name, schedule, next) in &mut self.entries {
            if *next <= now {
                out.push((name.clone(), *next));
                *next = schedule.next_after(now);
            }
        }
        out
    }

    /// When the next target is due.
    pub fn next_wake(&self) -> Option<Timestamp> {
        self.entries.iter().map(|(_, _, next)| *next).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn sermersooq() -> Schedule {
        Schedule::from_config(&ScheduleConfig {
            times: vec!["15:00".into(), "05:00".into(), "11:00".into()],
            timezone: Some("America/Nuuk".into()),
            every_minutes: None,
        })
        .unwrap()
    }

    #[test]
    fn times_of_day_in_greenland_across_daylight_saving() {
        let s = sermersooq();
        // Winter: Nuuk is UTC-2, so 05:00 local is 07:00 UTC.
        assert_eq!(
            s.next_after(at("2026-01-10T06:59:59Z")),
            at("2026-01-10T07:00:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-01-10T07:00:00Z")),
            at("2026-01-10T13:00:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-01-10T17:00:00Z")),
            at("2026-01-11T07:00:00Z")
        );
        // Summer: UTC-1, so 05:00 local is 06:00 UTC.
        assert_eq!(
            s.next_after(at("2026-07-10T00:00:00Z")),
            at("2026-07-10T06:00:00Z")
        );
    }

    #[test]
    fn intervals_align_to_the_clock() {
        let s = Schedule::from_config(&ScheduleConfig {
            times: vec![],
            timezone: None,
            every_minutes: Some(5),
        })
        .unwrap();
        assert_eq!(
            s.next_after(at("2026-01-10T10:02:30Z")),
            at("2026-01-10T10:05:00Z")
        );
        assert_eq!(
            s.next_after(at("2026-01-10T10:05:00Z")),
            at("2026-01-10T10:10:00Z")
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        let e = |c: ScheduleConfig| Schedule::from_config(&c).unwrap_err();
        let base = ScheduleConfig {
            times: vec![],
            timezone: None,
            every_minutes: None,
        };
        assert!(e(base.clone()).contains("give times"));
        assert!(
            e(ScheduleConfig {
                times: vec!["5:00".into()],
                timezone: Some("Europe/Berlin".into()),
                ..base.clone()
            })
            .contains("`5:00` is not a time")
        );
        assert!(
            e(ScheduleConfig {
                times: vec!["05:00".into()],
                timezone: Some("Mars/Olympus".into()),
                ..base.clone()
            })
            .contains("not a known time zone")
        );
        assert!(
            e(ScheduleConfig {
                every_minutes: Some(7),
                ..base
            })
            .contains("divisor of a day")
        );
    }

    #[test]
    fn a_slot_missed_while_the_hub_was_off_runs_once_at_the_next_start() {
        // Last looked at 04:30 Nuuk (06:30Z) on 1 February; started again at 06:30 Nuuk
        // (08:30Z): the 05:00 slot (07:00Z) was missed and runs at once, then 11:00.
        let now = at("2024-02-01T08:30:00Z");
        let mut s = Scheduler::resume(
            vec![
                (
                    "sermersooq".into(),
                    sermersooq(),
                    Some(at("2024-02-01T06:30:00Z")),
                ),
                ("never-ran".into(), sermersooq(), None),
                // Ran its 05:00 slot before going off: nothing missed.
                ("ran".into(), sermersooq(), Some(at("2024-02-01T07:00:00Z"))),
            ],
            now,
        );
        assert_eq!(s.due(now), vec!["sermersooq".to_string()]);
        assert!(s.due(at("2024-02-01T08:31:00Z")).is_empty());
        assert_eq!(s.next_wake(), Some(at("2024-02-01T13:00:00Z")));
        assert_eq!(s.due(at("2024-02-01T13:00:00Z")).len(), 3);
        // Off for two days: one catch-up run, not one per slot.
        let mut s = Scheduler::resume(
            vec![(
                "sermersooq".into(),
                sermersooq(),
                Some(at("2024-02-01T08:30:00Z")),
            )],
            at("2024-02-03T08:30:00Z"),
        );
        assert_eq!(s.due(at("2024-02-03T08:30:00Z")).len(), 1);
        assert!(s.due(at("2024-02-03T08:30:01Z")).is_empty());
    }

    #[test]
    fn the_scheduler_fires_each_target_at_its_times_with_an_injected_clock() {
        let every5 = Schedule::Every { minutes: 5 };
        let mut s = Scheduler::new(
            vec![
                ("sermersooq".into(), sermersooq()),
                ("qeqqata".into(), every5),
            ],
            at("2026-01-10T06:58:00Z"),
        );
        assert!(s.due(at("2026-01-10T06:59:59Z")).is_empty());
        assert_eq!(s.next_wake(), Some(at("2026-01-10T07:00:00Z")));
        assert_eq!(
            s.due(at("2026-01-10T07:00:00Z")),
            vec!["sermersooq".to_string(), "qeqqata".to_string()]
        );
        assert!(s.due(at("2026-01-10T07:04:59Z")).is_empty());
        assert_eq!(
            s.due(at("2026-01-10T07:05:00Z")),
            vec!["qeqqata".to_string()]
        );
        // The machine slept from 07:06 to 14:00: one catch-up run each, not one per slot.
        assert_eq!(
            s.due(at("2026-01-10T14:00:00Z")),
            vec!["sermersooq".to_string(), "qeqqata".to_string()]
        );
        assert!(s.due(at("2026-01-10T14:00:01Z")).is_empty());
        assert_eq!(
            s.due(at("2026-01-10T17:00:00Z")),
            vec!["sermersooq".to_string(), "qeqqata".to_string()]
        );
    }
}

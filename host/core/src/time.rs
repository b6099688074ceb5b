//! Time without a time-zone database: Unix milliseconds, their civil form, and a fixed
//! UTC offset per target. The clock itself is injected (see [`Clock`]) so that tests and
//! schedules never sleep.

use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds.
    pub fn from_unix_seconds(s: i64) -> Self {
        Timestamp(s.saturating_mul(1000))
    }

    /// Whole seconds since the epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The civil time at a fixed offset from UTC.
    pub fn civil(self, utc_offset_minutes: i32) -> Civil {
        let secs = self.unix_seconds() + i64::from(utc_offset_minutes) * 60;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: ((rem % 3600) / 60) as u8,
            second: (rem % 60) as u8,
            millis: self.0.rem_euclid(1000) as u16,
            utc_offset_minutes,
        }
    }

    /// Parses RFC 3339 in UTC (`2026-11-24T03:00:00Z`, fractional seconds allowed) or a
    /// plain number of Unix seconds.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<i64>() {
            return Some(Self::from_unix_seconds(n));
        }
        let s = s.strip_suffix('Z')?;
        let (date, time) = s.split_once('T')?;
        let mut d = date.split('-');
        let (y, m, dd) = (d.next()?.parse::<i64>().ok()?, d.next()?, d.next()?);
        let (m, dd) = (m.parse::<u32>().ok()?, dd.parse::<u32>().ok()?);
        let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
        let mut t = hms.split(':');
        let (h, mi, se) = (
            t.next()?.parse::<i64>().ok()?,
            t.next()?.parse::<i64>().ok()?,
            t.next()?.parse::<i64>().ok()?,
        );
        if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let millis: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
        let days = days_from_civil(y, m, dd);
        Some(Timestamp(
            ((days * 86_400) + h * 3600 + mi * 60 + se) * 1000 + millis,
        ))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds, as the store, logs and `--json` spell it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.civil(0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
        )
    }
}

/// A civil date and time at a known offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millis: u16,
    pub utc_offset_minutes: i32,
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (u16, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y.clamp(0, 9999) as u16, m as u8, d as u8)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Where the hub gets the current time: the system clock in production, a fixed or
/// stepped clock in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that always says the same time (tests, reproducible demos).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        let t = Timestamp::parse("2024-02-29T23:59:58.250Z").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T23:59:58.250Z");
        let c = t.civil(60);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2024, 3, 1, 0, 59)
        );
        let greenland = t.civil(-120);
        assert_eq!((greenland.day, greenland.hour), (29, 21));
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::parse("86400"), Some(Timestamp(86_400_000)));
        assert_eq!(Timestamp::parse("2024-13-01T00:00:00Z"), None);
        assert_eq!(Timestamp::parse("yesterday"), None);
    }

    #[test]
    fn days_agree_over_centuries() {
        for days in (-700_000..2_900_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(
                days_from_civil(i64::from(y), u32::from(m), u32::from(d)),
                days
            );
        }
    }
}

/// The offset from UTC, in minutes, of time zone `tz` (IANA, from the bundled tz
/// database) at `at`; `fixed` without a zone. A zone unknown here (refused when the
/// configuration is read) falls back to `fixed`.
pub fn offset_at(tz: Option<&str>, fixed: i32, at: Timestamp) -> i32 {
    let Some(zone) = tz.and_then(|name| jiff::tz::TimeZone::get(name).ok()) else {
        return fixed;
    };
    match jiff::Timestamp::from_millisecond(at.0) {
        Ok(t) => zone.to_offset(t).seconds() / 60,
        Err(_) => fixed,
    }
}

#[cfg(test)]
mod zone_tests {
    use super::{Timestamp, offset_at};

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("a time")
    }

    #[test]
    fn a_time_zone_follows_summer_time_across_the_change_and_a_fixed_offset_does_not() {
        // Greenland (America/Nuuk since 2023: -02:00, summer -01:00 from the last Sunday
        // of March, 01:00 UTC).
        let nuuk = Some("America/Nuuk");
        assert_eq!(offset_at(nuuk, 0, at("2024-01-15T12:00:00Z")), -120);
        assert_eq!(offset_at(nuuk, 0, at("2024-03-31T00:59:59Z")), -120);
        assert_eq!(offset_at(nuuk, 0, at("2024-03-31T01:00:00Z")), -60);
        assert_eq!(offset_at(nuuk, 0, at("2024-07-15T12:00:00Z")), -60);
        // Germany: +01:00, summer +02:00; back on the last Sunday of October, 01:00 UTC.
        let berlin = Some("Europe/Berlin");
        assert_eq!(offset_at(berlin, 0, at("2024-10-27T00:59:59Z")), 120);
        assert_eq!(offset_at(berlin, 0, at("2024-10-27T01:00:00Z")), 60);
        // The date a plugin writes just after midnight local time changes with the zone.
        let t = at("2024-07-14T22:30:00Z");
        assert_eq!(t.civil(offset_at(berlin, 0, t)).day, 15);
        assert_eq!(t.civil(offset_at(None, 60, t)).day, 14);
        assert_eq!(offset_at(None, -120, at("2024-07-15T12:00:00Z")), -120);
    }
}

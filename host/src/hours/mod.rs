//! Business hours: weekly opening windows in an IANA timezone, with date
//! overrides (holidays and special days), answering "is the channel open at
//! this instant?" and "when does it next open?".
//!
//! Windows are wall-clock times, so daylight-saving changes behave as people
//! expect: a 09:00–17:00 day stays 09:00–17:00 local on both sides of a
//! transition. A window that starts inside a spring-forward gap opens when
//! the clock jumps past it; a fall-back hour that repeats is open both times.
//!
//! A window that runs past midnight (`fri 22:00-02:00`) belongs to the day it
//! starts on: a holiday on Saturday does not cut Friday night short.

use std::collections::BTreeMap;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike,
    Utc,
};
use chrono_tz::Tz;

/// Minutes in a day; a window may close at `24:00`.
pub const DAY_MINUTES: u16 = 1440;

/// How far ahead [`Schedule::next_open`] looks before giving up: a little
/// over a year, enough to step over any run of holidays.
const LOOKAHEAD_DAYS: u64 = 400;

/// An opening window in minutes since local midnight. `close <= open` means
/// the window runs overnight into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub open: u16,
    pub close: u16,
}

impl Window {
    pub const ALL_DAY: Window = Window {
        open: 0,
        close: DAY_MINUTES,
    };

    pub fn is_overnight(self) -> bool {
        self.close <= self.open
    }
}

/// A weekly schedule with date overrides, in one timezone.
#[derive(Debug, Clone)]
pub struct Schedule {
    timezone: Tz,
    /// Monday first.
    weekly: [Vec<Window>; 7],
    /// Replaces the weekly windows of that date; empty means closed.
    dates: BTreeMap<NaiveDate, Vec<Window>>,
}

impl Schedule {
    /// A schedule that is closed until windows are added.
    pub fn new(timezone: Tz) -> Self {
        Self {
            timezone,
            weekly: Default::default(),
            dates: BTreeMap::new(),
        }
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Adds a window to a weekday (0 = Monday).
    pub fn add_weekly(&mut self, weekday: u8, window: Window) {
        if let Some(day) = self.weekly.get_mut(usize::from(weekday)) {
            day.push(window);
            day.sort_by_key(|w| w.open);
        }
    }

    /// Replaces a date's windows; no windows makes it a holiday.
    pub fn set_date(&mut self, date: NaiveDate, windows: Vec<Window>) {
        let mut windows = windows;
        windows.sort_by_key(|w| w.open);
        self.dates.insert(date, windows);
    }

    /// The windows that start on a weekday (0 = Monday).
    pub fn weekly(&self, weekday: u8) -> &[Window] {
        self.weekly
            .get(usize::from(weekday))
            .map_or(&[], Vec::as_slice)
    }

    pub fn dates(&self) -> &BTreeMap<NaiveDate, Vec<Window>> {
        &self.dates
    }

    /// The windows that start on `date`.
    pub fn windows_on(&self, date: NaiveDate) -> &[Window] {
        match self.dates.get(&date) {
            Some(windows) => windows,
            None => self.weekly(weekday_index(date)),
        }
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone);
        let date = local.date_naive();
        let second = local.num_seconds_from_midnight();
        let starts = |w: &Window| u32::from(w.open) * 60;
        let ends = |w: &Window| u32::from(w.close) * 60;
        let today = self.windows_on(date).iter().any(|w| {
            if w.is_overnight() {
                second >= starts(w)
            } else {
                starts(w) <= second && second < ends(w)
            }
        });
        let spill = date
            .pred_opt()
            .map(|yesterday| {
                self.windows_on(yesterday)
                    .iter()
                    .any(|w| w.is_overnight() && second < ends(w))
            })
            .unwrap_or(false);
        today || spill
    }

    /// The first instant at or after `at` when the channel is open, or `None`
    /// if it never opens again within [`LOOKAHEAD_DAYS`].
    ///
    /// While closed, this also names the closed period: two instants with
    /// the same `next_open` lie in the same period.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(at) {
            return Some(at);
        }
        let start = at.with_timezone(&self.timezone).date_naive().pred_opt()?;
        for offset in 0..=LOOKAHEAD_DAYS {
            let date = start.checked_add_days(Days::new(offset))?;
            let earliest = self
                .windows_on(date)
                .iter()
                .filter_map(|w| self.opening_instant(date, *w))
                .filter(|t| *t >= at && self.is_open(*t))
                .min();
            if earliest.is_some() {
                return earliest;
            }
        }
        None
    }

    /// When a window starting on `date` actually opens: its wall-clock start,
    /// the earlier instant if that time repeats, or the end of the gap if the
    /// clock skips it.
    fn opening_instant(&self, date: NaiveDate, window: Window) -> Option<DateTime<Utc>> {
        let time = NaiveTime::from_num_seconds_from_midnight_opt(u32::from(window.open) * 60, 0)?;
        let mut local = NaiveDateTime::new(date, time);
        // DST gaps are at most a few hours; step through one minute at a time.
        for _ in 0..=240 {
            match self.timezone.from_local_datetime(&local) {
                LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, _) => return Some(first.with_timezone(&Utc)),
                LocalResult::None => local += chrono::Duration::minutes(1),
            }
        }
        None
    }
}

/// 0 = Monday … 6 = Sunday.
pub fn weekday_index(date: NaiveDate) -> u8 {
    u8::try_from(date.weekday().num_days_from_monday()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn w(open: &str, close: &str) -> Window {
        let m = |s: &str| {
            let (h, m) = s.split_once(':').unwrap_or(("0", "0"));
            h.parse::<u16>().unwrap_or(0) * 60 + m.parse::<u16>().unwrap_or(0)
        };
        Window {
            open: m(open),
            close: m(close),
        }
    }

    fn office(tz: Tz) -> Schedule {
        let mut s = Schedule::new(tz);
        for day in 0..5 {
            s.add_weekly(day, w("09:00", "12:00"));
            s.add_weekly(day, w("13:00", "17:00"));
        }
        s
    }

    #[test]
    fn several_windows_a_day() {
        let s = office(chrono_tz::Asia::Jakarta);
        // Tuesday 2026-11-24, Jakarta is UTC+7.
        assert!(s.is_open(utc("2026-11-24T10:00:00+07:00")));
        assert!(!s.is_open(utc("2026-11-24T12:30:00+07:00")));
        assert!(s.is_open(utc("2026-11-24T13:00:00+07:00")));
        assert!(!s.is_open(utc("2026-11-24T17:00:00+07:00")));
        assert_eq!(
            s.next_open(utc("2026-11-24T12:30:00+07:00")),
            Some(utc("2026-11-24T13:00:00+07:00"))
        );
        assert_eq!(
            s.next_open(utc("2026-11-27T18:00:00+07:00")),
            Some(utc("2026-11-30T09:00:00+07:00"))
        );
    }

    #[test]
    fn overnight_window_runs_into_the_next_day() {
        let mut s = Schedule::new(chrono_tz::UTC);
        s.add_weekly(4, w("22:00", "02:00")); // Friday night
        assert!(!s.is_open(utc("2026-11-27T21:59:59Z")));
        assert!(s.is_open(utc("2026-11-27T22:00:00Z")));
        assert!(s.is_open(utc("2026-11-28T01:59:59Z")));
        assert!(!s.is_open(utc("2026-11-28T02:00:00Z")));
        assert_eq!(
            s.next_open(utc("2026-11-28T03:00:00Z")),
            Some(utc("2026-12-04T22:00:00Z"))
        );
    }

    #[test]
    fn overnight_window_belongs_to_the_day_it_starts() {
        let mut s = Schedule::new(chrono_tz::UTC);
        s.add_weekly(3, w("22:00", "02:00")); // Thursday night
        s.set_date(date("2026-11-27"), Vec::new()); // Friday holiday
        assert!(s.is_open(utc("2026-11-27T01:00:00Z")));
        s.set_date(date("2026-11-26"), Vec::new()); // Thursday holiday too
        assert!(!s.is_open(utc("2026-11-27T01:00:00Z")));
    }

    #[test]
    fn holiday_closes_a_working_day() {
        let mut s = office(chrono_tz::Asia::Jakarta);
        s.set_date(date("2026-12-25"), Vec::new()); // a Friday
        assert!(!s.is_open(utc("2026-12-25T10:00:00+07:00")));
        assert!(s.is_open(utc("2026-12-24T10:00:00+07:00")));
        assert_eq!(
            s.next_open(utc("2026-12-25T08:00:00+07:00")),
            Some(utc("2026-12-28T09:00:00+07:00"))
        );
    }

    #[test]
    fn date_override_replaces_the_weekly_hours() {
        let mut s = office(chrono_tz::UTC);
        s.set_date(date("2026-12-24"), vec![w("09:00", "11:00")]);
        assert!(s.is_open(utc("2026-12-24T10:59:00Z")));
        assert!(!s.is_open(utc("2026-12-24T11:00:00Z")));
        assert!(!s.is_open(utc("2026-12-24T14:00:00Z")));
        s.set_date(date("2026-11-28"), vec![Window::ALL_DAY]); // a Saturday
        assert!(s.is_open(utc("2026-11-28T23:59:59Z")));
    }

    #[test]
    fn spring_forward_day_in_new_york() {
        // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
        let mut s = Schedule::new(chrono_tz::America::New_York);
        s.add_weekly(6, w("02:30", "05:00"));
        s.add_weekly(0, w("09:00", "17:00"));
        assert!(!s.is_open(utc("2026-03-08T06:59:59Z"))); // 01:59:59 EST
        assert!(s.is_open(utc("2026-03-08T07:00:00Z"))); // 03:00 EDT
        assert!(!s.is_open(utc("2026-03-08T09:00:00Z"))); // 05:00 EDT
        assert_eq!(
            s.next_open(utc("2026-03-08T06:00:00Z")),
            Some(utc("2026-03-08T07:00:00Z"))
        );
        // The Monday after opens at 09:00 EDT, 13:00 UTC (not 14:00 as in winter).
        assert_eq!(
            s.next_open(utc("2026-03-08T10:00:00Z")),
            Some(utc("2026-03-09T13:00:00Z"))
        );
    }

    #[test]
    fn fall_back_day_in_new_york() {
        // 2026-11-01: clocks fall back from 02:00 EDT to 01:00 EST.
        let mut s = Schedule::new(chrono_tz::America::New_York);
        s.add_weekly(6, w("00:00", "04:00"));
        assert!(s.is_open(utc("2026-11-01T04:00:00Z"))); // 00:00 EDT
        assert!(s.is_open(utc("2026-11-01T05:30:00Z"))); // 01:30 EDT
        assert!(s.is_open(utc("2026-11-01T06:30:00Z"))); // 01:30 EST, the repeat
        assert!(s.is_open(utc("2026-11-01T08:59:59Z"))); // 03:59:59 EST
        assert!(!s.is_open(utc("2026-11-01T09:00:00Z"))); // 04:00 EST: five real hours
        // A window starting in the repeated hour opens the first time round.
        let mut s = Schedule::new(chrono_tz::America::New_York);
        s.add_weekly(6, w("01:30", "03:00"));
        assert_eq!(
            s.next_open(utc("2026-11-01T04:00:00Z")),
            Some(utc("2026-11-01T05:30:00Z"))
        );
    }

    #[test]
    fn never_opening_schedule_has_no_next_open() {
        let s = Schedule::new(chrono_tz::UTC);
        assert!(!s.is_open(utc("2026-11-24T10:00:00Z")));
        assert_eq!(s.next_open(utc("2026-11-24T10:00:00Z")), None);
    }
}

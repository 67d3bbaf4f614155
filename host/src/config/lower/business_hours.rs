//! Business hours: timezone, weekly windows, dates, overlaps.

use super::*;

impl Lowerer<'_> {
    pub(super) fn hours(&mut self, h: &ast::Hours) -> BusinessHours {
        let timezone = match h.timezone.value.parse::<chrono_tz::Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
                self.findings.push(
                    Finding::error(
                        Code::BadTimezone,
                        format!("unknown timezone `{}`", h.timezone.value),
                    )
                    .at(h.timezone.span, "not an IANA timezone name")
                    .help(help_for(&h.timezone.value, names).unwrap_or_else(|| {
                        "use a name like \"Asia/Jakarta\" or \"Europe/Berlin\"".into()
                    })),
                );
                chrono_tz::UTC
            }
        };
        let mut schedule = hours::Schedule::new(timezone);
        let mut unavailable = None;
        // (weekly minute where a window starts, where it ends, its span), for overlap checks.
        let mut week: Vec<(u32, u32, Span)> = Vec::new();
        let mut dates: HashMap<NaiveDate, Span> = HashMap::new();
        for e in &h.entries {
            match &e.value {
                HoursEntry::Weekly { days, hours } => {
                    let windows = self.windows(hours, e.span);
                    for range in days {
                        if range.last < range.first {
                            self.findings.push(
                                Finding::error(Code::BadDayRange, "day range runs backwards")
                                    .at(range.span, "the first day must come before the last")
                                    .help("weeks start on monday: write `mon..fri` or list days: `sat, sun`"),
                            );
                            continue;
                        }
                        for day in range.first..=range.last {
                            for (window, span) in &windows {
                                schedule.add_weekly(day, *window);
                                let start = u32::from(day) * 1440 + u32::from(window.open);
                                let len = if window.is_overnight() {
                                    1440 - u32::from(window.open) + u32::from(window.close)
                                } else {
                                    u32::from(window.close - window.open)
                                };
                                week.push((start, start + len, *span));
                            }
                        }
                    }
                }
                HoursEntry::Date { date, hours } => {
                    let Ok(day) = NaiveDate::parse_from_str(&date.value, "%Y-%m-%d") else {
                        self.findings.push(
                            Finding::error(
                                Code::BadDate,
                                format!("`{}` is not a date", date.value),
                            )
                            .at(date.span, "no such day"),
                        );
                        continue;
                    };
                    if let Some(first) = dates.insert(day, date.span) {
                        self.findings.push(
                            Finding::error(
                                Code::DuplicateSetting,
                                format!("hours for {} are set twice", date.value),
                            )
                            .at(date.span, "set again here")
                            .related(first, "first set here"),
                        );
                    }
                    let windows = self.windows(hours, e.span);
                    self.check_overlaps(
                        windows
                            .iter()
                            .map(|(w, s)| {
                                let close = if w.is_overnight() {
                                    u32::from(w.close) + 1440
                                } else {
                                    u32::from(w.close)
                                };
                                (u32::from(w.open), close, *s)
                            })
                            .collect(),
                    );
                    schedule.set_date(day, windows.into_iter().map(|(w, _)| w).collect());
                }
                HoursEntry::Unavailable(msg) => {
                    self.once(&mut unavailable, msg.value.clone(), e.span, "unavailable")
                }
            }
        }
        // The week wraps: Sunday night runs into Monday morning.
        let wrapped: Vec<_> = week
            .iter()
            .filter(|(_, end, _)| *end > WEEK)
            .map(|(_, end, span)| (0, end - WEEK, *span))
            .collect();
        week.extend(wrapped);
        self.check_overlaps(week);
        BusinessHours {
            schedule,
            unavailable_message: unavailable.map(|(m, _)| m),
        }
    }

    pub(super) fn check_overlaps(&mut self, mut windows: Vec<(u32, u32, Span)>) {
        windows.sort_by_key(|(start, _, _)| *start);
        let mut reported = std::collections::HashSet::new();
        for pair in windows.windows(2) {
            let [(_, end_a, span_a), (start_b, _, span_b)] = pair else {
                continue;
            };
            if start_b < end_a && reported.insert((span_b.file, span_b.start)) {
                self.findings.push(
                    Finding::warning(Code::OverlappingHours, "opening hours overlap")
                        .at(*span_b, "overlaps an earlier window")
                        .related(*span_a, "this window")
                        .help("merge the two windows into one"),
                );
            }
        }
    }

    pub(super) fn windows(&mut self, hours: &DayHours, entry: Span) -> Vec<(Window, Span)> {
        match hours {
            DayHours::Closed => Vec::new(),
            DayHours::AllDay => vec![(Window::ALL_DAY, entry)],
            DayHours::Intervals(list) => list
                .iter()
                .filter_map(|i| {
                    let (open, close) = (i.value.open, i.value.close);
                    if open == close || open == hours::DAY_MINUTES {
                        self.findings.push(
                            Finding::error(Code::BadInterval, "opening window is empty")
                                .at(i.span, "opens and closes at the same time")
                                .help("write `all_day` for a day that is open around the clock"),
                        );
                        return None;
                    }
                    Some((Window { open, close }, i.span))
                })
                .collect(),
        }
    }
}

/// Minutes in a week, for overlap checks across Sunday night.
pub(super) const WEEK: u32 = 7 * 1440;

//! Wall-clock helpers: unix time, RFC 3339 formatting, and reading `Retry-After`.
//!
//! HTTP-dates are parsed by the `httpdate` crate (hyper's own), which accepts the three
//! forms RFC 9110 §5.6.7 requires recipients to accept. RFC 3339 formatting stays here:
//! twenty lines of calendar arithmetic, against a date library (`time`, `chrono`) that
//! nothing else in webhook-core's dependency tree pulls in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch (0 if the clock is before 1970).
pub fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Seconds since the unix epoch (0 if the clock is before 1970).
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Formats a time as RFC 3339 in UTC with millisecond precision, e.g. `2026-11-29T08:18:46.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    Rfc3339::at(at).as_str().to_owned()
}

/// An RFC 3339 UTC timestamp with milliseconds (`2021-02-25T15:02:10.123Z`), formatted
/// into a buffer of its own: no allocation.
pub(crate) struct Rfc3339 {
    bytes: [u8; 48],
    len: usize,
}

impl Rfc3339 {
    /// The timestamp of `at` (the epoch if the clock is before 1970).
    pub(crate) fn at(at: SystemTime) -> Self {
        let ms = unix_millis(at);
        let secs = ms / 1000;
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let sod = (secs % 86_400) as u32;
        let millis = (ms % 1000) as u32;
        match u32::try_from(y) {
            Ok(year) if year <= 9999 => Self::four_digit_year(year, mo, d, sod, millis),
            _ => Self::any_year(y, mo, d, sod, millis),
        }
    }

    /// The usual case, every field at a fixed place: 24 bytes written at once. The
    /// seed's `notify_*` functions stamp every event with the time they are called;
    /// callgrind counts 338 instructions per `Rfc3339::at` this way against 807 with the
    /// digit-by-digit writer (`any_year`) for every year (BENCHMARKS.md, "Round 8").
    fn four_digit_year(year: u32, month: u32, day: u32, sod: u32, millis: u32) -> Self {
        let digit = |n: u32| b'0' + (n % 10) as u8;
        let (hour, minute, second) = (sod / 3600, sod / 60 % 60, sod % 60);
        let text = [
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            digit(month / 10),
            digit(month),
            b'-',
            digit(day / 10),
            digit(day),
            b'T',
            digit(hour / 10),
            digit(hour),
            b':',
            digit(minute / 10),
            digit(minute),
            b':',
            digit(second / 10),
            digit(second),
            b'.',
            digit(millis / 100),
            digit(millis / 10),
            digit(millis),
            b'Z',
        ];
        let mut bytes = [0; 48];
        bytes[..text.len()].copy_from_slice(&text);
        Self {
            bytes,
            len: text.len(),
        }
    }

    /// Any year (past 9999 the year takes more than four digits), digit by digit.
    fn any_year(year: i64, month: u32, day: u32, sod: u32, millis: u32) -> Self {
        let mut stamp = Self {
            bytes: [0; 48],
            len: 0,
        };
        stamp.number(year.unsigned_abs(), 4);
        let parts = [
            (b'-', month, 2),
            (b'-', day, 2),
            (b'T', sod / 3600, 2),
            (b':', (sod / 60) % 60, 2),
            (b':', sod % 60, 2),
            (b'.', millis, 3),
        ];
        for (separator, value, width) in parts {
            stamp.push(separator);
            stamp.number(u64::from(value), width);
        }
        stamp.push(b'Z');
        stamp
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `value` in decimal, zero-padded to `width` digits.
    fn number(&mut self, value: u64, width: usize) {
        let mut digits = [b'0'; 20];
        let mut rest = value;
        let mut used = 0;
        while rest > 0 || used < width {
            digits[19 - used] = b'0' + (rest % 10) as u8;
            rest /= 10;
            used += 1;
        }
        for &digit in &digits[20 - used..] {
            self.push(digit);
        }
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and separators were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses an HTTP-date in any of the three forms RFC 9110 requires recipients to
/// accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and C's asctime (`Sun Nov  6 08:49:37 1994`).
///
/// Surrounding whitespace is ignored. Dates before 1970 or after 9999, and dates whose
/// weekday does not match, are refused (`None`); no input panics.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(text.trim()).ok()
}

/// Interprets a `Retry-After` header value (delay-seconds or HTTP-date) relative to `now`.
///
/// Returns `None` when the value is neither form. A date in the past gives a zero delay;
/// delay-seconds too large for a `u64` saturate at `u64::MAX` seconds. No input panics:
/// the caller bounds the delay it uses (see `RetrySchedule::delay`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_614_265_330_123);
        assert_eq!(rfc3339(t), "2021-02-25T15:02:10.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
        let far = UNIX_EPOCH + Duration::from_secs(253_402_300_800); // 10000-01-01
        assert_eq!(rfc3339(far), "10000-01-01T00:00:00.000Z");
        let last = UNIX_EPOCH + Duration::from_millis(u64::MAX);
        assert!(rfc3339(last).ends_with(".615Z"), "{}", rfc3339(last));
        let end = UNIX_EPOCH + Duration::from_millis(253_402_300_799_999); // 9999-12-31
        assert_eq!(rfc3339(end), "9999-12-31T23:59:59.999Z");
    }

    proptest! {
        /// The fixed-place writer and the digit-by-digit one agree on every instant
        /// with a four-digit year.
        #[test]
        fn both_writers_agree_up_to_year_9999(ms in 0u64..253_402_300_800_000) {
            let secs = ms / 1000;
            let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
            let (sod, millis) = ((secs % 86_400) as u32, (ms % 1000) as u32);
            let fast = Rfc3339::four_digit_year(y as u32, mo, d, sod, millis);
            let slow = Rfc3339::any_year(y, mo, d, sod, millis);
            prop_assert_eq!(fast.as_str(), slow.as_str());
            let at = Rfc3339::at(UNIX_EPOCH + Duration::from_millis(ms));
            prop_assert_eq!(at.as_str(), slow.as_str());
        }
    }

    #[test]
    fn http_dates_are_read_in_all_three_forms() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "  Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            let t = parse_http_date(form).unwrap_or_else(|| panic!("{form:?} is valid"));
            assert_eq!(unix_seconds(t), 784_111_777, "{form:?}");
        }
        // RFC 850's two-digit years: 70..=99 are 19xx, 00..=69 are 20xx.
        let y2k = parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT").expect("valid");
        assert_eq!(unix_seconds(y2k), 946_684_800);
    }

    #[test]
    fn http_dates_out_of_range_or_malformed_are_refused() {
        for bad in [
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "yesterday",
            "",
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 300000000000 08:49:37 GMT",
            "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            // The case proptest's saved seed (proptest-regressions/time.txt) shrank to
            // while the hand-written parser was still here: a year past 9999.
            "Mon, 01 Jan 10000 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 GMT é",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
        // The edges of the accepted range.
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        let last = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").expect("valid");
        assert_eq!(unix_seconds(last), 253_402_300_799);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(
                "Sun, 06 Nov 1994 08:49:30 GMT",
                now + Duration::from_secs(60)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("+5", now), None);
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_beyond_u64_saturates_and_far_dates_do_not_overflow() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        let most = Some(Duration::from_secs(u64::MAX));
        assert_eq!(parse_retry_after("18446744073709551615", now), most);
        assert_eq!(parse_retry_after("18446744073709551616", now), most);
        assert_eq!(parse_retry_after(&"9".repeat(400), now), most);
        let far = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).expect("valid");
        assert_eq!(far.as_secs(), 253_402_300_799 - 784_111_770);
        // A date after `now` seen from a clock far in the future, or far in the past.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", UNIX_EPOCH + far * 2),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 300000000000 08:49:37 GMT", now),
            None
        );
    }

    /// A year for a generated date: usually in range, often anywhere a receiver may
    /// write one (the huge ones overflowed the old calendar arithmetic).
    fn year() -> impl Strategy<Value = u64> {
        prop_oneof![
            1900u64..=10_100,
            0u64..100,
            any::<u64>(),
            1u64 << 40..1u64 << 63
        ]
    }

    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const LONG_WEEKDAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    /// A `Retry-After` value in one of the forms a receiver may send, or junk.
    fn retry_after_value() -> impl Strategy<Value = String> {
        let fields = || {
            (
                0usize..7,
                0u32..40,
                0usize..12,
                year(),
                0u32..30,
                0u32..70,
                0u32..70,
            )
        };
        prop_oneof![
            any::<String>(),
            "[0-9]{1,45}",
            "[ +-]?[0-9]{0,25}[ .a-z]?",
            any::<u64>().prop_map(|n| n.to_string()),
            fields().prop_map(|(w, d, m, y, h, mi, s)| format!(
                "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
                WEEKDAYS[w], MONTHS[m]
            )),
            fields().prop_map(|(w, d, m, y, h, mi, s)| format!(
                "{}, {d:02}-{}-{:02} {h:02}:{mi:02}:{s:02} GMT",
                LONG_WEEKDAYS[w],
                MONTHS[m],
                y % 100
            )),
            fields().prop_map(|(w, d, m, y, h, mi, s)| format!(
                "{} {} {d:>2} {h:02}:{mi:02}:{s:02} {y}",
                WEEKDAYS[w], MONTHS[m]
            )),
        ]
    }

    /// Any instant a clock may read: before the epoch, now, or far ahead.
    fn clock() -> impl Strategy<Value = SystemTime> {
        prop_oneof![
            (0u64..400 * 365 * 86_400).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            (0u64..100 * 365 * 86_400).prop_map(|s| UNIX_EPOCH - Duration::from_secs(s)),
        ]
    }

    /// The last second an HTTP-date can name (9999-12-31T23:59:59Z).
    const LAST_HTTP_DATE: u64 = 253_402_300_799;

    proptest! {
        #[test]
        fn retry_after_never_panics_and_stays_in_bounds(value in retry_after_value(), now in clock()) {
            let parsed = parse_retry_after(&value, now);
            let trimmed = value.trim();
            if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                let want = trimmed.parse::<u64>().unwrap_or(u64::MAX);
                prop_assert_eq!(parsed, Some(Duration::from_secs(want)));
            } else if let Some(delay) = parsed {
                // A date: never after the last HTTP-date, seen from `now`.
                let at = parse_http_date(&value).expect("only dates get here");
                prop_assert!(unix_seconds(at) <= LAST_HTTP_DATE);
                prop_assert_eq!(delay, at.duration_since(now).unwrap_or(Duration::ZERO));
                prop_assert!(now.checked_add(delay).is_some());
            }
        }

        #[test]
        fn http_dates_in_range_are_read_in_every_form(secs in 0u64..=LAST_HTTP_DATE) {
            let at = UNIX_EPOCH + Duration::from_secs(secs);
            let imf = httpdate::fmt_http_date(at);
            prop_assert_eq!(parse_http_date(&imf), Some(at));
            // The same instant in the two obsolete forms, built from the IMF-fixdate's parts:
            // `Sun, 06 Nov 1994 08:49:37 GMT`.
            let parts: Vec<&str> = imf.trim_end_matches(" GMT").split([',', ' ']).collect();
            let (wd, day, mon, year, hms) = (parts[0], parts[2], parts[3], parts[4], parts[5]);
            let day_n: u32 = day.parse().expect("digits");
            let asctime = format!("{wd} {mon} {day_n:>2} {hms} {year}");
            prop_assert_eq!(parse_http_date(&asctime), Some(at));
            let year_n: u64 = year.parse().expect("digits");
            if (1970..2070).contains(&year_n) {
                let long = LONG_WEEKDAYS[WEEKDAYS.iter().position(|w| *w == wd).expect("weekday")];
                let rfc850 = format!("{long}, {day}-{mon}-{:02} {hms} GMT", year_n % 100);
                prop_assert_eq!(parse_http_date(&rfc850), Some(at));
            }
        }
    }
}

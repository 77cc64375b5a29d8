//! RFC 3339 datetimes, as filters compare them: microseconds since the Unix epoch, UTC.
//!
//! Accepted: `YYYY-MM-DD`, then optionally `T` (or `t`, or one space) `HH:MM[:SS[.fraction]]`,
//! then optionally `Z` (or `z`) or `±HH:MM`. A missing offset means UTC, a missing time
//! midnight (Qdrant accepts the same shortened forms). Fractions beyond microseconds are
//! truncated.

/// Microseconds since 1970-01-01T00:00:00Z of `s`, or `None` if `s` is not such a datetime.
pub(crate) fn parse_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let year = num(0..4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut at = 10;
    let mut micros_of_day = 0i64;
    if let Some(&sep) = b.get(at)
        && matches!(sep, b'T' | b't' | b' ')
    {
        let (hour, minute) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
        if b.get(at + 3) != Some(&b':') || hour > 23 || minute > 59 {
            return None;
        }
        at += 6;
        let mut second = 0;
        let mut fraction = 0i64;
        if b.get(at) == Some(&b':') {
            second = num(at + 1..at + 3)?;
            if second > 60 {
                return None;
            }
            at += 3;
            if b.get(at) == Some(&b'.') {
                at += 1;
                let start = at;
                while b.get(at).is_some_and(u8::is_ascii_digit) {
                    if at - start < 6 {
                        fraction = fraction * 10 + i64::from(b[at] - b'0');
                    }
                    at += 1;
                }
                if at == start {
                    return None;
                }
                for _ in (at - start)..6 {
                    fraction *= 10;
                }
            }
        }
        micros_of_day = ((hour * 60 + minute) * 60 + second.min(59)) * 1_000_000 + fraction;
    }
    let offset_minutes = match b.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let (h, m) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if sign == b'-' { -minutes } else { minutes }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400_000_000 + micros_of_day - offset_minutes * 60_000_000)
}

/// `t` (microseconds since the epoch) as RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
pub(crate) fn format_micros(t: i64) -> String {
    let days = t.div_euclid(86_400_000_000);
    let in_day = t.rem_euclid(86_400_000_000);
    let (year, month, day) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    let base = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:06}Z")
    }
}

/// The date `days` after 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (March-based era arithmetic).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_the_inverse_of_parse() {
        for t in [
            0i64,
            -1_000_000,
            1_675_853_340_000_000,
            1_675_853_340_123_456,
            951_782_400_000_000,     // 2000-02-29
            -62_135_596_800_000_000, // 0001-01-01
        ] {
            let s = format_micros(t);
            assert_eq!(parse_micros(&s), Some(t), "{s}");
        }
        assert_eq!(format_micros(1_675_853_340_000_000), "2023-02-08T10:49:00Z");
    }

    #[test]
    fn forms_offsets_and_fractions() {
        assert_eq!(parse_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_micros("1970-01-01"), Some(0));
        assert_eq!(parse_micros("1970-01-02 00:00"), Some(86_400_000_000));
        // 2023-02-08T10:49:00Z is 1675853340 s after the epoch.
        let t = 1_675_853_340_000_000;
        assert_eq!(parse_micros("2023-02-08T10:49:00Z"), Some(t));
        assert_eq!(parse_micros("2023-02-08T11:49:00+01:00"), Some(t));
        assert_eq!(parse_micros("2023-02-08T05:19:00-05:30"), Some(t));
        assert_eq!(parse_micros("2023-02-08t10:49:00.5z"), Some(t + 500_000));
        assert_eq!(
            parse_micros("2023-02-08T10:49:00.1234567Z"),
            Some(t + 123_456)
        );
        assert_eq!(parse_micros("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(
            parse_micros("2024-02-29"),
            Some(parse_micros("2024-02-28").unwrap() + 86_400_000_000)
        );
        for bad in [
            "",
            "2023",
            "2023-13-01",
            "2023-02-29",
            "2023-02-08T24:00",
            "2023-02-08T10:49:00.",
            "2023-02-08T10:49:00+0100",
            "2023-02-08T10:49:00Zx",
            "2023-02-08X",
            "２０２３-01-01",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
    }
}

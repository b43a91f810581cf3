//! The rules: which alert conditions hold right now, from the observations and the providers'
//! health. Pure: the same inputs give the same conditions.

use super::{
    config::secs,
    observe::{Observations, Recipient},
    AlertRule, AlertsConfig, Severity,
};
use crate::{
    domain::{event::ErrorKind, Money},
    ports::ProviderErrorKind,
    router::ProviderView,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A rule that holds for a subject on this tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub rule: AlertRule,
    pub subject: String,
    pub severity: Severity,
    pub message: String,
    pub details: serde_json::Value,
}

/// Every condition that holds at `now`, in a stable order.
pub fn evaluate(
    config: &AlertsConfig,
    seen: &Observations,
    providers: &[ProviderView],
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let mut out = Vec::new();
    let active: Vec<&ProviderView> = providers.iter().filter(|p| p.config.is_active).collect();
    if config.is_enabled(AlertRule::LowCredit) {
        out.extend(
            active
                .iter()
                .filter_map(|p| low_credit(config, seen, p, now)),
        );
    }
    if config.is_enabled(AlertRule::HighFailureRate) {
        out.extend(
            active
                .iter()
                .filter_map(|p| high_failure_rate(config, seen, &p.config.slug, now)),
        );
    }
    if config.is_enabled(AlertRule::ProviderDown) {
        out.extend(provider_down(config, seen, now));
    }
    if config.is_enabled(AlertRule::UnusualVolume) {
        out.extend(unusual_volume(config, seen, now));
    }
    if config.is_enabled(AlertRule::OtpBurst) {
        out.extend(otp_burst(config, seen, now));
    }
    if config.is_enabled(AlertRule::ProviderRejected) {
        out.extend(active.iter().filter_map(|p| provider_rejected(p)));
    }
    out
}

/// At once, with no minimum of attempts: one refusal of our credentials or credit is already
/// something only the admin can fix. Holds until a send or balance check succeeds.
fn provider_rejected(p: &ProviderView) -> Option<Condition> {
    let kind = p.health.refused?;
    let slug = &p.config.slug;
    let message = match kind {
        ProviderErrorKind::InvalidCredentials => format!(
            "provider {slug} refuses our credentials: fix them with updateProvider; messages fail over meanwhile"
        ),
        _ => format!(
            "provider {slug} refuses to send for lack of credit: top it up; messages fail over meanwhile"
        ),
    };
    Some(Condition {
        rule: AlertRule::ProviderRejected,
        subject: slug.clone(),
        severity: Severity::Critical,
        message,
        details: json!({
            "provider": slug,
            "errorKind": ErrorKind::from(kind).as_str(),
        }),
    })
}

fn euros(m: Money) -> String {
    format!("€{:.2}", m.cents() / 100.0)
}

fn low_credit(
    config: &AlertsConfig,
    seen: &Observations,
    p: &ProviderView,
    now: DateTime<Utc>,
) -> Option<Condition> {
    let slug = &p.config.slug;
    let credit = match (p.health.credit, p.health.out_of_credit) {
        (Some(c), _) => c,
        (None, true) => Money::ZERO,
        // Unknown or unlimited: nothing to warn about.
        (None, false) => return None,
    };
    let floor = Money::from_cents(config.low_credit_cents);
    let window = secs(config.spend_window_s.max(1));
    let spent = seen.spent(slug, now - window, now);
    let per_hour = spent.cents() * 3600.0 / window.num_seconds() as f64;
    let hours_left = (per_hour > 0.0).then(|| credit.cents().max(0.0) / per_hour);
    let details = json!({
        "provider": slug,
        "creditCents": credit.cents(),
        "thresholdCents": config.low_credit_cents,
        "spentPerHourCents": per_hour,
        "hoursLeft": hours_left,
        "thresholdHours": config.low_credit_hours,
    });
    let (severity, message) = if !credit.is_positive() || p.health.out_of_credit {
        (
            Severity::Critical,
            format!("provider {slug} is out of credit: messages fail over until it is topped up"),
        )
    } else if credit < floor {
        (
            Severity::Warning,
            format!(
                "provider {slug} has {} of credit left, below {}",
                euros(credit),
                euros(floor)
            ),
        )
    } else if let Some(hours) = hours_left.filter(|h| *h < config.low_credit_hours) {
        (
            Severity::Warning,
            format!(
                "provider {slug} has {} of credit left: about {hours:.1} hours of sending at the recent rate",
                euros(credit)
            ),
        )
    } else {
        return None;
    };
    Some(Condition {
        rule: AlertRule::LowCredit,
        subject: slug.clone(),
        severity,
        message,
        details,
    })
}

fn high_failure_rate(
    config: &AlertsConfig,
    seen: &Observations,
    slug: &str,
    now: DateTime<Utc>,
) -> Option<Condition> {
    let p = seen.providers.get(slug)?;
    let from = now - secs(config.failure_window_s);
    let (ok, failed) = (p.ok.sum(from, now), p.failed.sum(from, now));
    let attempts = ok + failed;
    if attempts <= 0 || (attempts as u64) < config.failure_min_attempts {
        return None;
    }
    let rate = failed as f64 / attempts as f64;
    if rate < config.failure_rate {
        return None;
    }
    Some(Condition {
        rule: AlertRule::HighFailureRate,
        subject: slug.to_owned(),
        severity: if rate >= 0.9 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        message: format!(
            "provider {slug} failed {failed} of its last {attempts} attempts ({:.0}%) in {} minutes",
            rate * 100.0,
            config.failure_window_s / 60
        ),
        details: json!({
            "provider": slug,
            "attempts": attempts,
            "failed": failed,
            "rate": rate,
            "threshold": config.failure_rate,
            "windowSeconds": config.failure_window_s,
        }),
    })
}

fn provider_down(config: &AlertsConfig, seen: &Observations, now: DateTime<Utc>) -> Vec<Condition> {
    let after = secs(config.provider_down_after_s);
    let mut down: Vec<_> = seen
        .down
        .iter()
        .filter(|(_, d)| now - d.since >= after)
        .collect();
    down.sort_by(|a, b| a.0.cmp(b.0));
    down.into_iter()
        .map(|(slug, d)| {
            let reasons = d.reasons.join(", ");
            Condition {
                rule: AlertRule::ProviderDown,
                subject: slug.clone(),
                severity: Severity::Critical,
                message: format!(
                    "provider {slug} has been down for {} s ({reasons})",
                    (now - d.since).num_seconds()
                ),
                details: json!({
                    "provider": slug,
                    "since": d.since,
                    "reasons": d.reasons,
                    "thresholdSeconds": config.provider_down_after_s,
                }),
            }
        })
        .collect()
}

fn unusual_volume(
    config: &AlertsConfig,
    seen: &Observations,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let hour = Duration::hours(1);
    let mut subjects: Vec<(&str, &super::observe::Buckets)> = vec![("all", &seen.volume)];
    let mut countries: Vec<_> = seen.by_country.iter().collect();
    countries.sort_by(|a, b| a.0.cmp(b.0));
    subjects.extend(countries.into_iter().map(|(c, b)| (c.as_str(), b)));
    let mut out = Vec::new();
    for (subject, buckets) in subjects {
        let last = buckets.sum(now - hour, now);
        if last <= 0 || (last as u64) < config.volume_min {
            continue;
        }
        // The same hour on each earlier day that was observed in full.
        let days: Vec<i64> = (1..=i64::from(config.baseline_days))
            .map(|d| now - Duration::days(d))
            .filter(|end| *end - hour >= seen.started_at)
            .map(|end| buckets.sum(end - hour, end))
            .collect();
        if days.len() < config.baseline_min_days as usize {
            continue;
        }
        let baseline = if days.is_empty() {
            0.0
        } else {
            days.iter().sum::<i64>() as f64 / days.len() as f64
        };
        if (last as f64) <= config.volume_factor * baseline {
            continue;
        }
        out.push(Condition {
            rule: AlertRule::UnusualVolume,
            subject: subject.to_owned(),
            severity: Severity::Warning,
            message: format!(
                "{last} messages to {} in the last hour, against {baseline:.1} at this hour on recent days",
                if subject == "all" { "all destinations" } else { subject }
            ),
            details: json!({
                "lastHour": last,
                "baseline": baseline,
                "baselineDays": days.len(),
                "factor": config.volume_factor,
            }),
        });
    }
    out
}

fn otp_burst(config: &AlertsConfig, seen: &Observations, now: DateTime<Utc>) -> Vec<Condition> {
    let from = now - secs(config.otp_window_s);
    let digits = config.otp_range_digits;
    // Grouped by the number without its last digits; the range's text is made once per range,
    // not once per OTP.
    let mut by_prefix: HashMap<(u64, usize), (usize, BTreeSet<Recipient>)> = HashMap::new();
    for (_, number) in seen.otps.iter().filter(|(at, _)| *at > from && *at <= now) {
        // "+40" and a few digits are a country, not a range: only whole numbers are grouped
        // (more than `digits + 4` characters with the `+`).
        if number.len() < digits + 4 {
            continue;
        }
        let entry = by_prefix.entry(number.without_last(digits)).or_default();
        entry.0 += 1;
        entry.1.insert(*number);
    }
    let ranges: BTreeMap<String, (usize, BTreeSet<Recipient>)> = by_prefix
        .into_iter()
        .map(|((prefix, width), counts)| {
            let range = format!("+{prefix:0width$}{}", "x".repeat(digits));
            (range, counts)
        })
        .collect();
    ranges
        .into_iter()
        .filter(|(_, (_, numbers))| numbers.len() >= config.otp_burst_numbers)
        .map(|(range, (otps, numbers))| Condition {
            rule: AlertRule::OtpBurst,
            subject: range.clone(),
            severity: Severity::Critical,
            message: format!(
                "{otps} OTPs to {} numbers in {range} within {} minutes: possible SMS pumping",
                numbers.len(),
                config.otp_window_s / 60
            ),
            details: json!({
                "range": range,
                "otps": otps,
                "numbers": numbers.len(),
                "threshold": config.otp_burst_numbers,
                "windowSeconds": config.otp_window_s,
            }),
        })
        .collect()
}

//! Pure tests of the rules and the lifecycle: time is a value, nothing sleeps.

use super::{
    lifecycle::Lifecycle, observe::Observations, rules::evaluate, AlertRule, AlertState,
    AlertsConfig, Severity,
};
use crate::{
    domain::{
        event::ErrorKind, Encoding, Message, MessageError, MessageEvent, MessageId, MessageStatus,
        MessageType, Money, E164,
    },
    policy::breaker::CircuitState,
    provider::ProviderHealth,
    router::ProviderView,
    test_support::provider_config,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

fn message(
    to: &str,
    kind: MessageType,
    status: MessageStatus,
    provider: Option<&str>,
    error: Option<ErrorKind>,
) -> Message {
    let now = t0();
    let event = |status| MessageEvent {
        status,
        at: now,
        provider: provider.map(str::to_owned),
        error: error.map(|kind| MessageError {
            kind,
            message: "x".into(),
        }),
    };
    let events = if status == MessageStatus::Queued {
        vec![event(status)]
    } else {
        vec![event(MessageStatus::Queued), event(status)]
    };
    Message {
        id: MessageId::generate(),
        to: E164::from_stored(to.into()),
        body: "b".into(),
        message_type: kind,
        sender: None,
        pinned_provider: None,
        idempotency_key: None,
        sent_by: None,
        status,
        provider: provider.map(str::to_owned),
        provider_message_id: None,
        encoding: Encoding::Gsm7,
        segments: 1,
        cost: (status == MessageStatus::Sent).then(|| Money::from_cents(4.0)),
        attempts: 1,
        error: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        delivered_at: None,
        expires_at: now,
        events,
    }
}

fn queued(to: &str, kind: MessageType) -> Message {
    message(to, kind, MessageStatus::Queued, None, None)
}

pub(super) fn view(slug: &str, credit: Option<f64>, circuit: CircuitState) -> ProviderView {
    ProviderView {
        config: provider_config(slug, true, 0),
        running: true,
        health: ProviderHealth {
            circuit,
            credit: credit.map(Money::from_cents),
            out_of_credit: credit.is_some_and(|c| c <= 0.0),
            consecutive_failures: 0,
            balance_check_failing: false,
            refused: None,
        },
        in_flight: 0,
    }
}

fn rules_of(
    config: &AlertsConfig,
    seen: &Observations,
    p: &[ProviderView],
    now: DateTime<Utc>,
) -> Vec<(AlertRule, String)> {
    evaluate(config, seen, p, now)
        .into_iter()
        .map(|c| (c.rule, c.subject))
        .collect()
}

#[test]
fn an_alert_fires_once_repeats_only_after_its_cooldown_and_resolves() {
    let config = AlertsConfig::default();
    let seen = Observations::new(t0());
    let providers = [view("a", Some(100.0), CircuitState::Closed)];
    let mut life = Lifecycle::default();
    let cooldown = Duration::minutes(30);
    let conditions = |now| evaluate(&config, &seen, &providers, now);

    let first = life.step(conditions(t0()), t0(), cooldown);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].rule, AlertRule::LowCredit);
    assert_eq!(first[0].state, AlertState::Firing);
    assert_eq!(first[0].notice, 0);
    for minutes in [1, 15, 29] {
        let now = t0() + Duration::minutes(minutes);
        assert!(
            life.step(conditions(now), now, cooldown).is_empty(),
            "quiet at +{minutes} min"
        );
    }
    let now = t0() + Duration::minutes(30);
    let repeat = life.step(conditions(now), now, cooldown);
    assert_eq!(repeat.len(), 1);
    assert_eq!(
        (repeat[0].id.as_str(), repeat[0].notice),
        (first[0].id.as_str(), 1)
    );
    assert_eq!(repeat[0].fired_at, t0());

    // Topped up: the next tick resolves it, once.
    let healthy = [view("a", Some(100_000.0), CircuitState::Closed)];
    let now = t0() + Duration::minutes(31);
    let resolved = life.step(evaluate(&config, &seen, &healthy, now), now, cooldown);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].state, AlertState::Resolved);
    assert_eq!(
        (resolved[0].id.as_str(), resolved[0].notice),
        (first[0].id.as_str(), 2)
    );
    let later = now + Duration::hours(2);
    assert!(life
        .step(evaluate(&config, &seen, &healthy, later), later, cooldown)
        .is_empty());
}

#[test]
fn a_more_severe_condition_is_told_at_once() {
    let config = AlertsConfig::default();
    let seen = Observations::new(t0());
    let mut life = Lifecycle::default();
    let cooldown = Duration::minutes(30);
    let low = [view("a", Some(100.0), CircuitState::Closed)];
    assert_eq!(
        life.step(evaluate(&config, &seen, &low, t0()), t0(), cooldown)[0].severity,
        Severity::Warning
    );
    let now = t0() + Duration::minutes(1);
    let empty = [view("a", Some(0.0), CircuitState::Closed)];
    let told = life.step(evaluate(&config, &seen, &empty, now), now, cooldown);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].severity, Severity::Critical);
}

#[test]
fn restored_alerts_neither_fire_again_nor_stay_unresolved() {
    let config = AlertsConfig::default();
    let seen = Observations::new(t0());
    let low = [view("a", Some(100.0), CircuitState::Closed)];
    let cooldown = Duration::minutes(30);
    let mut before = Lifecycle::default();
    let history = before.step(evaluate(&config, &seen, &low, t0()), t0(), cooldown);

    let mut after = Lifecycle::restore(&history);
    let now = t0() + Duration::minutes(5);
    assert!(after
        .step(evaluate(&config, &seen, &low, now), now, cooldown)
        .is_empty());
    let fine = [view("a", None, CircuitState::Closed)];
    let resolved = after.step(evaluate(&config, &seen, &fine, now), now, cooldown);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].id, history[0].id);
    assert_eq!(resolved[0].state, AlertState::Resolved);
    // A resolved alert in the history is not taken up again.
    assert_eq!(
        Lifecycle::restore(&[history[0].clone(), resolved[0].clone()]).open_count(),
        0
    );
}

#[test]
fn low_credit_fires_below_the_amount_or_below_hours_left_at_the_recent_rate() {
    let config = AlertsConfig::default(); // €5, 24 h
    let mut seen = Observations::new(t0());
    let now = t0() + Duration::hours(1);
    // Unknown (unlimited) credit and plenty of credit at no spending are fine.
    let fine = [
        view("a", None, CircuitState::Closed),
        view("b", Some(10_000.0), CircuitState::Closed),
    ];
    assert!(rules_of(&config, &seen, &fine, now).is_empty());
    // €100 left while spending 4 cents × 200 per hour = €8/h: 12.5 h left.
    for i in 0..200 {
        let at = t0() + Duration::seconds(i * 15 + 10);
        seen.observe(
            &message(
                "+40755123456",
                MessageType::Transactional,
                MessageStatus::Sent,
                Some("b"),
                None,
            ),
            at,
        );
    }
    assert_eq!(
        rules_of(&config, &seen, &fine, now),
        [(AlertRule::LowCredit, "b".to_owned())]
    );
    let c = &evaluate(&config, &seen, &fine, now)[0];
    assert!(c.message.contains("hours of sending"), "{}", c.message);
    // Below the amount.
    let low = [view("a", Some(499.0), CircuitState::Closed)];
    assert_eq!(
        rules_of(&config, &seen, &low, now),
        [(AlertRule::LowCredit, "a".to_owned())]
    );
}

#[test]
fn high_failure_rate_needs_enough_attempts_in_the_window_and_only_counts_provider_faults() {
    let config = AlertsConfig::default(); // 25 % of at least 20 in 15 min
    let providers = [view("a", None, CircuitState::Closed)];
    let mut seen = Observations::new(t0());
    let fail = |kind| {
        message(
            "+40755123456",
            MessageType::Otp,
            MessageStatus::Retrying,
            Some("a"),
            Some(kind),
        )
    };
    let ok = message(
        "+40755123456",
        MessageType::Otp,
        MessageStatus::Sent,
        Some("a"),
        None,
    );
    let at = t0() + Duration::minutes(1);
    seen.observe(&fail(ErrorKind::Timeout), at);
    let now = t0() + Duration::minutes(2);
    assert!(
        rules_of(&config, &seen, &providers, now).is_empty(),
        "1 of 1 is no trend"
    );
    for _ in 0..15 {
        seen.observe(&ok, at);
    }
    // Bad numbers are the sender's fault, not the provider's.
    for _ in 0..10 {
        seen.observe(&fail(ErrorKind::InvalidRecipient), at);
    }
    assert!(
        rules_of(&config, &seen, &providers, now).is_empty(),
        "1 of 16"
    );
    for _ in 0..5 {
        seen.observe(&fail(ErrorKind::ProviderUnavailable), at);
    }
    assert_eq!(
        rules_of(&config, &seen, &providers, now),
        [(AlertRule::HighFailureRate, "a".to_owned())]
    );
    // Fifteen minutes on, the window has moved past them.
    let later = at + Duration::minutes(16);
    assert!(rules_of(&config, &seen, &providers, later).is_empty());
}

#[test]
fn provider_down_fires_only_after_the_threshold_and_restarts_its_clock_when_up() {
    let config = AlertsConfig::default(); // 30 s
    let mut seen = Observations::new(t0());
    let open = [view("a", None, CircuitState::Open)];
    let mut failing = view("b", None, CircuitState::Closed);
    failing.health.balance_check_failing = true;
    let failing = [failing];
    seen.track_providers(&open, t0());
    let at = t0() + Duration::seconds(29);
    seen.track_providers(&open, at);
    assert!(rules_of(&config, &seen, &open, at).is_empty());
    let at = t0() + Duration::seconds(30);
    seen.track_providers(&open, at);
    assert_eq!(
        rules_of(&config, &seen, &open, at),
        [(AlertRule::ProviderDown, "a".to_owned())]
    );
    // Up again, then down again: it has to stay down the full 30 s once more.
    let up = [view("a", None, CircuitState::Closed)];
    seen.track_providers(&up, at);
    seen.track_providers(&open, at + Duration::seconds(1));
    assert!(rules_of(&config, &seen, &open, at + Duration::seconds(20)).is_empty());
    // Balance checks failing count too.
    seen.track_providers(&failing, t0());
    seen.track_providers(&failing, t0() + Duration::minutes(2));
    let c = evaluate(&config, &seen, &failing, t0() + Duration::minutes(2));
    assert_eq!(c.len(), 1);
    assert!(
        c[0].message.contains("balance checks failing"),
        "{}",
        c[0].message
    );
}

#[test]
fn unusual_volume_compares_the_last_hour_with_the_same_hour_on_earlier_days() {
    let config = AlertsConfig {
        volume_min: 50,
        ..AlertsConfig::default()
    }; // 5×, 3 days
    let mut seen = Observations::new(t0());
    let send = |seen: &mut Observations, to: &str, at: DateTime<Utc>, n: usize| {
        for _ in 0..n {
            seen.observe(&queued(to, MessageType::Transactional), at);
        }
    };
    // Three quiet days: 10 an hour to Romania at this hour.
    for day in 0..3 {
        send(
            &mut seen,
            "+40755123456",
            t0() + Duration::days(day) + Duration::minutes(90),
            10,
        );
    }
    let today = t0() + Duration::days(3) + Duration::minutes(120);
    // Without the baseline days, a burst is not judged.
    assert!(rules_of(
        &config,
        &Observations::new(today - Duration::hours(2)),
        &[],
        today
    )
    .is_empty());
    send(&mut seen, "+40755123456", today - Duration::minutes(10), 40);
    assert!(
        rules_of(&config, &seen, &[], today).is_empty(),
        "40 is 4× the baseline"
    );
    // 50 to Romania and 60 to a country never seen before.
    send(&mut seen, "+40755123456", today - Duration::minutes(5), 10);
    send(
        &mut seen,
        "+2348031234567",
        today - Duration::minutes(5),
        60,
    );
    let got = rules_of(&config, &seen, &[], today);
    assert_eq!(
        got,
        [
            (AlertRule::UnusualVolume, "all".to_owned()),
            (AlertRule::UnusualVolume, "+234".to_owned()),
        ],
        "+40 has 50 against 10: not above 5×"
    );
}

#[test]
fn an_otp_run_to_one_number_range_fires_but_repeats_to_one_number_do_not() {
    let config = AlertsConfig::default(); // 10 numbers sharing all but 2 digits in 5 min
    let mut seen = Observations::new(t0());
    let at = t0() + Duration::minutes(1);
    for _ in 0..30 {
        seen.observe(&queued("+40755123456", MessageType::Otp), at);
    }
    assert!(rules_of(&config, &seen, &[], at).is_empty());
    for i in 0..8 {
        seen.observe(&queued(&format!("+407551234{i:02}"), MessageType::Otp), at);
    }
    seen.observe(&queued("+40755123599", MessageType::Otp), at);
    assert!(
        rules_of(&config, &seen, &[], at).is_empty(),
        "9 numbers in +407551234xx, one outside"
    );
    seen.observe(&queued("+40755123499", MessageType::Otp), at);
    assert_eq!(
        rules_of(&config, &seen, &[], at),
        [(AlertRule::OtpBurst, "+407551234xx".to_owned())]
    );
    // The run ages out of the window.
    assert!(rules_of(&config, &seen, &[], at + Duration::minutes(6)).is_empty());
}

#[test]
fn a_disabled_rule_never_fires() {
    let config = AlertsConfig {
        disabled: vec!["low_credit".into()],
        ..AlertsConfig::default()
    };
    assert!(config.problem().is_none());
    let seen = Observations::new(t0());
    assert!(rules_of(
        &config,
        &seen,
        &[view("a", Some(0.0), CircuitState::Closed)],
        t0()
    )
    .is_empty());
    let bad = AlertsConfig {
        disabled: vec!["nope".into()],
        ..AlertsConfig::default()
    };
    assert_eq!(bad.problem().map(|p| p.0), Some("alerts.disabled"));
}

#[test]
fn old_observations_are_forgotten_so_memory_stays_bounded() {
    let config = AlertsConfig::default();
    let mut seen = Observations::new(t0());
    // A day of one OTP a minute to ever new numbers, and sends through a provider.
    for m in 0..24 * 60 {
        let at = t0() + Duration::minutes(m);
        seen.observe(&queued(&format!("+40755{m:06}"), MessageType::Otp), at);
        seen.observe(
            &message(
                "+40755123456",
                MessageType::Otp,
                MessageStatus::Sent,
                Some("a"),
                None,
            ),
            at,
        );
        seen.prune(at, config.horizons());
    }
    // Only the OTP window (5 min) of recipients is kept, and the provider's last two hours.
    assert!(seen.otps.len() <= 6, "{}", seen.otps.len());
    let now = t0() + Duration::minutes(24 * 60 - 1);
    let a = &seen.providers["a"];
    assert_eq!(
        a.ok.sum(now - Duration::hours(24), now),
        a.ok.sum(now - Duration::hours(3), now)
    );
    assert!(a.ok.sum(now - Duration::hours(3), now) <= 2 * 60 + 1);
    // A week on, the volume of that day has left the baseline too.
    let later = now + Duration::days(8);
    seen.prune(later, config.horizons());
    assert_eq!(seen.volume.sum(t0() - Duration::hours(1), later), 0);
    assert!(seen.by_country.is_empty() && seen.providers.is_empty());
}

#[test]
fn country_prefixes_come_from_the_calling_code_table() {
    use super::observe::country_prefix;
    let cases = [
        ("+40755123456", Some("+40")),
        ("+14155550100", Some("+1")),
        ("+79161234567", Some("+7")),
        ("+447911123456", Some("+44")),
        ("+2348031234567", Some("+234")),
        ("+35312345678", Some("+353")),
        ("+9715012345678", Some("+971")),
        ("40755123456", None),
        ("+4", None),
    ];
    for (number, expected) in cases {
        assert_eq!(country_prefix(number).as_deref(), expected, "{number}");
        // The table agrees with a full parse wherever the number is valid.
        if let Some(expected) = expected {
            let parsed = phonenumber::parse(None, number).unwrap();
            assert_eq!(format!("+{}", parsed.code().value()), expected, "{number}");
        }
    }
}

#[test]
fn an_otp_recipient_is_kept_as_digits_and_reads_back_as_the_same_number() {
    use super::observe::Recipient;
    for number in [
        "+40755123456",
        "+14155550100",
        "+2348031234567",
        "+1",
        "+0012",
    ] {
        let kept = Recipient::parse(number).unwrap();
        assert_eq!(kept.to_string(), number);
        assert_eq!(kept.len(), number.len() - 1);
    }
    let kept = Recipient::parse("+40755123456").unwrap();
    assert_eq!(kept.without_last(2), (407_551_234, 9));
    for bad in ["40755123456", "+", "+40755a23456", "+12345678901234567890"] {
        assert_eq!(Recipient::parse(bad), None, "{bad}");
    }
}

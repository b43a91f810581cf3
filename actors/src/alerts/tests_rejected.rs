//! Pure tests of the provider-rejected rule: one refusal of our credentials or credit fires it.

use super::{
    lifecycle::Lifecycle,
    observe::Observations,
    rules::evaluate,
    tests::{t0, view},
    AlertRule, AlertState, AlertsConfig, Severity,
};
use crate::{policy::breaker::CircuitState, ports::ProviderErrorKind, router::ProviderView};
use chrono::Duration;

fn refusing(slug: &str, kind: Option<ProviderErrorKind>) -> ProviderView {
    let mut p = view(slug, None, CircuitState::Closed);
    p.health.refused = kind;
    p
}

/// Only this rule, so other rules' conditions do not get in the way.
fn only_rejected() -> AlertsConfig {
    AlertsConfig {
        disabled: AlertRule::ALL
            .into_iter()
            .filter(|r| *r != AlertRule::ProviderRejected)
            .map(|r| r.as_str().to_owned())
            .collect(),
        ..AlertsConfig::default()
    }
}

#[test]
fn a_single_refusal_fires_at_once_repeats_after_the_cooldown_and_resolves() {
    let config = only_rejected();
    let seen = Observations::new(t0());
    let cooldown = config.cooldown();
    let mut life = Lifecycle::default();
    let refused = [
        refusing("a", Some(ProviderErrorKind::InvalidCredentials)),
        refusing("b", None),
    ];

    let first = life.step(evaluate(&config, &seen, &refused, t0()), t0(), cooldown);
    assert_eq!(first.len(), 1, "{first:?}");
    let a = &first[0];
    assert_eq!(
        (a.rule, a.subject.as_str(), a.state, a.severity),
        (
            AlertRule::ProviderRejected,
            "a",
            AlertState::Firing,
            Severity::Critical
        )
    );
    assert!(a.message.contains("credentials"), "{}", a.message);
    assert_eq!(a.details["errorKind"], "INVALID_CREDENTIALS");

    let quiet = t0() + cooldown - Duration::seconds(1);
    assert!(life
        .step(evaluate(&config, &seen, &refused, quiet), quiet, cooldown)
        .is_empty());
    let again = t0() + cooldown;
    let repeat = life.step(evaluate(&config, &seen, &refused, again), again, cooldown);
    assert_eq!(repeat.len(), 1);
    assert_eq!(
        (repeat[0].id.as_str(), repeat[0].notice),
        (a.id.as_str(), 1)
    );

    // A send or balance check went through: the provider actor cleared the refusal.
    let fine = [refusing("a", None), refusing("b", None)];
    let later = again + Duration::seconds(15);
    let resolved = life.step(evaluate(&config, &seen, &fine, later), later, cooldown);
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        (resolved[0].id.as_str(), resolved[0].state),
        (a.id.as_str(), AlertState::Resolved)
    );
}

#[test]
fn insufficient_credit_is_a_refusal_too_and_the_rule_can_be_turned_off() {
    let seen = Observations::new(t0());
    let broke = [refusing("a", Some(ProviderErrorKind::InsufficientCredit))];
    let conditions = evaluate(&only_rejected(), &seen, &broke, t0());
    assert_eq!(conditions.len(), 1);
    assert!(conditions[0].message.contains("credit"));
    assert_eq!(conditions[0].details["errorKind"], "INSUFFICIENT_CREDIT");

    let off = AlertsConfig {
        disabled: vec!["provider_rejected".into()],
        ..AlertsConfig::default()
    };
    assert!(evaluate(&off, &seen, &broke, t0())
        .iter()
        .all(|c| c.rule != AlertRule::ProviderRejected));
    assert_eq!(off.problem(), None, "provider_rejected is a rule name");

    // An inactive provider is not watched.
    let mut inactive = refusing("a", Some(ProviderErrorKind::InvalidCredentials));
    inactive.config.is_active = false;
    assert!(evaluate(&only_rejected(), &seen, &[inactive], t0()).is_empty());
}

//! The limits together: each allowance, what a refusal gives back, the defaults.

use super::*;

fn n(raw: &str) -> E164 {
    E164::parse(raw).unwrap()
}

#[tokio::test]
async fn five_otp_per_number_per_hour() {
    let limits = RateLimits::new(
        LimitSettings {
            per_token_per_second: 0,
            per_token_burst: 0,
            otp_per_recipient_per_hour: 5,
            transactional_per_recipient_per_hour: 0,
            marketing_per_recipient_per_hour: 0,
            spend_per_token_per_day_cents: 0,
        },
        &prometheus::Registry::new(),
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            limits.check_recipient(&n("0755123456"), MessageType::Otp),
            Ok(())
        );
    }
    // The same number written another way is the same recipient.
    let wait = limits
        .check_recipient(&n("+40 755 123 456"), MessageType::Otp)
        .unwrap_err();
    assert!(
        wait > Duration::from_secs(700) && wait <= Duration::from_secs(720),
        "{wait:?}"
    );
    assert_eq!(
        limits.check_recipient(&n("0755123456"), MessageType::Transactional),
        Ok(())
    );
    assert_eq!(
        limits.check_recipient(&n("0755000000"), MessageType::Otp),
        Ok(())
    );
    assert_eq!(limits.check_token("anyone"), Ok(()), "token limit off");
    // A message that was not accepted after all gives its place back.
    let to = n("0755123456");
    AcceptLimiter::give_back(&limits, &admission(None, &to, MessageType::Otp, 1)).await;
    assert_eq!(
        limits.check_recipient(&n("0755123456"), MessageType::Otp),
        Ok(())
    );
}

fn admission<'a>(
    sent_by: Option<&'a str>,
    to: &'a E164,
    message_type: MessageType,
    segments: u32,
) -> Admission<'a> {
    Admission {
        sent_by,
        to,
        message_type,
        segments,
        estimated_cost: Some(Money::from_cents(2.0) * segments),
    }
}

fn limits(settings: LimitSettings) -> RateLimits {
    RateLimits::new(settings, &prometheus::Registry::new()).unwrap()
}

const OFF: LimitSettings = LimitSettings {
    per_token_per_second: 0,
    per_token_burst: 0,
    otp_per_recipient_per_hour: 0,
    transactional_per_recipient_per_hour: 0,
    marketing_per_recipient_per_hour: 0,
    spend_per_token_per_day_cents: 0,
};

#[tokio::test]
async fn each_message_is_charged_to_its_token_apart_from_the_requests() {
    let limits = limits(LimitSettings {
        per_token_per_second: 5,
        per_token_burst: 5,
        ..OFF
    });
    let to: Vec<E164> = (0..10).map(|i| n(&format!("07551234{i:02}"))).collect();
    let mut taken = 0;
    for to in &to {
        let admission = admission(Some("shop"), to, MessageType::Transactional, 1);
        taken += usize::from(limits.try_take(&admission).await.is_ok());
    }
    assert_eq!(taken, 5, "the burst, whatever the request they came in");
    let refusal = limits
        .try_take(&admission(
            Some("shop"),
            &to[0],
            MessageType::Transactional,
            1,
        ))
        .await
        .unwrap_err();
    assert!(refusal.reason.contains("send rate"), "{}", refusal.reason);
    assert!(limits
        .try_take(&admission(
            Some("other"),
            &to[0],
            MessageType::Transactional,
            1
        ))
        .await
        .is_ok());
    assert_eq!(
        limits.check_token("shop"),
        Ok(()),
        "requests are counted apart"
    );
    assert_eq!(limits.refused.with_label_values(&["token_sends"]).get(), 6);
}

#[tokio::test]
async fn a_token_spends_at_most_its_daily_ceiling_and_a_refusal_takes_nothing() {
    let limits = limits(LimitSettings {
        otp_per_recipient_per_hour: 5,
        spend_per_token_per_day_cents: 10,
        ..OFF
    });
    let to = n("0755123456");
    // 2 cents a part: 3 parts, then 2 parts, fill 10 cents.
    assert!(limits
        .try_take(&admission(Some("shop"), &to, MessageType::Otp, 3))
        .await
        .is_ok());
    assert!(limits
        .try_take(&admission(Some("shop"), &to, MessageType::Otp, 2))
        .await
        .is_ok());
    let refusal = limits
        .try_take(&admission(Some("shop"), &to, MessageType::Otp, 1))
        .await
        .unwrap_err();
    assert!(
        refusal.reason.contains("daily spend ceiling of 0.10 euro"),
        "{}",
        refusal.reason
    );
    assert!(refusal.retry_after <= Duration::from_secs(24 * 3600));
    // The refused message gave back the recipient allowance it had taken: 3 more fit.
    for _ in 0..3 {
        assert!(limits
            .try_take(&admission(Some("other"), &to, MessageType::Otp, 1))
            .await
            .is_ok());
    }
    assert!(limits
        .try_take(&admission(Some("other"), &to, MessageType::Otp, 1))
        .await
        .is_err());
    // A message not accepted after all gives its spend back.
    limits
        .give_back(&admission(Some("shop"), &to, MessageType::Otp, 2))
        .await;
    let other = n("0755000001");
    assert!(limits
        .try_take(&admission(Some("shop"), &other, MessageType::Otp, 2))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_price_nobody_states_is_counted_at_the_safe_estimate() {
    let limits = limits(LimitSettings {
        spend_per_token_per_day_cents: 25,
        ..OFF
    });
    let to = n("0755123456");
    let unknown = Admission {
        estimated_cost: None,
        ..admission(Some("shop"), &to, MessageType::Transactional, 1)
    };
    assert!(limits.try_take(&unknown).await.is_ok());
    assert!(limits.try_take(&unknown).await.is_ok());
    assert!(limits.try_take(&unknown).await.is_err(), "10 cents each");
}

#[test]
fn every_type_has_a_recipient_allowance_by_default() {
    let settings = crate::config::Settings::load_from(None, Vec::new()).unwrap();
    for ty in MessageType::ALL {
        assert!(settings.limits.per_recipient_per_hour(ty) > 0, "{ty:?}");
    }
}

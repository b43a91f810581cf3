//! The `AlertLog` contract: notices kept once each, listed newest first, filtered and paged.

use super::base_time;
use chrono::Duration;
use smsgate_actors::alerts::{Alert, AlertCursor, AlertQuery, AlertRule, AlertState, Severity};
use smsgate_actors::ports::AlertLog;

fn notice(id: &str, n: u32, rule: AlertRule, state: AlertState, minutes: i64) -> Alert {
    Alert {
        id: id.to_owned(),
        notice: n,
        rule,
        subject: "smso".into(),
        state,
        severity: Severity::Critical,
        message: format!("{} {n}", rule.as_str()),
        fired_at: base_time(),
        // Nanoseconds, so a backend that rounds times would page wrongly and be caught.
        at: base_time() + Duration::minutes(minutes) + Duration::nanoseconds(7),
        details: serde_json::json!({ "rate": 0.5, "reasons": ["circuit open"] }),
    }
}

pub async fn alert_history_is_newest_first_filtered_and_paged(store: &dyn AlertLog) {
    let all = [
        notice("alr_a", 0, AlertRule::ProviderDown, AlertState::Firing, 0),
        notice("alr_a", 1, AlertRule::ProviderDown, AlertState::Firing, 30),
        notice("alr_b", 0, AlertRule::LowCredit, AlertState::Firing, 30),
        notice(
            "alr_a",
            2,
            AlertRule::ProviderDown,
            AlertState::Resolved,
            40,
        ),
    ];
    for a in &all {
        store.record_alert(a).await.unwrap();
    }
    // Stored twice (a retried write): kept once.
    store.record_alert(&all[0]).await.unwrap();
    let query = |limit| AlertQuery {
        limit,
        ..AlertQuery::default()
    };
    let got = store.alert_history(&query(10)).await.unwrap();
    let expected = [&all[3], &all[2], &all[1], &all[0]];
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        expected,
        "newest first, by (at, id, notice)"
    );

    // Pages of one, each after the cursor of the last, walk the same order without repeats.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .alert_history(&AlertQuery {
                before: before.clone(),
                ..query(1)
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(AlertCursor::of(last));
        paged.extend(page);
    }
    assert_eq!(paged, got);

    let down = store
        .alert_history(&AlertQuery {
            rule: Some(AlertRule::ProviderDown),
            ..query(10)
        })
        .await
        .unwrap();
    assert_eq!(down.len(), 3);
    let resolved = store
        .alert_history(&AlertQuery {
            state: Some(AlertState::Resolved),
            ..query(10)
        })
        .await
        .unwrap();
    assert_eq!(resolved, [all[3].clone()]);
}

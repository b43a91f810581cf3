//! The daily spend ceiling per token, in memory: what each token was charged today (UTC).

use chrono::{DateTime, NaiveDate, Utc};
use smsgate_actors::{domain::Money, ports::Refusal};
use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// What each token spent today (UTC), against one ceiling. One entry per token: tokens are
/// few and named by the operator, so the map stays small.
#[derive(Debug)]
pub(super) struct DailySpend {
    ceiling: Money,
    spent: Mutex<HashMap<String, (NaiveDate, Money)>>,
}

impl DailySpend {
    pub(super) fn new(ceiling: Money) -> Self {
        Self {
            ceiling,
            spent: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn take(
        &self,
        caller: &str,
        cost: Money,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let today = now.date_naive();
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        let (day, total) = spent
            .entry(caller.to_owned())
            .or_insert((today, Money::ZERO));
        if *day != today {
            *day = today;
            *total = Money::ZERO;
        }
        if *total + cost > self.ceiling {
            return Err(refusal(self.ceiling, *total, now));
        }
        *total += cost;
        Ok(())
    }

    pub(super) fn give_back(&self, caller: &str, cost: Money, now: DateTime<Utc>) {
        let mut spent = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((day, total)) = spent.get_mut(caller) {
            if *day == now.date_naive() {
                *total = *total - cost;
            }
        }
    }
}

/// The refusal of a token at its ceiling: until the next UTC midnight.
pub(super) fn refusal(ceiling: Money, spent: Money, now: DateTime<Utc>) -> Refusal {
    Refusal {
        retry_after: until_midnight(now),
        reason: format!(
            "the token's daily spend ceiling of {:.2} euro: {:.2} counted today",
            ceiling.cents() / 100.0,
            spent.cents() / 100.0
        ),
    }
}

/// How long until the next UTC day begins.
pub(super) fn until_midnight(now: DateTime<Utc>) -> Duration {
    now.date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|midnight| (midnight.and_utc() - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600))
}

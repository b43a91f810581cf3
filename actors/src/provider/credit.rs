//! Provider actor: credit and refusals. The balance is read at start and every five minutes;
//! a send's cost is counted down from it. Out of credit (the provider said so, or the count
//! reached zero), the balance is read again after at most `balance_recheck_ms`, and again while
//! it stays empty, so a top-up is noticed without waiting for the refresh. A refusal of our
//! credentials or credit is kept for the provider-rejected alert and logged once per episode.

use super::{send::error_label, ProviderState};
use crate::{
    domain::Money,
    ports::{Balance, ProviderError, ProviderErrorKind},
    protocol::ProviderMsg,
};
use ractor::ActorRef;
use std::time::Duration;
use tokio::time::Instant;

impl ProviderState {
    pub(super) fn read_balance(&mut self, myself: &ActorRef<ProviderMsg>) {
        self.last_balance_read = Some(Instant::now());
        let client = self.client.clone();
        let me = myself.clone();
        let metrics = self.metrics.clone();
        let slug = self.slug.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = client.balance().await;
            metrics.provider_call(&slug, "balance", started.elapsed(), error_label(&result));
            let _ = me.cast(ProviderMsg::BalanceFetched(result));
        });
    }

    /// While out of credit, reads the balance again once `balance_recheck` has passed since the
    /// last read: soon enough to notice a top-up, never more often than that.
    pub(super) fn arm_balance_recheck(&mut self, myself: &ActorRef<ProviderMsg>) {
        if !self.out_of_credit || self.recheck_armed {
            return;
        }
        let now = Instant::now();
        let wait = self.last_balance_read.map_or(Duration::ZERO, |at| {
            (at + self.balance_recheck).saturating_duration_since(now)
        });
        self.recheck_armed = true;
        myself.send_after(wait, || ProviderMsg::RecheckBalance);
    }

    /// The recheck timer fired: read the balance if it is still empty.
    pub(super) fn recheck_balance(&mut self, myself: &ActorRef<ProviderMsg>) {
        self.recheck_armed = false;
        if self.out_of_credit {
            self.read_balance(myself);
        }
    }

    pub(super) fn on_balance_fetched(&mut self, result: Result<Balance, ProviderError>) {
        self.balance_check_failing = result
            .as_ref()
            .is_err_and(|e| e.kind != ProviderErrorKind::InsufficientCredit);
        match result {
            Ok(balance) => {
                self.credit = balance.credit;
                self.out_of_credit = balance.credit.is_some_and(|c| !c.is_positive());
                // The provider took our credentials; an empty account still refuses.
                if !self.out_of_credit {
                    self.refused = None;
                }
                if let Some(credit) = balance.credit {
                    self.metrics.credit(&self.slug, credit.cents());
                }
            }
            Err(err) => {
                tracing::warn!(provider = %self.slug, error.message = %err, "balance check failed");
                if err.kind == ProviderErrorKind::InsufficientCredit {
                    self.out_of_credit = true;
                }
                if matches!(
                    err.kind,
                    ProviderErrorKind::InsufficientCredit | ProviderErrorKind::InvalidCredentials
                ) {
                    self.note_refusal(err.kind);
                }
            }
        }
    }

    /// What a finished send says of our account: refused (credit or credentials), or taken,
    /// its cost counted down from the credit.
    pub(super) fn account_send(&mut self, failed: Option<ProviderErrorKind>, cost: Option<Money>) {
        match failed {
            Some(kind @ ProviderErrorKind::InsufficientCredit) => {
                self.note_refusal(kind);
                self.out_of_credit = true;
                self.credit = Some(Money::ZERO);
            }
            Some(kind @ ProviderErrorKind::InvalidCredentials) => self.note_refusal(kind),
            Some(_) => {}
            None => {
                self.refused = None;
                if let (Some(credit), Some(cost)) = (self.credit, cost) {
                    let left = credit - cost;
                    self.credit = Some(left);
                    self.out_of_credit = !left.is_positive();
                }
            }
        }
        if let Some(credit) = self.credit {
            self.metrics.credit(&self.slug, credit.cents());
        }
    }

    /// The provider refused our credentials or credit. The admin hears of it from the
    /// provider-rejected alert; the log says it once per episode, not per message.
    fn note_refusal(&mut self, kind: ProviderErrorKind) {
        if self.refused != Some(kind) {
            let reason = match kind {
                ProviderErrorKind::InvalidCredentials => "the provider refused our credentials",
                _ => "the provider says we are out of credit",
            };
            tracing::warn!(provider = %self.slug, error.kind = ?kind, "{reason}; messages fail over");
        }
        self.refused = Some(kind);
    }
}

//! The messages the Router and the provider actors exchange, and what they carry (a send job, a
//! provider's health, a provider as seen from outside). Both actors import this module and
//! neither imports the other.

use crate::{
    domain::{Message, MessageId, Money, ProviderConfig},
    policy::breaker::CircuitState,
    ports::{Balance, DeliveryReport, ProviderError, ProviderErrorKind, SendReceipt, SendRequest},
};
use chrono::{DateTime, Utc};
use ractor::{ActorRef, RpcReplyPort};
use std::sync::Arc;

/// What the Router needs to choose, and what admins see.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderHealth {
    pub circuit: CircuitState,
    /// `None` when unknown or unlimited.
    pub credit: Option<Money>,
    pub out_of_credit: bool,
    pub consecutive_failures: u32,
    /// The last balance check failed: watched by the provider-down alert.
    pub balance_check_failing: bool,
    /// The provider's latest answer refused our credentials or our credit
    /// (`InvalidCredentials` or `InsufficientCredit`): the admin must act. Cleared by a
    /// successful send or balance check. Watched by the provider-rejected alert.
    pub refused: Option<ProviderErrorKind>,
}

impl ProviderHealth {
    pub fn fresh() -> Self {
        Self {
            circuit: CircuitState::Closed,
            credit: None,
            out_of_credit: false,
            consecutive_failures: 0,
            balance_check_failing: false,
            refused: None,
        }
    }

    pub fn can_take_messages(&self) -> bool {
        self.circuit != CircuitState::Open && !self.out_of_credit
    }
}

/// A provider as seen from outside: its configuration and its health right now.
#[derive(Debug, Clone)]
pub struct ProviderView {
    pub config: ProviderConfig,
    pub running: bool,
    pub health: ProviderHealth,
    pub in_flight: usize,
}

/// The providers known to the engine, for validating requests without asking an actor.
pub type Directory = Arc<Vec<ProviderView>>;

pub enum RouterMsg {
    Dispatch(Message),
    Recover(Vec<Message>),
    SendFinished {
        message_id: MessageId,
        provider: String,
        result: Result<SendReceipt, ProviderError>,
    },
    /// A provider call prepared for `provider` was not made (its SENDING was not written): the
    /// place it took at the provider is free again.
    CallNotMade {
        provider: String,
    },
    Retry(MessageId),
    Report(DeliveryReport),
    /// A receipt for a message the Router no longer held, after reading it from the store.
    ReportResolved(DeliveryReport, Option<Message>),
    ProviderUp {
        config: ProviderConfig,
        actor: ActorRef<ProviderMsg>,
    },
    ProviderDown {
        slug: String,
        /// Removed from the configuration, rather than crashed.
        removed: bool,
    },
    ProviderHealth {
        slug: String,
        health: ProviderHealth,
    },
    Tick,
    Providers(RpcReplyPort<Vec<ProviderView>>),
    /// Stop dispatching; reply once no provider call is in flight.
    Drain(RpcReplyPort<()>),
    /// The store refused a change of this message: another instance holds it now (or applied
    /// a receipt first). It is forgotten here and never sent by this instance again.
    LeaseLost(MessageId),
    /// Another instance stored a change of this message and it is final now (a receipt applied
    /// there): a copy held here is stale and is let go. Other changes (a takeover) are left to
    /// the store's fence: an old event must not make the Router drop a message it holds now.
    FinishedElsewhere(MessageId),
}

/// One send the Router hands to a provider actor, once its SENDING is committed.
pub struct SendJob {
    pub message_id: MessageId,
    pub request: SendRequest,
}

pub enum ProviderMsg {
    Send(SendJob),
    SendCompleted {
        failed: Option<ProviderErrorKind>,
        cost: Option<Money>,
    },
    BalanceFetched(Result<Balance, ProviderError>),
    RefreshBalance,
    /// Timer armed while out of credit: read the balance again.
    RecheckBalance,
    CooldownElapsed,
    Health(RpcReplyPort<ProviderHealth>),
    /// From the Router: this message is SENT through us and waits for its receipt.
    AwaitReceipt {
        message_id: MessageId,
        provider_message_id: String,
        expires_at: DateTime<Utc>,
    },
    /// From the Router at start-up: this message was SENDING through us when the process
    /// stopped; settle it by a look-up (or fail it as ambiguous). The outcome goes to the
    /// Router as a `SendFinished`.
    Reconcile {
        request: SendRequest,
        since: DateTime<Utc>,
    },
    /// Timer: start the status checks that are due.
    PollDue,
    /// A status check finished; `done` when its status was final (and reported to the Router);
    /// `last_of_round` when it was the round's last check, so the next round may start.
    Polled {
        message_id: MessageId,
        done: bool,
        last_of_round: bool,
    },
    /// An injected fault, for supervision tests: the handler fails and the actor dies.
    #[cfg(any(test, feature = "test-support"))]
    Crash,
}

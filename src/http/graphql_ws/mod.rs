//! `/graphql/ws`: GraphQL over WebSocket (graphql-transport-ws), served by this module rather
//! than `async_graphql`'s `WebSocket` so that the connection obeys the same rules as
//! POST /graphql: every `subscribe` (a subscription, a query or a mutation) is charged to its
//! token's request rate, and over it gets an `error` message (RATE_LIMITED, `retryAfter`) while
//! the connection stays open.
//!
//! Also: messages larger than `ws_max_message_bytes` close with 1009; no `connection_init`
//! within `ws_init_timeout_ms` closes with 4408; a missing or refused token with 4403 (and
//! counts as a failed authentication of the client's address); a malformed message with 4400;
//! at most `ws_max_connections_per_token` connections per token (4429) and
//! `ws_max_subscriptions_per_connection` operations running per connection; the token is
//! checked again every `ws_token_recheck_ms`, so a revoked token's connections close (4403).

mod connections;
mod protocol;

pub use connections::Connections;

use crate::{
    http::{
        auth::{client_ip, Caller},
        error::AuthError,
        AppState,
    },
    secrets::SecretString,
};
use async_graphql::{ErrorExtensions, ServerError};
use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket},
        State, WebSocketUpgrade,
    },
    http::Extensions,
    response::Response,
};
use futures::{
    stream::{self, AbortHandle, Abortable, BoxStream, SelectAll},
    StreamExt,
};
use protocol::{ClientMessage, Close, ServerMessage};
use std::{collections::HashMap, net::IpAddr};

/// The one protocol spoken (the legacy `graphql-ws` one is not).
const PROTOCOL: &str = "graphql-transport-ws";

pub async fn websocket(
    State(state): State<AppState>,
    extensions: Extensions,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client_ip(&extensions);
    let limit = state.guards.ws_max_message_bytes;
    upgrade
        .protocols([PROTOCOL])
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| Session::new(state, client).run(socket))
}

/// An operation's answers, tagged with its id; `None` after the last one.
type Operation = Abortable<BoxStream<'static, (String, Option<async_graphql::Response>)>>;

/// The acknowledged caller of a connection, with its token (to check it again) and its place
/// among the token's connections.
struct Authorised {
    caller: Caller,
    token: SecretString,
    _slot: connections::Slot,
}

struct Session {
    state: AppState,
    client: Option<IpAddr>,
    init_received: bool,
    authorised: Option<Authorised>,
    operations: SelectAll<Operation>,
    running: HashMap<String, AbortHandle>,
}

impl Session {
    fn new(state: AppState, client: Option<IpAddr>) -> Self {
        Self {
            state,
            client,
            init_received: false,
            authorised: None,
            operations: SelectAll::new(),
            running: HashMap::new(),
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        if let Some(close) = self.serve(&mut socket).await {
            tracing::debug!(code = close.code, reason = %close.reason, "closing a WebSocket");
            let frame = CloseFrame {
                code: close.code,
                reason: close.reason.into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
        for handle in self.running.values() {
            handle.abort();
        }
    }

    /// Until the connection ends: `Some` when the server closes it, with why.
    async fn serve(&mut self, socket: &mut WebSocket) -> Option<Close> {
        let guards = self.state.guards;
        let init_deadline = tokio::time::sleep(guards.ws_init_timeout());
        tokio::pin!(init_deadline);
        let period = guards.ws_token_recheck();
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let outgoing = tokio::select! {
                received = socket.recv() => match received {
                    Some(Ok(Message::Text(text))) => match self.on_message(text.as_str()).await {
                        Ok(outgoing) => outgoing,
                        Err(close) => return Some(close),
                    },
                    Some(Ok(Message::Binary(_))) => {
                        return Some(Close::malformed("binary messages are not part of the protocol"))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Vec::new(),
                    Some(Ok(Message::Close(_))) | None => return None,
                    Some(Err(err)) => return read_failed(err, guards.ws_max_message_bytes),
                },
                Some((id, answer)) = self.operations.next(), if !self.operations.is_empty() => {
                    match answer {
                        Some(payload) => vec![ServerMessage::Next { id: &id, payload }.to_text()],
                        None => {
                            self.running.remove(&id);
                            vec![ServerMessage::Complete { id: &id }.to_text()]
                        }
                    }
                }
                () = &mut init_deadline, if self.authorised.is_none() => {
                    return Some(Close::init_timeout());
                }
                _ = recheck.tick(), if self.authorised.is_some() => {
                    match self.recheck().await {
                        Some(close) => return Some(close),
                        None => Vec::new(),
                    }
                }
            };
            for text in outgoing {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return None;
                }
            }
        }
    }

    /// One message from the client: what to answer, or why to close.
    async fn on_message(&mut self, text: &str) -> Result<Vec<String>, Close> {
        let message: ClientMessage = serde_json::from_str(text).map_err(Close::malformed)?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.init_received {
                    return Err(Close::too_many("initialisation requests"));
                }
                self.init_received = true;
                self.authorise(&payload.unwrap_or_default()).await?;
                Ok(vec![ServerMessage::ConnectionAck.to_text()])
            }
            ClientMessage::Ping {} => Ok(vec![ServerMessage::Pong { payload: None }.to_text()]),
            ClientMessage::Pong {} => Ok(Vec::new()),
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, *payload),
            ClientMessage::Complete { id } => {
                if let Some(handle) = self.running.remove(&id) {
                    handle.abort();
                }
                Ok(Vec::new())
            }
        }
    }

    /// `connection_init`: the token in the payload, verified as a bearer token is, within the
    /// client address's failed-authentication allowance and the token's connection cap.
    async fn authorise(&mut self, payload: &serde_json::Value) -> Result<(), Close> {
        let verifier = &self.state.verifier;
        verifier
            .check_client(self.client)
            .map_err(|_| Close::too_many("failed authentications from this address"))?;
        let verified = match smsgate_graphql::init_token(payload) {
            Some(token) => verifier
                .verify(token)
                .await
                .map(|caller| (caller, SecretString::new(token))),
            None => Err(AuthError::Missing),
        };
        let (caller, token) = match verified {
            Ok(verified) => verified,
            Err(AuthError::Unavailable) => {
                return Err(Close::internal("the token store is unavailable"))
            }
            Err(reason) => {
                tracing::info!(reason = %reason, "unauthenticated WebSocket");
                verifier.failed_from(self.client, reason);
                return Err(Close::forbidden(&reason.to_string()));
            }
        };
        let slot = self
            .state
            .ws_connections
            .open(&caller.name)
            .ok_or_else(|| Close::too_many("connections for this token"))?;
        self.authorised = Some(Authorised {
            caller,
            token,
            _slot: slot,
        });
        Ok(())
    }

    /// `subscribe`: runs the operation as its caller, if the caller's rate and this
    /// connection's operation cap allow.
    fn subscribe(
        &mut self,
        id: String,
        request: async_graphql::Request,
    ) -> Result<Vec<String>, Close> {
        let Some(caller) = self.authorised.as_ref().map(|a| a.caller.clone()) else {
            return Err(Close::unauthorized());
        };
        if self.running.contains_key(&id) {
            return Err(Close::duplicate(&id));
        }
        let cap = self.state.guards.ws_max_subscriptions_per_connection;
        if cap > 0 && self.running.len() >= cap as usize {
            // RATE_LIMITED, a code of the API's contract: the client may try again once one of
            // its operations has completed.
            let error = smsgate_graphql::ApiError::RateLimited {
                retry_after: std::time::Duration::from_secs(1),
                reason: format!(
                    "at most {cap} operations may run at once on one connection; complete one first"
                ),
            }
            .extend()
            .into_server_error(async_graphql::Pos::default());
            return Ok(vec![refused(&id, error)]);
        }
        if let Err(retry_after) = self.state.verifier.admit(&caller) {
            let error = smsgate_graphql::ApiError::RateLimited {
                retry_after,
                reason: crate::http::auth::REQUEST_RATE.to_owned(),
            }
            .extend()
            .into_server_error(async_graphql::Pos::default());
            return Ok(vec![refused(&id, error)]);
        }
        let (tag, end) = (id.clone(), id.clone());
        let answers = self
            .state
            .schema
            .execute_stream(request.data(caller))
            .map(move |answer| (tag.clone(), Some(answer)))
            .chain(stream::once(async move { (end, None) }))
            .boxed();
        let (operation, handle) = stream::abortable(answers);
        self.running.insert(id, handle);
        self.operations.push(operation);
        Ok(Vec::new())
    }

    /// Every `ws_token_recheck_ms`: a token revoked (or deleted) since closes the connection.
    /// `&mut self` only so the future is `Send` (the running operations are not `Sync`).
    async fn recheck(&mut self) -> Option<Close> {
        let authorised = self.authorised.as_ref()?;
        match self.state.verifier.verify(authorised.token.expose()).await {
            Ok(_) | Err(AuthError::Unavailable) => None,
            Err(reason) => {
                tracing::info!(caller = %authorised.caller.name, reason = %reason, "closing a WebSocket: its token is no longer valid");
                Some(Close::forbidden(&reason.to_string()))
            }
        }
    }
}

/// The `error` message of an operation that did not run.
fn refused(id: &str, error: ServerError) -> String {
    ServerMessage::Error {
        id,
        payload: vec![error],
    }
    .to_text()
}

/// A read error: a message over the size limit closes with 1009; anything else (a broken
/// connection, a protocol violation below GraphQL) just ends it.
fn read_failed(err: axum::Error, limit: usize) -> Option<Close> {
    let too_big = err
        .into_inner()
        .downcast::<tungstenite::Error>()
        .is_ok_and(|err| matches!(*err, tungstenite::Error::Capacity(_)));
    too_big.then(|| Close::too_big(limit))
}

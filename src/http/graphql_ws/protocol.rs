//! The graphql-transport-ws messages (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
//! what a client may send, what the server answers, and the close codes the protocol assigns.

use serde::{Deserialize, Serialize};

/// Closes a connection: `code` and a short reason (a close frame's reason fits in 123 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: String,
}

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason: String = reason.into();
        if reason.len() > 123 {
            let mut end = 123;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self { code, reason }
    }

    /// 4400: not a message of the protocol (not JSON, unknown type, missing field, binary).
    pub fn malformed(why: impl std::fmt::Display) -> Self {
        Self::new(4400, format!("invalid message: {why}"))
    }

    /// 4401: an operation before the connection was acknowledged.
    pub fn unauthorized() -> Self {
        Self::new(4401, "Unauthorized")
    }

    /// 4403: the token in `connection_init` was missing or refused, or was revoked since.
    pub fn forbidden(why: &str) -> Self {
        Self::new(4403, format!("Forbidden: {why}"))
    }

    /// 4408: no `connection_init` within the configured time.
    pub fn init_timeout() -> Self {
        Self::new(4408, "Connection initialisation timeout")
    }

    /// 4409: an operation id that is already running on this connection.
    pub fn duplicate(id: &str) -> Self {
        Self::new(4409, format!("Subscriber for {id} already exists"))
    }

    /// 4429: a second `connection_init`, or too many connections / failed authentications.
    pub fn too_many(what: &str) -> Self {
        Self::new(4429, format!("Too many {what}"))
    }

    /// 4500: the server could not decide (the token store is unreadable); nothing was refused.
    pub fn internal(why: &str) -> Self {
        Self::new(4500, why)
    }

    /// 1009: a message larger than `ws_max_message_bytes`.
    pub fn too_big(limit: usize) -> Self {
        Self::new(1009, format!("message larger than {limit} bytes"))
    }
}

/// A message from the client. Unknown types and missing fields are refused by serde (4400).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<serde_json::Value>,
    },
    /// Its payload, if any, is not used: the answer is a `pong` without one.
    Ping {},
    Pong {},
    Subscribe {
        id: String,
        payload: Box<async_graphql::Request>,
    },
    Complete {
        id: String,
    },
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    ConnectionAck,
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<serde_json::Value>,
    },
    Next {
        id: &'a str,
        payload: async_graphql::Response,
    },
    /// The operation did not run; the connection stays open.
    Error {
        id: &'a str,
        payload: Vec<async_graphql::ServerError>,
    },
    Complete {
        id: &'a str,
    },
}

impl ServerMessage<'_> {
    pub fn to_text(&self) -> String {
        // Serialising these types cannot fail (string keys, no maps with other keys).
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_messages_parse_and_strangers_do_not() {
        let init: ClientMessage =
            serde_json::from_str(r#"{"type":"connection_init","payload":{"token":"t"}}"#).unwrap();
        assert!(matches!(
            init,
            ClientMessage::ConnectionInit { payload: Some(_) }
        ));
        let sub: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}"#)
                .unwrap();
        assert!(matches!(sub, ClientMessage::Subscribe { ref id, .. } if id == "1"));
        for bad in [
            "not json",
            r#"{"type":"start","id":"1","payload":{"query":"{ a }"}}"#,
            r#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
            r#"{"id":"1"}"#,
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_a_close_frame() {
        let close = Close::malformed("é".repeat(200));
        assert!(close.reason.len() <= 123);
        assert_eq!(close.code, 4400);
    }
}

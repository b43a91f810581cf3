//! The generic HTTP provider: any SMS API a user can describe in settings, without code — the
//! URL, method, headers, a body template with `{to}` `{body}` `{sender}` `{message_id}`, where
//! the provider's message id and its error sit in the JSON answer (JSON pointers), and which
//! HTTP statuses are transient.
//!
//! Credentials (`{"apiKey": ...}` or any object of strings) are placed with `{credentials.NAME}`
//! in headers only, so a key never ends up in a URL that could be logged.

use super::{
    http::{self, Answer, Call, HttpSettings, RateLimiter},
    outbound::{GuardedClient, OutboundPolicy},
};
use async_trait::async_trait;
use serde::Deserialize;
use smsgate_actors::{
    domain::ProviderConfig,
    ports::{
        Balance, ProviderError, ProviderErrorKind, SendReceipt, SendRequest, SmsProvider,
        StatusReport,
    },
};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct GenericSettings {
    /// Where sends go; `api_base_url` of the provider is used when this is not set.
    pub url: Option<String>,
    /// `POST` (default), `PUT`, `PATCH` or `GET`.
    pub method: String,
    /// Extra request headers; values may use `{credentials.NAME}`.
    pub headers: BTreeMap<String, String>,
    /// The body with `{to}`, `{body}`, `{sender}`, `{message_id}`; values are escaped for
    /// `content_type` (JSON string escaping, or form encoding).
    pub body_template: String,
    pub content_type: String,
    /// JSON pointer to the provider's message id in the answer, e.g. `/messages/0/id`.
    pub message_id_pointer: String,
    /// JSON pointer to an error in the answer; a non-null value there fails the send even with
    /// a 2xx status.
    pub error_pointer: Option<String>,
    /// Statuses that mean "try again later" (retried with backoff); other 4xx fail over.
    pub transient_statuses: Vec<u16>,
}

impl Default for GenericSettings {
    fn default() -> Self {
        Self {
            url: None,
            method: "POST".to_owned(),
            headers: BTreeMap::new(),
            body_template:
                r#"{"to":"{to}","body":"{body}","sender":"{sender}","reference":"{message_id}"}"#
                    .to_owned(),
            content_type: "application/json".to_owned(),
            message_id_pointer: "/id".to_owned(),
            error_pointer: None,
            transient_statuses: vec![408, 425, 429, 500, 502, 503, 504],
        }
    }
}

/// The longest provider message id kept; ids of real APIs are well under it.
const MAX_ID_LEN: usize = 200;

impl GenericSettings {
    /// Reads and checks the settings: everything `send` relies on is refused here, not on the
    /// first message.
    pub fn from_json(settings: &serde_json::Value) -> Result<Self, ProviderError> {
        let own: Self = http::parse_settings(settings, "HTTP provider")?;
        own.method()?;
        for (name, value) in &own.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(http::invalid_settings(
                    "headers has a name that is not a header name",
                ));
            }
            // The placeholder is replaced by a secret later; a control character is refused now.
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(http::invalid_settings(
                    "headers has a value that is not a header value",
                ));
            }
        }
        if reqwest::header::HeaderValue::from_str(&own.content_type).is_err() {
            return Err(http::invalid_settings("content_type is not a header value"));
        }
        if !own.message_id_pointer.starts_with('/') {
            return Err(http::invalid_settings(
                "message_id_pointer must be a JSON pointer starting with /",
            ));
        }
        if own
            .error_pointer
            .as_deref()
            .is_some_and(|p| !p.starts_with('/'))
        {
            return Err(http::invalid_settings(
                "error_pointer must be a JSON pointer starting with / (not the whole answer)",
            ));
        }
        if let Some(url) = &own.url {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !ok {
                return Err(http::invalid_settings(
                    "url must be an http:// or https:// URL",
                ));
            }
        }
        if own
            .transient_statuses
            .iter()
            .any(|s| !(100..=599).contains(s))
        {
            return Err(http::invalid_settings(
                "transient_statuses must be HTTP statuses (100 to 599)",
            ));
        }
        Ok(own)
    }

    /// Where sends go: `url`, else the provider's API base URL.
    pub fn target(&self, api_base_url: Option<&str>) -> Result<String, ProviderError> {
        self.url
            .clone()
            .or_else(|| api_base_url.map(str::to_owned))
            .ok_or_else(|| {
                http::invalid_settings("the HTTP provider needs `url` or an API base URL")
            })
    }

    /// The words at `error_pointer` in a JSON answer, when something other than null is there.
    fn error_in(&self, answer: Option<&serde_json::Value>) -> Option<String> {
        self.error_pointer
            .as_deref()
            .and_then(|p| answer?.pointer(p))
            .filter(|e| !e.is_null())
            .map(error_words)
    }

    /// The error for an answer `name` refused: a status listed as transient is retried (429 as
    /// rate limited), another is read as the design says; the words at `error_pointer` say why.
    fn refusal(&self, name: &str, refused: &Answer) -> ProviderError {
        let status = refused.status;
        let answer: Option<serde_json::Value> = serde_json::from_str(&refused.body).ok();
        let kind = if self.transient_statuses.contains(&status.as_u16()) {
            if status.as_u16() == 429 {
                ProviderErrorKind::RateLimited
            } else {
                ProviderErrorKind::Unavailable
            }
        } else {
            http::classify_status(status)
        };
        let error = self.error_in(answer.as_ref());
        http::status_error(name, kind, status, &refused.headers, error.as_deref())
    }

    fn method(&self) -> Result<reqwest::Method, ProviderError> {
        let method = self.method.to_ascii_uppercase();
        match method.as_str() {
            "POST" | "PUT" | "GET" | "PATCH" => Ok(reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| http::invalid_settings("method is not an HTTP method"))?),
            _ => Err(http::invalid_settings(
                "method must be POST, PUT, PATCH or GET",
            )),
        }
    }
}

pub struct Generic {
    name: String,
    client: GuardedClient,
    url: String,
    method: reqwest::Method,
    headers: Vec<(String, String)>,
    sender: Option<String>,
    settings: HttpSettings,
    own: GenericSettings,
    limiter: Option<RateLimiter>,
}

impl Generic {
    pub fn new(
        config: &ProviderConfig,
        credentials: &serde_json::Value,
        outbound: &Arc<OutboundPolicy>,
    ) -> Result<Self, ProviderError> {
        let settings = HttpSettings::from_json(&config.settings)?;
        let own = GenericSettings::from_json(&config.settings)?;
        let url = own.target(config.api_base_url.as_deref())?;
        let method = own.method()?;
        let mut headers = Vec::new();
        for (name, value) in &own.headers {
            let mut value = value.clone();
            if let Some(creds) = credentials.as_object() {
                for (key, secret) in creds {
                    if let Some(secret) = secret.as_str() {
                        value = value.replace(&format!("{{credentials.{key}}}"), secret);
                    }
                }
            }
            headers.push((name.clone(), value));
        }
        Ok(Self {
            name: config.name.clone(),
            client: http::client(&settings, outbound)?,
            url,
            method,
            headers,
            sender: config.sender_id.clone(),
            limiter: RateLimiter::new(settings.requests_per_second),
            settings,
            own,
        })
    }

    /// Fills the template, escaping each value for the body's content type.
    pub fn render(template: &str, content_type: &str, values: &[(&str, &str)]) -> String {
        let json = content_type.contains("json");
        let mut out = template.to_owned();
        for (name, value) in values {
            let escaped = if json {
                let quoted = serde_json::Value::String((*value).to_owned()).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            } else {
                form_urlencoded::byte_serialize(value.as_bytes()).collect()
            };
            out = out.replace(&format!("{{{name}}}"), &escaped);
        }
        out
    }
}

#[async_trait]
impl SmsProvider for Generic {
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, ProviderError> {
        let sender = request
            .sender
            .as_ref()
            .or(self.sender.as_ref())
            .cloned()
            .unwrap_or_default();
        let body = Self::render(
            &self.own.body_template,
            &self.own.content_type,
            &[
                ("to", request.to.as_str()),
                ("body", &request.body),
                ("sender", &sender),
                ("message_id", request.message_id.as_str()),
            ],
        );
        let mut call = self
            .client
            .request(self.method.clone(), &self.url)
            .header("Content-Type", &self.own.content_type)
            .header("Accept", "application/json")
            .body(body);
        for (name, value) in &self.headers {
            call = call.header(name, value);
        }
        RateLimiter::acquire(self.limiter.as_ref()).await;
        let name = self.name.as_str();
        let reply = http::exchange(&self.client, name, Call::Send, call, |refused| {
            self.own.refusal(name, refused)
        })
        .await?;
        let answer: Option<serde_json::Value> = serde_json::from_str(&reply.body).ok();
        if let Some(error) = self.own.error_in(answer.as_ref()) {
            return Err(ProviderError::new(
                ProviderErrorKind::Rejected,
                format!("{name} refused the message: {}", http::excerpt(&error)),
            ));
        }
        let Some(answer) = answer else {
            return Err(http::malformed(name, Call::Send, true, "not JSON"));
        };
        let id = answer
            .pointer(&self.own.message_id_pointer)
            .and_then(|v| match v {
                serde_json::Value::String(s) if s.len() <= MAX_ID_LEN => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| {
                http::malformed(
                    name,
                    Call::Send,
                    true,
                    format!("no message id at {}", self.own.message_id_pointer),
                )
            })?;
        Ok(SendReceipt {
            provider_message_id: id,
            cost: self.settings.price_override(request.segments),
            segments: None,
        })
    }

    /// No status endpoint: the provider actor never polls this one.
    fn can_poll_status(&self) -> bool {
        false
    }

    async fn status(&self, _provider_message_id: &str) -> Result<StatusReport, ProviderError> {
        Err(ProviderError::new(
            ProviderErrorKind::Rejected,
            "the generic HTTP provider has no status endpoint",
        ))
    }

    /// A generic API has no balance we know how to read: no credit limit is assumed.
    async fn balance(&self) -> Result<Balance, ProviderError> {
        Ok(Balance { credit: None })
    }
}

/// What the error pointer found, as the words an error may carry: a text, number or flag. An
/// object or array is not shown: the pointer may have been set to the whole answer of a URL
/// that is not an SMS API, and `message.error` must not become a way to read it.
fn error_words(found: &serde_json::Value) -> String {
    match found {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => found.to_string(),
        _ => "an error that is not a text (not shown)".to_owned(),
    }
}

#[cfg(test)]
mod tests;

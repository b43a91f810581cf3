//! The HTTP client every outbound call goes through: no redirects, and a DNS resolver that
//! drops forbidden addresses at connect time, so the address connected to is the address
//! checked. Calls to a host the operator listed go through a twin client without that filter.

use super::{is_forbidden, OutboundPolicy, UrlRefusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::{net::SocketAddr, sync::Arc};

/// A call refused by the outbound policy, before or while connecting. Names the host only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the outbound policy refused {host}: {reason}")]
pub struct OutboundRefused {
    pub host: String,
    pub reason: String,
}

impl OutboundRefused {
    fn url(url: &reqwest::Url, refusal: &UrlRefusal) -> Self {
        Self {
            host: url.host_str().unwrap_or_default().to_owned(),
            reason: refusal.to_string(),
        }
    }
}

/// Resolves with the system resolver, then keeps only public addresses. Listed names do not
/// come here: they go through the unfiltered client.
struct FilteringResolver;

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !is_forbidden(a.ip()))
                .collect();
            if kept.is_empty() && !found.is_empty() {
                tracing::warn!(host = %host, "outbound call refused: the host resolves to a loopback, private, link-local or metadata address");
                return Err(Box::new(OutboundRefused {
                    host,
                    reason: "it resolves to a loopback, private, link-local or metadata address; list it in outbound_allow (SMSGATE_OUTBOUND_ALLOW) to allow it".to_owned(),
                }) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Two clients with the same settings: `guarded` filters what names resolve to; `listed` is
/// for hosts in `outbound_allow`. Neither follows redirects: a provider answering 30x gets that
/// answer treated as its answer, not a request to wherever it points.
#[derive(Clone)]
pub struct GuardedClient {
    guarded: reqwest::Client,
    listed: reqwest::Client,
    policy: Arc<OutboundPolicy>,
    /// Provider calls: `http://` is refused in prod mode (the alert webhook is not a provider).
    provider: bool,
}

impl GuardedClient {
    /// Builds both clients from `builder` (called twice, so each gets the same settings).
    pub fn build(
        builder: impl Fn() -> reqwest::ClientBuilder,
        policy: Arc<OutboundPolicy>,
        provider: bool,
    ) -> Result<Self, reqwest::Error> {
        let resolver = Arc::new(FilteringResolver);
        Ok(Self {
            guarded: builder()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(resolver)
                .build()?,
            listed: builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            policy,
            provider,
        })
    }

    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.guarded.get(url)
    }

    pub fn post(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.guarded.post(url)
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
    ) -> reqwest::RequestBuilder {
        self.guarded.request(method, url)
    }

    /// Checks the request's URL (an IP-literal host is never resolved, so it is judged here)
    /// and sends it through the client its host calls for.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SendError> {
        let request = request.build().map_err(SendError::Http)?;
        let listed = self
            .policy
            .check_url(request.url(), self.provider)
            .map_err(|refusal| SendError::Refused(OutboundRefused::url(request.url(), &refusal)))?;
        let client = if listed { &self.listed } else { &self.guarded };
        client
            .execute(request)
            .await
            .map_err(|err| match refused_in(&err) {
                Some(refused) => SendError::Refused(refused),
                None => SendError::Http(err),
            })
    }
}

/// A call that did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Refused(OutboundRefused),
    #[error(transparent)]
    Http(reqwest::Error),
}

/// The policy's refusal, when the resolver's error is somewhere in the chain.
fn refused_in(err: &reqwest::Error) -> Option<OutboundRefused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<OutboundRefused>() {
            return Some(refused.clone());
        }
        source = e.source();
    }
    None
}

//! The outbound URL policy: which addresses smsgate's own calls (providers, the alert webhook)
//! may reach. Loopback, private, link-local, CGNAT, metadata and other non-public addresses are
//! refused unless the operator lists the host in `outbound_allow`; in prod mode a provider URL
//! must be `https://` unless its host is listed.
//!
//! A host name is checked on the addresses it resolves to, when the connection is made (see
//! [`client`]), so a name that resolves to a public address at creation and to 127.0.0.1 later
//! (DNS rebinding) cannot pass. An IP-literal host is never resolved, so it is checked here, on
//! the URL: when a provider is created or changed, and again before each call.

pub mod client;

pub use client::{GuardedClient, OutboundRefused};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `outbound_allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A host name, on any port or on one port (`host:port`).
    Name { host: String, port: Option<u16> },
    /// An address range (`10.0.0.0/8`, a single address, or `ip:port`), for URLs whose host is
    /// such an address.
    Net { net: Cidr, port: Option<u16> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn single(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An `outbound_allow` entry that cannot be read; the message says which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{entry}` is not a host, host:port or CIDR range ({reason})")]
pub struct BadAllowEntry {
    pub entry: String,
    pub reason: &'static str,
}

/// Why a URL is refused before any connection is tried. Never shows the URL (a generic
/// provider's URL may carry a key), only its host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("is not an http:// or https:// URL")]
    NotHttp,
    #[error("has no host")]
    NoHost,
    #[error("points at {host}, a loopback, private, link-local or metadata address; list it in outbound_allow (SMSGATE_OUTBOUND_ALLOW) to allow it")]
    Forbidden { host: String },
    #[error("uses http:// in prod mode; use https:// or list {host} in outbound_allow")]
    PlainHttp { host: String },
}

/// The policy: the allow-list, and whether plain `http://` provider URLs are refused (prod).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allow: Vec<Entry>,
    /// The entries as the operator wrote them, for `smsgate config check`.
    listed: Vec<String>,
    https_only: bool,
}

impl OutboundPolicy {
    /// Reads `outbound_allow` entries: `host`, `host:port`, an address, `ip:port`, `[v6]:port`
    /// or a CIDR range.
    pub fn new<S: AsRef<str>>(entries: &[S], https_only: bool) -> Result<Self, BadAllowEntry> {
        let listed: Vec<String> = entries
            .iter()
            .map(|e| e.as_ref().trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        let allow = listed
            .iter()
            .map(|e| parse_entry(e))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow,
            listed,
            https_only,
        })
    }

    /// The `outbound_allow` entries, as written.
    pub fn listed(&self) -> &[String] {
        &self.listed
    }

    /// Whether the operator listed this URL's host (and port). Names match names only and
    /// addresses match addresses and ranges only: listing 127.0.0.1 does not let `localhost`,
    /// or any other name that resolves to it, through.
    pub fn allows_host(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip = literal(&host);
        self.allow.iter().any(|entry| match (entry, ip) {
            (
                Entry::Name {
                    host: name,
                    port: p,
                },
                None,
            ) => *name == host && (p.is_none() || *p == port),
            (Entry::Net { net, port: p }, Some(ip)) => {
                net.contains(ip) && (p.is_none() || *p == port)
            }
            _ => false,
        })
    }

    /// The checks a URL can get without resolving it: the scheme, an IP-literal host, and
    /// `http://` in prod for provider URLs (`provider`). Returns whether the host is listed.
    pub fn check_url(&self, url: &reqwest::Url, provider: bool) -> Result<bool, UrlRefusal> {
        let plain = match url.scheme() {
            "https" => false,
            "http" => true,
            _ => return Err(UrlRefusal::NotHttp),
        };
        let host = url.host_str().ok_or(UrlRefusal::NoHost)?;
        let listed = self.allows_host(host, url.port_or_known_default());
        if listed {
            return Ok(true);
        }
        if let Some(ip) = literal(host) {
            if is_forbidden(ip) {
                return Err(UrlRefusal::Forbidden {
                    host: host.to_owned(),
                });
            }
        }
        if plain && provider && self.https_only {
            return Err(UrlRefusal::PlainHttp {
                host: host.to_owned(),
            });
        }
        Ok(false)
    }

    /// `check_url` on a URL still in text.
    pub fn check_str(&self, url: &str, provider: bool) -> Result<bool, UrlRefusal> {
        let url = reqwest::Url::parse(url).map_err(|_| UrlRefusal::NotHttp)?;
        self.check_url(&url, provider)
    }
}

/// The host as an address, when it is one (`[::1]` included).
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
}

fn parse_entry(raw: &str) -> Result<Entry, BadAllowEntry> {
    let bad = |reason| BadAllowEntry {
        entry: raw.to_owned(),
        reason,
    };
    let text = raw.to_ascii_lowercase();
    if let Some((addr, prefix)) = text.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| bad("not an address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad("prefix too long"));
        }
        return Ok(Entry::Net {
            net: Cidr { addr, prefix },
            port: None,
        });
    }
    if let Some(ip) = literal(&text) {
        return Ok(Entry::Net {
            net: Cidr::single(ip),
            port: None,
        });
    }
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return Ok(Entry::Net {
            net: Cidr::single(addr.ip()),
            port: Some(addr.port()),
        });
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (
            host,
            Some(port.parse::<u16>().map_err(|_| bad("not a port"))?),
        ),
        None => (text.as_str(), None),
    };
    let host = host.trim_end_matches('.');
    let fits = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !fits {
        return Err(bad("not a host name"));
    }
    Ok(Entry::Name {
        host: host.to_owned(),
        port,
    })
}

/// An IPv4 address carried in an IPv6 one (mapped, or NAT64) is judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // 64:ff9b::/96, the well-known NAT64 prefix.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

/// Addresses a provider or webhook on the internet never has: loopback, private, link-local
/// (cloud metadata at 169.254.169.254), CGNAT (Alibaba's metadata at 100.100.100.200), the
/// unspecified and "this network" ranges, multicast, broadcast, reserved and documentation
/// ranges, and their IPv6 counterparts (unique-local, which holds AWS's `fd00:ec2::254`).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // CGNAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4.
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local fe80::/10 and the old site-local fec0::/10.
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0xdb8)
        // IPv4-compatible (deprecated) ::a.b.c.d.
        || ip.segments()[..6] == [0; 6]
}

#[cfg(test)]
mod tests;

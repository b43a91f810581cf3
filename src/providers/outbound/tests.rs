//! The outbound policy: forbidden ranges, allow-list entries, URL checks, and the guarded
//! client against fakes on loopback.

use super::*;
use std::sync::Arc;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn non_public_addresses_are_forbidden_and_public_ones_are_not() {
    for bad in [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
    ] {
        assert!(is_forbidden(ip(bad)), "{bad} passed");
    }
    for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
        assert!(!is_forbidden(ip(good)), "{good} refused");
    }
}

#[test]
fn allow_entries_are_hosts_ports_addresses_and_ranges() {
    let policy = OutboundPolicy::new(
        &[
            "relay.internal",
            "hooks.lan:8443",
            "10.20.0.0/16",
            "127.0.0.1:9000",
            "[::1]:80",
        ],
        false,
    )
    .unwrap();
    assert!(policy.allows_host("relay.internal", Some(443)));
    assert!(policy.allows_host("RELAY.internal.", Some(80)));
    assert!(policy.allows_host("hooks.lan", Some(8443)));
    assert!(!policy.allows_host("hooks.lan", Some(443)));
    assert!(policy.allows_host("10.20.3.4", Some(80)));
    assert!(!policy.allows_host("10.21.0.1", Some(80)));
    assert!(policy.allows_host("127.0.0.1", Some(9000)));
    assert!(!policy.allows_host("127.0.0.1", Some(9001)));
    assert!(policy.allows_host("[::1]", Some(80)));
    assert!(
        !policy.allows_host("localhost", Some(9000)),
        "an address does not list a name"
    );
    for bad in ["10.0.0.0/33", "a b", "host:port", "1.2.3.4/x", "x/8"] {
        assert!(
            OutboundPolicy::new(&[bad], false).is_err(),
            "{bad} was read"
        );
    }
}

#[test]
fn url_checks_refuse_literals_and_plain_http_in_prod() {
    let open = OutboundPolicy::default();
    assert!(matches!(
        open.check_str("http://169.254.169.254/latest/meta-data/", true),
        Err(UrlRefusal::Forbidden { .. })
    ));
    assert!(matches!(
        open.check_str("https://[::ffff:7f00:1]:8443/x", true),
        Err(UrlRefusal::Forbidden { .. })
    ));
    assert!(matches!(
        open.check_str("ftp://example.com/", true),
        Err(UrlRefusal::NotHttp)
    ));
    assert_eq!(open.check_str("http://sms.example.com/", true), Ok(false));
    let prod = OutboundPolicy::new(&["relay.internal"], true).unwrap();
    assert!(matches!(
        prod.check_str("http://sms.example.com/", true),
        Err(UrlRefusal::PlainHttp { .. })
    ));
    assert_eq!(prod.check_str("http://sms.example.com/", false), Ok(false));
    assert_eq!(prod.check_str("https://sms.example.com/", true), Ok(false));
    assert_eq!(
        prod.check_str("http://relay.internal:8080/", true),
        Ok(true)
    );
}

async fn fake() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::{routing::get, Router};
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    let app = Router::new().route(
        "/",
        get(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { "hello" }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, hits)
}

fn guarded(policy: OutboundPolicy) -> GuardedClient {
    GuardedClient::build(reqwest::Client::builder, Arc::new(policy), true).unwrap()
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time_unless_listed() {
    let (addr, hits) = fake().await;
    let url = format!("http://localhost:{}/", addr.port());
    let client = guarded(OutboundPolicy::default());
    let err = client.send(client.get(&url)).await.unwrap_err();
    assert!(
        matches!(&err, client::SendError::Refused(r) if r.host == "localhost"),
        "{err:?}"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    let literal = format!("http://{addr}/");
    let err = client.send(client.get(&literal)).await.unwrap_err();
    assert!(matches!(err, client::SendError::Refused(_)), "{err:?}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    let listed = guarded(OutboundPolicy::new(&["localhost"], false).unwrap());
    let answer = listed.send(listed.get(&url)).await.unwrap();
    assert_eq!(answer.status(), 200);
    // Listing the address lets the address through, not a name that resolves to it.
    let ranged = guarded(OutboundPolicy::new(&["127.0.0.0/8"], false).unwrap());
    assert!(ranged.send(ranged.get(&literal)).await.is_ok());
    let err = ranged.send(ranged.get(&url)).await.unwrap_err();
    assert!(matches!(err, client::SendError::Refused(_)), "{err:?}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
}

//! The shared HTTP pieces: status kinds, Retry-After, the token bucket, joins, bounded answers.

use super::*;
use reqwest::{
    header::{HeaderMap, HeaderValue},
    StatusCode,
};

#[test]
fn statuses_map_to_the_design_kinds() {
    for (status, kind) in [
        (401, ProviderErrorKind::InvalidCredentials),
        (403, ProviderErrorKind::InvalidCredentials),
        (402, ProviderErrorKind::InsufficientCredit),
        (429, ProviderErrorKind::RateLimited),
        (500, ProviderErrorKind::Unavailable),
        (503, ProviderErrorKind::Unavailable),
        (504, ProviderErrorKind::Timeout),
        (404, ProviderErrorKind::Rejected),
    ] {
        assert_eq!(
            classify_status(StatusCode::from_u16(status).unwrap()),
            kind,
            "{status}"
        );
    }
}

#[test]
fn retry_after_is_read_as_seconds_or_as_a_date() {
    let mut headers = HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert("retry-after", HeaderValue::from_static("7"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    let later = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
    headers.insert("retry-after", HeaderValue::from_str(&later).unwrap());
    let wait = retry_after(&headers).unwrap();
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

#[test]
fn a_rate_limited_error_carries_its_wait_and_others_do_not() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from_static("3"));
    let err = status_error(
        "p",
        ProviderErrorKind::RateLimited,
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        None,
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
    let err = status_error(
        "p",
        ProviderErrorKind::Unavailable,
        StatusCode::INTERNAL_SERVER_ERROR,
        &headers,
        None,
    );
    assert_eq!(err.retry_after, None);
    assert_eq!(err.message, "p answered 500");
}

#[test]
fn a_garbled_answer_to_a_send_is_ambiguous_but_to_a_status_check_is_retryable() {
    assert_eq!(
        malformed("p", Call::Send, true, "x").kind,
        ProviderErrorKind::Ambiguous
    );
    assert_eq!(
        malformed("p", Call::Send, false, "x").kind,
        ProviderErrorKind::Unavailable
    );
    assert_eq!(
        malformed("p", Call::Status, true, "x").kind,
        ProviderErrorKind::Unavailable
    );
}

#[tokio::test(start_paused = true)]
async fn the_token_bucket_spaces_calls_past_the_burst() {
    let limiter = RateLimiter::new(Some(2.0));
    let start = Instant::now();
    for _ in 0..4 {
        RateLimiter::acquire(limiter.as_ref()).await;
    }
    // Two in the burst, then one every half second.
    assert_eq!(start.elapsed(), Duration::from_millis(1_000));
}

#[test]
fn join_keeps_exactly_one_slash() {
    assert_eq!(join("https://a/api/v1/", "/send"), "https://a/api/v1/send");
    assert_eq!(join("https://a/api/v1", "send"), "https://a/api/v1/send");
}

#[tokio::test]
async fn a_huge_answer_is_read_only_up_to_the_limit() {
    use axum::{routing::get, Router};
    let app = Router::new().route("/", get(|| async { "x".repeat(4 * MAX_ANSWER_BYTES) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let policy = Arc::new(OutboundPolicy::new(&["127.0.0.1"], false).unwrap());
    let client = client(&HttpSettings::default(), &policy).unwrap();
    let answer = exchange(
        &client,
        "p",
        Call::Status,
        client.get(format!("http://{addr}/")),
        |refused| refused.status_error("p"),
    )
    .await
    .unwrap();
    assert_eq!(answer.body.len(), MAX_ANSWER_BYTES);
}

#[test]
fn a_providers_words_are_cut_and_kept_on_one_line() {
    assert_eq!(excerpt("bad\nnumber"), "bad number");
    let long = "y".repeat(10 * MAX_DETAIL_CHARS);
    let cut = excerpt(&long);
    assert_eq!(cut.chars().count(), MAX_DETAIL_CHARS + 1);
    assert!(cut.ends_with('…'));
}

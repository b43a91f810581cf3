//! The shared HTTP pieces: status kinds, Retry-After, the token bucket, joins, bounded answers.

use super::*;
use reqwest::{
    header::{HeaderMap, HeaderValue},
    StatusCode,
};

#[test]
fn statuses_map_to_the_design_kinds() {
    use ProviderErrorKind::*;
    cases::check_kinds(
        &[
            ("401 is a refused key", 401, InvalidCredentials),
            ("403 is a refused key", 403, InvalidCredentials),
            ("402 is no credit", 402, InsufficientCredit),
            ("429 slows down", 429, RateLimited),
            ("408 is the provider's time-out", 408, Timeout),
            ("504 is a gateway's time-out", 504, Timeout),
            ("500 is a provider down", 500, Unavailable),
            ("503 is a provider down", 503, Unavailable),
            ("another 4xx is a refusal", 404, Rejected),
            ("another 4xx is a refusal", 422, Rejected),
        ],
        |status| classify_status(StatusCode::from_u16(*status).unwrap()),
    );
}

#[test]
fn a_refusal_a_provider_does_not_explain_is_read_by_its_status_alone() {
    use ProviderErrorKind::*;
    cases::check_refusals(
        &[
            (
                "a refused key",
                401,
                r#"{"echo":"the-key"}"#,
                InvalidCredentials,
            ),
            ("no credit", 402, "", InsufficientCredit),
            ("slow down", 429, "", RateLimited),
            ("a provider down", 503, "", Unavailable),
            ("a refusal", 400, "", Rejected),
        ],
        |refused| refused.status_error("p"),
    );
    let err = cases::answer(401, r#"{"echo":"the-key"}"#).status_error("p");
    assert_eq!(err.message, "p answered 401");
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
    use ProviderErrorKind::*;
    cases::check_kinds(
        &[
            (
                "a send the provider accepted",
                (Call::Send, true),
                Ambiguous,
            ),
            (
                "a send the provider refused",
                (Call::Send, false),
                Unavailable,
            ),
            ("a status check", (Call::Status, true), Unavailable),
            ("a balance check", (Call::Balance, true), Unavailable),
        ],
        |(call, accepted)| malformed("p", *call, *accepted, "x").kind,
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

//! SMSO's readings: status words, times, ids, and the refusals its HTTP statuses stand for.

use super::*;
use crate::providers::http::cases::{answer, check_kinds, check_refusals};

#[test]
fn status_words_map_to_delivery_statuses() {
    use DeliveryStatus::*;
    check_kinds(
        &[
            ("sent", "sent", Some(Pending)),
            ("dispatched", "dispatched", Some(Pending)),
            ("pending", "pending", Some(Pending)),
            ("queued", "queued", Some(Pending)),
            ("delivered, in any case", "Delivered", Some(Delivered)),
            ("undelivered", "undelivered", Some(Undelivered)),
            ("expired", "expired", Some(Undelivered)),
            ("error", "error", Some(Failed)),
            ("a word SMSO does not document", "teleported", None),
        ],
        |word| delivery_status(word),
    );
}

#[test]
fn times_parse_even_with_an_unpadded_day() {
    assert_eq!(
        parse_time("2019-05-1 15:18:25").map(|t| t.to_rfc3339()),
        Some("2019-05-01T15:18:25+00:00".to_owned())
    );
    assert_eq!(parse_time("yesterday"), None);
}

#[test]
fn ids_compare_in_lower_case() {
    assert_eq!(
        normalise_id(" 8A5D2F89-90A1-4B65-B2CB-FFB78C4F65AA "),
        "8a5d2f89-90a1-4b65-b2cb-ffb78c4f65aa"
    );
}

#[test]
fn refusals_are_read_by_smsos_own_statuses_first() {
    use ProviderErrorKind::*;
    check_refusals(
        &[
            (
                "a bad number",
                400,
                r#"{"status":400,"errors":{"to":["invalid number"]}}"#,
                InvalidRecipient,
            ),
            (
                "a missing number",
                400,
                r#"{"status":400,"errors":{"to":["required"]}}"#,
                InvalidRecipient,
            ),
            (
                "an unknown sender is ours to fix",
                400,
                r#"{"status":400,"errors":{"sender":["invalid sender"]}}"#,
                Rejected,
            ),
            (
                "a wrong key",
                401,
                r#"{"status":401,"message":"Unauthenticated."}"#,
                InvalidCredentials,
            ),
            (
                "no credit",
                402,
                r#"{"status":402,"message":"Not enough credit"}"#,
                InsufficientCredit,
            ),
            ("blacklisted words", 403, "", InvalidContent),
            ("an unsubscribed recipient", 405, "", InvalidRecipient),
            (
                "SMSO throttles with 409",
                409,
                r#"{"status":409}"#,
                RateLimited,
            ),
            ("a 429 all the same", 429, "", RateLimited),
            ("international sends not enabled", 422, "", Rejected),
            ("another 4xx", 404, "", Rejected),
            ("a server error", 500, "", Unavailable),
            ("a gateway time-out", 504, "", Timeout),
        ],
        refusal,
    );
}

#[test]
fn a_refusal_says_what_smso_meant_but_never_echoes_its_answer() {
    let blacklisted = refusal(&answer(403, r#"{"echo":"the-api-key"}"#));
    assert_eq!(
        blacklisted.message,
        "SMSO answered 403: the text contains blacklisted words"
    );
    let unauthorised = refusal(&answer(401, r#"{"echo":"the-api-key"}"#));
    assert_eq!(unauthorised.message, "SMSO answered 401");
}

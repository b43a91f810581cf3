//! Twilio's readings: signatures and their ports, error codes over statuses, prices.

use super::*;
use crate::providers::http::cases::{answer, check_kinds, check_refusals};

fn vector_params() -> Vec<(String, String)> {
    [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The reference test vector from Twilio's SDK (twilio.md §7).
#[test]
fn the_signature_matches_twilios_reference_vector() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert_eq!(
        signature("12345", url, &vector_params()),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    let mut shuffled = vector_params();
    shuffled.reverse();
    assert!(signature_matches(
        "12345",
        url,
        &shuffled,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    assert!(!signature_matches(
        "12346",
        url,
        &shuffled,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    assert!(!signature_matches("12345", url, &shuffled, ""));
}

#[test]
fn the_port_is_toggled_as_twilios_validators_do() {
    let toggled = |url: &str| port_toggled(url);
    assert_eq!(
        toggled("https://sms.example.com/webhooks/twilio/p?x=1").as_deref(),
        Some("https://sms.example.com:443/webhooks/twilio/p?x=1")
    );
    assert_eq!(
        toggled("https://sms.example.com:443/w").as_deref(),
        Some("https://sms.example.com/w")
    );
    assert_eq!(
        toggled("http://u:p@[::1]/w").as_deref(),
        Some("http://u:p@[::1]:80/w")
    );
    assert_eq!(
        toggled("HTTP://[::1]:8080").as_deref(),
        Some("HTTP://[::1]")
    );
    assert_eq!(toggled("ftp://x/"), None);
    let url = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
    assert!(signature_matches(
        "12345",
        url,
        &vector_params(),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
}

#[test]
fn codes_say_more_than_statuses() {
    use ProviderErrorKind::*;
    check_refusals(
        &[
            (
                "an invalid number",
                400,
                r#"{"code":21211,"message":"The 'To' number +4072 is not a valid phone number.","status":400}"#,
                InvalidRecipient,
            ),
            (
                "an unsubscribed number",
                400,
                r#"{"code":21610}"#,
                InvalidRecipient,
            ),
            (
                "not a mobile number",
                400,
                r#"{"code":21614}"#,
                InvalidRecipient,
            ),
            ("a landline", 400, r#"{"code":21635}"#, InvalidRecipient),
            ("a text too long", 400, r#"{"code":21617}"#, InvalidContent),
            ("geo permissions", 400, r#"{"code":21408}"#, Rejected),
            (
                "a From that is not ours",
                400,
                r#"{"code":21606}"#,
                Rejected,
            ),
            (
                "an unknown code falls back on the status",
                400,
                r#"{"code":21999}"#,
                Rejected,
            ),
            (
                "a refused token",
                401,
                r#"{"code":20003,"message":"Authenticate","status":401}"#,
                InvalidCredentials,
            ),
            (
                "a refused token without JSON",
                401,
                "not json",
                InvalidCredentials,
            ),
            (
                "too many requests",
                429,
                r#"{"code":20429,"message":"Too Many Requests","status":429}"#,
                RateLimited,
            ),
            (
                "an inactive account",
                402,
                r#"{"code":20005,"message":"Account not active","status":402}"#,
                InsufficientCredit,
            ),
            (
                "a server error",
                500,
                r#"{"code":20500,"message":"Internal Server Error","status":500}"#,
                Unavailable,
            ),
            ("unavailable", 503, r#"{"code":20503}"#, Unavailable),
            ("a gateway time-out without a body", 504, "", Timeout),
            (
                "an unknown message",
                404,
                r#"{"code":20404,"message":"not found","status":404}"#,
                Rejected,
            ),
        ],
        api_error,
    );
}

#[test]
fn a_refusal_carries_twilios_code_and_words() {
    let invalid = api_error(&answer(
        400,
        r#"{"code":21211,"message":"The 'To' number +4072 is not a valid phone number.","status":400}"#,
    ));
    assert_eq!(
        invalid.message,
        "Twilio answered 400: 21211 The 'To' number +4072 is not a valid phone number."
    );
}

#[test]
fn asynchronous_codes_of_a_final_failure_map_to_the_recorded_kinds() {
    use DeliveryStatus::{Delivered, Failed, Pending, Undelivered};
    use ErrorKind::*;
    check_kinds(
        &[
            (
                "an unreachable handset",
                ("30003", Undelivered),
                Some(InvalidRecipient),
            ),
            (
                "an unknown number",
                ("30005", Undelivered),
                Some(InvalidRecipient),
            ),
            ("a landline", ("30006", Failed), Some(InvalidRecipient)),
            ("a blocked message", ("30004", Undelivered), Some(Rejected)),
            (
                "filtered by the carrier",
                ("30007", Undelivered),
                Some(InvalidContent),
            ),
            ("a queue overflow", ("30001", Failed), Some(RateLimited)),
            ("no code at all", ("", Failed), Some(Rejected)),
            ("an undocumented code", ("39999", Failed), Some(Rejected)),
            (
                "a delivered message has no error",
                ("30003", Delivered),
                None,
            ),
            ("a pending message has no error", ("30003", Pending), None),
        ],
        |(code, status)| async_error(code, *status).map(|e| e.kind),
    );
}

#[test]
fn prices_become_positive_cents() {
    assert_eq!(price_cents(Some("-0.00750")), Some(Money::from_cents(0.75)));
    assert_eq!(price_cents(None), None);
}

//! Vonage's readings: the status codes inside a 200, refusals by HTTP status, signatures.

use super::*;
use crate::providers::http::cases::check_kinds;
use smsgate_actors::domain::event::ErrorKind;

#[test]
fn status_codes_inside_a_200_map_to_kinds() {
    use ProviderErrorKind::*;
    check_kinds(
        &[
            ("throttled", "1", RateLimited),
            ("too many binds", "10", RateLimited),
            ("a missing parameter is ours to fix", "2", Rejected),
            ("a malformed number", "3", InvalidRecipient),
            ("invalid credentials", "4", InvalidCredentials),
            ("an invalid signature", "14", InvalidCredentials),
            ("Vonage's internal error", "5", Unavailable),
            ("an unroutable number", "6", InvalidRecipient),
            ("a barred number", "7", InvalidRecipient),
            ("an invalid network code", "22", InvalidRecipient),
            ("a de-activated number", "33", InvalidRecipient),
            ("a suspended account", "8", Rejected),
            ("no balance", "9", InsufficientCredit),
            ("HTTP not enabled", "11", Rejected),
            ("a message too long", "12", InvalidContent),
            ("an unauthorised sender", "15", Rejected),
            ("a bad callback URL", "23", Rejected),
            ("a trial's whitelist", "29", Rejected),
            ("signature and secret both sent", "32", Rejected),
            ("a code Vonage does not document", "99", Rejected),
        ],
        |code| part_kind(code),
    );
}

#[test]
fn receipt_error_codes_of_a_final_failure_map_to_the_recorded_kinds() {
    use DeliveryStatus::{Delivered, Failed, Pending, Undelivered};
    use ErrorKind::*;
    check_kinds(
        &[
            (
                "a permanently absent subscriber",
                ("3", Undelivered),
                Some(InvalidRecipient),
            ),
            ("an illegal number", ("9", Failed), Some(InvalidRecipient)),
            (
                "an unroutable number",
                ("11", Undelivered),
                Some(InvalidRecipient),
            ),
            (
                "an unreachable destination",
                ("12", Undelivered),
                Some(InvalidRecipient),
            ),
            (
                "an anti-spam rejection",
                ("6", Failed),
                Some(InvalidContent),
            ),
            (
                "an illegal message",
                ("10", Undelivered),
                Some(InvalidContent),
            ),
            ("a general error", ("99", Undelivered), Some(Rejected)),
            ("a delivered message has no error", ("3", Delivered), None),
            ("a pending message has no error", ("3", Pending), None),
        ],
        |(code, status)| dlr_error(code, *status).map(|e| e.kind),
    );
}

#[test]
fn the_signature_sorts_keys_and_masks_separators_in_values() {
    let params = vec![
        ("b".to_owned(), "x&y=z".to_owned()),
        ("a".to_owned(), "1".to_owned()),
        ("sig".to_owned(), "ignored".to_owned()),
    ];
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"secret").unwrap();
    mac.update(b"&a=1&b=x_y_z");
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(signature("sha256", "secret", &params), Some(expected));
    assert_eq!(signature("md5hash", "secret", &params), None);
}

//! The generic provider: templates, and refusals read as its settings say.

use super::*;
use crate::providers::http::cases::{answer, check_refusals};

#[test]
fn placeholders_are_escaped_for_json_and_for_forms() {
    let values = [("body", "say \"hi\"\nă"), ("to", "+40722334455")];
    assert_eq!(
        Generic::render(r#"{"t":"{to}","b":"{body}"}"#, "application/json", &values),
        r#"{"t":"+40722334455","b":"say \"hi\"\nă"}"#
    );
    assert_eq!(
        Generic::render(
            "to={to}&text={body}",
            "application/x-www-form-urlencoded",
            &values
        ),
        "to=%2B40722334455&text=say+%22hi%22%0A%C4%83"
    );
}

#[test]
fn refusals_are_read_as_the_settings_say() {
    use ProviderErrorKind::*;
    let defaults = GenericSettings::default();
    check_refusals(
        &[
            ("a transient 429 slows down", 429, "", RateLimited),
            ("a transient 503 is retried", 503, "", Unavailable),
            ("a transient 425 is retried", 425, "", Unavailable),
            ("a transient 408 is retried", 408, "", Unavailable),
            (
                "a refused key",
                401,
                r#"{"error":"bad key"}"#,
                InvalidCredentials,
            ),
            ("no credit", 402, "", InsufficientCredit),
            (
                "another 4xx fails over",
                400,
                r#"{"error":"no route"}"#,
                Rejected,
            ),
            (
                "a 5xx not listed is still unavailable",
                501,
                "",
                Unavailable,
            ),
        ],
        |refused| defaults.refusal("acme", refused),
    );
    // With its own list, a status left off it is read by the design's table alone.
    let own = GenericSettings {
        transient_statuses: vec![400, 503],
        ..GenericSettings::default()
    };
    check_refusals(
        &[
            ("a listed 400 is retried", 400, "", Unavailable),
            ("an unlisted 429 still slows down", 429, "", RateLimited),
            ("an unlisted 504 is a time-out", 504, "", Timeout),
            ("an unlisted 502 is unavailable", 502, "", Unavailable),
        ],
        |refused| own.refusal("acme", refused),
    );
}

#[test]
fn a_refusal_carries_the_words_at_the_error_pointer_and_no_object() {
    let settings = GenericSettings {
        error_pointer: Some("/error".to_owned()),
        ..GenericSettings::default()
    };
    let words = settings.refusal("acme", &answer(400, r#"{"error":"no route"}"#));
    assert_eq!(words.message, "acme answered 400: no route");
    let object = settings.refusal("acme", &answer(400, r#"{"error":{"key":"the-key"}}"#));
    assert_eq!(
        object.message,
        "acme answered 400: an error that is not a text (not shown)"
    );
    let none = settings.refusal("acme", &answer(400, "not JSON"));
    assert_eq!(none.message, "acme answered 400");
}

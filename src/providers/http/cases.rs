//! Table-driven classification tests for the providers: each row names its case, and a table
//! that fails lists every row that went wrong, by name, not only the first.

use super::Answer;
use reqwest::{header::HeaderMap, StatusCode};
use smsgate_actors::ports::{ProviderError, ProviderErrorKind};
use std::fmt::Debug;

/// A refused answer with `status` and `body`, and no headers.
pub fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).expect("a test row's status is an HTTP status"),
        headers: HeaderMap::new(),
        body: body.to_owned(),
    }
}

/// Checks rows of `(name, input, expected kind)` against `classify`; a kind is an error kind or
/// any other reading of a provider's words (a delivery status).
pub fn check_kinds<I: Debug, K: Debug + PartialEq>(
    rows: &[(&str, I, K)],
    classify: impl Fn(&I) -> K,
) {
    let wrong: Vec<String> = rows
        .iter()
        .filter_map(|(name, input, expected)| {
            let got = classify(input);
            (got != *expected)
                .then(|| format!("{name}: {input:?} gave {got:?}, expected {expected:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// Checks rows of `(name, status, body, expected kind)` against a provider's reader of refused
/// answers. Whatever the kind, a rate-limited refusal says how long to wait and no other does.
pub fn check_refusals(
    rows: &[(&str, u16, &str, ProviderErrorKind)],
    refusal: impl Fn(&Answer) -> ProviderError,
) {
    let rows: Vec<(&str, (u16, &str), ProviderErrorKind)> = rows
        .iter()
        .map(|(name, status, body, kind)| (*name, (*status, *body), *kind))
        .collect();
    check_kinds(&rows, |(status, body)| {
        let err = refusal(&answer(*status, body));
        assert_eq!(
            err.retry_after.is_some(),
            err.kind == ProviderErrorKind::RateLimited,
            "{status} {body:?}: {err:?}"
        );
        err.kind
    });
}

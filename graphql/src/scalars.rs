//! The API's own scalars: `DateTime` (RFC 3339), `Date` (a day, `2026-11-24`), and the opaque
//! pagination cursor. A value that does not parse is refused as INVALID_INPUT.

use crate::error::ApiError;
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{NaiveDate, SecondsFormat, Utc};
use smsgate_actors::domain::MessageId;

/// A point in time, as an RFC 3339 string in UTC with milliseconds
/// (`2026-11-24T09:30:00.000Z`); any offset is accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// A point in time: an RFC 3339 string, answered in UTC with milliseconds
/// (`2026-11-24T09:30:00.000Z`); any offset is accepted on input.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .map_err(|_| {
                    invalid_value(format!(
                        "{s:?} is not an RFC 3339 date-time such as 2026-11-24T09:30:00Z"
                    ))
                }),
            _ => Err(invalid_value("expected an RFC 3339 date-time string")),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(t: chrono::DateTime<Utc>) -> Self {
        Self(t)
    }
}

/// A calendar day (UTC), as `2026-11-24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

const DATE_FORMAT: &str = "%Y-%m-%d";

/// A calendar day (UTC), as `2026-11-24`.
#[Scalar(
    name = "Date",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, DATE_FORMAT)
                .map(Date)
                .map_err(|_| invalid_value(format!("{s:?} is not a day such as 2026-11-24"))),
            _ => Err(invalid_value("expected a day such as 2026-11-24")),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if NaiveDate::parse_from_str(s, DATE_FORMAT).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format(DATE_FORMAT).to_string())
    }
}

fn invalid_value<T: async_graphql::InputType>(
    reason: impl std::fmt::Display,
) -> InputValueError<T> {
    InputValueError::custom(reason).with_extension("code", "INVALID_INPUT")
}

/// The cursor of a message in a listing. Opaque to clients: today it encodes the message id,
/// which sorts by creation time, so pages stay stable while new messages arrive.
pub fn encode_cursor(id: &MessageId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_str())
}

/// Reads a cursor given back as `after`; anything we did not hand out is INVALID_INPUT.
pub fn decode_cursor(field: &str, cursor: &str) -> Result<MessageId, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|raw| MessageId::parse(&raw))
        .ok_or_else(|| ApiError::invalid(field, "not a cursor this API handed out"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let id = MessageId::generate();
        assert_eq!(decode_cursor("after", &encode_cursor(&id)).unwrap(), id);
        for bad in [
            "",
            "!!!",
            "bXNnX3h5eg",
            "msg_0192f5a0c0de7000800000000000abcd",
        ] {
            let err = decode_cursor("after", bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_INPUT", "{bad}");
        }
    }

    #[test]
    fn date_times_are_rfc3339_in_utc() {
        let parsed = DateTime::parse(Value::from("2026-11-24T11:30:00+02:00")).unwrap();
        assert_eq!(
            parsed.to_value(),
            Value::from("2026-11-24T09:30:00.000Z".to_owned())
        );
        assert!(DateTime::parse(Value::from("yesterday")).is_err());
        assert!(!DateTime::is_valid(&Value::from("2026-11-24")));
    }

    #[test]
    fn days_are_iso_dates() {
        let day = Date::parse(Value::from("2026-11-24")).unwrap();
        assert_eq!(day.to_value(), Value::from("2026-11-24".to_owned()));
        assert!(Date::parse(Value::from("24.11.2026")).is_err());
        assert!(Date::parse(Value::from("2026-02-30")).is_err());
    }
}

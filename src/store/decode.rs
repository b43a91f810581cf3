//! What every backend needs to read stored values back into the domain: the day format of the
//! statistics, and the one way a value that does not parse is reported (`StoreError::Corrupt`).

use chrono::NaiveDate;
use smsgate_actors::ports::StoreError;

/// Statistics days are stored as `2026-11-24` text: sortable, and the API's own day format.
pub(crate) const DAY_FORMAT: &str = "%Y-%m-%d";

pub(crate) fn day_text(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

pub(crate) fn parse_day(field: &str, raw: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(raw, DAY_FORMAT).map_err(|_| corrupt(field, raw))
}

pub(crate) fn corrupt(field: &str, raw: &str) -> StoreError {
    StoreError::Corrupt(format!("{field} holds {raw:?}"))
}

pub(crate) fn parse<T>(
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(raw).ok_or_else(|| corrupt(field, raw))
}

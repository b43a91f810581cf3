//! Tracing: the process-wide subscriber (pretty or JSON lines, filtered by `RUST_LOG`), and a
//! quiet one for tests that prints only when `TEST_LOG` is set.

use crate::config::LogFormat;
use std::sync::Once;
use tracing_subscriber::{fmt, EnvFilter};

/// Used when `RUST_LOG` is unset or unreadable: our own events and the libraries' warnings.
pub const DEFAULT_FILTER: &str = "info,smsgate=info";

#[derive(Debug, thiserror::Error)]
#[error("a tracing subscriber is already installed")]
pub struct AlreadyInstalled(#[source] Box<dyn std::error::Error + Send + Sync>);

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Installs the process-wide subscriber. Call once, early in `main`.
pub fn init(format: LogFormat) -> Result<(), AlreadyInstalled> {
    let builder = fmt().with_env_filter(filter()).with_target(true);
    match format {
        // The default fmt layout, one event per line: `.pretty()` spreads each event over
        // several lines, which reads worse in a terminal full of requests.
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    }
    .map_err(AlreadyInstalled)
}

/// Installs a subscriber once per test binary. Events are formatted either way, so a field
/// whose `Display` panics still fails the test, but they are printed (through the test harness's
/// capture) only when `TEST_LOG` is set: `TEST_LOG=1 cargo test`.
pub fn init_for_tests() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let builder = fmt().with_env_filter(filter());
        // Another harness may have installed one first; its output is as good as ours.
        let _ = if std::env::var_os("TEST_LOG").is_some() {
            builder.with_test_writer().try_init()
        } else {
            builder.with_writer(std::io::sink).try_init()
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_the_test_subscriber_twice_is_harmless() {
        init_for_tests();
        init_for_tests();
        tracing::info!(answer = 42, "still logging");
    }

    #[test]
    fn a_second_process_wide_subscriber_is_refused_not_a_panic() {
        init_for_tests();
        assert!(init(LogFormat::Json).is_err());
    }
}

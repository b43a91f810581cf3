//! Tracing: the process-wide subscriber (text or JSON lines, filtered by `RUST_LOG`, caller text
//! escaped in either), and a quiet one for tests that prints only when `TEST_LOG` is set.

mod escaped;

use crate::config::LogFormat;
pub use escaped::EscapedFields;
use std::sync::{Mutex, Once, PoisonError};
use tracing_subscriber::{fmt, fmt::writer::MakeWriterExt, EnvFilter};

/// Everything the test subscriber formatted, so a test can search the log output (for a leaked
/// secret, say). Tests of one binary share it.
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log output of this test binary so far (only when `init_for_tests` installed ours).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&CAPTURED.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

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
        // Caller text is escaped there; JSON lines escape it by themselves.
        LogFormat::Pretty => builder.fmt_fields(EscapedFields::default()).try_init(),
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
        let builder = fmt().fmt_fields(EscapedFields::default());
        // Another harness may have installed one first; its output is as good as ours.
        // Debug level for our crates, so the search for leaks covers the chattiest output.
        let builder = builder.with_env_filter(EnvFilter::new(
            "info,smsgate=debug,smsgate_actors=debug,smsgate_graphql=debug",
        ));
        let _ = if std::env::var_os("TEST_LOG").is_some() {
            builder
                .with_writer(fmt::TestWriter::new.and(|| Capture))
                .try_init()
        } else {
            builder
                .with_writer(std::io::sink.and(|| Capture))
                .try_init()
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

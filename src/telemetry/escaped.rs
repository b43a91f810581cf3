//! The text log's field formatter: every field and message is written as the default formatter
//! writes it, with control characters escaped, so caller text (an id from a path, a token name,
//! an error quoting input) can never start a line of its own or forge one.

use std::fmt;
use tracing_subscriber::{
    field::RecordFields,
    fmt::format::{DefaultFields, Writer},
    fmt::FormatFields,
};

/// `DefaultFields` with `\n`, `\r` and every other control character written as an escape.
#[derive(Debug, Default)]
pub struct EscapedFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // `%` fields reach the visitor as `Display` values: only the formatted text can be
        // escaped, not each value on its way in.
        let mut raw = String::new();
        self.0.format_fields(Writer::new(&mut raw), fields)?;
        write_escaped(&mut writer, &raw)
    }
}

/// Writes `text` with control characters (and the Unicode line and paragraph separators, which
/// some viewers break lines at) escaped; everything else as is.
pub fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for ch in text.chars() {
        match ch {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                write!(out, "\\u{{{:x}}}", u32::from(c))?;
            }
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn caller_text_in_a_field_or_message_stays_on_its_own_line() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(EscapedFields::default())
            .with_writer(move || sink.clone())
            .finish();
        let id = "x\n2026-12-05T08:00:00.000000Z ERROR smsgate: forged\r\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(provider_id = %id, "REST activate provider");
            tracing::warn!("lookup of {id} failed");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(
            lines[0].contains(" INFO ") && lines[1].contains(" WARN "),
            "{out}"
        );
        let escaped = r"x\n2026-12-05T08:00:00.000000Z ERROR smsgate: forged\r";
        assert!(lines.iter().all(|l| l.contains(escaped)), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
    }
}

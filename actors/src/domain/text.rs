//! SMS text: GSM-7 or UCS-2 (3GPP TS 23.038), the units each costs and the parts it needs.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Encoding {
    #[serde(rename = "GSM7")]
    Gsm7,
    #[serde(rename = "UCS2")]
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM7",
            Self::Ucs2 => "UCS2",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "GSM7" => Some(Self::Gsm7),
            "UCS2" => Some(Self::Ucs2),
            _ => None,
        }
    }

    fn single_part(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    fn per_part(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }
}

/// The GSM 03.38 basic table: one septet each.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape plus the code, two septets each.
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

fn gsm_septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// What a body costs to send: its encoding, its length in that encoding's units and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextInfo {
    /// The body in NFC: decomposed input (s + combining comma) counts as the composed letter.
    pub body: String,
    pub encoding: Encoding,
    /// Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
    pub units: usize,
    pub segments: u32,
}

impl TextInfo {
    pub fn analyze(raw: &str) -> Self {
        let body: String = raw.nfc().collect();
        let gsm: Option<usize> = body.chars().map(gsm_septets).sum();
        let (encoding, units) = match gsm {
            Some(septets) => (Encoding::Gsm7, septets),
            None => (Encoding::Ucs2, body.encode_utf16().count()),
        };
        let segments = if units <= encoding.single_part() {
            1
        } else {
            count_parts(&body, encoding)
        };
        Self {
            body,
            encoding,
            units,
            segments,
        }
    }
}

/// Splits greedily as an encoder must: an escape pair or a surrogate pair never straddles two
/// parts, so a part may carry one unit less than its nominal size.
fn count_parts(body: &str, encoding: Encoding) -> u32 {
    let limit = encoding.per_part();
    let mut parts = 1u32;
    let mut used = 0usize;
    for c in body.chars() {
        let cost = match encoding {
            Encoding::Gsm7 => gsm_septets(c).unwrap_or(2),
            Encoding::Ucs2 => c.len_utf16(),
        };
        if used + cost > limit {
            parts += 1;
            used = 0;
        }
        used += cost;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(s: &str) -> (Encoding, usize, u32) {
        let t = TextInfo::analyze(s);
        (t.encoding, t.units, t.segments)
    }

    #[test]
    fn gsm_boundaries() {
        assert_eq!(info(&"a".repeat(160)), (Encoding::Gsm7, 160, 1));
        assert_eq!(info(&"a".repeat(161)), (Encoding::Gsm7, 161, 2));
        assert_eq!(info(&"a".repeat(306)), (Encoding::Gsm7, 306, 2));
        assert_eq!(info(&"a".repeat(307)), (Encoding::Gsm7, 307, 3));
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(info(&"ă".repeat(70)), (Encoding::Ucs2, 70, 1));
        assert_eq!(info(&"ă".repeat(71)), (Encoding::Ucs2, 71, 2));
        assert_eq!(info(&"ă".repeat(134)), (Encoding::Ucs2, 134, 2));
        assert_eq!(info(&"ă".repeat(135)), (Encoding::Ucs2, 135, 3));
    }

    #[test]
    fn extension_characters_cost_two_septets_and_never_split() {
        assert_eq!(info(&"{".repeat(80)), (Encoding::Gsm7, 160, 1));
        assert_eq!(info(&"{".repeat(81)), (Encoding::Gsm7, 162, 2));
        assert_eq!(info("€5"), (Encoding::Gsm7, 3, 1));
        // 152 'a' then '€': the pair would straddle septets 153/154, so it moves to part two.
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(info(&s), (Encoding::Gsm7, 306, 3));
    }

    #[test]
    fn a_surrogate_pair_is_never_split() {
        assert_eq!(info("Salut 😀"), (Encoding::Ucs2, 8, 1));
        let s = format!("{}😀{}", "ă".repeat(66), "ă".repeat(66));
        assert_eq!(info(&s), (Encoding::Ucs2, 134, 3));
    }

    #[test]
    fn one_romanian_diacritic_switches_the_whole_message() {
        assert_eq!(
            info("Programare confirmata la 10:00."),
            (Encoding::Gsm7, 31, 1)
        );
        assert_eq!(
            info("Programare confirmată la 10:00."),
            (Encoding::Ucs2, 31, 1)
        );
        for letter in [
            "ș", "Ș", "ş", "Ş", "ț", "Ț", "ţ", "Ţ", "ă", "Ă", "â", "Â", "î", "Î",
        ] {
            assert_eq!(
                TextInfo::analyze(letter).encoding,
                Encoding::Ucs2,
                "{letter}"
            );
        }
        let with_one = format!("{}ă", "a".repeat(149));
        assert_eq!(info(&with_one).2, 3);
    }

    #[test]
    fn decomposed_input_counts_as_composed() {
        let nfd = "s\u{0326}i a\u{0306}";
        let t = TextInfo::analyze(nfd);
        assert_eq!(t.body, "și ă");
        assert_eq!((t.encoding, t.units), (Encoding::Ucs2, 4));
    }

    #[test]
    fn gsm_lookalikes_are_told_apart() {
        assert_eq!(info("Ç").0, Encoding::Gsm7);
        assert_eq!(info("ç").0, Encoding::Ucs2);
        assert_eq!(info("é").0, Encoding::Gsm7);
        assert_eq!(info("á").0, Encoding::Ucs2);
        assert_eq!(info("`").0, Encoding::Ucs2);
        assert_eq!(info("\r\n"), (Encoding::Gsm7, 2, 1));
    }
}

//! Which provider takes a message: the pinned one, else the default, then by priority; skipping
//! providers that cannot take it now, and preferring ones this message has not failed on.

/// What the Router knows about a provider when it chooses.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    pub slug: &'a str,
    pub is_default: bool,
    pub priority: i32,
    /// Running, circuit not open, credit not exhausted.
    pub available: bool,
}

/// The preference order: default first, then lower priority, then slug for a stable tie-break.
pub fn order(candidates: &mut [Candidate<'_>]) {
    candidates.sort_by(|a, b| {
        b.is_default
            .cmp(&a.is_default)
            .then(a.priority.cmp(&b.priority))
            .then(a.slug.cmp(b.slug))
    });
}

/// `candidates` in preference order (see [`order`]); `tried` are the providers this message
/// already failed on. A pinned message goes to its provider or waits.
pub fn choose<'a>(
    candidates: &[Candidate<'a>],
    pinned: Option<&str>,
    tried: &[String],
) -> Option<&'a str> {
    if let Some(pin) = pinned {
        return candidates
            .iter()
            .find(|c| c.slug == pin && c.available)
            .map(|c| c.slug);
    }
    let mut available = candidates.iter().filter(|c| c.available);
    let fresh = available
        .clone()
        .find(|c| !tried.iter().any(|t| t == c.slug));
    // Every provider has failed this message once: start over from the most preferred.
    fresh.or_else(|| available.next()).map(|c| c.slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(slug: &str, is_default: bool, priority: i32, available: bool) -> Candidate<'_> {
        Candidate {
            slug,
            is_default,
            priority,
            available,
        }
    }

    fn ordered<'a>(mut v: Vec<Candidate<'a>>) -> Vec<Candidate<'a>> {
        order(&mut v);
        v
    }

    #[test]
    fn the_default_comes_first_whatever_its_priority() {
        let cs = ordered(vec![c("a", false, 1, true), c("b", true, 9, true)]);
        assert_eq!(choose(&cs, None, &[]), Some("b"));
    }

    #[test]
    fn then_lower_priority_wins() {
        let cs = ordered(vec![c("a", false, 5, true), c("b", false, 2, true)]);
        assert_eq!(choose(&cs, None, &[]), Some("b"));
    }

    #[test]
    fn unavailable_providers_are_skipped() {
        let cs = ordered(vec![c("a", true, 1, false), c("b", false, 2, true)]);
        assert_eq!(choose(&cs, None, &[]), Some("b"));
        let none = ordered(vec![c("a", true, 1, false)]);
        assert_eq!(choose(&none, None, &[]), None);
    }

    #[test]
    fn a_failed_provider_is_avoided_while_another_can_try() {
        let cs = ordered(vec![c("a", true, 1, true), c("b", false, 2, true)]);
        assert_eq!(choose(&cs, None, &["a".into()]), Some("b"));
        assert_eq!(choose(&cs, None, &["a".into(), "b".into()]), Some("a"));
    }

    #[test]
    fn a_pinned_message_never_moves() {
        let cs = ordered(vec![c("a", true, 1, true), c("b", false, 2, false)]);
        assert_eq!(choose(&cs, Some("b"), &[]), None);
        assert_eq!(choose(&cs, Some("a"), &["a".into()]), Some("a"));
    }
}

//! What the Alerts actor has seen: accepted volume (overall and per country prefix), each
//! provider's attempt outcomes and spending, recent OTP recipients, and since when each provider
//! has looked down. Counted in time buckets at the alert clock's time; never any I/O. Memory is
//! bounded by the windows: provider figures by minute for the longest provider window, volume
//! by ten minutes for the baseline days, OTP recipients for the OTP window only.

use crate::{
    domain::{event::ErrorKind, Message, MessageStatus, MessageType, Money},
    router::ProviderView,
};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Counts per time bucket.
#[derive(Debug, Clone)]
pub struct Buckets {
    /// Width of a bucket, in seconds.
    width: i64,
    counts: BTreeMap<i64, i64>,
}

impl Default for Buckets {
    /// By minute: fine enough for the provider windows (minutes to an hour).
    fn default() -> Self {
        Self::new(60)
    }
}

impl Buckets {
    pub fn new(width_s: i64) -> Self {
        Self {
            width: width_s.max(1),
            counts: BTreeMap::new(),
        }
    }

    /// By ten minutes: volume is compared hour with hour over days, and a week of minutes for
    /// every destination country would be a lot of memory for no better answer.
    pub fn coarse() -> Self {
        Self::new(600)
    }

    fn index(&self, at: DateTime<Utc>) -> i64 {
        at.timestamp().div_euclid(self.width)
    }

    pub fn add(&mut self, at: DateTime<Utc>, n: i64) {
        *self.counts.entry(self.index(at)).or_default() += n;
    }

    /// The counts of the buckets in (`from`, `to`], whole buckets at both ends.
    pub fn sum(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        let (a, b) = (self.index(from), self.index(to));
        if a >= b {
            return 0;
        }
        self.counts.range(a + 1..=b).map(|(_, n)| n).sum()
    }

    fn prune(&mut self, before: DateTime<Utc>) {
        self.counts = self.counts.split_off(&self.index(before));
    }

    fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// How far back each kind of observation is kept.
#[derive(Debug, Clone, Copy)]
pub struct Horizons {
    pub providers: Duration,
    pub volume: Duration,
    pub otps: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct ProviderSeen {
    pub ok: Buckets,
    pub failed: Buckets,
    /// In millicents.
    pub spent: Buckets,
}

/// Why a provider looks down, and since when it has without a break.
#[derive(Debug, Clone, PartialEq)]
pub struct Down {
    pub since: DateTime<Utc>,
    pub reasons: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Observations {
    /// When observing began: earlier hours have no figures, so they are not a baseline.
    pub started_at: DateTime<Utc>,
    pub providers: HashMap<String, ProviderSeen>,
    pub volume: Buckets,
    pub by_country: HashMap<String, Buckets>,
    /// (when, recipient) of recent OTPs, oldest first. Every accepted OTP stays here for the
    /// OTP window, so each entry is kept small and off the heap.
    pub otps: VecDeque<(DateTime<Utc>, Recipient)>,
    pub down: HashMap<String, Down>,
}

impl Observations {
    pub fn new(started_at: DateTime<Utc>) -> Self {
        Self {
            started_at,
            providers: HashMap::new(),
            volume: Buckets::coarse(),
            by_country: HashMap::new(),
            otps: VecDeque::new(),
            down: HashMap::new(),
        }
    }

    /// One stored change from the updates bus.
    pub fn observe(&mut self, m: &Message, now: DateTime<Utc>) {
        if m.status == MessageStatus::Queued && m.events.len() == 1 {
            self.volume.add(now, 1);
            if let Some(prefix) = calling_code(m.to.as_str()) {
                // Looked up by the borrowed prefix: a key is copied once per country, not per
                // message.
                match self.by_country.get_mut(prefix) {
                    Some(buckets) => buckets.add(now, 1),
                    None => {
                        let mut buckets = Buckets::coarse();
                        buckets.add(now, 1);
                        self.by_country.insert(prefix.to_owned(), buckets);
                    }
                }
            }
            if m.message_type == MessageType::Otp {
                if let Some(recipient) = Recipient::parse(m.to.as_str()) {
                    self.otps.push_back((now, recipient));
                }
            }
            return;
        }
        let Some(event) = m.events.last() else {
            return;
        };
        let Some(provider) = event.provider.clone().or_else(|| m.provider.clone()) else {
            return;
        };
        match m.status {
            MessageStatus::Sent => {
                let seen = self.providers.entry(provider).or_default();
                seen.ok.add(now, 1);
                if let Some(cost) = m.cost {
                    seen.spent.add(now, cost.millicents());
                }
            }
            MessageStatus::Retrying | MessageStatus::Failed => {
                if event
                    .error
                    .as_ref()
                    .is_some_and(|e| counts_against_provider(e.kind))
                {
                    self.providers
                        .entry(provider)
                        .or_default()
                        .failed
                        .add(now, 1);
                }
            }
            MessageStatus::Queued
            | MessageStatus::Sending
            | MessageStatus::Delivered
            | MessageStatus::Undelivered
            | MessageStatus::Expired => {}
        }
    }

    /// Volume from before observing began (read from the store): counted, and the baseline may
    /// use days from `complete_from` on.
    pub fn seed(
        &mut self,
        volume: &[(DateTime<Utc>, Option<String>)],
        complete_from: DateTime<Utc>,
    ) {
        for (at, country) in volume.iter().filter(|(at, _)| *at < self.started_at) {
            self.volume.add(*at, 1);
            if let Some(prefix) = country {
                self.by_country
                    .entry(prefix.clone())
                    .or_insert_with(Buckets::coarse)
                    .add(*at, 1);
            }
        }
        self.started_at = self.started_at.min(complete_from);
    }

    /// The providers' health on this tick: a provider that stays down keeps its `since`.
    pub fn track_providers(&mut self, providers: &[ProviderView], now: DateTime<Utc>) {
        let mut still = HashMap::new();
        for p in providers.iter().filter(|p| p.config.is_active) {
            let mut reasons = Vec::new();
            if !p.running {
                reasons.push("not running");
            }
            match p.health.circuit {
                crate::policy::breaker::CircuitState::Closed => {}
                crate::policy::breaker::CircuitState::Open
                | crate::policy::breaker::CircuitState::HalfOpen => reasons.push("circuit open"),
            }
            if p.health.balance_check_failing {
                reasons.push("balance checks failing");
            }
            if reasons.is_empty() {
                continue;
            }
            let since = self.down.get(&p.config.slug).map_or(now, |d| d.since);
            still.insert(p.config.slug.clone(), Down { since, reasons });
        }
        self.down = still;
    }

    /// Forgets what no rule looks at any more.
    pub fn prune(&mut self, now: DateTime<Utc>, keep: Horizons) {
        let before = now - keep.volume;
        self.volume.prune(before);
        self.by_country.retain(|_, b| {
            b.prune(before);
            !b.is_empty()
        });
        let before = now - keep.providers;
        self.providers.retain(|_, p| {
            p.ok.prune(before);
            p.failed.prune(before);
            p.spent.prune(before);
            !(p.ok.is_empty() && p.failed.is_empty() && p.spent.is_empty())
        });
        let before = now - keep.otps;
        while self.otps.front().is_some_and(|(at, _)| *at < before) {
            self.otps.pop_front();
        }
    }

    /// Money spent through `provider` in (`from`, `to`].
    pub fn spent(&self, provider: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Money {
        Money::from_millicents(
            self.providers
                .get(provider)
                .map_or(0, |p| p.spent.sum(from, to)),
        )
    }
}

/// Failures that say something about the provider, not about the message or about us.
fn counts_against_provider(kind: ErrorKind) -> bool {
    match kind {
        ErrorKind::InvalidCredentials
        | ErrorKind::InsufficientCredit
        | ErrorKind::RateLimited
        | ErrorKind::Timeout
        | ErrorKind::ProviderUnavailable
        | ErrorKind::Rejected => true,
        ErrorKind::InvalidRecipient
        | ErrorKind::InvalidContent
        | ErrorKind::NoProvider
        | ErrorKind::Interrupted
        | ErrorKind::Expired => false,
    }
}

/// The two-digit country calling codes; the one-digit ones are 1 and 7, every other is three
/// digits. E.164 codes are prefix-free, so the first digits of a number say which it is.
const TWO_DIGIT_CODES: [u8; 44] = [
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// `+40` for a Romanian number: the country calling code of an E.164 number. A table, not a
/// full number parse: this runs for every accepted message, and the number was checked on
/// the way in.
pub fn country_prefix(e164: &str) -> Option<String> {
    calling_code(e164).map(str::to_owned)
}

/// `country_prefix` borrowed from the number.
fn calling_code(e164: &str) -> Option<&str> {
    let digits = e164.strip_prefix('+')?.as_bytes();
    if digits.len() < 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = match digits[0] {
        b'1' | b'7' => 1,
        _ if TWO_DIGIT_CODES.contains(&((digits[0] - b'0') * 10 + (digits[1] - b'0'))) => 2,
        _ => 3,
    };
    e164.get(..len + 1)
}

/// An E.164 number as its digits and their count: 16 bytes and no allocation, where a string
/// of it is a heap allocation on top of its 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recipient {
    digits: u64,
    len: u8,
}

impl Recipient {
    /// `+` and 1 to 19 digits (E.164 allows 15); `None` for anything else, which an accepted
    /// message never has.
    pub fn parse(e164: &str) -> Option<Self> {
        let digits = e164.strip_prefix('+')?;
        if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            digits: digits.parse().ok()?,
            len: u8::try_from(digits.len()).ok()?,
        })
    }

    /// How many digits the number has (without the `+`).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number without its last `n` digits (`n` less than its length), as (digits, count).
    pub fn without_last(&self, n: usize) -> (u64, usize) {
        let n = n.min(self.len());
        let cut = u32::try_from(n).map_or(u64::MAX, |n| 10u64.saturating_pow(n));
        (self.digits / cut, self.len() - n)
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{:0width$}", self.digits, width = self.len())
    }
}

//! The lifecycle of each alert (a rule about a subject): it FIRES once when its condition
//! starts to hold, REPEATS at most once per cool-down while it holds (or at once when it gets
//! more severe), and RESOLVES with one notice when it no longer holds.

use super::{rules::Condition, Alert, AlertRule, AlertState, Severity};
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq)]
struct Open {
    id: String,
    notice: u32,
    fired_at: DateTime<Utc>,
    last_told: DateTime<Utc>,
    severity: Severity,
    details: serde_json::Value,
}

/// The alerts firing right now. Rebuilt from the alert history after a restart (`restore`), so
/// a restart neither repeats a firing before its cool-down nor forgets to resolve it.
#[derive(Debug, Default)]
pub struct Lifecycle {
    open: BTreeMap<(AlertRule, String), Open>,
}

impl Lifecycle {
    /// Takes up the alerts whose latest notice in `history` is a firing one.
    pub fn restore(history: &[Alert]) -> Self {
        let mut latest: HashMap<&str, &Alert> = HashMap::new();
        for a in history {
            let keep = latest
                .get(a.id.as_str())
                .is_none_or(|b| a.notice > b.notice);
            if keep {
                latest.insert(&a.id, a);
            }
        }
        let mut open = BTreeMap::new();
        for a in latest.into_values() {
            if a.state == AlertState::Firing {
                open.insert(
                    (a.rule, a.subject.clone()),
                    Open {
                        id: a.id.clone(),
                        notice: a.notice,
                        fired_at: a.fired_at,
                        last_told: a.at,
                        severity: a.severity,
                        details: a.details.clone(),
                    },
                );
            }
        }
        Self { open }
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// How many alerts of `rule` are firing.
    pub fn open_of(&self, rule: AlertRule) -> usize {
        self.open.keys().filter(|(r, _)| *r == rule).count()
    }

    /// The notices due at `now`, given every condition that holds now.
    pub fn step(
        &mut self,
        conditions: Vec<Condition>,
        now: DateTime<Utc>,
        cooldown: Duration,
    ) -> Vec<Alert> {
        let mut notices = Vec::new();
        let mut holding = std::collections::BTreeSet::new();
        for c in conditions {
            let key = (c.rule, c.subject.clone());
            holding.insert(key.clone());
            match self.open.get_mut(&key) {
                None => {
                    let id = format!("alr_{}", uuid::Uuid::new_v4().simple());
                    self.open.insert(
                        key,
                        Open {
                            id: id.clone(),
                            notice: 0,
                            fired_at: now,
                            last_told: now,
                            severity: c.severity,
                            details: c.details.clone(),
                        },
                    );
                    notices.push(notice(id, 0, now, now, c, AlertState::Firing));
                }
                Some(open) => {
                    open.details = c.details.clone();
                    let worse = c.severity > open.severity;
                    open.severity = c.severity;
                    if worse || now - open.last_told >= cooldown {
                        open.notice += 1;
                        open.last_told = now;
                        notices.push(notice(
                            open.id.clone(),
                            open.notice,
                            open.fired_at,
                            now,
                            c,
                            AlertState::Firing,
                        ));
                    }
                }
            }
        }
        let cleared: Vec<_> = self
            .open
            .keys()
            .filter(|k| !holding.contains(*k))
            .cloned()
            .collect();
        for key in cleared {
            let Some(open) = self.open.remove(&key) else {
                continue;
            };
            let (rule, subject) = key;
            let message = format!(
                "resolved: {} for {subject}",
                rule.as_str().replace('_', " ")
            );
            notices.push(Alert {
                id: open.id,
                notice: open.notice + 1,
                rule,
                subject,
                state: AlertState::Resolved,
                severity: open.severity,
                message,
                fired_at: open.fired_at,
                at: now,
                details: open.details,
            });
        }
        notices
    }
}

fn notice(
    id: String,
    n: u32,
    fired_at: DateTime<Utc>,
    now: DateTime<Utc>,
    c: Condition,
    state: AlertState,
) -> Alert {
    Alert {
        id,
        notice: n,
        rule: c.rule,
        subject: c.subject,
        state,
        severity: c.severity,
        message: c.message,
        fired_at,
        at: now,
        details: c.details,
    }
}

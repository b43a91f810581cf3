//! The audit log's hash chain: how an entry's hash is made over the stored text, and the check
//! that names the first entry that does not fit (see the parent module for what it guards).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use smsgate_actors::domain::{AuditEntryView, AuditRecord};

/// The previous hash of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored entry with its link to the one before, and the texts exactly as stored (the hash
/// covers those, not a re-serialisation of them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEntry {
    pub entry: AuditEntryView,
    pub prev_hash: String,
    pub at_text: String,
    pub before_text: Option<String>,
    pub after_text: Option<String>,
}

/// The hash of an entry. `before` and `after` are the stored JSON texts; everything goes through
/// one JSON array, whose encoding is unambiguous (no field can pass for another).
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    record: &AuditRecord,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    let body = serde_json::json!([
        seq,
        at,
        record.actor,
        record.action,
        record.target,
        before,
        after
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The time as it is stored and hashed.
pub fn time_text(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {missing} is missing (entry {found} follows entry {previous})")]
    Removed {
        previous: i64,
        missing: i64,
        found: i64,
    },
    #[error("entry {seq} does not link to the entry before it: an entry before it was removed or changed")]
    Unlinked { seq: i64 },
    #[error("entry {seq} was changed after it was written")]
    Edited { seq: i64 },
    /// The chain is consistent but does not hold the head hash kept earlier: it was rewritten
    /// (and re-hashed) up to or past that entry, or the kept hash is not from this log.
    #[error(
        "the kept head hash {kept} is not in the chain: the log was rewritten since it was kept"
    )]
    KeptHeadMissing { kept: String },
}

/// A chain that verified: its size and head, and where the kept head (if given) is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub count: usize,
    pub head: String,
    /// The entry whose hash is the kept head.
    pub anchored_at: Option<i64>,
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit log intact: {} entries; head hash {}",
            self.count, self.head
        )?;
        if let Some(seq) = self.anchored_at {
            write!(
                f,
                "; the kept head is entry {seq}, so entries 1 to {seq} are as they were when it was kept"
            )?;
        }
        Ok(())
    }
}

/// [`verify_chain`], then: the chain must hold the `kept` hash (compared case-insensitively,
/// spaces trimmed, as a person may paste it).
pub fn verify_anchored(entries: &[ChainEntry], kept: Option<&str>) -> Result<Verified, ChainBreak> {
    let (count, head) = verify_chain(entries)?;
    let anchored_at = match kept {
        None => None,
        Some(kept) => {
            let kept = kept.trim().to_ascii_lowercase();
            let entry = entries.iter().find(|c| c.entry.hash == kept);
            Some(
                entry
                    .map(|c| c.entry.seq)
                    .ok_or(ChainBreak::KeptHeadMissing { kept })?,
            )
        }
    };
    Ok(Verified {
        count,
        head,
        anchored_at,
    })
}

/// Checks the whole chain, oldest first. Ok holds the number of entries and the head hash.
pub fn verify_chain(entries: &[ChainEntry]) -> Result<(usize, String), ChainBreak> {
    let mut prev_hash = GENESIS.to_owned();
    let mut prev_seq = 0;
    for chain in entries {
        let e = &chain.entry;
        if e.seq != prev_seq + 1 {
            return Err(ChainBreak::Removed {
                previous: prev_seq,
                missing: prev_seq + 1,
                found: e.seq,
            });
        }
        if chain.prev_hash != prev_hash {
            return Err(ChainBreak::Unlinked { seq: e.seq });
        }
        let expected = entry_hash(
            &prev_hash,
            e.seq,
            &chain.at_text,
            &e.record,
            chain.before_text.as_deref(),
            chain.after_text.as_deref(),
        );
        if expected != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        prev_hash = e.hash.clone();
        prev_seq = e.seq;
    }
    Ok((entries.len(), prev_hash))
}

//! Provider secrets at rest: a Fernet keyring (the first key encrypts, every key decrypts, so a
//! key is rotated by putting a new one first) and hints, the only part of a secret ever shown.
//!
//! Tokens are standard Fernet (version 0x80, AES-128-CBC + HMAC-SHA256), so Python's
//! `cryptography.fernet` reads what smsgate writes and the reverse.

use serde_json::Value;
use smsgate_actors::ports::{SealError, SecretSealer};
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A configured key is not a url-safe base64 encoding of 32 bytes. Says which one, by
    /// position, never the key.
    #[error("encryption key #{position} is not a Fernet key (32 url-safe base64 bytes)")]
    BadKey { position: usize },
    #[error("no encryption key is configured")]
    NoKey,
    /// No configured key opens this token (wrong key, or the token was altered).
    #[error("a stored secret cannot be decrypted with the configured keys")]
    Undecryptable,
    #[error("a decrypted secret is not the JSON object it should be")]
    NotJson,
}

/// The configured keys. `Debug` shows how many, never which.
pub struct Keyring {
    fernet: fernet::MultiFernet,
    primary: fernet::Fernet,
    count: usize,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.count)
            .finish()
    }
}

impl Keyring {
    /// From keys in order of preference: the first encrypts, all decrypt.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<Self, SecretError> {
        let parsed = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                fernet::Fernet::new(key.trim()).ok_or(SecretError::BadKey { position: i + 1 })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let primary = parsed.first().cloned().ok_or(SecretError::NoKey)?;
        let count = parsed.len();
        Ok(Self {
            fernet: fernet::MultiFernet::new(parsed),
            primary,
            count,
        })
    }

    /// A new random key, as `smsgate keygen` prints it.
    pub fn generate_key() -> String {
        fernet::Fernet::generate_key()
    }

    /// Encrypts a credentials object (e.g. `{"apiKey": "..."}`) with the first key.
    pub fn seal(&self, credentials: &Value) -> String {
        self.primary.encrypt(credentials.to_string().as_bytes())
    }

    /// Decrypts with whichever configured key made the token.
    pub fn open(&self, token: &str) -> Result<Value, SecretError> {
        let plain = self
            .fernet
            .decrypt(token)
            .map_err(|_| SecretError::Undecryptable)?;
        serde_json::from_slice(&plain).map_err(|_| SecretError::NotJson)
    }

    /// Whether the first key made this token, so rotation can leave it as it is (a re-run of a
    /// rotation stopped half-way skips what is done).
    pub fn is_current(&self, token: &str) -> bool {
        self.primary.decrypt(token).is_ok()
    }

    /// Re-encrypts a token with the first key (key rotation).
    pub fn reseal(&self, token: &str) -> Result<String, SecretError> {
        let plain = self
            .fernet
            .decrypt(token)
            .map_err(|_| SecretError::Undecryptable)?;
        Ok(self.primary.encrypt(&plain))
    }
}

/// What may be shown of a secret: its last four characters, e.g. `****3f9a`. Secrets of eight
/// characters or fewer show nothing of themselves. The engine makes the same hints.
pub fn hint(secret: &str) -> String {
    smsgate_actors::domain::secret_hint(secret)
}

/// The engine seals the credentials admins give it with the keyring's first key.
impl SecretSealer for Keyring {
    fn seal(&self, credentials: &Value) -> Result<String, SealError> {
        Ok(Keyring::seal(self, credentials))
    }
}

/// Creates `dir` (and missing parents) readable by its owner only (0700 on unix): the data
/// directory holds the store, with provider secrets and token digests, and the dev key. A
/// directory that exists already is left as the operator made it.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a new file readable by its owner only (0600 on unix); refuses to replace one.
pub fn write_private_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_credentials_open_with_the_same_keyring() {
        let key = Keyring::generate_key();
        let ring = Keyring::new([key.as_str()]).unwrap();
        let secret = json!({ "apiKey": "sk-live-0123456789abcdef" });
        let token = ring.seal(&secret);
        assert!(!token.contains("0123456789abcdef"));
        assert_eq!(ring.open(&token).unwrap(), secret);
    }

    #[test]
    fn the_first_key_encrypts_and_every_key_decrypts() {
        let (old, new) = (Keyring::generate_key(), Keyring::generate_key());
        let before = Keyring::new([old.as_str()]).unwrap();
        let token = before.seal(&json!({ "authToken": "t" }));
        let after = Keyring::new([new.as_str(), old.as_str()]).unwrap();
        assert_eq!(after.open(&token).unwrap(), json!({ "authToken": "t" }));
        let rotated = after.reseal(&token).unwrap();
        let only_new = Keyring::new([new.as_str()]).unwrap();
        assert_eq!(
            only_new.open(&rotated).unwrap(),
            json!({ "authToken": "t" })
        );
        assert!(matches!(
            only_new.open(&token),
            Err(SecretError::Undecryptable)
        ));
    }

    #[test]
    fn bad_keys_are_named_by_position_only() {
        let good = Keyring::generate_key();
        let err = Keyring::new([good.as_str(), "not-a-key"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "encryption key #2 is not a Fernet key (32 url-safe base64 bytes)"
        );
        assert!(matches!(
            Keyring::new(std::iter::empty::<&str>()),
            Err(SecretError::NoKey)
        ));
    }

    #[test]
    fn hints_show_only_the_last_four() {
        assert_eq!(hint("sk-live-0123456789ab3f9a"), "****3f9a");
        assert_eq!(hint("short"), "****");
    }

    #[test]
    fn debug_never_shows_a_key() {
        let key = Keyring::generate_key();
        let ring = Keyring::new([key.as_str()]).unwrap();
        assert_eq!(format!("{ring:?}"), "Keyring { keys: 1 }");
    }
}

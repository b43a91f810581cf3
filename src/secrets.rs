//! Provider secrets at rest: a Fernet keyring (the first key encrypts, every key decrypts, so a
//! key is rotated by putting a new one first) and hints, the only part of a secret ever shown.
//!
//! Tokens are standard Fernet (version 0x80, AES-128-CBC + HMAC-SHA256), so Python's
//! `cryptography.fernet` reads what smsgate writes and the reverse.

use serde_json::Value;
use smsgate_actors::domain::ProviderConfig;
use smsgate_actors::ports::{SealError, SecretSealer};
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string (a token, a key, a connection string with a password). `Debug` never shows
/// it and there is no `Display`, so it cannot end up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; call it only where the value is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

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
    #[error("SMSGATE_ENCRYPTION_KEYS is required in prod mode (make one with `smsgate keygen`)")]
    Required,
    /// The dev key file could not be read or written.
    #[error("the dev encryption key in {}: {source}", path.display())]
    DevKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// Where dev mode keeps the key it generated.
pub const DEV_KEY_FILE: &str = "dev-encryption.key";

/// The keyring start-up opens, and where a key was generated for it (dev mode, first start).
#[derive(Debug)]
pub struct OpenedKeyring {
    pub keyring: Keyring,
    pub generated: Option<PathBuf>,
}

/// The configured keys; without any, in dev mode (`dev_data_dir` given), a key generated once
/// and kept owner-only in the data dir (a new key at every start would make the stored secrets
/// unreadable). Prod mode (`None`) requires configured keys.
pub fn open_keyring(
    keys: &[SecretString],
    dev_data_dir: Option<&Path>,
) -> Result<OpenedKeyring, SecretError> {
    if !keys.is_empty() {
        return Ok(OpenedKeyring {
            keyring: Keyring::new(keys.iter().map(SecretString::expose))?,
            generated: None,
        });
    }
    let dir = dev_data_dir.ok_or(SecretError::Required)?;
    let path = dir.join(DEV_KEY_FILE);
    let dev_key = |source| SecretError::DevKey {
        path: path.clone(),
        source,
    };
    let (key, generated) = match std::fs::read_to_string(&path) {
        Ok(key) => (key, None),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = Keyring::generate_key();
            create_private_dir(dir)
                .and_then(|()| write_private_file(&path, &key))
                .map_err(dev_key)?;
            (key, Some(path.clone()))
        }
        Err(err) => return Err(dev_key(err)),
    };
    Ok(OpenedKeyring {
        keyring: Keyring::new([key.as_str()])?,
        generated,
    })
}

/// The slugs of providers whose stored secret no configured key opens.
pub fn unreadable_secrets(keyring: &Keyring, providers: &[ProviderConfig]) -> Vec<String> {
    providers
        .iter()
        .filter(|p| {
            p.credentials
                .as_deref()
                .is_some_and(|token| keyring.open(token).is_err())
        })
        .map(|p| p.slug.clone())
        .collect()
}

/// Creates `dir` (and missing parents) readable by its owner only (0700 on unix): the data
/// directory holds the store, with provider secrets and token digests, and the dev key. A
/// directory that exists already is left as the operator made it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a new file readable by its owner only (0600 on unix); refuses to replace one.
pub fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
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

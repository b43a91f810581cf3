//! The secrets port: how the engine encrypts provider credentials before they reach the store.
//! The engine never decrypts; only the provider factory (outside the engine) opens them.

/// Encrypting failed; the credentials were not stored. Never carries the plaintext.
#[derive(Debug, thiserror::Error)]
#[error("credentials could not be encrypted")]
pub struct SealError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Turns plain credentials (`{"apiKey": "…"}`) into the opaque token that is stored.
pub trait SecretSealer: Send + Sync + 'static {
    fn seal(&self, credentials: &serde_json::Value) -> Result<String, SealError>;
}

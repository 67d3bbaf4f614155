//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), so
//! receivers verify LiveDesk's deliveries with the official libraries.
//!
//! The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`, the
//! signature `v1,<base64 of HMAC-SHA256>` keyed by the secret's bytes; a
//! secret is written `whsec_<base64>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A channel's webhook signing key.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<secret>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a webhook secret is written `whsec_` followed by base64")]
    Prefix,
    #[error("the webhook secret after `whsec_` is not base64: {0}")]
    Base64(String),
    #[error("the webhook secret is empty")]
    Empty,
}

impl SigningKey {
    /// Reads a `whsec_<base64>` secret.
    pub fn parse(secret: &str) -> Result<Self, KeyError> {
        let encoded = secret.strip_prefix("whsec_").ok_or(KeyError::Prefix)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|e| KeyError::Base64(e.to_string()))?;
        if bytes.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self(bytes))
    }

    /// The `webhook-signature` header value for one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference
        // libraries.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_else(|e| panic!("{e}"));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64() {
        assert_eq!(SigningKey::parse("MfKQ9r8G").err(), Some(KeyError::Prefix));
        assert!(matches!(
            SigningKey::parse("whsec_not base64!"),
            Err(KeyError::Base64(_))
        ));
        assert_eq!(SigningKey::parse("whsec_").err(), Some(KeyError::Empty));
    }
}

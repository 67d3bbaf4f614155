//! User identity validation: the HMAC a front end sends with a contact to
//! prove it knows who the user is.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex HMAC-SHA256 of `identifier`, keyed by the channel's
/// identity secret — what Chatwoot calls `identifier_hash`.
pub fn identifier_hash(secret: &[u8], identifier: &str) -> String {
    hex::encode(mac(secret, identifier).finalize().into_bytes())
}

/// Whether `hash` is the right `identifier_hash`, compared in constant time.
/// Hex is accepted in either case.
pub fn verify(secret: &[u8], identifier: &str, hash: &str) -> bool {
    match hex::decode(hash) {
        Ok(bytes) => mac(secret, identifier).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// An agent's realtime socket token, derived from their API token: every
/// instance derives the same one, nothing needs storing, and a new API
/// token gives a new one. It reveals nothing of the API token.
pub fn agent_pubsub_token(api_token: &str) -> String {
    let digest = mac(api_token.as_bytes(), "livedesk realtime socket").finalize();
    hex::encode(&digest.into_bytes()[..16])
}

fn mac(secret: &[u8], identifier: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(identifier.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            identifier_hash(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_right_hash(secret in proptest::collection::vec(any::<u8>(), 0..64), id in ".*", other in ".*") {
            let hash = identifier_hash(&secret, &id);
            prop_assert!(verify(&secret, &id, &hash));
            prop_assert!(verify(&secret, &id, &hash.to_uppercase()));
            prop_assert_eq!(verify(&secret, &other, &hash), identifier_hash(&secret, &other) == hash);
            let mut flipped = hash.clone().into_bytes();
            flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
            prop_assert!(!verify(&secret, &id, &String::from_utf8_lossy(&flipped)));
            prop_assert!(!verify(&secret, &id, &hash[..hash.len() - 2]));
        }
    }
}

//! bcrypt in modular-crypt form: `$2b$12$<22 salt chars><31 hash chars>`.
//!
//! Verification follows PHP's `password_verify` (crypt_blowfish): the key
//! ends at the first NUL byte and only its first 72 bytes count. Hashing
//! refuses what would be silently cut: passwords over 72 bytes and
//! passwords with a NUL byte.

use crate::Error;
use crate::algorithm::Recipe;
use crate::config::BcryptParams;

const MAX_KEY: usize = 72;

pub(crate) fn recipe(hash: &str) -> Result<Recipe, Error> {
    let bytes = hash.as_bytes();
    if bytes.len() < 4 || bytes[3] != b'$' {
        return Err(Error::UnknownFormat(format!("starts with {:?}", hash.chars().take(4).collect::<String>())));
    }
    match &hash[1..3] {
        "2a" | "2b" | "2y" => {}
        "2x" => {
            return Err(Error::UnknownFormat(
                "$2x$ is crypt_blowfish's bug-compatible variant, which attache does not reproduce".into(),
            ));
        }
        other => return Err(Error::UnknownFormat(format!("bcrypt variant ${other}$"))),
    }
    if hash.len() != 60 || !hash.is_ascii() {
        return Err(Error::Malformed(format!("a bcrypt hash is 60 ASCII characters, this one is {}", hash.len())));
    }
    let cost = hash[4..6]
        .parse::<u32>()
        .ok()
        .filter(|c| (4..=31).contains(c) && bytes[6] == b'$')
        .ok_or_else(|| Error::Malformed("bcrypt cost must be two digits from 04 to 31".into()))?;
    Ok(Recipe::Bcrypt(BcryptParams { cost }))
}

pub(crate) fn hash(password: &[u8], params: BcryptParams) -> Result<String, Error> {
    if password.len() > MAX_KEY {
        return Err(Error::BcryptTooLong { len: password.len() });
    }
    if password.contains(&0) {
        return Err(Error::BcryptNul);
    }
    if !(4..=31).contains(&params.cost) {
        return Err(Error::InvalidParams(format!("bcrypt cost {} is outside 4..=31", params.cost)));
    }
    bcrypt::hash(password, params.cost).map_err(|e| Error::Internal(format!("bcrypt: {e}")))
}

pub(crate) fn verify(password: &[u8], hash: &str) -> Result<bool, Error> {
    let key = password.split(|b| *b == 0).next().unwrap_or_default();
    let key = &key[..key.len().min(MAX_KEY)];
    // The crate compares the outputs with `subtle`'s constant-time equality.
    bcrypt::verify(key, hash).map_err(|e| Error::Malformed(format!("bcrypt: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_ignores_bytes_after_72_like_php() {
        let long = [b'a'; 100];
        let hash = hash(&long[..72], BcryptParams { cost: 4 }).unwrap();
        assert!(verify(&long, &hash).unwrap());
        assert!(!verify(&long[..71], &hash).unwrap());
    }

    #[test]
    fn verification_stops_at_nul_like_php() {
        let hash = hash(b"abc", BcryptParams { cost: 4 }).unwrap();
        assert!(verify(b"abc\0def", &hash).unwrap());
    }

    #[test]
    fn hashing_refuses_what_bcrypt_would_cut() {
        assert_eq!(hash(&[b'x'; 73], BcryptParams { cost: 4 }), Err(Error::BcryptTooLong { len: 73 }));
        assert!(hash(&[b'x'; 72], BcryptParams { cost: 4 }).is_ok());
        assert_eq!(hash(b"a\0b", BcryptParams { cost: 4 }), Err(Error::BcryptNul));
    }

    #[test]
    fn variants_and_shapes() {
        assert!(matches!(
            recipe("$2x$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzabcde"),
            Err(Error::UnknownFormat(_))
        ));
        assert!(matches!(recipe("$2b$10$short"), Err(Error::Malformed(_))));
        assert!(matches!(
            recipe("$2b$99$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzabcde"),
            Err(Error::Malformed(_))
        ));
    }
}

//! argon2 in PHC form: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Argon2, Params, Version};

use crate::Error;
use crate::algorithm::Recipe;
use crate::config::Argon2Params;

pub(crate) fn recipe(hash: &str) -> Result<Recipe, Error> {
    let parsed = PasswordHash::new(hash).map_err(|e| Error::Malformed(format!("argon2 PHC string: {e}")))?;
    let id = match parsed.algorithm.as_str() {
        "argon2id" => true,
        "argon2i" | "argon2d" => false,
        other => return Err(Error::UnknownFormat(format!("algorithm {other:?}"))),
    };
    let params = Params::try_from(&parsed).map_err(|e| Error::Malformed(format!("argon2 parameters: {e}")))?;
    if parsed.hash.is_none() {
        return Err(Error::Malformed("argon2 PHC string has no hash part".into()));
    }
    Ok(Recipe::Argon2 {
        id,
        params: Argon2Params { memory_kib: params.m_cost(), iterations: params.t_cost(), parallelism: params.p_cost() },
    })
}

pub(crate) fn hash(password: &[u8], params: Argon2Params) -> Result<String, Error> {
    let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
        .map_err(|e| Error::InvalidParams(format!("argon2: {e}")))?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

pub(crate) fn verify(password: &[u8], hash: &str) -> Result<bool, Error> {
    let parsed = PasswordHash::new(hash).map_err(|e| Error::Malformed(format!("argon2 PHC string: {e}")))?;
    // The verifier takes algorithm, version and costs from the hash itself
    // and compares outputs in constant time.
    match Argon2::default().verify_password(password, &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::Malformed(format!("argon2: {e}"))),
    }
}

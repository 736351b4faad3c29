//! argon2 in PHC form: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
//!
//! Each hashing thread keeps its argon2 memory between hashes instead of
//! allocating it afresh: at m=19456 KiB a fresh allocation costs ~2,500
//! page faults per hash, measured at a fifth of the pool's CPU time. Only
//! buffers up to the policy's size are kept, so what stays resident is
//! bounded by `workers × password.argon2.memory_kib`.

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::algorithm::Recipe;
use crate::config::Argon2Params;

const HASH_LEN: usize = 32;

thread_local! {
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `blocks` blocks of argon2 memory: the thread's kept buffer
/// when `blocks` fits within `keep_kib`, else a one-off allocation.
fn with_memory<R>(blocks: usize, keep_kib: u32, f: impl FnOnce(&mut [Block]) -> R) -> R {
    // A block is 1 KiB.
    if blocks > keep_kib as usize {
        return f(&mut vec![Block::default(); blocks]);
    }
    MEMORY.with(|cell| {
        let mut memory = cell.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        f(&mut memory[..blocks])
    })
}

pub(crate) fn recipe(hash: &str) -> Result<Recipe, Error> {
    let parsed = parse(hash)?;
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

fn parse(hash: &str) -> Result<PasswordHash<'_>, Error> {
    PasswordHash::new(hash).map_err(|e| Error::Malformed(format!("argon2 PHC string: {e}")))
}

pub(crate) fn hash(password: &[u8], params: Argon2Params, keep_kib: u32) -> Result<String, Error> {
    let argon_params = Params::new(params.memory_kib, params.iterations, params.parallelism, Some(HASH_LEN))
        .map_err(|e| Error::InvalidParams(format!("argon2: {e}")))?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, argon_params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| Error::Internal(format!("argon2 salt: {e}")))?;
    let mut out = [0u8; HASH_LEN];
    with_memory(argon_params.block_count(), keep_kib, |memory| {
        argon.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)
    })
    .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
    let output = Output::new(&out).map_err(|e| Error::Internal(format!("argon2 output: {e}")))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        salt.as_str(),
        output
    ))
}

/// Recomputes the hash with the algorithm, version and costs written in it
/// and compares the outputs in constant time.
pub(crate) fn verify(password: &[u8], hash: &str, keep_kib: u32) -> Result<bool, Error> {
    let parsed = parse(hash)?;
    let algorithm =
        argon2::Algorithm::try_from(parsed.algorithm).map_err(|e| Error::Malformed(format!("argon2: {e}")))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| Error::Malformed(format!("argon2 version: {e}")))?,
        None => Version::V0x10,
    };
    let params = Params::try_from(&parsed).map_err(|e| Error::Malformed(format!("argon2 parameters: {e}")))?;
    let expected = parsed.hash.ok_or_else(|| Error::Malformed("argon2 PHC string has no hash part".into()))?;
    let salt = parsed.salt.ok_or_else(|| Error::Malformed("argon2 PHC string has no salt".into()))?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| Error::Malformed(format!("argon2 salt: {e}")))?;
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    with_memory(blocks, keep_kib, |memory| {
        argon.hash_password_into_with_memory(password, salt_bytes, &mut out, memory)
    })
    .map_err(|e| Error::Malformed(format!("argon2: {e}")))?;
    Ok(expected.as_bytes().ct_eq(&out).into())
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    const CHEAP: Argon2Params = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn our_phc_string_is_what_the_reference_verifier_accepts() {
        let hash = hash(b"pw", CHEAP, 1024).unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"px", &parsed).is_err());
    }

    #[test]
    fn reused_memory_gives_the_same_answers_as_fresh_memory() {
        // Hash with a larger buffer first so the kept one holds stale blocks.
        let big = hash(b"a", Argon2Params { memory_kib: 256, ..CHEAP }, 1024).unwrap();
        let small = hash(b"b", CHEAP, 1024).unwrap();
        for (pw, h) in [(b"a", &big), (b"b", &small)] {
            assert!(verify(pw, h, 1024).unwrap(), "kept memory");
            assert!(verify(pw, h, 0).unwrap(), "one-off memory");
            assert!(!verify(b"z", h, 1024).unwrap());
        }
    }
}

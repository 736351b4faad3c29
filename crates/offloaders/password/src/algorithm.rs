use serde::{Deserialize, Serialize};

use crate::config::{Argon2Params, BcryptParams, Config, ScryptParams};
use crate::{Error, argon, bcrypt_mcf, scrypt_phc};

/// A password hashing algorithm attache can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Argon2id,
    Bcrypt,
    Scrypt,
}

/// Per-request overrides of the configured policy. Zero fields keep the
/// configured value; the default overrides nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashOptions {
    pub algorithm: Option<Algorithm>,
    pub argon2: Argon2Params,
    pub bcrypt: BcryptParams,
    pub scrypt: ScryptParams,
}

impl Default for HashOptions {
    fn default() -> Self {
        Self {
            algorithm: None,
            argon2: Argon2Params { memory_kib: 0, iterations: 0, parallelism: 0 },
            bcrypt: BcryptParams { cost: 0 },
            scrypt: ScryptParams { log_n: 0, r: 0, p: 0 },
        }
    }
}

/// The outcome of `Verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub valid: bool,
    /// The stored hash's algorithm or costs differ from the current policy.
    pub needs_rehash: bool,
}

/// What a hash string says about how it was made: enough to check it
/// against the ceilings and the policy without computing anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recipe {
    /// `argon2id`, or the older `argon2i`/`argon2d` (verifiable, always
    /// rehashed).
    Argon2 {
        id: bool,
        params: Argon2Params,
    },
    Bcrypt(BcryptParams),
    Scrypt(ScryptParams),
}

impl Recipe {
    /// The recipe of a new hash under `config`, with `options` applied.
    pub(crate) fn for_new_hash(config: &Config, options: &HashOptions) -> Recipe {
        let keep = |value: u32, configured: u32| if value == 0 { configured } else { value };
        match options.algorithm.unwrap_or(config.algorithm) {
            Algorithm::Argon2id => Recipe::Argon2 {
                id: true,
                params: Argon2Params {
                    memory_kib: keep(options.argon2.memory_kib, config.argon2.memory_kib),
                    iterations: keep(options.argon2.iterations, config.argon2.iterations),
                    parallelism: keep(options.argon2.parallelism, config.argon2.parallelism),
                },
            },
            Algorithm::Bcrypt => Recipe::Bcrypt(BcryptParams { cost: keep(options.bcrypt.cost, config.bcrypt.cost) }),
            Algorithm::Scrypt => Recipe::Scrypt(ScryptParams {
                log_n: keep(options.scrypt.log_n, config.scrypt.log_n),
                r: keep(options.scrypt.r, config.scrypt.r),
                p: keep(options.scrypt.p, config.scrypt.p),
            }),
        }
    }

    /// Reads the recipe from a stored hash string.
    pub(crate) fn of_hash(hash: &str) -> Result<Recipe, Error> {
        if hash.starts_with("$argon2") {
            argon::recipe(hash)
        } else if hash.starts_with("$2") {
            bcrypt_mcf::recipe(hash)
        } else if hash.starts_with("$scrypt$") {
            scrypt_phc::recipe(hash)
        } else {
            let prefix: String = hash.chars().take(10).collect();
            Err(Error::UnknownFormat(if prefix.is_empty() {
                "empty string".into()
            } else {
                format!("starts with {prefix:?}")
            }))
        }
    }

    /// Whether a hash made with this recipe should be replaced under
    /// `config`'s policy.
    pub(crate) fn needs_rehash(&self, config: &Config) -> bool {
        *self != Recipe::for_new_hash(config, &HashOptions::default())
    }

    /// Computes a new hash. CPU-heavy: call on the pool. `keep_kib` is the
    /// largest argon2 memory a thread may keep for reuse.
    pub(crate) fn hash(&self, password: &[u8], keep_kib: u32) -> Result<String, Error> {
        match *self {
            Recipe::Argon2 { params, .. } => argon::hash(password, params, keep_kib),
            Recipe::Bcrypt(params) => bcrypt_mcf::hash(password, params),
            Recipe::Scrypt(params) => scrypt_phc::hash(password, params),
        }
    }

    /// Checks a password against a stored hash of this recipe, in constant
    /// time with respect to the hash output. CPU-heavy: call on the pool.
    pub(crate) fn verify(&self, password: &[u8], hash: &str, keep_kib: u32) -> Result<bool, Error> {
        match self {
            Recipe::Argon2 { .. } => argon::verify(password, hash, keep_kib),
            Recipe::Bcrypt(_) => bcrypt_mcf::verify(password, hash),
            Recipe::Scrypt(_) => scrypt_phc::verify(password, hash),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_empty_hashes_are_refused_by_name() {
        assert!(matches!(Recipe::of_hash(""), Err(Error::UnknownFormat(m)) if m == "empty string"));
        assert!(matches!(Recipe::of_hash("$1$abc$def"), Err(Error::UnknownFormat(_))));
        assert!(matches!(Recipe::of_hash("plaintext"), Err(Error::UnknownFormat(_))));
    }

    #[test]
    fn overrides_apply_per_field() {
        let config = Config::default();
        let options = HashOptions {
            algorithm: Some(Algorithm::Argon2id),
            argon2: Argon2Params { memory_kib: 8192, iterations: 0, parallelism: 0 },
            ..Default::default()
        };
        let recipe = Recipe::for_new_hash(&config, &options);
        assert_eq!(
            recipe,
            Recipe::Argon2 { id: true, params: Argon2Params { memory_kib: 8192, iterations: 2, parallelism: 1 } }
        );
        assert!(recipe.needs_rehash(&config));
        assert!(!Recipe::for_new_hash(&config, &HashOptions::default()).needs_rehash(&config));
    }
}

use attache_core::Limits;
use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::algorithm::Recipe;
use crate::ceilings::Origin;
use crate::{Algorithm, HashOptions};

/// The password offloader's configuration: the policy new hashes follow
/// (and that `needs_rehash` compares against), the size and cost ceilings,
/// and the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Serve the password module. On by default: it needs no backend.
    pub enabled: bool,
    /// Algorithm for new hashes: `argon2id`, `bcrypt` or `scrypt`.
    pub algorithm: Algorithm,
    /// Longest password accepted by `Hash` and `Verify`.
    pub max_password_bytes: ByteSize,
    /// Hashing threads; 0 means one per available core.
    pub workers: usize,
    /// Niceness of the hashing threads, 0 to 19. Above 0, the applications
    /// on the host win the CPU whenever they want it, so hashing fills idle
    /// cycles instead of delaying their event loops.
    pub nice: i32,
    /// argon2id costs for new hashes.
    pub argon2: Argon2Params,
    /// bcrypt cost for new hashes.
    pub bcrypt: BcryptParams,
    /// scrypt costs for new hashes.
    pub scrypt: ScryptParams,
    /// Upper bounds on costs, for request overrides and for stored hashes
    /// being verified.
    pub ceilings: Ceilings,
    /// Admission: requests in flight (hashing or waiting for a hashing
    /// thread) and requests queued behind them.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            algorithm: Algorithm::Argon2id,
            max_password_bytes: ByteSize::kib(4),
            workers: 0,
            nice: 10,
            argon2: Argon2Params::default(),
            bcrypt: BcryptParams::default(),
            scrypt: ScryptParams::default(),
            ceilings: Ceilings::default(),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=19).contains(&self.nice) {
            return Err(format!("password.nice {} must be between 0 and 19", self.nice));
        }
        if self.limits.max_in_flight == 0 {
            return Err("password.limits.max_in_flight must be at least 1".into());
        }
        // Every algorithm's policy, not just the chosen one: a request may
        // pick another algorithm and hash with its configured costs.
        for algorithm in [Algorithm::Argon2id, Algorithm::Bcrypt, Algorithm::Scrypt] {
            let options = HashOptions { algorithm: Some(algorithm), ..HashOptions::default() };
            Recipe::for_new_hash(self, &options)
                .check_ceilings(&self.ceilings, Origin::Policy)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// argon2id costs. Defaults are OWASP's first recommendation
/// (m=19456 KiB, t=2, p=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// bcrypt cost. The default, 12, is PHP 8.4's `password_hash` default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BcryptParams {
    /// log2 of the number of rounds, 4..=31.
    pub cost: u32,
}

impl Default for BcryptParams {
    fn default() -> Self {
        Self { cost: 12 }
    }
}

/// scrypt costs. Defaults are OWASP's (N=2^17, r=8, p=1: 128 MiB a hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScryptParams {
    /// log2 of N.
    pub log_n: u32,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for ScryptParams {
    fn default() -> Self {
        Self { log_n: 17, r: 8, p: 1 }
    }
}

/// The most any one hash may cost. A request asking for more, or a stored
/// hash whose parameters exceed these, is refused with `INVALID_ARGUMENT`
/// from its parameters alone, before any memory is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ceilings {
    /// Most memory one hash may allocate, for every memory-hard algorithm:
    /// argon2 takes m KiB, scrypt 128·r·(N + p + 1) bytes.
    pub memory: ByteSize,
    /// Largest argon2 pass count; with `memory` it bounds argon2's time.
    pub argon2_iterations: u32,
    /// Largest argon2 lane count.
    pub argon2_parallelism: u32,
    /// Largest bcrypt cost.
    pub bcrypt_cost: u32,
    /// Largest scrypt r·p product. `memory` bounds N·r; p multiplies the
    /// time without using more memory, so this with `memory` bounds
    /// scrypt's time.
    pub scrypt_rp: u32,
}

impl Default for Ceilings {
    fn default() -> Self {
        Self {
            // argon2's earlier 262144 KiB ceiling: room for the 19 MiB
            // argon2id and 128 MiB scrypt defaults and stronger stored hashes.
            memory: ByteSize::mib(256),
            argon2_iterations: 64,
            argon2_parallelism: 16,
            bcrypt_cost: 16,
            scrypt_rp: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceilings::scrypt_memory;

    #[test]
    fn the_default_config_validates_up_to_the_byte() {
        let config = Config::default();
        assert_eq!(config.validate(), Ok(()));
        // Validation checks the scrypt default though argon2id is the chosen algorithm.
        let needed = scrypt_memory(config.scrypt).unwrap();
        let at = |bytes| Config {
            ceilings: Ceilings { memory: ByteSize::b(bytes), ..Ceilings::default() },
            ..config.clone()
        };
        assert_eq!(at(needed).validate(), Ok(()));
        assert!(at(needed - 1).validate().is_err());
    }

    #[test]
    fn a_scrypt_default_over_the_memory_ceiling_names_both_settings() {
        let config =
            Config { ceilings: Ceilings { memory: ByteSize::mib(64), ..Ceilings::default() }, ..Config::default() };
        let message = config.validate().unwrap_err();
        assert!(message.starts_with("password.scrypt needs 128.0 MiB"), "{message}");
        assert!(message.contains("above password.ceilings.memory (64.0 MiB)"), "{message}");
        assert!(message.contains("lower password.scrypt.log_n or password.scrypt.r"), "{message}");
    }
}

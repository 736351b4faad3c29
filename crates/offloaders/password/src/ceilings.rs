//! Cost ceilings, checked from a recipe's parameters alone so that a
//! refused hash allocates nothing.
//!
//! Memory has one ceiling in bytes for every memory-hard algorithm, and each
//! algorithm's need is computed the way its crate allocates. Ceilings on
//! parameters taken one at a time do not bound their product: scrypt's
//! ln=20 and r=64 each passed theirs, and together need 8 GiB.

use std::fmt::Display;

use bytesize::ByteSize;

use crate::Error;
use crate::algorithm::Recipe;
use crate::config::{Ceilings, ScryptParams};

/// Where the costs being checked come from; it decides what the refusal
/// tells the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A `Hash` request, overrides applied.
    Request,
    /// A stored hash given to `Verify`.
    Stored,
    /// The configured policy, checked by `Config::validate`.
    Policy,
}

/// RFC 7914 §2 bounds p by ((2^32 − 1)·32)/(128·r), that is r·p < 2^30.
const SCRYPT_RP_LIMIT: u64 = 1 << 30;

/// Bytes the scrypt crate allocates: V of N blocks, B of p blocks and one
/// scratch block, a block being 128·r bytes. `None` past `u64::MAX`.
pub(crate) fn scrypt_memory(params: ScryptParams) -> Option<u64> {
    let blocks = 1u64.checked_shl(params.log_n)?.checked_add(u64::from(params.p))?.checked_add(1)?;
    128u64.checked_mul(u64::from(params.r))?.checked_mul(blocks)
}

/// Bytes argon2 allocates: m blocks of 1 KiB. It requires m ≥ 8·p, so the
/// lanes never round the block count up.
pub(crate) fn argon2_memory(memory_kib: u32) -> u64 {
    u64::from(memory_kib) * 1024
}

impl Recipe {
    /// Refuses a recipe over `ceilings`, or outside what its algorithm
    /// allows, before anything is allocated.
    pub(crate) fn check_ceilings(&self, ceilings: &Ceilings, origin: Origin) -> Result<(), Error> {
        let refuse = |algorithm: &str, needs: String, ceiling: &str, max: &dyn Display, policy: &str| {
            let setting = format!("password.ceilings.{ceiling}");
            Err(Error::TooCostly(match origin {
                Origin::Request => format!(
                    "the requested {algorithm} hash needs {needs}, above {setting} ({max}); \
                     refusing to compute it: ask for lower costs"
                ),
                Origin::Stored => format!(
                    "the stored {algorithm} hash needs {needs}, above {setting} ({max}); \
                     refusing to verify it: raise {setting} if such hashes are legitimate"
                ),
                Origin::Policy => {
                    format!(
                        "password.{algorithm} needs {needs}, above {setting} ({max}); lower {policy} or raise {setting}"
                    )
                }
            }))
        };
        match *self {
            Recipe::Argon2 { params, .. } => {
                let bytes = argon2_memory(params.memory_kib);
                if bytes > ceilings.memory.as_u64() {
                    let needs = format!("{} of memory (m={} KiB)", ByteSize::b(bytes), params.memory_kib);
                    return refuse("argon2", needs, "memory", &ceilings.memory, "password.argon2.memory_kib");
                }
                if params.iterations > ceilings.argon2_iterations {
                    let needs = format!("{} iterations", params.iterations);
                    let max = ceilings.argon2_iterations;
                    return refuse("argon2", needs, "argon2_iterations", &max, "password.argon2.iterations");
                }
                if params.parallelism > ceilings.argon2_parallelism {
                    let needs = format!("{} lanes", params.parallelism);
                    let max = ceilings.argon2_parallelism;
                    return refuse("argon2", needs, "argon2_parallelism", &max, "password.argon2.parallelism");
                }
                Ok(())
            }
            Recipe::Bcrypt(params) => {
                if params.cost > ceilings.bcrypt_cost {
                    let needs = format!("cost {}", params.cost);
                    return refuse("bcrypt", needs, "bcrypt_cost", &ceilings.bcrypt_cost, "password.bcrypt.cost");
                }
                Ok(())
            }
            Recipe::Scrypt(params) => {
                let ScryptParams { log_n, r, p } = params;
                let rp = u64::from(r) * u64::from(p);
                // Refused whatever the ceilings: no configuration makes them computable.
                if log_n >= 64 || rp >= SCRYPT_RP_LIMIT {
                    return Err(Error::InvalidParams(format!(
                        "scrypt ln={log_n}, r={r}, p={p} is outside RFC 7914: ln must be below 64 and r·p below 2^30"
                    )));
                }
                let bytes = scrypt_memory(params);
                if bytes.is_none_or(|bytes| bytes > ceilings.memory.as_u64()) {
                    let size = bytes.map_or("more than 16 EiB".into(), |bytes| ByteSize::b(bytes).to_string());
                    let needs = format!("{size} of memory (128·r·(N+p+1) bytes with ln={log_n}, r={r}, p={p})");
                    let policy = "password.scrypt.log_n or password.scrypt.r";
                    return refuse("scrypt", needs, "memory", &ceilings.memory, policy);
                }
                if rp > u64::from(ceilings.scrypt_rp) {
                    let needs = format!("r·p = {rp}");
                    let policy = "password.scrypt.r or password.scrypt.p";
                    return refuse("scrypt", needs, "scrypt_rp", &ceilings.scrypt_rp, policy);
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Argon2Params, BcryptParams};

    const SALT_AND_HASH: &str = "$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

    fn stored(params: &str) -> Recipe {
        Recipe::of_hash(&format!("{params}{SALT_AND_HASH}")).unwrap()
    }

    fn refusal(result: Result<(), Error>) -> String {
        match result {
            Err(Error::TooCostly(message)) => message,
            other => panic!("expected TooCostly, got {other:?}"),
        }
    }

    fn at_most(bytes: u64) -> Ceilings {
        Ceilings { memory: ByteSize::b(bytes), ..Ceilings::default() }
    }

    #[test]
    fn scrypt_memory_is_checked_to_the_byte() {
        let recipe = stored("$scrypt$ln=10,r=8,p=1");
        let needed = 128 * 8 * (1024 + 1 + 1);
        assert_eq!(recipe.check_ceilings(&at_most(needed), Origin::Stored), Ok(()));
        let message = refusal(recipe.check_ceilings(&at_most(needed - 1), Origin::Stored));
        assert!(message.starts_with("the stored scrypt hash needs 1.0 MiB"), "{message}");
        assert!(message.contains("above password.ceilings.memory (1.0 MiB)"), "{message}");
    }

    #[test]
    fn argon2_memory_is_checked_to_the_byte() {
        let recipe = stored("$argon2id$v=19$m=1024,t=1,p=1");
        assert_eq!(recipe.check_ceilings(&at_most(1024 * 1024), Origin::Stored), Ok(()));
        let message = refusal(recipe.check_ceilings(&at_most(1024 * 1024 - 1), Origin::Stored));
        assert!(message.contains("m=1024 KiB), above password.ceilings.memory"), "{message}");
    }

    #[test]
    fn absurd_scrypt_parameters_are_refused_without_overflow() {
        // Ceilings as high as they go, so only the arithmetic stands in the way.
        let open = Ceilings { memory: ByteSize::b(u64::MAX), scrypt_rp: u32::MAX, ..Ceilings::default() };
        let check = |log_n, r, p| Recipe::Scrypt(ScryptParams { log_n, r, p }).check_ceilings(&open, Origin::Request);
        let message = refusal(check(63, 1, 1));
        assert!(message.contains("more than 16 EiB"), "{message}");
        assert!(refusal(check(50, (1 << 30) - 1, 1)).contains("more than 16 EiB"));
        for (log_n, r, p) in
            [(64, 1, 1), (u32::MAX, 8, 1), (63, u32::MAX, 1), (1, u32::MAX, u32::MAX), (1, 1 << 15, 1 << 15)]
        {
            assert!(
                matches!(check(log_n, r, p), Err(Error::InvalidParams(m)) if m.contains("RFC 7914")),
                "{log_n} {r} {p}"
            );
        }
        assert_eq!(check(1, (1 << 30) - 1, 1), Ok(()));
        // The stored form is refused as malformed by the parser, also without panicking.
        let hash = format!("$scrypt$ln=63,r={},p=1{SALT_AND_HASH}", u32::MAX);
        assert!(matches!(Recipe::of_hash(&hash), Err(Error::Malformed(_))));
    }

    #[test]
    fn other_ceilings_name_their_setting() {
        let ceilings = Ceilings::default();
        assert_eq!(Recipe::Bcrypt(BcryptParams { cost: 16 }).check_ceilings(&ceilings, Origin::Request), Ok(()));
        let message = refusal(Recipe::Bcrypt(BcryptParams { cost: 17 }).check_ceilings(&ceilings, Origin::Request));
        assert!(message.contains("cost 17, above password.ceilings.bcrypt_cost (16)"), "{message}");
        let argon = |iterations, parallelism| Recipe::Argon2 {
            id: true,
            params: Argon2Params { memory_kib: 1024, iterations, parallelism },
        };
        assert!(
            refusal(argon(65, 1).check_ceilings(&ceilings, Origin::Stored))
                .contains("password.ceilings.argon2_iterations")
        );
        assert!(
            refusal(argon(1, 17).check_ceilings(&ceilings, Origin::Stored))
                .contains("password.ceilings.argon2_parallelism")
        );
        let wide = Recipe::Scrypt(ScryptParams { log_n: 4, r: 8, p: 9 });
        assert!(
            refusal(wide.check_ceilings(&ceilings, Origin::Stored))
                .contains("r·p = 72, above password.ceilings.scrypt_rp")
        );
    }
}

//! Password hashing off the caller's threads: argon2id, bcrypt and scrypt,
//! in the standard string forms every language's libraries read.

use attache_proto::attache::password::v1 as pb;
use buffa::MessageField;

use crate::{Client, Result};

/// The algorithm of a new hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// Argon2id (`$argon2id$...`), optionally with its costs.
    Argon2id {
        /// Memory in KiB; 0 for the sidecar's default.
        memory_kib: u32,
        /// Passes; 0 for the sidecar's default.
        iterations: u32,
        /// Lanes; 0 for the sidecar's default.
        parallelism: u32,
    },
    /// bcrypt (`$2b$...`) with its cost; 0 for the sidecar's default.
    Bcrypt {
        /// log2 of the rounds.
        cost: u32,
    },
    /// scrypt (`$scrypt$...`) with its parameters; 0s for the defaults.
    Scrypt {
        /// log2 of N.
        log_n: u32,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
}

impl Algorithm {
    /// Argon2id at the sidecar's configured costs.
    pub const ARGON2ID: Algorithm = Algorithm::Argon2id { memory_kib: 0, iterations: 0, parallelism: 0 };
    /// bcrypt at the sidecar's configured cost.
    pub const BCRYPT: Algorithm = Algorithm::Bcrypt { cost: 0 };
    /// scrypt at the sidecar's configured parameters.
    pub const SCRYPT: Algorithm = Algorithm::Scrypt { log_n: 0, r: 0, p: 0 };
}

/// What [`Password::verify`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matches the hash.
    pub valid: bool,
    /// The hash was made with another algorithm or weaker costs than the
    /// sidecar's policy: hash the password again and store the new hash.
    pub needs_rehash: bool,
}

/// Password hashing; from [`Client::password`].
#[derive(Debug, Clone, Copy)]
pub struct Password<'a> {
    pub(crate) client: &'a Client,
}

impl Password<'_> {
    /// A hash of `password` with the sidecar's configured algorithm and costs.
    pub async fn hash(&self, password: &str) -> Result<String> {
        self.call(pb::HashRequest { password: password.to_owned(), ..Default::default() }).await
    }

    /// A hash of `password` with `algorithm` (costs above the sidecar's
    /// ceilings are refused with `InvalidArgument`).
    pub async fn hash_with(&self, password: &str, algorithm: Algorithm) -> Result<String> {
        let mut req = pb::HashRequest { password: password.to_owned(), ..Default::default() };
        match algorithm {
            Algorithm::Argon2id { memory_kib, iterations, parallelism } => {
                req.algorithm = pb::Algorithm::ALGORITHM_ARGON2ID.into();
                req.argon2 =
                    MessageField::some(pb::Argon2Params { memory_kib, iterations, parallelism, ..Default::default() });
            }
            Algorithm::Bcrypt { cost } => {
                req.algorithm = pb::Algorithm::ALGORITHM_BCRYPT.into();
                req.bcrypt = MessageField::some(pb::BcryptParams { cost, ..Default::default() });
            }
            Algorithm::Scrypt { log_n, r, p } => {
                req.algorithm = pb::Algorithm::ALGORITHM_SCRYPT.into();
                req.scrypt = MessageField::some(pb::ScryptParams { log_n, r, p, ..Default::default() });
            }
        }
        self.call(req).await
    }

    async fn call(&self, req: pb::HashRequest) -> Result<String> {
        let reply: pb::HashResponse = self.client.unary(pb::PASSWORD_SERVICE_HASH_SPEC, &req).await?;
        Ok(reply.hash)
    }

    /// Whether `password` matches `hash` (argon2id, argon2i, bcrypt `$2a$`,
    /// `$2b$`, `$2y$`, scrypt), and whether to hash it again.
    pub async fn verify(&self, password: &str, hash: &str) -> Result<Verification> {
        let req = pb::VerifyRequest { password: password.to_owned(), hash: hash.to_owned(), ..Default::default() };
        let reply: pb::VerifyResponse = self.client.unary(pb::PASSWORD_SERVICE_VERIFY_SPEC, &req).await?;
        Ok(Verification { valid: reply.valid, needs_rehash: reply.needs_rehash })
    }
}

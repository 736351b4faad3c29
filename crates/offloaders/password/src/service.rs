use std::sync::Arc;
use std::time::Instant;

use attache_pool::Pool;
use prometheus_client::registry::Registry;

use crate::algorithm::Recipe;
use crate::{Config, Error, HashOptions, Verification};

/// Hashes and verifies passwords on a dedicated pool. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: Pool,
}

impl Service {
    /// Starts the hashing threads (see `Limits::pool_capacity`).
    pub fn new(config: Config) -> std::io::Result<Self> {
        let pool = Pool::new("password", config.workers, config.limits.pool_capacity(), config.nice)?;
        Ok(Self { inner: Arc::new(Inner { config, pool }) })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.pool.metrics().register(registry);
    }

    /// Hashes `password` under the policy with `options` applied. Work not
    /// started by `deadline` is dropped.
    pub async fn hash(&self, password: &str, options: HashOptions, deadline: Option<Instant>) -> Result<String, Error> {
        self.check_length(password)?;
        let recipe = Recipe::for_new_hash(&self.inner.config, &options);
        recipe.check_ceilings(&self.inner.config.ceilings)?;
        let password = password.as_bytes().to_vec();
        let keep_kib = self.inner.config.argon2.memory_kib;
        self.inner.pool.run(deadline, move || recipe.hash(&password, keep_kib)).await?
    }

    /// Checks `password` against a stored `hash` from attache or any
    /// compatible library.
    pub async fn verify(&self, password: &str, hash: &str, deadline: Option<Instant>) -> Result<Verification, Error> {
        self.check_length(password)?;
        let recipe = Recipe::of_hash(hash)?;
        recipe.check_ceilings(&self.inner.config.ceilings)?;
        let needs_rehash = recipe.needs_rehash(&self.inner.config);
        let (password, hash) = (password.as_bytes().to_vec(), hash.to_owned());
        let keep_kib = self.inner.config.argon2.memory_kib;
        let valid = self.inner.pool.run(deadline, move || recipe.verify(&password, &hash, keep_kib)).await??;
        Ok(Verification { valid, needs_rehash: valid && needs_rehash })
    }

    fn check_length(&self, password: &str) -> Result<(), Error> {
        let max = usize::try_from(self.inner.config.max_password_bytes.as_u64()).unwrap_or(usize::MAX);
        if password.len() > max {
            return Err(Error::PasswordTooLong { len: password.len(), max });
        }
        Ok(())
    }
}

impl attache_core::Module for Service {
    fn name(&self) -> &'static str {
        "password"
    }

    fn shutdown(&self) {
        self.inner.pool.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, Argon2Params, BcryptParams, ScryptParams};

    fn cheap() -> Config {
        Config {
            argon2: Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 },
            bcrypt: BcryptParams { cost: 4 },
            scrypt: ScryptParams { log_n: 4, r: 8, p: 1 },
            workers: 1,
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn every_algorithm_round_trips_and_rejects_wrong_passwords() {
        let service = Service::new(cheap()).unwrap();
        for (algorithm, prefix) in [
            (Algorithm::Argon2id, "$argon2id$v=19$m=1024,t=1,p=1$"),
            (Algorithm::Bcrypt, "$2b$04$"),
            (Algorithm::Scrypt, "$scrypt$ln=4,r=8,p=1$"),
        ] {
            let options = HashOptions { algorithm: Some(algorithm), ..Default::default() };
            let hash = service.hash("correct horse", options, None).await.unwrap();
            assert!(hash.starts_with(prefix), "{hash}");
            let ok = service.verify("correct horse", &hash, None).await.unwrap();
            assert!(ok.valid);
            assert_eq!(ok.needs_rehash, algorithm != Algorithm::Argon2id, "{algorithm:?}");
            assert_eq!(
                service.verify("wrong horse", &hash, None).await.unwrap(),
                Verification { valid: false, needs_rehash: false }
            );
        }
    }

    #[tokio::test]
    async fn default_policy_is_owasp_argon2id() {
        let service = Service::new(Config { workers: 1, ..Config::default() }).unwrap();
        let hash = service.hash("pw", HashOptions::default(), None).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }

    #[tokio::test]
    async fn too_long_passwords_and_bad_hashes_are_invalid_arguments() {
        let service = Service::new(cheap()).unwrap();
        let long = "x".repeat(4097);
        assert_eq!(
            service.hash(&long, HashOptions::default(), None).await,
            Err(Error::PasswordTooLong { len: 4097, max: 4096 })
        );
        for bad in [
            "",
            "$argon2id$v=19$m=abc",
            "$2b$04$tooshort",
            "$scrypt$ln=4,r=8$",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ",
        ] {
            let err = service.verify("pw", bad, None).await.unwrap_err();
            assert_eq!(err.kind(), attache_core::Kind::InvalidArgument, "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn expired_deadline_is_not_started() {
        let service = Service::new(cheap()).unwrap();
        let past = Instant::now() - std::time::Duration::from_millis(5);
        assert_eq!(service.hash("pw", HashOptions::default(), Some(past)).await, Err(Error::DeadlineExceeded));
    }
}

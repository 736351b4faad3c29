use std::sync::Arc;
use std::time::Instant;

use attache_pool::Pool;
use prometheus_client::registry::Registry;

use crate::algorithm::Recipe;
use crate::ceilings::Origin;
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

    /// Hashes `password` under the policy with `options` applied. Work not
    /// started by `deadline` is dropped.
    pub async fn hash(&self, password: &str, options: HashOptions, deadline: Option<Instant>) -> Result<String, Error> {
        self.check_length(password)?;
        let recipe = Recipe::for_new_hash(&self.inner.config, &options);
        recipe.check_ceilings(&self.inner.config.ceilings, Origin::Request)?;
        let password = password.as_bytes().to_vec();
        let keep_kib = self.inner.config.argon2.memory_kib;
        self.inner.pool.run(deadline, move || recipe.hash(&password, keep_kib)).await?
    }

    /// Checks `password` against a stored `hash` from attache or any
    /// compatible library.
    pub async fn verify(&self, password: &str, hash: &str, deadline: Option<Instant>) -> Result<Verification, Error> {
        self.check_length(password)?;
        let recipe = Recipe::of_hash(hash)?;
        recipe.check_ceilings(&self.inner.config.ceilings, Origin::Stored)?;
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

    fn limits(&self) -> attache_core::Limits {
        self.inner.config.limits
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.inner.pool.metrics().register(registry);
    }

    /// Lets the pool finish its queued jobs and joins its threads.
    fn shutdown(&self) -> attache_core::Stopping {
        Box::pin(self.inner.pool.stop())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Algorithm, Argon2Params, BcryptParams, Ceilings, ScryptParams};

    /// The hash from the finding: ln=20 and r=64 each passed the old
    /// per-parameter ceilings, and verifying it allocated 8 GiB.
    const SCRYPT_8_GIB: &str =
        "$scrypt$ln=20,r=64,p=1$Wx4Mmi99TotqPB8OnYx7ag$DsTcYdPJuEYODGB68TmkS1iZEg+6DzCrHTPJJlIbcCE";

    /// Refusals happen before the pool, so they take microseconds; computing
    /// any of these hashes would take seconds and gigabytes.
    const AT_ONCE: Duration = Duration::from_millis(200);

    fn too_costly(result: Result<impl std::fmt::Debug, Error>) -> String {
        match result {
            Err(Error::TooCostly(message)) => message,
            other => panic!("expected TooCostly, got {other:?}"),
        }
    }

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
    async fn the_8_gib_scrypt_hash_is_refused_at_once() {
        let config = Config { workers: 1, ..Config::default() };
        // Fails fast, without the 8 GiB, should the check ever let it through.
        assert!(Recipe::of_hash(SCRYPT_8_GIB).unwrap().check_ceilings(&config.ceilings, Origin::Stored).is_err());
        let service = Service::new(config).unwrap();
        let started = Instant::now();
        let message = too_costly(service.verify("correct horse", SCRYPT_8_GIB, None).await);
        assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
        assert!(
            message.starts_with(
                "the stored scrypt hash needs 8.0 GiB of memory (128·r·(N+p+1) bytes with ln=20, r=64, p=1), \
                 above password.ceilings.memory (256.0 MiB)"
            ),
            "{message}"
        );
    }

    #[tokio::test]
    async fn an_8_gib_scrypt_override_is_refused_at_once() {
        let options = HashOptions {
            algorithm: Some(Algorithm::Scrypt),
            scrypt: ScryptParams { log_n: 20, r: 64, p: 0 },
            ..Default::default()
        };
        let config = Config { workers: 1, ..Config::default() };
        assert!(Recipe::for_new_hash(&config, &options).check_ceilings(&config.ceilings, Origin::Request).is_err());
        let service = Service::new(config).unwrap();
        let started = Instant::now();
        let message = too_costly(service.hash("pw", options, None).await);
        assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
        assert!(message.starts_with("the requested scrypt hash needs 8.0 GiB"), "{message}");
        assert!(message.contains("password.ceilings.memory"), "{message}");
    }

    #[tokio::test]
    async fn argon2_over_the_memory_ceiling_is_refused_before_allocating() {
        // 1 MiB of memory allowed: the cheap policy fits exactly.
        let config =
            Config { ceilings: Ceilings { memory: bytesize::ByteSize::mib(1), ..Ceilings::default() }, ..cheap() };
        let service = Service::new(config).unwrap();
        // m = u32::MAX KiB is 4 TiB: allocating it would abort the process.
        let stored = format!("$argon2id$v=19$m={},t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", u32::MAX);
        let started = Instant::now();
        let message = too_costly(service.verify("pw", &stored, None).await);
        assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
        assert!(message.contains("above password.ceilings.memory (1.0 MiB)"), "{message}");
        let options = HashOptions {
            argon2: Argon2Params { memory_kib: 1025, iterations: 0, parallelism: 0 },
            ..Default::default()
        };
        let message = too_costly(service.hash("pw", options, None).await);
        assert!(message.contains("(m=1025 KiB), above password.ceilings.memory (1.0 MiB)"), "{message}");
        let at_the_ceiling = HashOptions { argon2: Argon2Params { memory_kib: 1024, ..options.argon2 }, ..options };
        assert!(service.hash("pw", at_the_ceiling, None).await.is_ok());
    }

    #[tokio::test]
    async fn expired_deadline_is_not_started() {
        let service = Service::new(cheap()).unwrap();
        let past = Instant::now() - std::time::Duration::from_millis(5);
        assert_eq!(service.hash("pw", HashOptions::default(), Some(past)).await, Err(Error::DeadlineExceeded));
    }
}

use std::collections::BTreeMap;
use std::ffi::OsString;

/// Where environment variables come from; tests pass a [`MapEnv`].
pub trait Env {
    /// Every variable, as the OS holds it. Names and values need not be
    /// UTF-8: any process may inherit such a variable, so the loader, not
    /// the source, decides which ones matter (only `ATTACHE_*`).
    fn vars(&self) -> Vec<(OsString, OsString)>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn vars(&self) -> Vec<(OsString, OsString)> {
        // `vars_os`: `std::env::vars` panics on the first variable that is
        // not UTF-8, even one that has nothing to do with attache.
        std::env::vars_os().collect()
    }
}

/// A fixed set of variables.
#[derive(Debug, Default, Clone)]
pub struct MapEnv(pub BTreeMap<OsString, OsString>);

impl MapEnv {
    pub fn new<const N: usize>(vars: [(&str, &str); N]) -> Self {
        Self(vars.iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl Env for MapEnv {
    fn vars(&self) -> Vec<(OsString, OsString)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

use std::collections::BTreeMap;

/// Where `ATTACHE_*` variables come from; tests pass a [`MapEnv`].
pub trait Env {
    /// All variables whose name starts with `ATTACHE_`.
    fn attache_vars(&self) -> Vec<(String, String)>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn attache_vars(&self) -> Vec<(String, String)> {
        std::env::vars().filter(|(k, _)| k.starts_with("ATTACHE_")).collect()
    }
}

/// A fixed set of variables.
#[derive(Debug, Default, Clone)]
pub struct MapEnv(pub BTreeMap<String, String>);

impl MapEnv {
    pub fn new<const N: usize>(vars: [(&str, &str); N]) -> Self {
        Self(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}

impl Env for MapEnv {
    fn attache_vars(&self) -> Vec<(String, String)> {
        self.0.iter().filter(|(k, _)| k.starts_with("ATTACHE_")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// What the app and the server need to know of every module, whatever it
/// does: its name (the `<module>` of `attache.<module>.v1`, used for limits,
/// metrics and logs), whether it can serve, and how to stop it.
pub trait Module: Send + Sync + 'static {
    /// The module's name, e.g. `password`.
    fn name(&self) -> &'static str;

    /// Whether the module can serve requests now (used by `/readyz`).
    fn is_ready(&self) -> bool {
        true
    }

    /// Stop taking work and wait, blocking, for what was accepted to finish.
    /// Called once, after the listeners have stopped and in-flight requests
    /// have drained.
    fn shutdown(&self) {}
}

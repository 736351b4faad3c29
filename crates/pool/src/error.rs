/// Why a job did not produce a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the work queue is full ({capacity} jobs); retry later or raise the module's limits")]
    Full { capacity: usize },
    #[error("the deadline passed while the job waited in the queue")]
    Expired,
    #[error("the pool is shut down")]
    Closed,
    #[error("the job panicked")]
    Panicked,
}

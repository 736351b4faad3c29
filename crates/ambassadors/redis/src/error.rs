use std::time::Duration;

use attache_core::Kind;

/// What can go wrong running a command through the ambassador.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("args is empty; give the command name first, e.g. [\"GET\", \"key\"]")]
    EmptyCommand,
    #[error("{command} is not allowed here: {reason}")]
    Refused { command: String, reason: &'static str },
    #[error(
        "{0} is not cacheable; DoCached serves read-only commands (GET, MGET, HGET, HMGET, HGETALL, SMEMBERS, \
         SISMEMBER, ZRANGE, ZSCORE, LRANGE, EXISTS, STRLEN, TYPE, ...); use Do for others"
    )]
    NotCacheable(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("redis at {address} is unavailable ({reason}); attache reconnects by itself, retry later")]
    Unavailable { address: String, reason: String },
    #[error("redis did not answer within {0:?} (redis.command_timeout); the connection is being replaced")]
    Timeout(Duration),
    #[error("the deadline passed before redis answered")]
    DeadlineExceeded,
    #[error(
        "all {0} dedicated connections (blocking commands, transactions) are busy; retry later or raise redis.max_dedicated_connections"
    )]
    DedicatedExhausted(usize),
    #[error(
        "this subscriber fell {0} messages behind (redis.subscriber_queue) and was dropped; consume faster and subscribe again"
    )]
    SubscriberTooSlow(usize),
    #[error("{0} subscriptions are open, the limit (redis.max_subscribers); close some or raise it")]
    TooManySubscribers(usize),
    #[error("the subscription was lost: {0}; messages published meanwhile are lost, subscribe again")]
    SubscriptionLost(String),
    #[error("the redis module is shutting down")]
    ShuttingDown,
    #[error(
        "the reply is larger than redis.max_reply_bytes ({0} bytes); read it in parts (GETRANGE, HSCAN, LRANGE \
         with a range) or raise redis.max_reply_bytes"
    )]
    ReplyTooLarge(usize),
    #[error(
        "the replies of this batch together are larger than redis.max_reply_bytes ({0} bytes); split the batch \
         or raise redis.max_reply_bytes"
    )]
    BatchTooLarge(usize),
    #[error("the reply is nested more than 128 levels deep, more than attache decodes; return a flatter reply")]
    ReplyTooDeep,
    #[error("redis refused: {0}; grant the channel to attache's redis user or subscribe to another")]
    Forbidden(String),
    #[error(
        "a message on this subscription was larger than redis.max_reply_bytes ({0} bytes) and could not be \
         delivered; publish smaller messages or raise redis.max_reply_bytes, and subscribe again"
    )]
    MessageTooLarge(usize),
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::EmptyCommand
            | Error::Refused { .. }
            | Error::NotCacheable(_)
            | Error::InvalidArgument(_)
            | Error::ReplyTooDeep => Kind::InvalidArgument,
            Error::Forbidden(_) => Kind::PermissionDenied,
            Error::Unavailable { .. } | Error::Timeout(_) | Error::SubscriptionLost(_) | Error::ShuttingDown => {
                Kind::Unavailable
            }
            Error::DeadlineExceeded => Kind::DeadlineExceeded,
            Error::DedicatedExhausted(_)
            | Error::SubscriberTooSlow(_)
            | Error::TooManySubscribers(_)
            | Error::ReplyTooLarge(_)
            | Error::BatchTooLarge(_)
            | Error::MessageTooLarge(_) => Kind::ResourceExhausted,
        }
    }
}

impl From<Error> for attache_core::Error {
    fn from(err: Error) -> Self {
        attache_core::Error::new(err.kind(), err.to_string())
    }
}

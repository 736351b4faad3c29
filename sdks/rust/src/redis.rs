//! Redis through the sidecar: its auto-pipelined connection, its
//! client-side cache shared by every app on the host (kept correct by
//! Redis's invalidations), and Pub/Sub.

use std::pin::Pin;
use std::time::Duration;

use attache_proto::attache::redis::v1 as pb;
use attache_proto::attache::redis::v1::__buffa::oneof::{batch_call, batch_result, subscribe_response, value::Kind};
use futures::Stream;

use crate::Client;
use crate::error::{Code, Error, Result};

/// A Redis reply (RESP3).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// Nil: a missing key.
    Nil,
    /// A bulk string.
    Bytes(Vec<u8>),
    /// A simple string, e.g. `OK`.
    Simple(String),
    /// An integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// A big number, in decimal.
    BigNumber(String),
    /// An array.
    Array(Vec<Value>),
    /// A set.
    Set(Vec<Value>),
    /// A map, in Redis's order.
    Map(Vec<(Value, Value)>),
    /// A verbatim string and its format (`txt`, `mkd`).
    Verbatim {
        /// The format.
        format: String,
        /// The text.
        text: Vec<u8>,
    },
    /// An error reply inside an array (a pipeline, `EXEC`); a single
    /// command's error reply is an [`Error::Redis`] instead.
    Error(String),
}

impl Value {
    /// Whether this is nil.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The bytes of a string reply (bulk, simple or verbatim).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            Value::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A string reply as UTF-8 text.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// An integer reply, or a string reply holding an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => self.as_str()?.parse().ok(),
        }
    }

    /// The elements of an array or set reply.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }

    /// `Err(Error::Redis)` for an error reply, else the value.
    pub fn into_result(self) -> Result<Value> {
        match self {
            Value::Error(message) => Err(Error::Redis(message)),
            v => Ok(v),
        }
    }

    pub(crate) fn from_pb(v: Option<&pb::Value>) -> Value {
        let Some(kind) = v.and_then(|v| v.kind.as_ref()) else {
            return Value::Nil;
        };
        match kind {
            Kind::Null(_) => Value::Nil,
            Kind::Bulk(b) => Value::Bytes(b.clone()),
            Kind::Simple(s) => Value::Simple(s.clone()),
            Kind::Integer(n) => Value::Int(*n),
            Kind::Error(e) => Value::Error(e.clone()),
            Kind::Array(a) => Value::Array(a.values.iter().map(|v| Value::from_pb(Some(v))).collect()),
            Kind::Set(a) => Value::Set(a.values.iter().map(|v| Value::from_pb(Some(v))).collect()),
            Kind::Map(m) => Value::Map(
                m.entries
                    .iter()
                    .map(|e| (Value::from_pb(e.key.as_option()), Value::from_pb(e.value.as_option())))
                    .collect(),
            ),
            Kind::Double(d) => Value::Double(*d),
            Kind::Boolean(b) => Value::Bool(*b),
            Kind::BigNumber(n) => Value::BigNumber(n.clone()),
            Kind::Verbatim(v) => Value::Verbatim { format: v.format.clone(), text: v.text.clone() },
        }
    }
}

/// One call of a [`Redis::batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A command, as [`Redis::command`] runs it.
    Command(Vec<Vec<u8>>),
    /// A read served from the cache, as [`Redis::cached`] runs it.
    Cached(Vec<Vec<u8>>, Duration),
}

impl Call {
    /// A command from its words.
    pub fn command<A: AsRef<[u8]>>(args: impl IntoIterator<Item = A>) -> Call {
        Call::Command(words(args))
    }

    /// A cached read from its words.
    pub fn cached<A: AsRef<[u8]>>(args: impl IntoIterator<Item = A>, ttl: Duration) -> Call {
        Call::Cached(words(args), ttl)
    }
}

/// What one call of a batch gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The reply.
    pub value: Value,
    /// Served from the sidecar's cache (cached reads only).
    pub cache_hit: bool,
}

/// A Pub/Sub message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published on.
    pub channel: String,
    /// The pattern it matched; empty for a channel subscription.
    pub pattern: String,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// The messages of a [`Redis::subscribe`], until it is dropped (which
/// unsubscribes at once). Falling behind ends it with `ResourceExhausted`.
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Result<Message>> + Send>>,
}

impl Subscription {
    /// The next message; `None` once the sidecar ended the subscription
    /// cleanly.
    pub async fn next(&mut self) -> Option<Result<Message>> {
        futures::StreamExt::next(&mut self.inner).await
    }
}

impl Stream for Subscription {
    type Item = Result<Message>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

/// Redis; from [`Client::redis`].
#[derive(Debug, Clone, Copy)]
pub struct Redis<'a> {
    pub(crate) client: &'a Client,
}

fn words<A: AsRef<[u8]>>(args: impl IntoIterator<Item = A>) -> Vec<Vec<u8>> {
    args.into_iter().map(|a| a.as_ref().to_vec()).collect()
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

impl Redis<'_> {
    /// Runs one command, e.g. `command(["HINCRBY", "stats", "hits", "1"])`;
    /// an error reply is [`Error::Redis`]. Not retried (it may not be
    /// idempotent).
    pub async fn command<A: AsRef<[u8]>>(&self, args: impl IntoIterator<Item = A>) -> Result<Value> {
        let req = pb::DoRequest { args: words(args), ..Default::default() };
        let reply: pb::DoResponse = self.client.unary(pb::REDIS_SERVICE_DO_SPEC, &req).await?;
        Value::from_pb(reply.reply.as_option()).into_result()
    }

    /// Runs commands in order on one connection and returns their replies
    /// in order, error replies as [`Value::Error`]. `MULTI` … `EXEC` in one
    /// pipeline is atomic.
    pub async fn pipeline<C, A>(&self, commands: impl IntoIterator<Item = C>) -> Result<Vec<Value>>
    where
        C: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        let commands = commands.into_iter().map(|c| pb::Command { args: words(c), ..Default::default() }).collect();
        let req = pb::DoMultiRequest { commands, ..Default::default() };
        let reply: pb::DoMultiResponse = self.client.unary(pb::REDIS_SERVICE_DO_MULTI_SPEC, &req).await?;
        Ok(reply.replies.iter().map(|v| Value::from_pb(Some(v))).collect())
    }

    /// A read-only command served from the sidecar's cache for up to `ttl`
    /// (Redis invalidates it sooner when the key changes), and whether it
    /// was a hit.
    pub async fn cached<A: AsRef<[u8]>>(
        &self,
        args: impl IntoIterator<Item = A>,
        ttl: Duration,
    ) -> Result<(Value, bool)> {
        let req = pb::DoCachedRequest { args: words(args), ttl_ms: ttl_ms(ttl), ..Default::default() };
        let reply: pb::DoCachedResponse = self.client.unary(pb::REDIS_SERVICE_DO_CACHED_SPEC, &req).await?;
        Ok((Value::from_pb(reply.reply.as_option()).into_result()?, reply.cache_hit))
    }

    /// Many keys, hits from the cache and misses from Redis in one round
    /// trip; the values in the keys' order, and how many were hits.
    pub async fn mget_cached<A: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = A>,
        ttl: Duration,
    ) -> Result<(Vec<Value>, u32)> {
        let req = pb::MGetCachedRequest { keys: words(keys), ttl_ms: ttl_ms(ttl), ..Default::default() };
        let reply: pb::MGetCachedResponse = self.client.unary(pb::REDIS_SERVICE_M_GET_CACHED_SPEC, &req).await?;
        Ok((reply.values.iter().map(|v| Value::from_pb(Some(v))).collect(), reply.cache_hits))
    }

    /// Many independent calls in one round trip; each succeeds or fails on
    /// its own (an error reply is that call's [`Error::Redis`]).
    pub async fn batch(&self, calls: impl IntoIterator<Item = Call>) -> Result<Vec<Result<Reply>>> {
        let calls: Vec<pb::BatchCall> = calls
            .into_iter()
            .map(|c| pb::BatchCall {
                call: Some(match c {
                    Call::Command(args) => batch_call::Call::Do(Box::new(pb::DoRequest { args, ..Default::default() })),
                    Call::Cached(args, ttl) => batch_call::Call::DoCached(Box::new(pb::DoCachedRequest {
                        args,
                        ttl_ms: ttl_ms(ttl),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            })
            .collect();
        let n = calls.len();
        let req = pb::BatchRequest { calls, ..Default::default() };
        let reply: pb::BatchResponse = self.client.unary(pb::REDIS_SERVICE_BATCH_SPEC, &req).await?;
        if reply.results.len() != n {
            return Err(Error::new(Code::Internal, format!("{n} calls in the batch, {} results", reply.results.len())));
        }
        Ok(reply
            .results
            .into_iter()
            .map(|r| match r.result {
                Some(batch_result::Result::Do(d)) => {
                    Value::from_pb(d.reply.as_option()).into_result().map(|value| Reply { value, cache_hit: false })
                }
                Some(batch_result::Result::DoCached(d)) => Value::from_pb(d.reply.as_option())
                    .into_result()
                    .map(|value| Reply { value, cache_hit: d.cache_hit }),
                Some(batch_result::Result::Error(e)) => Err(Error::new(Code::from_name(&e.code), e.message)),
                None => Err(Error::new(Code::Internal, "the sidecar's batch reply lacks a result")),
            })
            .collect())
    }

    /// The value of `key`, or `None`.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        Ok(match self.command([b"GET".as_slice(), key.as_ref()]).await? {
            Value::Bytes(b) => Some(b),
            _ => None,
        })
    }

    /// Sets `key` to `value`.
    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.command([b"SET".as_slice(), key.as_ref(), value.as_ref()]).await.map(drop)
    }

    /// Subscribes to `channels` and `patterns`; returns once Redis has
    /// confirmed them (within the client's deadline), so a message
    /// published after it is received.
    pub async fn subscribe(&self, channels: &[&str], patterns: &[&str]) -> Result<Subscription> {
        let transport = self.client.transport();
        let req = pb::SubscribeRequest {
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        };
        let open = async {
            let rpc = pb::RedisServiceClient::new(transport.h2().await?, transport.config());
            let mut stream = rpc.subscribe(req).await.map_err(Error::from_connect)?;
            match stream.message().await.map_err(Error::from_connect)?.map(|m| m.to_owned_message().event) {
                Some(Some(subscribe_response::Event::Subscribed(_))) => Ok(stream),
                _ => Err(Error::new(Code::Internal, "the subscription began without its confirmation")),
            }
        };
        let opened = tokio::time::timeout(self.client.timeout(), open).await.unwrap_or_else(|_| {
            Err(Error::new(
                Code::DeadlineExceeded,
                "Redis did not confirm the subscription within the client's timeout",
            ))
        });
        let stream = match opened {
            Ok(stream) => stream,
            Err(e) => {
                if e.code() == Code::Unavailable {
                    transport.h2_failed().await;
                }
                return Err(e);
            }
        };
        let messages = futures::stream::unfold(Some(stream), |stream| async move {
            let mut stream = stream?;
            loop {
                match stream.message().await {
                    Ok(Some(m)) => {
                        if let Some(subscribe_response::Event::Message(m)) = m.to_owned_message().event {
                            let m = Message { channel: m.channel, pattern: m.pattern, payload: m.payload };
                            return Some((Ok(m), Some(stream)));
                        }
                    }
                    Ok(None) => return None,
                    Err(e) => return Some((Err(Error::from_connect(e)), None)),
                }
            }
        });
        Ok(Subscription { inner: Box::pin(messages) })
    }
}

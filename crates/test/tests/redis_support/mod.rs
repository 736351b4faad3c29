//! Helpers shared by the Redis end-to-end tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use attache_proto::attache::redis::v1::__buffa::oneof::value::Kind;
use attache_proto::attache::redis::v1::{DoCachedRequest, DoRequest, RedisServiceClient, Value};
use attache_test::{RedisServer, Sidecar};
use connectrpc::client::SharedHttp2Connection;
use connectrpc::{ConnectError, Protocol};

pub type Client = RedisServiceClient<SharedHttp2Connection>;

pub async fn start(redis: &RedisServer, configure: impl FnOnce(&mut attache_config::Config)) -> (Sidecar, Client) {
    let url = redis.url().to_string();
    let sidecar = Sidecar::start_with(|c| {
        c.redis.url = Some(url);
        configure(c);
    })
    .await;
    let client = sidecar.redis(Protocol::Connect).await;
    wait_connected(&client).await;
    (sidecar, client)
}

/// Calls succeed once the background connection is up.
pub async fn wait_connected(client: &Client) {
    let until = Instant::now() + Duration::from_secs(10);
    while r#do(client, &["PING"]).await.is_err() {
        assert!(Instant::now() < until, "attache never connected to redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn args(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

pub async fn r#do(client: &Client, words: &[&str]) -> Result<Kind, ConnectError> {
    let reply = client.r#do(DoRequest { args: args(words), ..Default::default() }).await?.into_owned();
    Ok(reply.reply.into_option().and_then(|v| v.kind).expect("a reply"))
}

pub async fn cached(client: &Client, words: &[&str], ttl_ms: u64) -> Result<(Kind, bool), ConnectError> {
    let reply =
        client.do_cached(DoCachedRequest { args: args(words), ttl_ms, ..Default::default() }).await?.into_owned();
    Ok((reply.reply.into_option().and_then(|v| v.kind).expect("a reply"), reply.cache_hit))
}

pub fn bulk(s: &str) -> Kind {
    Kind::Bulk(s.as_bytes().to_vec())
}

pub fn kind(value: &Value) -> &Kind {
    value.kind.as_ref().expect("a value")
}

/// Polls `cached` until it returns `want`, for at most a second: an
/// invalidation push reaches attache a moment after redis-cli's own reply.
pub async fn eventually_cached(client: &Client, words: &[&str], want: &Kind) -> bool {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let (got, _) = cached(client, words, 60_000).await.unwrap();
        if &got == want {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The error of a call made while attache cannot connect, once it says
/// why (before the first attempt ends it says "not connected yet").
pub async fn connect_error(client: &Client) -> ConnectError {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let err = r#do(client, &["PING"]).await.expect_err("attache connected, but should not have");
        if !err.message.as_deref().unwrap_or_default().contains("not connected yet") || Instant::now() > until {
            return err;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

//! The Redis ambassador against hostile callers and a misbehaving server:
//! each test reproduces a way one caller could get stale data, lose a
//! queue item, grow the sidecar's memory or break other callers, against a
//! real `redis-server`, with `redis-cli` as the independent client.

use std::time::{Duration, Instant};

use attache_proto::attache::redis::v1::__buffa::oneof::batch_call::Call;
use attache_proto::attache::redis::v1::__buffa::oneof::batch_result::Result as Outcome;
use attache_proto::attache::redis::v1::__buffa::oneof::subscribe_response::Event;
use attache_proto::attache::redis::v1::__buffa::oneof::value::Kind;
use attache_proto::attache::redis::v1::{
    BatchCall, BatchRequest, DoCachedRequest, MGetCachedRequest, SubscribeRequest,
};
use attache_test::{RedisServer, Sidecar, connect_json};
use bytesize::ByteSize;
use connectrpc::client::CallOptions;
use connectrpc::{ErrorCode, Protocol};
use redis_support::*;

mod redis_support;

/// A Lua script that keeps Redis busy (every client waits) for `ms`.
fn busy(ms: u64) -> String {
    format!(
        "local t = redis.call('TIME') local start = t[1] * 1000000 + t[2] \
         while true do local n = redis.call('TIME') \
         if n[1] * 1000000 + n[2] - start > {} then break end end return 1",
        ms * 1000
    )
}

/// Runs `busy(ms)` through redis-cli off the runtime (the sidecar keeps
/// running meanwhile); await the handle for the script's end.
async fn keep_busy(redis: &RedisServer, ms: u64) -> tokio::task::JoinHandle<()> {
    let port = redis.port().to_string();
    let script = busy(ms);
    let handle = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("redis-cli").args(["-p", &port, "EVAL", &script, "0"]).output().unwrap();
        assert!(out.status.success());
    });
    // Let the script start before the caller's commands arrive.
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle
}

fn batch_call(c: Call) -> BatchCall {
    BatchCall { call: Some(c), ..Default::default() }
}

fn cached_get(key: &str) -> BatchCall {
    batch_call(Call::DoCached(Box::new(DoCachedRequest {
        args: args(&["GET", key]),
        ttl_ms: 60_000,
        ..Default::default()
    })))
}

#[tokio::test]
async fn an_abandoned_blpop_closes_its_connection_and_takes_no_item() {
    let redis = RedisServer::start();
    let (sidecar, client) = start(&redis, |c| c.redis.max_dedicated_connections = 4).await;
    // Ten callers leave while their BLPOP waits (their HTTP connections
    // close), more than the dedicated connections there are.
    for _ in 0..10 {
        let call = connect_json(
            sidecar.socket(),
            "attache.redis.v1.RedisService/Do",
            r#"{"args":["QkxQT1A=","cQ==","MA=="]}"#,
            &[],
        );
        assert!(tokio::time::timeout(Duration::from_millis(100), call).await.is_err(), "BLPOP q 0 answered");
    }
    // Redis sees no blocked client left.
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let list = redis.cli(&["CLIENT", "LIST"]);
        let blocked = list.lines().filter(|l| l.contains("cmd=blpop")).count();
        if blocked == 0 {
            break;
        }
        assert!(Instant::now() < until, "{blocked} abandoned BLPOPs still wait in redis:\n{list}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next item goes to the worker that is still there.
    let worker = tokio::spawn({
        let client = client.clone();
        async move { r#do(&client, &["BLPOP", "q", "5"]).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.cli(&["LPUSH", "q", "job-1"]);
    let Kind::Array(popped) = worker.await.unwrap().unwrap() else { panic!("BLPOP returns an array") };
    assert_eq!(kind(&popped.values[1]), &bulk("job-1"));
    assert_eq!(redis.cli(&["LLEN", "q"]), "0");
}

#[tokio::test]
async fn replies_are_bounded_per_call_and_per_batch_and_fail_alone() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| c.redis.max_reply_bytes = ByteSize::mib(1)).await;
    redis.cli(&["SET", "small", "s"]);
    assert_eq!(cached(&client, &["GET", "small"], 60_000).await.unwrap(), (bulk("s"), false));
    let value = "v".repeat(600 * 1024);
    let big = "b".repeat(2 * 1024 * 1024);
    r#do(&client, &["SET", "600k", &value]).await.unwrap();
    r#do(&client, &["SET", "2m", &big]).await.unwrap();

    // One reply over the limit fails that call, naming the setting...
    for read in [&["GET", "2m"][..], &["MGET", "2m", "small"][..]] {
        let err = r#do(&client, read).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::ResourceExhausted, "{read:?}");
        assert!(err.message.unwrap().contains("redis.max_reply_bytes"));
    }
    let err = cached(&client, &["GET", "2m"], 60_000).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceExhausted);
    // ...and nothing else: the shared connection and its cache live on.
    assert_eq!(cached(&client, &["GET", "small"], 60_000).await.unwrap(), (bulk("s"), true));
    assert_eq!(r#do(&client, &["GET", "600k"]).await.unwrap(), bulk(&value));

    // A batch of cached reads of a 600 KiB value: the replies together are
    // bounded too, and only the calls past the bound fail.
    let calls = (0..20).map(|_| cached_get("600k")).collect();
    let results = client.batch(BatchRequest { calls, ..Default::default() }).await.unwrap().into_owned().results;
    let ok = results.iter().filter(|r| matches!(r.result, Some(Outcome::DoCached(_)))).count();
    assert_eq!(ok, 1, "{} of 20 reads of 600 KiB fit in 1 MiB", ok);
    for result in &results {
        if let Some(Outcome::Error(e)) = &result.result {
            assert_eq!(e.code, "resource_exhausted");
            assert!(e.message.contains("redis.max_reply_bytes"), "{}", e.message);
        }
    }
}

#[tokio::test]
async fn a_batch_takes_an_admission_slot_per_call() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| {
        c.redis.limits.max_in_flight = 8;
        c.redis.limits.max_queued = 0;
    })
    .await;
    let batch = |n: usize| {
        let calls = (0..n).map(|i| cached_get(&format!("k{i}"))).collect();
        client.batch(BatchRequest { calls, ..Default::default() })
    };
    assert_eq!(batch(8).await.unwrap().into_owned().results.len(), 8);
    let err = batch(9).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceExhausted);
    assert!(err.message.unwrap().contains("redis.limits"));
    // While a BLPOP holds a slot, a full-size batch no longer fits.
    let blocked = tokio::spawn({
        let client = client.clone();
        async move { r#do(&client, &["BLPOP", "nothing", "1"]).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(batch(8).await.unwrap_err().code, ErrorCode::ResourceExhausted);
    assert_eq!(batch(7).await.unwrap().into_owned().results.len(), 7);
    blocked.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_deeply_nested_reply_fails_its_call_alone() {
    let redis = RedisServer::start();
    let (sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "k", "v"]);
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v"), false));
    // Another client's GETs run all along.
    let other = sidecar.redis(Protocol::Grpc).await;
    let steady = tokio::spawn(async move {
        let mut failures = 0;
        for _ in 0..200 {
            failures += usize::from(r#do(&other, &["GET", "k"]).await.is_err());
        }
        failures
    });
    let deep = "local t = {} local c = t for i = 1, 300 do local n = {} c[1] = n c = n end return t";
    for _ in 0..5 {
        let err = r#do(&client, &["EVAL", deep, "0"]).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.unwrap().contains("nested"));
    }
    assert_eq!(steady.await.unwrap(), 0, "other callers failed while one read a deep reply");
    // The connection was never dropped: the cached entry is still a hit.
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v"), true));
}

#[tokio::test]
async fn single_flight_followers_keep_their_own_deadline() {
    let redis = RedisServer::start();
    let (sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "slow", "value"]);
    let busy = keep_busy(&redis, 400).await;
    // The leader's deadline is the server's to enforce (a Connect timeout
    // header, no client-side timer), so the shared fetch sees it pass.
    let leader = connect_json(
        sidecar.socket(),
        "attache.redis.v1.RedisService/DoCached",
        r#"{"args":["R0VU","c2xvdw=="],"ttlMs":"60000"}"#,
        &[("connect-timeout-ms", "100")],
    );
    let follower = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let request = DoCachedRequest { args: args(&["GET", "slow"]), ttl_ms: 60_000, ..Default::default() };
        client.do_cached_with_options(request, CallOptions::default().with_timeout(Duration::from_secs(5))).await
    };
    let ((_, leader), follower) = tokio::join!(leader, follower);
    assert!(leader.contains("deadline_exceeded"), "{leader}");
    let follower = follower.expect("the follower had 5 s").into_owned();
    assert_eq!(kind(follower.reply.as_option().unwrap()), &bulk("value"));
    busy.await.unwrap();
}

#[tokio::test]
async fn mget_cached_never_caches_a_wrong_type_as_nil() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["HSET", "h", "f", "v"]);
    redis.cli(&["SET", "s", "1"]);
    let keys = args(&["h", "s", "missing"]);
    let many = client.m_get_cached(MGetCachedRequest { keys, ttl_ms: 60_000, ..Default::default() }).await.unwrap();
    assert_eq!(many.into_owned().values.len(), 3);
    let (reply, _) = cached(&client, &["GET", "h"], 60_000).await.unwrap();
    let Kind::Error(e) = reply else { panic!("GET of a hash is WRONGTYPE, got {reply:?}") };
    assert!(e.starts_with("WRONGTYPE"), "{e}");
    // The missing key's nil and the string were cached from the MGET.
    assert_eq!(cached(&client, &["GET", "missing"], 60_000).await.unwrap(), (Kind::Null(true), true));
    assert_eq!(cached(&client, &["GET", "s"], 60_000).await.unwrap(), (bulk("1"), true));
}

#[tokio::test]
async fn an_unanswered_ping_drops_the_cache_of_an_idle_connection() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| {
        c.redis.ping_interval = Duration::from_millis(200);
        c.redis.command_timeout = Duration::from_millis(300);
    })
    .await;
    redis.cli(&["SET", "k", "v1"]);
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v1"), false));
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v1"), true));
    // Redis stops answering (as a half-open connection would) while no
    // call is made; the PING notices.
    keep_busy(&redis, 900).await.await.unwrap();
    wait_connected(&client).await;
    assert_eq!(
        cached(&client, &["GET", "k"], 60_000).await.unwrap(),
        (bulk("v1"), false),
        "served from a cache whose invalidations could not arrive"
    );
}

#[tokio::test]
async fn a_forbidden_channel_fails_its_subscriber_alone() {
    let redis = RedisServer::start_with(&["--user", "app", "on", ">s3cret", "~*", "&open:*", "+@all"]);
    let url = format!("redis://app:s3cret@127.0.0.1:{}/0", redis.port());
    let sidecar = Sidecar::start_with(|c| c.redis.url = Some(url)).await;
    let client = sidecar.redis(Protocol::Grpc).await;
    wait_connected(&client).await;
    let subscribe = |channels: &[&str]| {
        client.subscribe(SubscribeRequest {
            channels: channels.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        })
    };
    let mut allowed = subscribe(&["open:1"]).await.unwrap();
    assert!(matches!(allowed.message().await.unwrap().unwrap().to_owned_message().event, Some(Event::Subscribed(_))));
    for channels in [&["secret"][..], &["open:2", "secret"][..]] {
        let refused = match subscribe(channels).await {
            Ok(mut stream) => stream.message().await.unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(refused.code, ErrorCode::PermissionDenied, "{channels:?}: {refused:?}");
        assert!(refused.message.unwrap().contains("NOPERM"));
    }
    // The refused caller's allowed channel was released with it.
    let until = Instant::now() + Duration::from_secs(2);
    while redis.cli(&["PUBSUB", "NUMSUB", "open:2"]) != "open:2\n0" {
        assert!(Instant::now() < until, "open:2 is still subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first subscriber never noticed.
    assert_eq!(redis.cli(&["PUBLISH", "open:1", "hello"]), "1");
    let message = allowed.message().await.unwrap().unwrap().to_owned_message();
    let Some(Event::Message(message)) = message.event else { panic!("{message:?}") };
    assert_eq!(message.payload, b"hello");
}

#[tokio::test]
async fn a_pubsub_message_over_the_limit_ends_its_channels_subscribers_only() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| c.redis.max_reply_bytes = ByteSize::kib(64)).await;
    let mut big =
        client.subscribe(SubscribeRequest { channels: vec!["big".into()], ..Default::default() }).await.unwrap();
    let mut other =
        client.subscribe(SubscribeRequest { channels: vec!["other".into()], ..Default::default() }).await.unwrap();
    big.message().await.unwrap().unwrap();
    other.message().await.unwrap().unwrap();
    redis.cli(&["PUBLISH", "big", &"x".repeat(100 * 1024)]);
    let err = big.message().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceExhausted);
    assert!(err.message.unwrap().contains("redis.max_reply_bytes"));
    assert_eq!(redis.cli(&["PUBLISH", "other", "fine"]), "1");
    let message = other.message().await.unwrap().unwrap().to_owned_message();
    assert!(matches!(message.event, Some(Event::Message(m)) if m.payload == b"fine"));
    assert_eq!(r#do(&client, &["PING"]).await.unwrap(), Kind::Simple("PONG".into()));
}

/// After a command timeout replaces the shared connection, nothing cached
/// through it is served: a write made meanwhile is seen. (The race of a
/// reply read after the kill is pinned by `connection.rs`'s scripted test.)
#[tokio::test]
async fn a_reply_still_arriving_on_a_killed_connection_is_not_cached() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| c.redis.command_timeout = Duration::from_millis(150)).await;
    for i in 0..5 {
        let key = format!("k{i}");
        redis.cli(&["SET", &key, "old"]);
        // The read waits behind a busy script, past command_timeout: the
        // connection is killed while its reply is on the way.
        let busy = keep_busy(&redis, 300).await;
        assert!(cached(&client, &["GET", &key], 60_000).await.is_err());
        busy.await.unwrap();
        wait_connected(&client).await;
        redis.cli(&["SET", &key, "new"]);
        assert!(eventually_cached(&client, &["GET", &key], &bulk("new")).await, "stale value served for {key}");
    }
}

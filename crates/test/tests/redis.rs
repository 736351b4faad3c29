//! The Redis ambassador end to end: the sidecar in-process, a real
//! `redis-server` per test (testing/redis/), and `redis-cli` as the
//! independent client that writes behind attache's back.

use std::time::{Duration, Instant};

use attache_proto::attache::redis::v1::__buffa::oneof::batch_call::Call;
use attache_proto::attache::redis::v1::__buffa::oneof::batch_result::Result as Outcome;
use attache_proto::attache::redis::v1::__buffa::oneof::subscribe_response::Event;
use attache_proto::attache::redis::v1::__buffa::oneof::value::Kind;
use attache_proto::attache::redis::v1::{
    BatchCall, BatchRequest, Command, DoCachedRequest, DoMultiRequest, DoRequest, MGetCachedRequest, SubscribeRequest,
    SubscribeResponse,
};
use attache_test::{RedisServer, Sidecar};
use connectrpc::client::SharedHttp2Connection;
use connectrpc::{ConnectError, ErrorCode, Protocol};
use redis_support::*;

mod redis_support;

#[tokio::test]
async fn commands_and_resp3_replies_round_trip_over_every_protocol() {
    let redis = RedisServer::start();
    let (sidecar, _) = start(&redis, |_| {}).await;
    for protocol in [Protocol::Grpc, Protocol::Connect, Protocol::GrpcWeb] {
        let client = sidecar.redis(protocol).await;
        assert_eq!(r#do(&client, &["SET", "k", "v\r\n\0binary"]).await.unwrap(), Kind::Simple("OK".into()));
        assert_eq!(r#do(&client, &["GET", "k"]).await.unwrap(), bulk("v\r\n\0binary"));
        assert_eq!(r#do(&client, &["GET", "missing"]).await.unwrap(), Kind::Null(true));
        assert_eq!(r#do(&client, &["DEL", "n"]).await.unwrap(), Kind::Integer(0));
        assert_eq!(r#do(&client, &["INCRBY", "n", "41"]).await.unwrap(), Kind::Integer(41));
        r#do(&client, &["HSET", "h", "f", "1"]).await.unwrap();
        let Kind::Map(map) = r#do(&client, &["HGETALL", "h"]).await.unwrap() else {
            panic!("HGETALL is a map in RESP3")
        };
        assert_eq!(map.entries.len(), 1);
        assert_eq!(kind(&map.entries[0].key), &bulk("f"));
        let Kind::Error(e) = r#do(&client, &["INCR", "k"]).await.unwrap() else { panic!("an error reply") };
        assert!(e.starts_with("ERR value is not an integer"), "{e}");
        let Kind::Error(e) = r#do(&client, &["NOSUCHCOMMAND"]).await.unwrap() else { panic!("an error reply") };
        assert!(e.contains("unknown command"), "{e}");
        assert_eq!(r#do(&client, &["SADD", "s", "a"]).await.unwrap(), Kind::Integer(1));
        assert!(matches!(r#do(&client, &["SMEMBERS", "s"]).await.unwrap(), Kind::Set(_)));
        assert!(matches!(r#do(&client, &["ZSCORE", "nz", "m"]).await.unwrap(), Kind::Null(true)));
        r#do(&client, &["DEL", "k", "n", "h", "s"]).await.unwrap();
    }
    // Written through attache, read back by an independent client.
    r#do(&sidecar.redis(Protocol::Grpc).await, &["SET", "seen", "by-cli"]).await.unwrap();
    assert_eq!(redis.cli(&["GET", "seen"]), "by-cli");
}

#[tokio::test]
async fn bad_input_gets_a_clear_invalid_argument() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| c.server.max_request_bytes = bytesize::ByteSize::kib(64)).await;
    let empty = client.r#do(DoRequest::default()).await.unwrap_err();
    assert_eq!(empty.code, ErrorCode::InvalidArgument);
    assert!(empty.message.unwrap().contains("args is empty"));
    let sub = r#do(&client, &["SUBSCRIBE", "c"]).await.unwrap_err();
    assert_eq!(sub.code, ErrorCode::InvalidArgument);
    assert!(sub.message.unwrap().contains("Subscribe RPC"));
    let multi = r#do(&client, &["MULTI"]).await.unwrap_err();
    assert!(multi.message.unwrap().contains("DoMulti"));
    let select = r#do(&client, &["select", "2"]).await.unwrap_err();
    assert!(select.message.unwrap().contains("redis.url"));
    let write = cached(&client, &["SET", "k", "v"], 0).await.unwrap_err();
    assert_eq!(write.code, ErrorCode::InvalidArgument);
    assert!(write.message.unwrap().contains("SET is not cacheable"));
    let unbalanced = client
        .do_multi(DoMultiRequest {
            commands: vec![Command { args: args(&["MULTI"]), ..Default::default() }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unbalanced.code, ErrorCode::InvalidArgument);
    let huge = "x".repeat(100 * 1024);
    let oversized = r#do(&client, &["SET", "big", &huge]).await.unwrap_err();
    assert_eq!(oversized.code, ErrorCode::ResourceExhausted, "{oversized:?}");
    // Still serving, nothing written.
    assert_eq!(r#do(&client, &["EXISTS", "big"]).await.unwrap(), Kind::Integer(0));
}

#[tokio::test]
async fn without_a_url_the_module_says_how_to_configure_it() {
    let sidecar = Sidecar::start().await;
    let err = r#do(&sidecar.redis(Protocol::Connect).await, &["PING"]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
    assert!(err.message.unwrap().contains("ATTACHE_REDIS_URL"));
}

#[tokio::test]
async fn credentials_database_and_unix_sockets_from_the_url() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let url = format!("redis://:s3cret@127.0.0.1:{}/2", redis.port());
    let (_sidecar, client) = start(&redis, |c| c.redis.url = Some(url)).await;
    r#do(&client, &["SET", "where", "db2"]).await.unwrap();
    assert_eq!(redis.cli(&["-n", "2", "GET", "where"]), "db2");
    assert_eq!(redis.cli(&["-n", "0", "EXISTS", "where"]), "0");

    let socket = format!("unix://{}?db=2&password=s3cret", redis.socket().display());
    let (_sidecar, client) = start(&redis, |c| c.redis.url = Some(socket)).await;
    assert_eq!(r#do(&client, &["GET", "where"]).await.unwrap(), bulk("db2"));

    // A wrong password: the module keeps failing fast, saying why.
    let wrong = format!("redis://:nope@127.0.0.1:{}/0", redis.port());
    let sidecar = Sidecar::start_with(|c| c.redis.url = Some(wrong)).await;
    let client = sidecar.redis(Protocol::Connect).await;
    let until = Instant::now() + Duration::from_secs(5);
    let err = loop {
        let err = r#do(&client, &["PING"]).await.unwrap_err();
        if err.message.as_deref().is_some_and(|m| m.contains("WRONGPASS")) || Instant::now() > until {
            break err;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.as_deref().unwrap().contains("WRONGPASS"), "{err:?}");
    assert!(!err.message.unwrap().contains("nope"), "the password leaked into an error");
}

#[tokio::test]
async fn a_server_that_refuses_tracking_is_read_through_uncached() {
    // As some managed services do: CLIENT is not available.
    let redis = RedisServer::start_with(&["--rename-command", "CLIENT", ""]);
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "k", "1"]);
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("1"), false));
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("1"), false));
    redis.cli(&["SET", "k", "2"]);
    // No invalidation exists here, so nothing may be cached at all.
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("2"), false));
    let many = client
        .m_get_cached(MGetCachedRequest { keys: args(&["k", "none"]), ..Default::default() })
        .await
        .unwrap()
        .into_owned();
    assert_eq!(many.cache_hits, 0);
    assert_eq!(many.values.iter().map(kind).collect::<Vec<_>>(), [&bulk("2"), &Kind::Null(true)]);
}

#[tokio::test]
async fn a_write_by_another_client_invalidates_the_cached_value() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "user:1", "alice"]);
    assert_eq!(cached(&client, &["GET", "user:1"], 60_000).await.unwrap(), (bulk("alice"), false));
    assert_eq!(cached(&client, &["GET", "user:1"], 60_000).await.unwrap(), (bulk("alice"), true));
    redis.cli(&["SET", "user:1", "bob"]);
    assert!(eventually_cached(&client, &["GET", "user:1"], &bulk("bob")).await, "stale value served");
    assert_eq!(cached(&client, &["get", "user:1"], 60_000).await.unwrap(), (bulk("bob"), true));

    // Hash reads depend on their key too; a delete invalidates.
    redis.cli(&["HSET", "h", "f", "1"]);
    assert_eq!(cached(&client, &["HGET", "h", "f"], 60_000).await.unwrap().0, bulk("1"));
    redis.cli(&["DEL", "h"]);
    assert!(eventually_cached(&client, &["HGET", "h", "f"], &Kind::Null(true)).await);

    // A missing key is cached as nil and invalidated when it appears.
    assert_eq!(cached(&client, &["GET", "later"], 60_000).await.unwrap().0, Kind::Null(true));
    assert_eq!(cached(&client, &["GET", "later"], 60_000).await.unwrap(), (Kind::Null(true), true));
    redis.cli(&["SET", "later", "now"]);
    assert!(eventually_cached(&client, &["GET", "later"], &bulk("now")).await);

    // Writes through attache itself invalidate as well.
    r#do(&client, &["SET", "user:1", "carol"]).await.unwrap();
    assert!(eventually_cached(&client, &["GET", "user:1"], &bulk("carol")).await);
}

#[tokio::test]
async fn cached_values_expire_with_the_callers_ttl_and_the_keys_own() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "short", "1"]);
    cached(&client, &["GET", "short"], 200).await.unwrap();
    assert!(cached(&client, &["GET", "short"], 200).await.unwrap().1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cached(&client, &["GET", "short"], 200).await.unwrap(), (bulk("1"), false));

    // The key expires on the server sooner than the caller's TTL: the
    // local copy goes with it.
    redis.cli(&["SET", "volatile", "v", "PX", "300"]);
    assert_eq!(cached(&client, &["GET", "volatile"], 60_000).await.unwrap().0, bulk("v"));
    assert!(cached(&client, &["GET", "volatile"], 60_000).await.unwrap().1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cached(&client, &["GET", "volatile"], 60_000).await.unwrap(), (Kind::Null(true), false));
}

#[tokio::test]
async fn flushall_clears_the_cache() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    for i in 0..10 {
        redis.cli(&["SET", &format!("k{i}"), "v"]);
        cached(&client, &["GET", &format!("k{i}")], 60_000).await.unwrap();
    }
    assert!(cached(&client, &["GET", "k3"], 60_000).await.unwrap().1);
    redis.cli(&["FLUSHALL"]);
    for i in 0..10 {
        assert!(
            eventually_cached(&client, &["GET", &format!("k{i}")], &Kind::Null(true)).await,
            "k{i} survived FLUSHALL"
        );
    }
}

#[tokio::test]
async fn mget_cached_fetches_only_the_misses() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["MSET", "a", "1", "b", "2"]);
    cached(&client, &["GET", "a"], 60_000).await.unwrap();
    let keys = args(&["a", "b", "c"]);
    let many = client
        .m_get_cached(MGetCachedRequest { keys: keys.clone(), ttl_ms: 60_000, ..Default::default() })
        .await
        .unwrap()
        .into_owned();
    let values: Vec<&Kind> = many.values.iter().map(kind).collect();
    assert_eq!(values, [&bulk("1"), &bulk("2"), &Kind::Null(true)]);
    assert_eq!(many.cache_hits, 1);
    let again = client
        .m_get_cached(MGetCachedRequest { keys: keys.clone(), ttl_ms: 60_000, ..Default::default() })
        .await
        .unwrap()
        .into_owned();
    assert_eq!(again.cache_hits, 3);
    redis.cli(&["SET", "b", "two"]);
    assert!(eventually_cached(&client, &["GET", "b"], &bulk("two")).await);
    // DoCached MGET is served the same way.
    let (reply, hit) = cached(&client, &["MGET", "a", "b"], 60_000).await.unwrap();
    assert!(hit);
    let Kind::Array(array) = reply else { panic!("MGET is an array") };
    assert_eq!(array.values.iter().map(kind).collect::<Vec<_>>(), [&bulk("1"), &bulk("two")]);
}

#[tokio::test]
async fn identical_concurrent_misses_are_fetched_once() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "hot", "value"]);
    redis.cli(&["CONFIG", "RESETSTAT"]);
    let calls = (0..50).map(|_| cached(&client, &["GET", "hot"], 60_000));
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap().0, bulk("value"));
    }
    let stats = redis.cli(&["INFO", "commandstats"]);
    let gets = stats.lines().find(|l| l.starts_with("cmdstat_get:")).expect("GET was called");
    assert!(gets.starts_with("cmdstat_get:calls=1,"), "{gets}");
}

#[tokio::test]
async fn a_batch_gives_each_call_its_own_result() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |_| {}).await;
    redis.cli(&["SET", "b", "1"]);
    let call = |c: Call| BatchCall { call: Some(c), ..Default::default() };
    let calls = vec![
        call(Call::Do(Box::new(DoRequest { args: args(&["INCR", "b"]), ..Default::default() }))),
        call(Call::DoCached(Box::new(DoCachedRequest { args: args(&["SET", "x", "y"]), ..Default::default() }))),
        call(Call::DoCached(Box::new(DoCachedRequest {
            args: args(&["GET", "b"]),
            ttl_ms: 60_000,
            ..Default::default()
        }))),
        call(Call::Do(Box::default())),
        BatchCall::default(),
    ];
    let results = client.batch(BatchRequest { calls, ..Default::default() }).await.unwrap().into_owned().results;
    assert_eq!(results.len(), 5);
    let Some(Outcome::Do(incr)) = &results[0].result else { panic!("{:?}", results[0]) };
    assert_eq!(kind(incr.reply.as_option().unwrap()), &Kind::Integer(2));
    let Some(Outcome::Error(refused)) = &results[1].result else { panic!("{:?}", results[1]) };
    assert_eq!(refused.code, "invalid_argument");
    assert!(refused.message.contains("not cacheable"));
    let Some(Outcome::DoCached(get)) = &results[2].result else { panic!("{:?}", results[2]) };
    assert_eq!(kind(get.reply.as_option().unwrap()), &bulk("2"));
    for empty in &results[3..] {
        let Some(Outcome::Error(e)) = &empty.result else { panic!("{empty:?}") };
        assert_eq!(e.code, "invalid_argument");
    }
    assert_eq!(redis.cli(&["EXISTS", "x"]), "0");
}

#[tokio::test]
async fn redis_restarted_mid_run_serves_nothing_stale_and_recovers() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| c.redis.reconnect_max = Duration::from_millis(200)).await;
    redis.cli(&["SET", "k", "before"]);
    cached(&client, &["GET", "k"], 60_000).await.unwrap();
    assert!(cached(&client, &["GET", "k"], 60_000).await.unwrap().1);

    redis.stop();
    let started = Instant::now();
    let down = r#do(&client, &["GET", "k"]).await.unwrap_err();
    assert_eq!(down.code, ErrorCode::Unavailable, "{down:?}");
    assert!(down.message.as_deref().unwrap().contains("127.0.0.1"), "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "failing took {:?}", started.elapsed());
    let cached_down = cached(&client, &["GET", "k"], 60_000).await;
    assert!(cached_down.is_err(), "served {cached_down:?} from the cache of a lost connection");

    // The restarted server is empty: the old value must not come back.
    redis.restart();
    wait_connected(&client).await;
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (Kind::Null(true), false));
    redis.cli(&["SET", "k", "after"]);
    assert!(eventually_cached(&client, &["GET", "k"], &bulk("after")).await);
}

#[tokio::test]
async fn redis_down_at_start_fails_fast_then_recovers() {
    let redis = RedisServer::start();
    redis.stop();
    let url = redis.url().to_string();
    let sidecar = Sidecar::start_with(|c| {
        c.redis.url = Some(url);
        c.redis.reconnect_max = Duration::from_millis(100);
    })
    .await;
    let client = sidecar.redis(Protocol::Connect).await;
    let started = Instant::now();
    let err = r#do(&client, &["PING"]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(started.elapsed() < Duration::from_millis(500));
    redis.restart();
    wait_connected(&client).await;
}

#[tokio::test]
async fn many_concurrent_callers_each_get_their_own_replies() {
    let redis = RedisServer::start();
    let (sidecar, _) = start(&redis, |_| {}).await;
    let mut tasks = Vec::new();
    for caller in 0..64 {
        let client = sidecar.redis(if caller % 2 == 0 { Protocol::Grpc } else { Protocol::Connect }).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                let (key, value) = (format!("c{caller}:k{i}"), format!("value-{caller}-{i}"));
                let multi = client
                    .do_multi(DoMultiRequest {
                        commands: vec![
                            Command { args: args(&["SET", &key, &value]), ..Default::default() },
                            Command { args: args(&["GET", &key]), ..Default::default() },
                            Command { args: args(&["STRLEN", &key]), ..Default::default() },
                        ],
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_owned();
                let replies: Vec<&Kind> = multi.replies.iter().map(kind).collect();
                assert_eq!(replies, [&Kind::Simple("OK".into()), &bulk(&value), &Kind::Integer(value.len() as i64)]);
                assert_eq!(r#do(&client, &["GET", &key]).await.unwrap(), bulk(&value));
                assert_eq!(cached(&client, &["GET", &key], 60_000).await.unwrap().0, bulk(&value));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(redis.cli(&["GET", "c63:k99"]), "value-63-99");
}

#[tokio::test]
async fn blocking_commands_and_transactions_do_not_stall_the_pipeline() {
    let redis = RedisServer::start();
    let (sidecar, client) = start(&redis, |_| {}).await;
    let blocked = {
        let client = sidecar.redis(Protocol::Grpc).await;
        tokio::spawn(async move { r#do(&client, &["BLPOP", "queue", "5"]).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for _ in 0..20 {
        r#do(&client, &["PING"]).await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(1), "shared calls waited behind BLPOP");
    r#do(&client, &["RPUSH", "queue", "job"]).await.unwrap();
    let Kind::Array(popped) = blocked.await.unwrap().unwrap() else { panic!("BLPOP returns [key, value]") };
    assert_eq!(kind(&popped.values[1]), &bulk("job"));

    let tx = ["WATCH counter", "MULTI", "INCR counter", "INCR counter", "EXEC"];
    let multi = client
        .do_multi(DoMultiRequest {
            commands: tx
                .iter()
                .map(|c| Command { args: args(&c.split(' ').collect::<Vec<_>>()), ..Default::default() })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_owned();
    let Kind::Array(exec) = kind(&multi.replies[4]) else { panic!("EXEC returns an array") };
    assert_eq!(exec.values.iter().map(kind).collect::<Vec<_>>(), [&Kind::Integer(1), &Kind::Integer(2)]);
}

/// A Connect-JSON Subscribe over raw HTTP/1.1 that reads only when told.
struct SlowSubscriber {
    stream: tokio::net::UnixStream,
}

impl SlowSubscriber {
    async fn start(socket: &std::path::Path, channel: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let json = format!(r#"{{"channels":["{channel}"]}}"#);
        let mut body = vec![0u8];
        body.extend_from_slice(&(json.len() as u32).to_be_bytes());
        body.extend_from_slice(json.as_bytes());
        let head = format!(
            "POST /attache.redis.v1.RedisService/Subscribe HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/connect+json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("subscribed") {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before subscribing: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
        Self { stream }
    }

    /// Everything until the stream's end-of-stream message.
    async fn read_to_end_of_stream(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let mut all = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let mut buf = vec![0u8; 256 * 1024];
            let n =
                tokio::time::timeout_at(until.into(), self.stream.read(&mut buf)).await.expect("stream ended").unwrap();
            all.extend_from_slice(&buf[..n]);
            if n == 0 || all.ends_with(b"0\r\n\r\n") {
                return String::from_utf8_lossy(&all).into_owned();
            }
        }
    }
}

async fn next_event(
    stream: &mut connectrpc::client::ServerStream<
        <SharedHttp2Connection as connectrpc::client::ClientTransport>::ResponseBody,
        attache_proto::attache::redis::v1::__buffa::view::SubscribeResponseView<'static>,
    >,
) -> Result<Option<SubscribeResponse>, ConnectError> {
    Ok(stream.message().await?.map(|m| m.to_owned_message()))
}

// Multi-threaded so subscribers read while the publisher publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_share_one_subscription_and_a_slow_one_is_dropped_alone() {
    let redis = RedisServer::start();
    let (sidecar, client) = start(&redis, |c| c.redis.subscriber_queue = 16).await;
    let request = || SubscribeRequest { channels: vec!["news".into()], ..Default::default() };
    let mut streams = Vec::new();
    for _ in 0..5 {
        let mut stream = client.subscribe(request()).await.unwrap();
        let first = next_event(&mut stream).await.unwrap().unwrap();
        assert!(matches!(first.event, Some(Event::Subscribed(_))), "{first:?}");
        streams.push(stream);
    }
    // The slow subscriber speaks Connect JSON over HTTP/1.1 and stops
    // reading after the first event, like a stuck app process.
    let mut slow = SlowSubscriber::start(sidecar.socket(), "news").await;
    assert_eq!(redis.cli(&["PUBSUB", "NUMSUB", "news"]), "news\n1");

    // Everyone else keeps up while the slow subscriber reads nothing, until
    // its transport buffers and then its queue are full.
    const MESSAGES: usize = 100;
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < MESSAGES {
                    match next_event(&mut stream).await.unwrap().unwrap().event {
                        Some(Event::Message(m)) => got.push(m.payload[..8].to_vec()),
                        other => panic!("unexpected {other:?}"),
                    }
                }
                got
            })
        })
        .collect();
    let publisher = sidecar.redis(Protocol::Connect).await;
    for i in 0..MESSAGES {
        let payload = format!("{i:08}{}", "x".repeat(64 * 1024));
        assert_eq!(r#do(&publisher, &["PUBLISH", "news", &payload]).await.unwrap(), Kind::Integer(1));

        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let want: Vec<Vec<u8>> = (0..MESSAGES).map(|i| format!("{i:08}").into_bytes()).collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), want);
    }
    // The slow one was ended with RESOURCE_EXHAUSTED, after what was
    // buffered for it.
    let rest = slow.read_to_end_of_stream().await;
    assert!(
        rest.contains("resource_exhausted") && rest.contains("subscriber_queue"),
        "{}",
        &rest[rest.len().saturating_sub(300)..]
    );
    let delivered = rest.matches("\"message\"").count();
    assert!(delivered < MESSAGES, "{delivered}");

    // Pattern subscriptions carry the pattern.
    let mut pattern =
        client.subscribe(SubscribeRequest { patterns: vec!["orders.*".into()], ..Default::default() }).await.unwrap();
    next_event(&mut pattern).await.unwrap();
    redis.cli(&["PUBLISH", "orders.eu", "o1"]);
    let Some(Event::Message(m)) = next_event(&mut pattern).await.unwrap().unwrap().event else { panic!("a message") };
    assert_eq!((m.channel.as_str(), m.pattern.as_str(), m.payload.as_slice()), ("orders.eu", "orders.*", &b"o1"[..]));
}

#[tokio::test]
async fn the_last_subscriber_leaving_unsubscribes_on_redis() {
    let redis = RedisServer::start();
    let (_sidecar, client) = start(&redis, |c| c.redis.max_subscribers = 1).await;
    let mut stream =
        client.subscribe(SubscribeRequest { channels: vec!["c".into()], ..Default::default() }).await.unwrap();
    next_event(&mut stream).await.unwrap();
    assert_eq!(redis.cli(&["PUBSUB", "NUMSUB", "c"]), "c\n1");
    // One more is over redis.max_subscribers.
    let mut over =
        client.subscribe(SubscribeRequest { channels: vec!["d".into()], ..Default::default() }).await.unwrap();
    let err = next_event(&mut over).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceExhausted);
    assert!(err.message.unwrap().contains("max_subscribers"));
    drop(stream);
    let until = Instant::now() + Duration::from_secs(2);
    while redis.cli(&["PUBSUB", "NUMSUB", "c"]) != "c\n0" {
        assert!(Instant::now() < until, "still subscribed after the last subscriber left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Errors of a stream arrive as its first (and last) event.
    let mut empty = client.subscribe(SubscribeRequest::default()).await.unwrap();
    let err = next_event(&mut empty).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
}

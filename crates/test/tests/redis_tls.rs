//! Redis over TLS end to end: a TLS-only `redis-server` (no plain port;
//! testing/redis/start with `--tls-*` arguments), certificates made for
//! each test by openssl, and `redis-cli --tls` as the independent client.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use attache_proto::attache::redis::v1::__buffa::oneof::value::Kind;
use attache_test::{Ca, RedisServer, Sidecar};
use connectrpc::{ConnectError, ErrorCode, Protocol};
use redis_support::*;

mod redis_support;

/// A sidecar pointed at `url` with `configure`d TLS settings, not waiting
/// for it to connect, and the first error saying why it cannot.
async fn refused(url: String, configure: impl FnOnce(&mut attache_config::Config)) -> ConnectError {
    let sidecar = Sidecar::start_with(|c| {
        c.redis.url = Some(url);
        configure(c);
    })
    .await;
    let err = connect_error(&sidecar.redis(Protocol::Connect).await).await;
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    err
}

fn message(err: &ConnectError) -> &str {
    err.message.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn rediss_with_a_ca_file_serves_commands_and_tracked_cached_reads() {
    let ca = Ca::new();
    let redis = RedisServer::start_tls(&ca, &["--tls-auth-clients", "no"]);
    assert!(redis.url().starts_with("rediss://127.0.0.1:"), "{}", redis.url());
    let ca_file = ca.cert();
    let (_sidecar, client) = start(&redis, |c| c.redis.tls.ca_file = Some(ca_file)).await;

    assert_eq!(r#do(&client, &["SET", "k", "v1"]).await.unwrap(), Kind::Simple("OK".into()));
    assert_eq!(r#do(&client, &["GET", "k"]).await.unwrap(), bulk("v1"));
    assert_eq!(redis.cli(&["GET", "k"]), "v1");

    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v1"), false));
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v1"), true));
    // A write behind attache's back: only an invalidation pushed over the
    // TLS connection can end the 60 s entry within the second allowed.
    redis.cli(&["SET", "k", "v2"]);
    assert!(eventually_cached(&client, &["GET", "k"], &bulk("v2")).await, "the cache kept v1");
    assert_eq!(cached(&client, &["GET", "k"], 60_000).await.unwrap(), (bulk("v2"), true));
}

#[tokio::test]
async fn mutual_tls_needs_a_client_certificate_the_server_trusts() {
    let ca = Ca::new();
    let redis = RedisServer::start_tls(&ca, &["--tls-auth-clients", "yes"]);
    // By name this time: the certificate lists DNS:localhost too.
    let url = format!("rediss://localhost:{}/0", redis.port());

    let err = refused(url.clone(), |c| c.redis.tls.ca_file = Some(ca.cert())).await;
    assert!(message(&err).contains("the server requires a client certificate"), "{err:?}");
    assert!(message(&err).contains("set redis.tls.cert_file and redis.tls.key_file"), "{err:?}");

    let certs = tempfile::tempdir().unwrap();
    let stranger = Ca::new();
    let (cert, key) = stranger.issue(certs.path(), "stranger", &["DNS:attache"]);
    let err = refused(url.clone(), |c| {
        c.redis.tls.ca_file = Some(ca.cert());
        (c.redis.tls.cert_file, c.redis.tls.key_file) = (Some(cert), Some(key));
    })
    .await;
    assert!(message(&err).contains("the server refused redis.tls.cert_file"), "{err:?}");

    let (cert, key) = ca.issue(certs.path(), "attache", &["DNS:attache"]);
    let ca_file = ca.cert();
    let (_sidecar, client) = start(&redis, |c| {
        c.redis.url = Some(url);
        c.redis.tls.ca_file = Some(ca_file);
        (c.redis.tls.cert_file, c.redis.tls.key_file) = (Some(cert), Some(key));
    })
    .await;
    r#do(&client, &["SET", "mtls", "yes"]).await.unwrap();
    assert_eq!(redis.cli(&["GET", "mtls"]), "yes");
}

#[tokio::test]
async fn an_untrusted_or_misnamed_certificate_is_refused_without_leaking_the_password() {
    let ca = Ca::new();
    let args = ["--tls-auth-clients", "no", "--requirepass", "hunter2"];
    let redis = RedisServer::start_tls(&ca, &args);
    let url = format!("rediss://:hunter2@127.0.0.1:{}/0", redis.port());

    let stranger = Ca::new();
    let err = refused(url.clone(), |c| c.redis.tls.ca_file = Some(stranger.cert())).await;
    assert!(
        message(&err).contains(
            "tls: invalid peer certificate: UnknownIssuer; set redis.tls.ca_file to the CA that signed the \
             server's certificate"
        ),
        "{err:?}"
    );
    assert!(message(&err).contains("rediss://:***@127.0.0.1"), "{err:?}");

    // Only for 127.0.0.1, reached as localhost.
    let by_ip = RedisServer::start_tls_for(&ca, &["IP:127.0.0.1"], &args);
    let localhost = format!("rediss://:hunter2@localhost:{}/0", by_ip.port());
    let misnamed = refused(localhost, |c| c.redis.tls.ca_file = Some(ca.cert())).await;
    assert!(message(&misnamed).contains("certificate not valid for name \"localhost\""), "{misnamed:?}");
    assert!(message(&misnamed).contains("a name the server's certificate lists"), "{misnamed:?}");

    for err in [err, misnamed] {
        assert!(!format!("{err:?}").contains("hunter2"), "the password leaked: {err:?}");
    }
    // The right CA and password: the same URL works.
    let ca_file = ca.cert();
    let (_sidecar, client) = start(&redis, |c| {
        c.redis.url = Some(url);
        c.redis.tls.ca_file = Some(ca_file);
    })
    .await;
    r#do(&client, &["SET", "k", "v"]).await.unwrap();
}

#[tokio::test]
async fn plain_and_tls_mixed_up_fail_within_connect_timeout_saying_so() {
    let connect_timeout = Duration::from_secs(1);
    let ca = Ca::new();
    let tls = RedisServer::start_tls(&ca, &["--tls-auth-clients", "no"]);
    let started = Instant::now();
    let sidecar = Sidecar::start_with(|c| {
        c.redis.url = Some(format!("redis://127.0.0.1:{}/0", tls.port()));
        c.redis.connect_timeout = connect_timeout;
    })
    .await;
    let err = connect_error(&sidecar.redis(Protocol::Connect).await).await;
    // The server resets the connection: no need to wait for the timeout.
    assert!(started.elapsed() < connect_timeout, "took {:?}", started.elapsed());
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    assert!(message(&err).contains("write redis.url as rediss://"), "{err:?}");

    let plain = RedisServer::start();
    let ca_file: PathBuf = ca.cert();
    let started = Instant::now();
    let sidecar = Sidecar::start_with(|c| {
        c.redis.url = Some(format!("rediss://127.0.0.1:{}/0", plain.port()));
        c.redis.tls.ca_file = Some(ca_file);
        c.redis.connect_timeout = connect_timeout;
    })
    .await;
    let err = connect_error(&sidecar.redis(Protocol::Connect).await).await;
    // A plain server waits for a line end the TLS hello never sends; the
    // timeout ends the attempt.
    assert!(started.elapsed() < connect_timeout + Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    assert!(message(&err).contains("write redis.url as redis://"), "{err:?}");
}

//! The Rust SDK (`attache-client`) against the whole sidecar: what its own
//! transport does (reused connections, retries, bounded replies, deadlines)
//! and what its types decode. Its behaviour per RPC is the conformance
//! suite's (conformance/), which runs it beside the other SDKs.

use std::time::{Duration, Instant};

use attache_client::password::Algorithm;
use attache_client::postgres::{Param, TxOptions};
use attache_client::{Client, Code};
use attache_test::{PostgresServer, Sidecar};

#[tokio::test]
async fn calls_deadlines_and_info() {
    let sidecar = Sidecar::start().await;
    let client = Client::connect(sidecar.socket()).await.unwrap();
    let info = client.info().await.unwrap();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(info.modules.contains(&"password".to_owned()), "{info:?}");
    let hash = client.password().hash("s3cret").await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(client.password().verify("s3cret", &hash).await.unwrap().valid);

    // A deadline that passes fails that call only, with the right code.
    let heavy = Algorithm::Argon2id { memory_kib: 65536, iterations: 4, parallelism: 1 };
    let err = client.with_timeout(Duration::from_millis(2)).password().hash_with("x", heavy).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    assert!(client.password().verify("s3cret", &hash).await.unwrap().valid);
    sidecar.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_the_sidecar_closed_while_idle_is_dialled_again() {
    let sidecar = Sidecar::start_with(|c| c.server.idle_timeout = Duration::from_millis(150)).await;
    let client = Client::connect(sidecar.socket()).await.unwrap();
    client.info().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The pooled connection is closed by now; the request was never read,
    // so it is sent again on a fresh one, even for a call that is not
    // idempotent.
    let err = client.redis().command(["PING"]).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "no Redis configured: {err}");
    client.info().await.unwrap();
}

#[tokio::test]
async fn idempotent_calls_wait_out_a_starting_sidecar_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("late.sock");
    let client = Client::builder().socket(&socket).retries(6).build().unwrap();

    let started = Instant::now();
    let err = client.redis().command(["PING"]).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(err.message().contains("is the sidecar running"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(100), "not retried: {:?}", started.elapsed());

    let path = socket.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        Sidecar::start_with(|c| c.server.socket = path).await
    });
    let info = client.info().await.expect("GetInfo is NO_SIDE_EFFECTS: retried until the sidecar answers");
    assert!(!info.modules.is_empty());
    late.await.unwrap().stop().await.unwrap();
}

#[tokio::test]
async fn replies_larger_than_allowed_fail_that_call_only() {
    let sidecar = Sidecar::start().await;
    let client = Client::builder().socket(sidecar.socket()).max_reply_bytes(48).build().unwrap();
    let err = client.password().hash("s3cret").await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("max_reply_bytes"), "{err}");
    let hash = "$2y$04$U98s5KYzukvA.4ybxvdHpOLzFKmGx2EEGcyq.sfqJOpZaC64a5dlK";
    let v = client.password().verify("pässwörd ✓", hash).await.unwrap();
    assert!(v.valid && v.needs_rehash);
}

#[tokio::test]
async fn calls_beyond_max_connections_wait_for_one_to_finish_not_for_a_close() {
    let sidecar = Sidecar::start().await;
    let client =
        Client::builder().socket(sidecar.socket()).max_connections(1).timeout(Duration::from_secs(5)).build().unwrap();
    let started = Instant::now();
    let calls = (0..8).map(|_| client.info());
    for info in futures::future::join_all(calls).await {
        info.unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "calls queued behind an idle connection: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_the_sidecar_refuses_unread_gets_its_reply_not_unavailable() {
    let sidecar = Sidecar::start().await;
    let client = Client::connect(sidecar.socket()).await.unwrap();
    // Over server.max_request_bytes (4 MiB): refused before its body is
    // read; the connection closes under the rest of the write. (Verify is
    // idempotent: an Unavailable here would also have been sent again.)
    let err = client.password().verify(&"p".repeat(8 << 20), "x").await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    client.info().await.unwrap();
}

#[tokio::test]
async fn postgres_rows_decode_errors_carry_details_and_a_dropped_transaction_rolls_back() {
    let pg = PostgresServer::start();
    let url = pg.url().to_owned();
    let sidecar = Sidecar::start_with(|c| c.postgres.url = Some(url)).await;
    let client = Client::connect(sidecar.socket()).await.unwrap();
    let db = client.postgres();
    db.query("create table client_t (id int primary key, name text, score float8)", &[]).await.unwrap();
    db.query("insert into client_t values (1, 'a', 1.5), (2, 'b', null)", &[]).await.unwrap();

    let rows = db.query("select id, name, score from client_t where id >= $1 order by id", &[1.into()]).await.unwrap();
    let decoded: Vec<(i32, String, Option<f64>)> = rows.decode().unwrap();
    assert_eq!(decoded, vec![(1, "a".to_owned(), Some(1.5)), (2, "b".to_owned(), None)]);
    let err = rows.decode::<(bool, String, f64)>().unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err}");

    let err = db.query("insert into client_t values (1, 'again', 0)", &[]).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err}");
    assert_eq!(err.metadata("sqlstate"), Some("23505"), "{err:?}");

    let tx = db.begin(TxOptions::default()).await.unwrap();
    tx.query("insert into client_t values ($1, $2, $3)", &[3.into(), "c".into(), Param::Null]).await.unwrap();
    drop(tx);
    // The drop rolled it back at once, not at the sidecar's idle timeout.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open = db
            .query("select count(*) from pg_stat_activity where state like 'idle in transaction%'", &[])
            .await
            .unwrap()
            .decode::<(i64,)>()
            .unwrap();
        if open[0].0 == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the dropped transaction is still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let count = db.query("select count(*) from client_t", &[]).await.unwrap().decode::<(i64,)>().unwrap();
    assert_eq!(count, vec![(2,)]);
    sidecar.stop().await.unwrap();
}

//! The transactional outbox relay end to end: a real PostgreSQL (whose
//! outbox rows the app writes in its own transactions, through attache or
//! with psql) and a real Kafka broker, read back with kcat.

use std::time::{Duration, Instant};

use attache_proto::attache::postgres::v1::{ExecuteRequest, Statement};
use attache_test::{KafkaBroker, PostgresServer, Sidecar};
use connectrpc::Protocol;

fn statement(sql: &str) -> Statement {
    Statement { sql: sql.into(), ..Default::default() }
}

fn schema() -> String {
    attache_postgres::OutboxConfig::default().schema()
}

async fn start(pg: &PostgresServer, broker: &KafkaBroker) -> Sidecar {
    let (url, brokers) = (pg.url().to_owned(), broker.bootstrap().to_owned());
    Sidecar::start_with(move |c| {
        c.postgres.url = Some(url);
        c.postgres.outbox.enabled = true;
        c.postgres.outbox.poll_interval = Duration::from_millis(200);
        c.kafka.brokers = brokers;
    })
    .await
}

fn wait_for_rows(pg: &PostgresServer, count: i64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left: i64 = pg.psql("select count(*) from attache_outbox").parse().unwrap();
        if left == count {
            return;
        }
        assert!(Instant::now() < deadline, "{left} outbox rows left, expected {count}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_outbox_rows_reach_kafka_in_order_and_rolled_back_ones_never_do() {
    let pg = PostgresServer::start();
    pg.psql(&schema());
    pg.psql("create table orders (id int primary key, total int)");
    let broker = KafkaBroker::shared();
    let aggregate = format!("order{:x}", rand_suffix());
    let topic = format!("outbox.event.{aggregate}");
    broker.create_topic(&topic, 3).await;
    let sidecar = start(&pg, broker).await;
    let client = sidecar.postgres(Protocol::Grpc).await;
    // Through attache, in the app's own transaction: the relay wakes at
    // once.
    let started = Instant::now();
    for n in 1..=5 {
        let statements = vec![
            statement(&format!("insert into orders values ({n}, {})", n * 10)),
            statement(&format!(
                "insert into attache_outbox (aggregate_type, aggregate_id, event_type, payload, headers) \
                 values ('{aggregate}', 'o-1', 'created', '{{\"n\": {n}}}', '{{\"trace\": \"t{n}\"}}')"
            )),
        ];
        client.execute(ExecuteRequest { statements, transactional: true, ..Default::default() }).await.unwrap();
    }
    let read = broker.wait_for(&topic, 5, Duration::from_secs(20));
    let through_attache = started.elapsed();
    assert_eq!(read.len(), 5);
    let values: Vec<&str> = read.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(
        values,
        ["{\"n\": 1}", "{\"n\": 2}", "{\"n\": 3}", "{\"n\": 4}", "{\"n\": 5}"],
        "one aggregate, commit order"
    );
    let first = &read[0];
    assert_eq!(first.key.as_deref(), Some("o-1"));
    assert_eq!(first.headers.get("event-type").map(String::as_str), Some("created"));
    assert_eq!(first.headers.get("aggregate-type").map(String::as_str), Some(aggregate.as_str()));
    assert_eq!(first.headers.get("trace").map(String::as_str), Some("t1"));
    assert_eq!(first.id(), first.headers["id"], "the row id is the attache-id");
    wait_for_rows(&pg, 0, Duration::from_secs(10));
    // A rolled-back transaction publishes nothing; one written with psql
    // (outside attache) is found by the poll.
    pg.psql(&format!(
        "begin; insert into attache_outbox (aggregate_type, aggregate_id, payload) values ('{aggregate}', 'o-2', '\"rolled back\"'); rollback;"
    ));
    pg.psql(&format!(
        "insert into attache_outbox (aggregate_type, aggregate_id, payload, topic) values ('ignored', 'o-3', '\"psql\"', '{topic}')"
    ));
    let read = broker.wait_for(&topic, 6, Duration::from_secs(20));
    assert_eq!(read.len(), 6);
    assert_eq!(read[5].value.as_deref(), Some("\"psql\""), "the topic column overrides routing");
    assert!(read.iter().all(|r| r.value.as_deref() != Some("\"rolled back\"")));
    wait_for_rows(&pg, 0, Duration::from_secs(10));
    println!("outbox: 5 transactions through attache, all in Kafka (kcat) {through_attache:?} after the first began");
    // One relay per database.
    let second = start(&pg, broker).await;
    let relays: i64 = pg.psql("select count(*) from pg_locks where locktype = 'advisory' and granted").parse().unwrap();
    assert_eq!(relays, 1, "two attaches on one database: one relays");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_wait_in_the_table_while_kafka_is_down_and_survive_a_relay_restart() {
    let pg = PostgresServer::start();
    pg.psql(&schema());
    let broker = KafkaBroker::start();
    let topic = "outbox.event.cart";
    broker.create_topic(topic, 1).await;
    // Written while no relay runs.
    for n in 0..10 {
        pg.psql(&format!(
            "insert into attache_outbox (aggregate_type, aggregate_id, payload) values ('cart', 'c{n}', '{n}')"
        ));
    }
    let sidecar = start(&pg, &broker).await;
    assert_eq!(broker.wait_for(topic, 10, Duration::from_secs(20)).len(), 10);
    wait_for_rows(&pg, 0, Duration::from_secs(10));
    // Kafka down: rows are handed over (spooled) but stay until Kafka
    // acknowledges them.
    broker.stop(false);
    for n in 10..20 {
        pg.psql(&format!(
            "insert into attache_outbox (aggregate_type, aggregate_id, payload) values ('cart', 'c{n}', '{n}')"
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pg.psql("select count(*) from attache_outbox"), "10", "rows went before Kafka had them");
    // The relay is restarted too, while Kafka is still down.
    sidecar.stop().await.unwrap();
    let sidecar = start(&pg, &broker).await;
    broker.restart();
    wait_for_rows(&pg, 0, Duration::from_secs(60));
    let read = broker.wait_for(topic, 20, Duration::from_secs(10));
    let mut values: Vec<i64> = read.iter().map(|r| r.value.as_deref().unwrap().parse().unwrap()).collect();
    values.sort();
    values.dedup();
    assert_eq!(values, (0..20).collect::<Vec<_>>(), "every committed row reached Kafka");
    println!("outbox restart: 20 rows, {} records read ({} duplicates by attache-id)", read.len(), read.len() - 20);
    drop(sidecar);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_without_kafka_brokers_is_refused_at_start() {
    let pg = PostgresServer::start();
    let url = pg.url().to_owned();
    let mut config = attache_config::Config::default();
    config.postgres.url = Some(url);
    config.postgres.outbox.enabled = true;
    let dir = tempfile::tempdir().unwrap();
    config.server.socket = dir.path().join("a.sock");
    config.kafka.spool.dir = dir.path().join("spool");
    let error = attache_app::App::build(config).await.err().expect("refused");
    assert!(error.to_string().contains("postgres.outbox.enabled needs the kafka module with brokers"), "{error}");
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_cannot_be_published_stays_in_the_table_and_holds_nothing_up() {
    let pg = PostgresServer::start();
    pg.psql(&schema());
    let broker = KafkaBroker::shared();
    let aggregate = format!("good{:x}", rand_suffix());
    let topic = format!("outbox.event.{aggregate}");
    broker.create_topic(&topic, 1).await;
    // Its topic would be "outbox.event.has space": no topic can have it.
    pg.psql("insert into attache_outbox (aggregate_type, aggregate_id, payload) values ('has space', 'x', '0')");
    for n in 1..=3 {
        pg.psql(&format!(
            "insert into attache_outbox (aggregate_type, aggregate_id, payload) values ('{aggregate}', 'a', '{n}')"
        ));
    }
    let _sidecar = start(&pg, broker).await;
    let read = broker.wait_for(&topic, 3, Duration::from_secs(20));
    assert_eq!(read.iter().map(|r| r.value.as_deref().unwrap()).collect::<Vec<_>>(), ["1", "2", "3"]);
    wait_for_rows(&pg, 1, Duration::from_secs(10));
    assert_eq!(pg.psql("select aggregate_type from attache_outbox"), "has space");
}

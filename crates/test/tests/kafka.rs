//! The Kafka ambassador end to end: the sidecar in-process, a real Apache
//! Kafka broker (testing/kafka/), and `kcat` as the independent client
//! that reads back what attache produced.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use attache_proto::attache::kafka::v1::{
    Ack, Header, KafkaServiceClient, ProduceRequest, ProduceResponse, ProduceStreamRequest, Record,
};
use attache_test::{KafkaBroker, Sidecar, admin_get};
use connectrpc::client::SharedHttp2Connection;
use connectrpc::{ConnectError, ErrorCode, Protocol};

type Client = KafkaServiceClient<SharedHttp2Connection>;

fn record(topic: &str, key: &str, value: &str) -> Record {
    Record {
        topic: topic.into(),
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

async fn produce(client: &Client, records: Vec<Record>, ack: Ack) -> Result<ProduceResponse, ConnectError> {
    Ok(client.produce(ProduceRequest { records, ack: ack.into(), ..Default::default() }).await?.into_owned())
}

/// A metric's value from /metrics (summed over its label sets).
async fn metric(sidecar: &Sidecar, name: &str) -> f64 {
    let text = admin_get(sidecar, "/metrics").await;
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_until_delivered(sidecar: &Sidecar, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while metric(sidecar, "attache_spool_pending_records").await > 0.0 {
        assert!(Instant::now() < deadline, "records are still spooled after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(broker: Option<&KafkaBroker>, configure: impl FnOnce(&mut attache_config::Config)) -> (Sidecar, Client) {
    let brokers = broker.map(|b| b.bootstrap().to_owned()).unwrap_or_default();
    let sidecar = Sidecar::start_with(|c| {
        c.kafka.brokers = brokers;
        c.kafka.producer.unknown_topic_timeout = Duration::from_secs(2);
        configure(c);
    })
    .await;
    let client = sidecar.kafka(Protocol::Grpc).await;
    (sidecar, client)
}

#[tokio::test]
async fn records_round_trip_over_grpc_and_connect_and_kcat_reads_them_back() {
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("round-trip");
    broker.create_topic(&topic, 3).await;
    let (sidecar, grpc) = start(Some(broker), |_| {}).await;
    let connect = sidecar.kafka(Protocol::Connect).await;
    let mut ids = HashMap::new();
    for (n, client) in [&grpc, &connect].into_iter().enumerate() {
        let mut records: Vec<Record> =
            (0..50).map(|i| record(&topic, &format!("key-{}", i % 5), &format!("{n}:{i}"))).collect();
        records[0].headers = vec![
            Header { key: "trace".into(), value: Some(b"abc".to_vec()), ..Default::default() },
            Header { key: "flag".into(), value: None, ..Default::default() },
        ];
        records[1].value = None;
        let reply = produce(client, records, Ack::ACK_SPOOLED).await.unwrap();
        assert_eq!(reply.results.len(), 50);
        for (i, result) in reply.results.iter().enumerate() {
            assert!(result.partition.is_none(), "a spooled ack does not wait for Kafka");
            ids.insert(result.id.clone(), format!("{n}:{i}"));
        }
    }
    // An acknowledgement from Kafka carries where it put the record.
    let delivered = produce(&grpc, vec![record(&topic, "key-0", "delivered")], Ack::ACK_DELIVERED).await.unwrap();
    let (partition, offset) = (delivered.results[0].partition.unwrap(), delivered.results[0].offset.unwrap());
    let read = broker.wait_for(&topic, 101, Duration::from_secs(30));
    assert_eq!(read.len(), 101);
    let by_id: HashMap<&str, &attache_test::KafkaRead> = read.iter().map(|r| (r.id(), r)).collect();
    assert_eq!(by_id.len(), 101, "every record has its own attache-id");
    for (id, value) in &ids {
        let got = by_id.get(id.as_str()).unwrap_or_else(|| panic!("{id} never arrived"));
        if value.ends_with(":1") {
            assert_eq!(got.value, None, "a null value stays null");
        } else {
            assert_eq!(got.value.as_deref(), Some(value.as_str()));
        }
    }
    let first = by_id[ids.iter().find(|(_, v)| *v == "0:0").unwrap().0.as_str()];
    assert_eq!(first.headers.get("trace").map(String::as_str), Some("abc"));
    assert!(first.headers.contains_key("flag"));
    let last = by_id[delivered.results[0].id.as_str()];
    assert_eq!((last.partition, last.offset), (partition, offset));
    // One key, one partition, in the order produced.
    for key in 0..5 {
        let key = format!("key-{key}");
        let same: Vec<_> = read.iter().filter(|r| r.key.as_deref() == Some(key.as_str())).collect();
        assert_eq!(same.iter().map(|r| r.partition).collect::<HashSet<_>>().len(), 1, "{key} spread over partitions");
        let grpc_order: Vec<&str> =
            same.iter().filter_map(|r| r.value.as_deref()).filter(|v| v.starts_with("0:")).collect();
        let mut sorted = grpc_order.clone();
        sorted.sort_by_key(|v| v[2..].parse::<u32>().unwrap());
        assert_eq!(grpc_order, sorted, "{key} out of order");
    }
    wait_until_delivered(&sidecar, Duration::from_secs(10)).await;
    assert_eq!(metric(&sidecar, "attache_delivered_records_total").await, 101.0);
}

#[tokio::test]
async fn bad_records_are_refused_naming_the_field_and_nothing_is_spooled() {
    let (sidecar, client) = start(None, |c| c.kafka.max_headers = 2).await;
    let ok = record("t", "k", "v");
    let cases: Vec<(Record, &str)> = vec![
        (Record { topic: String::new(), ..ok.clone() }, "records[1].topic: the topic is empty"),
        (Record { topic: "has space".into(), ..ok.clone() }, "records[1].topic"),
        (Record { topic: "x".repeat(250), ..ok.clone() }, "longer than 249"),
        (Record { value: Some(vec![b'x'; 1_024_001]), ..ok.clone() }, "kafka.max_record_bytes"),
        (
            Record { headers: vec![Header { key: "a".into(), ..Default::default() }; 3], ..ok.clone() },
            "records[1].headers: 3 headers, more than kafka.max_headers (2)",
        ),
        (
            Record { headers: vec![Header { key: "attache-id".into(), ..Default::default() }], ..ok.clone() },
            "records[1].headers[0].key: attache-id is set by attache",
        ),
        (Record { partition: Some(-3), ..ok.clone() }, "records[1].partition"),
    ];
    for (bad, message) in cases {
        let error = produce(&client, vec![ok.clone(), bad], Ack::ACK_SPOOLED).await.unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidArgument, "{message}: {error:?}");
        assert!(error.message.as_deref().unwrap_or("").contains(message), "{message}: {error:?}");
    }
    let error = produce(&client, vec![], Ack::ACK_SPOOLED).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidArgument);
    let unknown_ack = ProduceRequest { records: vec![ok.clone()], ack: 9.into(), ..Default::default() };
    let error = client.produce(unknown_ack).await.unwrap_err();
    assert!(error.message.as_deref().unwrap_or("").contains("ack: unknown value 9"), "{error:?}");
    assert_eq!(metric(&sidecar, "attache_spooled_records_total").await, 0.0, "a refused call spools nothing");
    // Without brokers, records are spooled and the status page says that
    // nothing is being delivered.
    produce(&client, vec![ok], Ack::ACK_SPOOLED).await.unwrap();
    let ready = admin_get(&sidecar, "/readyz").await;
    assert!(ready.contains("kafka: spool only: no brokers configured"), "{ready}");
    assert!(ready.contains("1 records spooled"), "{ready}");
}

#[tokio::test]
async fn an_unknown_topic_is_refused_naming_it_and_does_not_block_the_spool() {
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("known");
    broker.create_topic(&topic, 1).await;
    let (sidecar, client) = start(Some(broker), |_| {}).await;
    let missing = KafkaBroker::topic("missing");
    let reply = produce(&client, vec![record(&missing, "k", "v")], Ack::ACK_DELIVERED).await.unwrap();
    let error = reply.results[0].error.as_option().expect("a refused record");
    assert_eq!(error.code, "NOT_FOUND", "{error:?}");
    assert!(error.message.contains(&missing), "{error:?}");
    // Spooled ones are refused the same way, kept aside, and counted; what
    // follows them is delivered.
    produce(&client, vec![record(&missing, "k", "lost?")], Ack::ACK_SPOOLED).await.unwrap();
    let after = produce(&client, vec![record(&topic, "k", "after")], Ack::ACK_DELIVERED).await.unwrap();
    assert!(after.results[0].error.as_option().is_none(), "{after:?}");
    wait_until_delivered(&sidecar, Duration::from_secs(20)).await;
    assert_eq!(metric(&sidecar, "attache_rejected_records_total").await, 2.0);
    let kept = std::fs::read_to_string(sidecar.socket().parent().unwrap().join("kafka-spool/rejected.jsonl")).unwrap();
    assert_eq!(kept.lines().count(), 2);
    assert!(kept.contains(&missing) && kept.contains("\"value_base64\":\"bG9zdD8=\""), "{kept}");
}

#[tokio::test]
async fn while_kafka_is_down_records_are_spooled_and_all_arrive_once_it_is_back() {
    let broker = KafkaBroker::start();
    let topic = KafkaBroker::topic("outage");
    broker.create_topic(&topic, 3).await;
    let (sidecar, client) = start(Some(&broker), |_| {}).await;
    let mut acked = HashSet::new();
    let mut send = async |from: usize, to: usize| {
        for chunk in (from..to).collect::<Vec<_>>().chunks(50) {
            let records = chunk.iter().map(|i| record(&topic, &format!("k{}", i % 7), &i.to_string())).collect();
            let reply = produce(&client, records, Ack::ACK_SPOOLED).await.unwrap();
            acked.extend(reply.results.into_iter().map(|r| r.id));
        }
    };
    send(0, 200).await;
    broker.stop(false);
    let started = Instant::now();
    send(200, 700).await;
    let spooled_in = started.elapsed();
    assert!(spooled_in < Duration::from_secs(5), "acks waited for Kafka: {spooled_in:?}");
    assert!(metric(&sidecar, "attache_spool_pending_records").await > 0.0);
    broker.restart();
    wait_until_delivered(&sidecar, Duration::from_secs(60)).await;
    let read = broker.wait_for(&topic, 700, Duration::from_secs(10));
    let ids: Vec<&str> = read.iter().map(|r| r.id()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    let missing: Vec<_> = acked.iter().filter(|id| !unique.contains(id.as_str())).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records never arrived: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(unique.len(), 700);
    println!("outage: 700 acknowledged, {} read, {} duplicates", ids.len(), ids.len() - unique.len());
}

#[tokio::test]
async fn a_full_spool_refuses_at_once_with_resource_exhausted() {
    let (sidecar, client) = start(None, |c| {
        c.kafka.max_record_bytes = bytesize::ByteSize::kib(1);
        c.kafka.spool.segment_bytes = bytesize::ByteSize::kib(72);
        c.kafka.spool.max_bytes = bytesize::ByteSize::kib(300);
    })
    .await;
    let value = "x".repeat(1000);
    let mut refused = None;
    for _ in 0..400 {
        match produce(&client, vec![record("t", "k", &value)], Ack::ACK_SPOOLED).await {
            Ok(_) => {}
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    let error = refused.expect("the spool filled up");
    assert_eq!(error.code, ErrorCode::ResourceExhausted);
    assert!(error.message.as_deref().unwrap_or("").contains("kafka.spool.max_bytes"), "{error:?}");
    assert_eq!(metric(&sidecar, "attache_spool_refused_full_total").await, 1.0);
}

#[tokio::test]
async fn records_spooled_without_brokers_are_delivered_by_the_next_run() {
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("later");
    broker.create_topic(&topic, 1).await;
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().to_owned();
    let (sidecar, client) = start(None, |c| c.kafka.spool.dir = dir.clone()).await;
    let records = (0..40).map(|i| record(&topic, "k", &i.to_string())).collect();
    let ids: Vec<String> =
        produce(&client, records, Ack::ACK_SPOOLED).await.unwrap().results.into_iter().map(|r| r.id).collect();
    sidecar.stop().await.unwrap();
    let (sidecar, _client) = start(Some(broker), |c| c.kafka.spool.dir = dir.clone()).await;
    wait_until_delivered(&sidecar, Duration::from_secs(30)).await;
    let read = broker.wait_for(&topic, 40, Duration::from_secs(10));
    let values: Vec<&str> = read.iter().filter_map(|r| r.value.as_deref()).collect();
    assert_eq!(
        values,
        (0..40).map(|i| i.to_string()).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(read.iter().map(|r| r.id().to_owned()).collect::<Vec<_>>(), ids, "ids survive the restart");
}

#[tokio::test]
async fn a_replaced_producer_sends_again_what_kafka_had_not_acknowledged() {
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("replaced");
    broker.create_topic(&topic, 3).await;
    let (sidecar, client) = start(Some(broker), |c| c.kafka.producer.linger = Duration::from_millis(50)).await;
    let mut acked = Vec::new();
    for round in 0..10 {
        let records = (0..100).map(|i| record(&topic, &format!("k{i}"), &format!("{round}:{i}"))).collect();
        acked.extend(produce(&client, records, Ack::ACK_SPOOLED).await.unwrap().results.into_iter().map(|r| r.id));
        if round % 3 == 1 {
            // As after a fatal idempotence error: what the old producer held
            // is purged, and everything unreleased is read again.
            let kafka = sidecar_kafka(&sidecar);
            kafka.replace_producer();
        }
    }
    wait_until_delivered(&sidecar, Duration::from_secs(30)).await;
    let read = broker.wait_for(&topic, 1000, Duration::from_secs(10));
    let unique: HashSet<&str> = read.iter().map(|r| r.id()).collect();
    assert!(acked.iter().all(|id| unique.contains(id.as_str())), "a record was lost in a producer replacement");
    assert_eq!(metric(&sidecar, "attache_producer_restarts_total").await, 3.0);
    println!("replaced: 1000 acknowledged, {} read ({} duplicates)", read.len(), read.len() - unique.len());
}

fn sidecar_kafka(sidecar: &Sidecar) -> attache_kafka::Service {
    sidecar.modules().kafka.clone().expect("the kafka module")
}

#[tokio::test]
async fn produce_stream_answers_every_message_in_order() {
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("stream");
    broker.create_topic(&topic, 3).await;
    let (sidecar, client) = start(Some(broker), |_| {}).await;
    let mut stream = client.produce_stream().await.unwrap();
    let mut answered = Vec::new();
    for sequence in 0..100u64 {
        let records = (0..10).map(|i| record(&topic, &format!("k{i}"), &format!("{sequence}"))).collect();
        let ack = if sequence % 10 == 9 { Ack::ACK_DELIVERED } else { Ack::ACK_SPOOLED };
        stream.send(ProduceStreamRequest { records, ack: ack.into(), sequence, ..Default::default() }).await.unwrap();
        if sequence % 20 == 19 {
            while answered.len() < sequence as usize - 10 {
                let answer = stream.message().await.unwrap().unwrap().to_owned_message();
                answered.push(answer);
            }
        }
    }
    stream.close_send();
    while let Some(answer) = stream.message().await.unwrap() {
        answered.push(answer.to_owned_message());
    }
    assert_eq!(answered.iter().map(|a| a.sequence).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
    assert!(answered[9].results.iter().all(|r| r.offset.is_some()), "ACK_DELIVERED answers carry offsets");
    wait_until_delivered(&sidecar, Duration::from_secs(30)).await;
    let read = broker.wait_for(&topic, 1000, Duration::from_secs(10));
    for key in 0..10 {
        let key = format!("k{key}");
        let values: Vec<u64> = read
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_str()))
            .map(|r| r.value.as_ref().unwrap().parse().unwrap())
            .collect();
        assert_eq!(values, (0..100).collect::<Vec<_>>(), "{key}: records of one key keep their order");
    }
    // A bad message ends the stream with its error; those before it stay.
    let mut stream = client.produce_stream().await.unwrap();
    stream
        .send(ProduceStreamRequest { records: vec![record(&topic, "k", "fine")], sequence: 1, ..Default::default() })
        .await
        .unwrap();
    stream
        .send(ProduceStreamRequest { records: vec![record("bad topic", "k", "v")], sequence: 2, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(stream.message().await.unwrap().unwrap().to_owned_message().sequence, 1);
    let error = stream.message().await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidArgument);
    assert!(error.message.as_deref().unwrap_or("").contains("records[0].topic"), "{error:?}");
}

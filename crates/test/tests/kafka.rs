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
            // A fatal error (librdkafka's own injection, as a fenced
            // idempotent producer gets): what the old producer held is
            // purged, a new one reads again everything unreleased.
            let restarts = metric(&sidecar, "attache_producer_restarts_total").await;
            sidecar_kafka(&sidecar).inject_fatal_error();
            let deadline = Instant::now() + Duration::from_secs(10);
            while metric(&sidecar, "attache_producer_restarts_total").await == restarts {
                assert!(Instant::now() < deadline, "the producer was not replaced after a fatal error");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
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

mod consuming {
    use super::*;
    use attache_proto::attache::kafka::v1::__buffa::oneof::consume_request::Step;
    use attache_proto::attache::kafka::v1::__buffa::oneof::consume_response::Event;
    use attache_proto::attache::kafka::v1::{
        Acks, CommitRequest, ConsumeRequest, ConsumedRecord, FetchRequest, Position, Subscribe,
    };

    type Stream = connectrpc::client::BidiStream<
        <SharedHttp2Connection as connectrpc::client::ClientTransport>::ResponseBody,
        ConsumeRequest,
        attache_proto::attache::kafka::v1::__buffa::view::ConsumeResponseView<'static>,
    >;

    async fn subscribe(client: &Client, group: &str, topic: &str, max_unacked: u32) -> Stream {
        let mut stream = client.consume().await.unwrap();
        let subscribe =
            Subscribe { group: group.into(), topics: vec![topic.into()], max_unacked, ..Default::default() };
        stream
            .send(ConsumeRequest { step: Some(Step::Subscribe(Box::new(subscribe))), ..Default::default() })
            .await
            .unwrap();
        stream
    }

    async fn ack(stream: &mut Stream, records: &[ConsumedRecord]) {
        let positions = records
            .iter()
            .map(|r| Position {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                ..Default::default()
            })
            .collect();
        let acks = Acks { positions, ..Default::default() };
        stream.send(ConsumeRequest { step: Some(Step::Ack(Box::new(acks))), ..Default::default() }).await.unwrap();
    }

    /// Records from the stream until `count` came or `timeout` passed
    /// (assignment changes are skipped).
    async fn receive(stream: &mut Stream, count: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while out.len() < count {
            match tokio::time::timeout_at(deadline, stream.message()).await {
                Ok(Ok(Some(message))) => {
                    if let Some(Event::Records(records)) = message.to_owned_message().event {
                        out.extend(records.records);
                    }
                }
                Ok(other) => panic!("the stream ended: {:?}", other.map(|m| m.is_some())),
                Err(_) => break,
            }
        }
        out
    }

    fn value(record: &ConsumedRecord) -> String {
        String::from_utf8(record.value.clone().unwrap_or_default()).unwrap()
    }

    #[tokio::test]
    async fn consume_commits_only_what_was_acknowledged_and_bounds_what_is_outstanding() {
        let broker = KafkaBroker::shared();
        let topic = KafkaBroker::topic("consume");
        broker.create_topic(&topic, 3).await;
        let lines: Vec<String> = (0..90).map(|i| format!("line-{i}")).collect();
        broker.kcat_produce(&topic, &lines.iter().map(String::as_str).collect::<Vec<_>>());
        let (_sidecar, client) = start(Some(broker), |_| {}).await;
        let group = KafkaBroker::topic("group");
        let mut stream = subscribe(&client, &group, &topic, 10).await;
        // Flow control: without acknowledgements, no more than 10 come.
        let first = receive(&mut stream, 11, Duration::from_secs(15)).await;
        assert_eq!(first.len(), 10, "max_unacked is 10");
        let mut all = first.clone();
        ack(&mut stream, &first).await;
        // Acknowledge everything of partitions 0 and 1 and the first 10 of
        // partition 2 (in offset order); the rest of partition 2 is not.
        let mut kept_back = Vec::new();
        let mut acked_in_2 = first.iter().filter(|r| r.partition == 2).count();
        while all.len() < 90 {
            let batch = receive(&mut stream, 1, Duration::from_secs(15)).await;
            assert!(!batch.is_empty(), "only {} of 90 records came", all.len());
            let mut to_ack = Vec::new();
            for record in batch {
                if record.partition == 2 && acked_in_2 >= 10 {
                    kept_back.push(record.clone());
                } else {
                    acked_in_2 += usize::from(record.partition == 2);
                    to_ack.push(record.clone());
                }
                all.push(record);
            }
            ack(&mut stream, &to_ack).await;
            // Unacknowledged records count against the bound: let them go
            // once the rest is done, so the stream can go on.
            if kept_back.len() >= 9 {
                break;
            }
        }
        let mut values: Vec<String> = all.iter().map(value).collect();
        values.sort();
        values.dedup();
        assert!(values.len() >= all.len(), "a record came twice on one stream");
        drop(stream);
        // The group's next member starts at the oldest unacknowledged
        // record of each partition: partition 2's kept-back records first.
        let mut next = subscribe(&client, &group, &topic, 100).await;
        let again = receive(&mut next, kept_back.len(), Duration::from_secs(30)).await;
        let first_again: Vec<i64> = again.iter().filter(|r| r.partition == 2).map(|r| r.offset).collect();
        let kept: Vec<i64> = kept_back.iter().map(|r| r.offset).collect();
        assert!(first_again.starts_with(&kept), "redelivered {first_again:?}, kept back {kept:?}");
        assert!(again.iter().all(|r| r.partition == 2), "acknowledged partitions came again: {again:?}");
    }

    #[tokio::test]
    async fn two_members_split_the_partitions_and_a_dead_ones_records_go_to_the_other() {
        let broker = KafkaBroker::shared();
        let topic = KafkaBroker::topic("split");
        broker.create_topic(&topic, 4).await;
        let lines: Vec<String> = (0..200).map(|i| format!("v{i}")).collect();
        broker.kcat_produce(&topic, &lines.iter().map(String::as_str).collect::<Vec<_>>());
        let (_sidecar, client) = start(Some(broker), |_| {}).await;
        let group = KafkaBroker::topic("group");
        let mut a = subscribe(&client, &group, &topic, 1000).await;
        let got_a = receive(&mut a, 1, Duration::from_secs(45)).await;
        assert!(!got_a.is_empty());
        // A second member joins: the first is told what it lost.
        let mut b = subscribe(&client, &group, &topic, 1000).await;
        let mut revoked = false;
        let mut assigned_a = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while assigned_a.is_empty() || !revoked {
            let message = tokio::time::timeout_at(deadline, a.message()).await.expect("a rebalance").unwrap().unwrap();
            match message.to_owned_message().event {
                Some(Event::Revoked(_)) => revoked = true,
                Some(Event::Assigned(assignment)) if revoked => {
                    assigned_a = assignment.partitions.iter().map(|p| p.partition).collect();
                }
                _ => {}
            }
        }
        // A rebalance under a loaded machine (the whole suite beside it) can
        // take a while: generous waits, so the test fails on what matters.
        let got_b = receive(&mut b, 1, Duration::from_secs(45)).await;
        assert!(!got_b.is_empty(), "the second member got nothing");
        let partitions_b: HashSet<i32> = got_b.iter().map(|r| r.partition).collect();
        assert!(partitions_b.iter().all(|p| !assigned_a.contains(p)), "a: {assigned_a:?}, b: {partitions_b:?}");
        assert_eq!(assigned_a.len(), 2, "4 partitions, 2 members: {assigned_a:?}");
        // b dies without acknowledging: a gets b's partitions, from their
        // start, once b has left.
        drop(b);
        let mut seen_from_b = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !partitions_b.iter().all(|p| seen_from_b.contains(p)) {
            assert!(Instant::now() < deadline, "b's partitions never came to a");
            for record in receive(&mut a, 1, Duration::from_secs(5)).await {
                if partitions_b.contains(&record.partition) {
                    assert!(got_b.iter().any(|r| r.partition == record.partition) || record.offset == 0);
                    seen_from_b.insert(record.partition);
                }
            }
        }
    }

    #[tokio::test]
    async fn fetch_leases_records_and_what_is_not_committed_comes_again() {
        let broker = KafkaBroker::shared();
        let topic = KafkaBroker::topic("fetch");
        broker.create_topic(&topic, 1).await;
        let lines: Vec<String> = (0..30).map(|i| format!("f{i}")).collect();
        broker.kcat_produce(&topic, &lines.iter().map(String::as_str).collect::<Vec<_>>());
        let (_sidecar, client) = start(Some(broker), |_| {}).await;
        let group = KafkaBroker::topic("group");
        let fetch = |max: u32, lease_ms: u32| FetchRequest {
            group: group.clone(),
            topics: vec![topic.clone()],
            max_records: max,
            max_wait_ms: 15_000,
            lease_ms,
            ..Default::default()
        };
        let first = client.fetch(fetch(10, 0)).await.unwrap().into_owned();
        assert_eq!(first.records.iter().map(value).collect::<Vec<_>>(), lines[..10]);
        // Commit half: the other half is delivered again.
        let half: Vec<Position> = first.records[..5]
            .iter()
            .map(|r| Position {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                ..Default::default()
            })
            .collect();
        let committed = client
            .commit(CommitRequest { lease_id: first.lease_id.clone(), acked: half, ..Default::default() })
            .await
            .unwrap()
            .into_owned();
        assert_eq!((committed.acked, committed.redelivered), (5, 5));
        let second = client.fetch(fetch(5, 300)).await.unwrap().into_owned();
        assert_eq!(second.records.iter().map(value).collect::<Vec<_>>(), lines[5..10]);
        let mut rest = Vec::new();
        let mut rest_leases = Vec::new();
        while rest.len() < 20 {
            let lease = client.fetch(fetch(100, 0)).await.unwrap().into_owned();
            rest.extend(lease.records.iter().map(value));
            rest_leases.push(lease.lease_id);
        }
        assert_eq!(rest, lines[10..]);
        // Everything is leased now: a Fetch waiting when the 300 ms lease
        // expires gets its records, and the late Commit is refused.
        let waited = Instant::now();
        let third = client.fetch(fetch(5, 0)).await.unwrap().into_owned();
        assert_eq!(third.records.iter().map(value).collect::<Vec<_>>(), lines[5..10]);
        assert!(waited.elapsed() < Duration::from_secs(2), "redelivered after {:?}", waited.elapsed());
        let late = client
            .commit(CommitRequest { lease_id: second.lease_id, all: true, ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(late.code, ErrorCode::NotFound, "{late:?}");
        let done = client
            .commit(CommitRequest { lease_id: third.lease_id, all: true, ..Default::default() })
            .await
            .unwrap()
            .into_owned();
        assert_eq!((done.acked, done.redelivered), (5, 0));
        for lease_id in rest_leases {
            client.commit(CommitRequest { lease_id, all: true, ..Default::default() }).await.unwrap();
        }
        // Nothing there: an empty answer after max_wait, no lease.
        let mut empty = fetch(10, 0);
        empty.max_wait_ms = 200;
        let none = client.fetch(empty).await.unwrap().into_owned();
        assert!(none.records.is_empty() && none.lease_id.is_empty());
    }

    #[tokio::test]
    async fn bad_consumer_requests_are_refused() {
        let (_sidecar, offline) = start(None, |_| {}).await;
        let mut stream = subscribe(&offline, "g", "t", 0).await;
        let error = stream.message().await.unwrap_err();
        assert_eq!(error.code, ErrorCode::FailedPrecondition, "{error:?}");
        assert!(error.message.as_deref().unwrap_or("").contains("ATTACHE_KAFKA_BROKERS"));
        let broker = KafkaBroker::shared();
        let topic = KafkaBroker::topic("bad");
        broker.create_topic(&topic, 1).await;
        broker.kcat_produce(&topic, &["one"]);
        let (_sidecar, client) = start(Some(broker), |_| {}).await;
        for (group, topic, field) in [
            ("", topic.as_str(), "group"),
            ("bad group!", topic.as_str(), "group"),
            ("g", "no such/topic", "topics[0]"),
        ] {
            let mut stream = subscribe(&client, group, topic, 0).await;
            let error = stream.message().await.unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidArgument, "{error:?}");
            assert!(error.message.as_deref().unwrap_or("").starts_with(field), "{error:?}");
        }
        let mut stream = client.consume().await.unwrap();
        let acks = Acks::default();
        stream.send(ConsumeRequest { step: Some(Step::Ack(Box::new(acks))), ..Default::default() }).await.unwrap();
        let error = stream.message().await.unwrap_err();
        assert!(error.message.as_deref().unwrap_or("").contains("must be subscribe"), "{error:?}");
        // Acknowledging a record never delivered ends the stream.
        let mut stream = subscribe(&client, &KafkaBroker::topic("group"), &topic, 0).await;
        let got = receive(&mut stream, 1, Duration::from_secs(15)).await;
        let mut bogus = got[0].clone();
        bogus.offset += 1000;
        ack(&mut stream, &[bogus]).await;
        let error = loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without an error"),
                Err(error) => break error,
            }
        };
        assert_eq!(error.code, ErrorCode::InvalidArgument);
        assert!(error.message.as_deref().unwrap_or("").contains("was never delivered"), "{error:?}");
    }
}

#[tokio::test]
async fn open_streams_end_when_the_sidecar_drains_instead_of_holding_it_up() {
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("drain");
    broker.create_topic(&topic, 1).await;
    let (sidecar, client) = start(Some(broker), |_| {}).await;
    let mut produce = client.produce_stream().await.unwrap();
    produce
        .send(ProduceStreamRequest { records: vec![record(&topic, "k", "v")], sequence: 7, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(produce.message().await.unwrap().unwrap().to_owned_message().sequence, 7);
    use attache_proto::attache::kafka::v1::__buffa::oneof::consume_request::Step;
    use attache_proto::attache::kafka::v1::{ConsumeRequest, Subscribe};
    let mut consume = client.consume().await.unwrap();
    let subscribe = Subscribe { group: KafkaBroker::topic("g"), topics: vec![topic.clone()], ..Default::default() };
    consume
        .send(ConsumeRequest { step: Some(Step::Subscribe(Box::new(subscribe))), ..Default::default() })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Both streams stay open, idle; the drain ends them.
    let started = Instant::now();
    let stopping = tokio::spawn(sidecar.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while produce.message().await.is_ok_and(|m| m.is_some()) {}
        while consume.message().await.is_ok_and(|m| m.is_some()) {}
    })
    .await;
    assert!(ended.is_ok(), "the streams did not end");
    stopping.await.unwrap().unwrap();
    println!("drain with two idle streams: {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(8), "the drain waited {:?} for idle streams", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_scram_over_tls_delivers_and_a_wrong_password_keeps_records_spooled() {
    let ca = attache_test::Ca::new();
    let broker = KafkaBroker::start_secured(&[("alice", "alice-secret"), ("bob", "b0b:pass")], Some(&ca));
    let topic = KafkaBroker::topic("secured");
    broker.create_topic(&topic, 1).await;
    let secure = |user: &'static str, password: &'static str, mechanism: &'static str| {
        let ca = ca.cert();
        move |c: &mut attache_config::Config| {
            c.kafka.security.protocol = attache_kafka::Protocol::SaslSsl;
            c.kafka.security.ca_file = Some(ca);
            c.kafka.security.sasl_mechanism = Some(mechanism.into());
            c.kafka.security.sasl_username = Some(user.into());
            c.kafka.security.sasl_password = Some(password.into());
        }
    };
    for (user, password, mechanism) in [
        ("alice", "alice-secret", "SCRAM-SHA-512"),
        ("bob", "b0b:pass", "SCRAM-SHA-256"),
        ("alice", "alice-secret", "PLAIN"),
    ] {
        let (_sidecar, client) = start(Some(&broker), secure(user, password, mechanism)).await;
        let reply = produce(&client, vec![record(&topic, user, mechanism)], Ack::ACK_DELIVERED).await.unwrap();
        assert!(
            reply.results[0].error.as_option().is_none() && reply.results[0].offset.is_some(),
            "{mechanism}: {reply:?}"
        );
    }
    let read = broker.wait_for(&topic, 3, Duration::from_secs(10));
    let values: Vec<&str> = read.iter().filter_map(|r| r.value.as_deref()).collect();
    assert_eq!(values, ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]);
    // A wrong password: acknowledged into the spool, never delivered, and
    // the status page says why.
    let (sidecar, client) = start(Some(&broker), secure("alice", "wrong", "SCRAM-SHA-512")).await;
    produce(&client, vec![record(&topic, "k", "never")], Ack::ACK_SPOOLED).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = admin_get(&sidecar, "/").await;
        if status.to_lowercase().contains("authentication") {
            assert!(status.contains("1 records spooled"), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "no authentication error on the status page: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(broker.read_all(&topic).len(), 3);
}

#[tokio::test]
async fn keys_land_on_the_partitions_java_clients_choose() {
    // librdkafka's murmur2_random is Java's default partitioner for keyed
    // records; kcat with it stands in for a Java producer.
    let broker = KafkaBroker::shared();
    let topic = KafkaBroker::topic("partitioner");
    broker.create_topic(&topic, 6).await;
    let (_sidecar, client) = start(Some(broker), |_| {}).await;
    let keys: Vec<String> = (0..24).map(|i| format!("customer-{i}")).collect();
    let records = keys.iter().map(|k| record(&topic, k, "attache")).collect();
    let ours = produce(&client, records, Ack::ACK_DELIVERED).await.unwrap();
    let input: String = keys.iter().map(|k| format!("{k}:kcat\n")).collect();
    let mut kcat = std::process::Command::new("kcat")
        .args(["-P", "-b", broker.bootstrap(), "-t", &topic, "-K:", "-X", "partitioner=murmur2_random"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(kcat.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(kcat.stdin.take());
    assert!(kcat.wait().unwrap().success());
    let read = broker.wait_for(&topic, 48, Duration::from_secs(10));
    let theirs: HashMap<&str, i32> = read
        .iter()
        .filter(|r| r.value.as_deref() == Some("kcat"))
        .map(|r| (r.key.as_deref().unwrap(), r.partition))
        .collect();
    let mut spread = HashSet::new();
    for (key, result) in keys.iter().zip(&ours.results) {
        assert_eq!(Some(&result.partition.unwrap()), theirs.get(key.as_str()), "{key}");
        spread.insert(result.partition.unwrap());
    }
    assert!(spread.len() > 3, "24 keys on {} of 6 partitions", spread.len());
}

#[tokio::test]
async fn a_long_produce_stream_is_not_held_to_the_in_flight_byte_budget_as_a_whole() {
    // 20 MB over one stream through a sidecar whose bytes in flight are
    // capped at 2 MiB: each message counts until the next is read.
    let (sidecar, client) = start(None, |c| {
        c.server.max_request_bytes = bytesize::ByteSize::mib(1);
        c.server.max_in_flight_bytes = bytesize::ByteSize::mib(2);
    })
    .await;
    let mut stream = client.produce_stream().await.unwrap();
    let value = "x".repeat(1000);
    for sequence in 0..40u64 {
        let records = (0..500).map(|_| record("big", "k", &value)).collect();
        stream.send(ProduceStreamRequest { records, sequence, ..Default::default() }).await.unwrap();
        let answer = stream.message().await.unwrap().unwrap().to_owned_message();
        assert_eq!((answer.sequence, answer.results.len()), (sequence, 500));
    }
    stream.close_send();
    assert_eq!(metric(&sidecar, "attache_spooled_records_total").await, 20_000.0);
}

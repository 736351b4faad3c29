//! The Kafka promise as an operator would test it: the attache binary is
//! killed with SIGKILL at random moments while apps produce, and every
//! record it acknowledged is in Kafka afterwards (read back by kcat);
//! SIGTERM delivers what it can within the drain deadline and keeps the
//! rest spooled for the next start.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attache_test::KafkaBroker;
use base64::Engine as _;
use rand::Rng as _;

const BIN: &str = env!("CARGO_BIN_EXE_attache");

/// An attache process, killed if a test fails while it runs.
struct Attache(Child);

impl Drop for Attache {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(socket: &Path, spool: &Path, brokers: &str, fsync: &str) -> Attache {
    let _ = std::fs::remove_file(socket);
    let mut child = Command::new(BIN)
        .args(["run", "--socket", socket.to_str().unwrap(), "--admin", "off"])
        .env_clear()
        .env("ATTACHE_KAFKA_BROKERS", brokers)
        .env("ATTACHE_KAFKA_SPOOL_DIR", spool)
        .env("ATTACHE_KAFKA_SPOOL_FSYNC", fsync)
        .env("ATTACHE_KAFKA_DRAIN_TIMEOUT", "2s")
        .env("ATTACHE_LOG_LEVEL", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn attache");
    let deadline = Instant::now() + Duration::from_secs(15);
    while UnixStream::connect(socket).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "attache exited instead of serving");
        assert!(Instant::now() < deadline, "attache did not start serving");
        std::thread::sleep(Duration::from_millis(20));
    }
    Attache(child)
}

/// One Produce call as Connect JSON: the ids it acknowledged, or None if
/// the call failed (attache killed under it, say).
fn produce(socket: &Path, topic: &str, values: &[String]) -> Option<Vec<String>> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let records: Vec<serde_json::Value> = values
        .iter()
        .map(|v| serde_json::json!({"topic": topic, "key": b64(&v[..v.len().min(3)]), "value": b64(v)}))
        .collect();
    let body = serde_json::json!({ "records": records }).to_string();
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "POST /attache.kafka.v1.KafkaService/Produce HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    if !response.starts_with("HTTP/1.1 200") {
        return None;
    }
    // The body comes chunked: the JSON object is between its first and
    // last brace.
    let body = &response[response.find("\r\n\r\n")?..];
    let json: serde_json::Value = serde_json::from_str(&body[body.find('{')?..=body.rfind('}')?]).ok()?;
    let ids: Vec<String> =
        json["results"].as_array()?.iter().filter_map(|r| Some(r["id"].as_str()?.to_owned())).collect();
    (ids.len() == values.len()).then_some(ids)
}

fn kill(child: &mut Attache, signal: &str) -> std::process::ExitStatus {
    Command::new("kill").args([signal, &child.0.id().to_string()]).status().unwrap();
    child.0.wait().unwrap()
}

/// Every acknowledged id, once kcat sees them all (or the time is up).
fn wait_for_ids(broker: &KafkaBroker, topic: &str, acked: &HashSet<String>, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let ids: Vec<String> = broker.read_all(topic).iter().map(|r| r.id().to_owned()).collect();
        let seen: HashSet<&str> = ids.iter().map(String::as_str).collect();
        if acked.iter().all(|id| seen.contains(id.as_str())) || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_acknowledged_before_a_kill_9_reaches_kafka() {
    let broker = KafkaBroker::start();
    let topic = KafkaBroker::topic("crash");
    broker.create_topic(&topic, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let (socket, spool) = (dir.path().join("a.sock"), dir.path().join("spool"));
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut rng = rand::rng();
    for (round, fsync) in ["never", "interval", "always", "interval"].into_iter().enumerate() {
        let mut child = spawn(&socket, &spool, broker.bootstrap(), fsync);
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let (socket, topic, acked, stop) = (socket.clone(), topic.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let values: Vec<String> = (0..20).map(|i| format!("r{round}p{p}n{n}i{i}")).collect();
                        n += 1;
                        match produce(&socket, &topic, &values) {
                            Some(ids) => acked.lock().unwrap().extend(ids),
                            None => break,
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
        let status = kill(&mut child, "-KILL");
        assert!(!status.success());
        stop.store(true, Ordering::Relaxed);
        for producer in producers {
            producer.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 500, "only {} records were acknowledged", acked.len());
    // The next start sends what the killed ones left.
    let mut child = spawn(&socket, &spool, broker.bootstrap(), "interval");
    let ids = wait_for_ids(&broker, &topic, &acked, Duration::from_secs(60));
    kill(&mut child, "-TERM");
    let seen: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !seen.contains(id.as_str())).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records are not in Kafka: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    println!(
        "kill -9 x4: {} acknowledged, {} in Kafka, {} duplicates (same attache-id), {} unacknowledged extras",
        acked.len(),
        ids.len(),
        ids.len() - seen.len(),
        seen.len() - acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delivers_what_it_can_and_keeps_the_rest_for_the_next_start() {
    let broker = KafkaBroker::start();
    let topic = KafkaBroker::topic("drain");
    broker.create_topic(&topic, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (socket, spool) = (dir.path().join("a.sock"), dir.path().join("spool"));
    // Kafka up: a SIGTERM right after the acks still delivers them all.
    let mut child = spawn(&socket, &spool, broker.bootstrap(), "interval");
    let mut acked = HashSet::new();
    for n in 0..10 {
        let values: Vec<String> = (0..100).map(|i| format!("up{n}-{i}")).collect();
        acked.extend(produce(&socket, &topic, &values).expect("acknowledged"));
    }
    assert!(kill(&mut child, "-TERM").success());
    let read: HashSet<String> = broker.read_all(&topic).iter().map(|r| r.id().to_owned()).collect();
    assert!(acked.iter().all(|id| read.contains(id)), "SIGTERM left records undelivered while Kafka was up");
    // Kafka down: SIGTERM gives up after the drain deadline and keeps them.
    broker.stop(false);
    let mut child = spawn(&socket, &spool, broker.bootstrap(), "interval");
    let values: Vec<String> = (0..50).map(|i| format!("down-{i}")).collect();
    let down = produce(&socket, &topic, &values).expect("spooled while Kafka is down");
    let started = Instant::now();
    assert!(kill(&mut child, "-TERM").success());
    assert!(started.elapsed() < Duration::from_secs(6), "the drain took {:?}", started.elapsed());
    broker.restart();
    let mut child = spawn(&socket, &spool, broker.bootstrap(), "interval");
    acked.extend(down);
    let ids = wait_for_ids(&broker, &topic, &acked, Duration::from_secs(60));
    kill(&mut child, "-TERM");
    let seen: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert!(
        acked.iter().all(|id| seen.contains(id.as_str())),
        "records kept in the spool were not delivered on the next start"
    );
}

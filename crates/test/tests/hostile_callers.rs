//! The listeners against callers that hold connections, bodies or
//! responses open: slowloris headers, idle connections, bodies larger than
//! what is left of the byte budget, responses nobody reads, broken framing,
//! and a web page reaching the TCP listener.

use std::time::{Duration, Instant};

use attache_test::{RedisServer, Sidecar, connect_json, http1_tcp};
use bytes::Bytes;
use bytesize::ByteSize;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Reads until the sidecar closes the connection (or `within` passes);
/// returns what it sent and whether it closed.
async fn read_until_closed(stream: &mut UnixStream, within: Duration) -> (String, bool) {
    let mut all = Vec::new();
    let until = Instant::now() + within;
    loop {
        let mut buf = [0u8; 64 * 1024];
        match tokio::time::timeout_at(until.into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&all).into_owned(), true),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&all).into_owned(), false),
        }
    }
}

fn post_head(procedure: &str, content_type: &str, length: usize) -> String {
    format!(
        "POST /{procedure} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let sidecar = Sidecar::start_with(|c| {
        c.server.header_timeout = Duration::from_millis(300);
        c.server.idle_timeout = Duration::from_millis(600);
    })
    .await;
    // Slowloris: a header line every 100 ms, never finished.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = UnixStream::connect(sidecar.socket()).await.unwrap();
        stream.write_all(b"POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\n").await.unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for stream in &mut slow {
            let _ = stream.write_all(b"X-Slow: 1\r\n").await;
        }
    }
    for stream in &mut slow {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(2)).await;
        assert!(closed, "a slowloris connection is still open after {:?}", started.elapsed());
    }
    // A kept-alive connection waiting for its next request is under
    // idle_timeout, not header_timeout: still usable past the latter, and
    // its next request's clock starts only with that request.
    let mut idle = UnixStream::connect(sidecar.socket()).await.unwrap();
    let body = "{}";
    let request = post_head("attache.sidecar.v1.SidecarService/GetInfo", "application/json", body.len()) + body;
    for _ in 0..2 {
        idle.write_all(request.as_bytes()).await.unwrap();
        let (answer, closed) = read_until_closed(&mut idle, Duration::from_millis(450)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(!closed, "a kept-alive connection was closed after server.header_timeout, before idle_timeout");
    }
    // One that makes no next request is closed.
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(closed, "an idle connection was kept past server.idle_timeout");
    assert!(started.elapsed() >= Duration::from_millis(100), "closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn drain_closes_connections_with_nothing_in_flight_at_once() {
    let sidecar = Sidecar::start_with(|c| c.server.drain_timeout = Duration::from_secs(10)).await;
    let mut half = UnixStream::connect(sidecar.socket()).await.unwrap();
    half.write_all(b"POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let _idle = UnixStream::connect(sidecar.socket()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    sidecar.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "drain waited {:?} for idle connections", started.elapsed());
}

#[tokio::test]
async fn bodies_are_refused_before_they_are_read_once_the_byte_budget_is_held() {
    let sidecar = Sidecar::start_with(|c| c.server.max_in_flight_bytes = ByteSize::mib(8)).await;
    let procedure = "attache.image.v1.ImageService/Probe";
    let length = 3 * 1024 * 1024;
    // Two uploads of 3 MiB held one byte short: 6 of the 8 MiB.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = UnixStream::connect(sidecar.socket()).await.unwrap();
        stream.write_all(post_head(procedure, "application/proto", length).as_bytes()).await.unwrap();
        stream.write_all(&vec![0u8; length - 1]).await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // A third is answered at once, without the sidecar reading its body.
    let mut third = UnixStream::connect(sidecar.socket()).await.unwrap();
    third.write_all(post_head(procedure, "application/proto", length).as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut third, Duration::from_millis(500)).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("resource_exhausted") && answer.contains("server.max_in_flight_bytes"), "{answer}");
    // Small calls still fit, and once the holders leave, uploads do too.
    let (status, _) = connect_json(sidecar.socket(), "attache.sidecar.v1.SidecarService/GetInfo", "{}", &[]).await;
    assert_eq!(status, 200);
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) =
        connect_json(sidecar.socket(), "attache.image.v1.ImageService/Probe", r#"{"image":"AAAA"}"#, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_argument"), "{body}");
}

#[tokio::test]
async fn a_response_nobody_reads_is_dropped_after_the_write_timeout() {
    let redis = RedisServer::start();
    let url = redis.url().to_string();
    let sidecar = Sidecar::start_with(|c| {
        c.redis.url = Some(url);
        c.server.max_in_flight_bytes = ByteSize::mib(16);
        c.server.write_timeout = Duration::from_secs(2);
    })
    .await;
    redis.cli(&["EVAL", "redis.call('SET', KEYS[1], string.rep('v', 10485760))", "1", "big"]);
    // Connected once a PING answers.
    let until = Instant::now() + Duration::from_secs(10);
    while connect_json(sidecar.socket(), "attache.redis.v1.RedisService/Do", r#"{"args":["UElORw=="]}"#, &[]).await.0
        != 200
    {
        assert!(Instant::now() < until, "attache never connected to redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = r#"{"args":["R0VU","Ymln"]}"#;
    // A caller asks for 10 MiB (as base64 JSON, ~13 MiB) and never reads.
    let mut stuck = Vec::new();
    for _ in 0..1 {
        let mut stream = UnixStream::connect(sidecar.socket()).await.unwrap();
        let head = post_head("attache.redis.v1.RedisService/Do", "application/json", request.len());
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        stuck.push(stream);
    }
    // Their responses count against the budget once made: an upload no
    // longer fits...
    let upload = format!(r#"{{"image":"{}"}}"#, "A".repeat(4 * 1024 * 1024));
    let probe = "attache.image.v1.ImageService/Probe";
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        // Only the headers: a refused body is never read.
        let mut stream = UnixStream::connect(sidecar.socket()).await.unwrap();
        stream.write_all(post_head(probe, "application/json", upload.len()).as_bytes()).await.unwrap();
        let (answer, _) = read_until_closed(&mut stream, Duration::from_millis(300)).await;
        if answer.starts_with("HTTP/1.1 429") {
            assert!(answer.contains("server.max_in_flight_bytes"), "{answer}");
            break;
        }
        assert!(Instant::now() < until, "the unread response never counted: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...until the write timeout ends the stuck connection.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = connect_json(sidecar.socket(), probe, &upload, &[]).await;
    assert_eq!(status, 400, "{body}");
    for stream in &mut stuck {
        let mut buf = [0u8; 1];
        let _ = stream.read(&mut buf).await;
    }
}

#[tokio::test]
async fn broken_chunked_framing_is_invalid_argument() {
    let sidecar = Sidecar::start().await;
    let mut stream = UnixStream::connect(sidecar.socket()).await.unwrap();
    stream
        .write_all(
            b"POST /attache.password.v1.PasswordService/Hash HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid_argument") && answer.contains("framing"), "{answer}");
}

#[tokio::test]
async fn connections_are_capped_per_peer() {
    let sidecar = Sidecar::start_with(|c| c.server.max_connections_per_peer = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(UnixStream::connect(sidecar.socket()).await.unwrap());
    }
    let mut fourth = UnixStream::connect(sidecar.socket()).await.unwrap();
    let (_, closed) = read_until_closed(&mut fourth, Duration::from_secs(1)).await;
    assert!(closed, "a fourth connection from one process was kept");
    drop(open);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _) = connect_json(sidecar.socket(), "attache.sidecar.v1.SidecarService/GetInfo", "{}", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_tcp_listener_refuses_other_hosts_and_web_origins() {
    let sidecar = Sidecar::start_with(|c| c.server.tcp = Some("127.0.0.1:0".parse().unwrap())).await;
    let addr = sidecar.tcp_addr().unwrap();
    let call = |host: String, origin: Option<&str>| {
        let mut request = http::Request::post("/attache.sidecar.v1.SidecarService/GetInfo")
            .header("host", host)
            .header("content-type", "application/json");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        http1_tcp(addr, request.body(Full::new(Bytes::from_static(b"{}"))).unwrap())
    };
    let (status, _, _) = call(addr.to_string(), None).await;
    assert_eq!(status, 200);
    let (status, _, _) = call(format!("localhost:{}", addr.port()), Some("http://localhost:3000")).await;
    assert_eq!(status, 200);
    let (status, _, body) = call(format!("rebound.example:{}", addr.port()), None).await;
    assert_eq!(status, 403, "{body:?}");
    assert!(String::from_utf8_lossy(&body).contains("server.tcp_allowed_hosts"));
    let (status, _, _) = call(addr.to_string(), Some("https://evil.example")).await;
    assert_eq!(status, 403);
}

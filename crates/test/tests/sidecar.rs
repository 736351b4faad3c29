//! The whole sidecar in-process, called the way SDKs call it.

use std::time::Duration;

use attache_proto::attache::password::v1::{Algorithm, BcryptParams, HashRequest, VerifyRequest};
use attache_test::{Sidecar, admin_get, connect_json, http1_tcp};
use bytes::Bytes;
use connectrpc::client::CallOptions;
use connectrpc::{ErrorCode, Protocol};
use http_body_util::Full;

fn hash_request(password: &str) -> HashRequest {
    HashRequest { password: password.into(), ..Default::default() }
}

#[tokio::test]
async fn hash_and_verify_over_grpc_connect_proto_and_grpc_web() {
    let sidecar = Sidecar::start().await;
    for protocol in [Protocol::Grpc, Protocol::Connect, Protocol::GrpcWeb] {
        let client = sidecar.password(protocol).await;
        let hash = client.hash(hash_request("s3cret")).await.unwrap().into_owned().hash;
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{protocol:?}: {hash}");
        let ok = client
            .verify(VerifyRequest { password: "s3cret".into(), hash: hash.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_owned();
        assert!(ok.valid && !ok.needs_rehash, "{protocol:?}");
        let bad = client
            .verify(VerifyRequest { password: "S3cret".into(), hash, ..Default::default() })
            .await
            .unwrap()
            .into_owned();
        assert!(!bad.valid, "{protocol:?}");
    }
    sidecar.stop().await.unwrap();
}

#[tokio::test]
async fn connect_json_over_http1_uses_the_proto_json_names() {
    let sidecar = Sidecar::start().await;
    let (status, body) = connect_json(
        sidecar.socket(),
        "attache.password.v1.PasswordService/Hash",
        r#"{"password":"pw","algorithm":"ALGORITHM_BCRYPT"}"#,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let hash: serde_json::Value = serde_json::from_str(&body).unwrap();
    let hash = hash["hash"].as_str().unwrap();
    assert!(hash.starts_with("$2b$04$"), "{hash}");

    // The policy is argon2id, so a valid bcrypt hash needs a rehash.
    let (status, body) = connect_json(
        sidecar.socket(),
        "attache.password.v1.PasswordService/Verify",
        &serde_json::json!({"password": "pw", "hash": hash}).to_string(),
        &[],
    )
    .await;
    assert_eq!((status.as_u16(), body.as_str()), (200, r#"{"valid":true,"needsRehash":true}"#));
}

#[tokio::test]
async fn bad_input_gets_clear_errors_with_the_right_codes() {
    let sidecar = Sidecar::start_with(|c| c.server.max_request_bytes = bytesize(64 * 1024)).await;
    let socket = sidecar.socket();
    let verify = "attache.password.v1.PasswordService/Verify";
    let hash = "attache.password.v1.PasswordService/Hash";
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        (
            verify,
            r#"{"password":"x","hash":"$1$md5$crypt"}"#.into(),
            400,
            "invalid_argument",
            "not in a recognised form",
        ),
        (verify, r#"{"password":"x","hash":""}"#.into(), 400, "invalid_argument", "empty string"),
        (
            verify,
            r#"{"password":"x","hash":"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}"#.into(),
            400,
            "invalid_argument",
            "ceiling",
        ),
        (
            hash,
            format!(r#"{{"password":"{}","algorithm":"ALGORITHM_BCRYPT"}}"#, "x".repeat(73)),
            400,
            "invalid_argument",
            "72 bytes",
        ),
        (hash, format!(r#"{{"password":"{}"}}"#, "x".repeat(5000)), 400, "invalid_argument", "over the limit of 4096"),
        (hash, r#"{"password":"x","algorithm":"ALGORITHM_MD5"}"#.into(), 400, "invalid_argument", ""),
        (hash, r#"{"password":"x","algorithm":17}"#.into(), 400, "invalid_argument", "unknown algorithm 17"),
        (hash, r#"{"password":"#.into(), 400, "invalid_argument", ""),
        (hash, format!(r#"{{"password":"{}"}}"#, "x".repeat(70 * 1024)), 429, "resource_exhausted", ""),
    ];
    for (procedure, body, status, code, message) in cases {
        let (got_status, got) = connect_json(socket, procedure, &body, &[]).await;
        let short: String = body.chars().take(60).collect();
        assert_eq!(got_status.as_u16(), status, "{short}: {got}");
        let error: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(error["code"], code, "{short}: {got}");
        assert!(error["message"].as_str().unwrap_or_default().contains(message), "{short}: {got}");
    }
    // The same failure over gRPC carries the gRPC code.
    let client = sidecar.password(Protocol::Grpc).await;
    let err = client
        .verify(VerifyRequest { password: "x".into(), hash: "nope".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    // Unknown methods are not found, not a crash.
    let (status, _) = connect_json(socket, "attache.password.v1.PasswordService/Nope", "{}", &[]).await;
    assert_eq!(status.as_u16(), 404);
    // And the sidecar still serves.
    assert!(client.hash(hash_request("still up")).await.is_ok());
}

fn bytesize(n: u64) -> bytesize::ByteSize {
    bytesize::ByteSize::b(n)
}

#[tokio::test]
async fn deadlines_are_honoured_and_expired_work_is_not_started() {
    let sidecar = Sidecar::start_with(|c| {
        c.password.workers = 1;
        c.password.bcrypt.cost = 12;
    })
    .await;
    let client = sidecar.password(Protocol::Grpc).await;
    let slow =
        HashRequest { password: "p".into(), algorithm: Algorithm::ALGORITHM_BCRYPT.into(), ..Default::default() };
    // Occupy the only worker, then send work that cannot start in time.
    let busy = {
        let client = sidecar.password(Protocol::Grpc).await;
        let slow = slow.clone();
        tokio::spawn(async move { client.hash(slow).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let err = client
        .hash_with_options(slow.clone(), CallOptions::default().with_timeout(Duration::from_millis(30)))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err:?}");
    busy.await.unwrap().unwrap();

    // A deadline already spent on arrival is refused before any work.
    let (status, body) = connect_json(
        sidecar.socket(),
        "attache.password.v1.PasswordService/Hash",
        r#"{"password":"p"}"#,
        &[("connect-timeout-ms", "0")],
    )
    .await;
    assert_eq!(status.as_u16(), 504, "{body}");
    // The timed-out job was dropped from the queue, never run. The worker
    // reaches it just after finishing the busy job, so poll briefly.
    let expected = [
        r#"attache_pool_completed_total{module="password"} 1"#,
        r#"attache_pool_abandoned_total{module="password"} 1"#,
        r#"attache_requests_total{module="password",method="Hash",code="deadline_exceeded"} 2"#,
    ];
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = admin_get(&sidecar, "/metrics").await;
        if expected.iter().all(|e| metrics.contains(e)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for e in expected {
        assert!(metrics.contains(e), "missing {e} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_full_queue_answers_resource_exhausted_at_once() {
    let sidecar = Sidecar::start_with(|c| {
        c.password.workers = 1;
        c.password.bcrypt.cost = 12;
        c.password.limits.max_in_flight = 1;
        c.password.limits.max_queued = 1;
    })
    .await;
    let slow = HashRequest {
        password: "p".into(),
        algorithm: Algorithm::ALGORITHM_BCRYPT.into(),
        bcrypt: BcryptParams { cost: 12, ..Default::default() }.into(),
        ..Default::default()
    };
    let client = sidecar.password(Protocol::Grpc).await;
    let mut running = Vec::new();
    for _ in 0..2 {
        let (client, slow) = (client.clone(), slow.clone());
        running.push(tokio::spawn(async move { client.hash(slow).await.map(|_| ()) }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    let err = client.hash(slow).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceExhausted, "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(100), "refusal must not wait: {:?}", started.elapsed());
    assert!(err.message.unwrap().contains("password.limits"));
    for r in running {
        r.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn get_info_names_the_version_and_the_serving_modules() {
    let sidecar = Sidecar::start().await;
    let info = sidecar.sidecar().await.get_info(Default::default()).await.unwrap().into_owned();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    // Kafka serves spool-only with no configuration at all.
    assert_eq!(info.modules, vec!["password".to_string(), "image".to_string(), "kafka".to_string()]);
}

#[tokio::test]
async fn disabled_module_is_failed_precondition_with_a_fix() {
    let sidecar = Sidecar::start_with(|c| {
        c.password.enabled = false;
        c.image.enabled = false;
        c.kafka.enabled = false;
    })
    .await;
    let info = sidecar.sidecar().await.get_info(Default::default()).await.unwrap().into_owned();
    assert!(info.modules.is_empty());
    let err = sidecar.password(Protocol::Grpc).await.hash(hash_request("x")).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
    assert!(err.message.unwrap().contains("password.enabled = true"));
    let request = attache_proto::attache::image::v1::ProbeRequest::default();
    let err = sidecar.image(Protocol::Grpc).await.probe(request).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
    assert!(err.message.unwrap().contains("image.enabled = true"));
    let request = attache_proto::attache::kafka::v1::ProduceRequest::default();
    let err = sidecar.kafka(Protocol::Grpc).await.produce(request).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition);
    assert!(err.message.unwrap().contains("kafka.enabled = true"));
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let sidecar = Sidecar::start().await;
    let client = sidecar.password(Protocol::Connect).await;
    client.hash(hash_request("x")).await.unwrap();

    let uri: http::Uri = "http://localhost".parse().unwrap();
    let conn = connectrpc::client::Http2Connection::connect_unix(sidecar.socket(), uri.clone()).await.unwrap();
    let health = connectrpc_health::HealthClient::new(conn.shared(4), connectrpc::client::ClientConfig::new(uri));
    let reply = health
        .check(connectrpc_health::wire::HealthCheckRequest {
            service: "attache.password.v1.PasswordService".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_owned();
    assert_eq!(reply.status.as_known(), Some(connectrpc_health::wire::ServingStatus::SERVING));

    assert_eq!(admin_get(&sidecar, "/healthz").await, "ok\n");
    // Ready, with what the Kafka module is not doing said on the way.
    let ready = admin_get(&sidecar, "/readyz").await;
    assert!(ready.starts_with("ready\nkafka: spool only: no brokers configured"), "{ready}");
    let metrics = admin_get(&sidecar, "/metrics").await;
    for expected in [
        r#"attache_requests_total{module="password",method="Hash",code="ok"} 1"#,
        r#"attache_request_duration_seconds_count{module="password",method="Hash"} 1"#,
        r#"attache_in_flight{module="password"} 0"#,
        r#"attache_queue_depth{module="password"} 0"#,
        r#"attache_pool_busy{module="password"} 0"#,
    ] {
        assert!(metrics.contains(expected), "missing {expected} in\n{metrics}");
    }
}

#[tokio::test]
async fn shutdown_drains_in_flight_work_and_removes_the_socket() {
    let sidecar = Sidecar::start_with(|c| c.password.bcrypt.cost = 11).await;
    let socket = sidecar.socket().to_owned();
    let client = sidecar.password(Protocol::Grpc).await;
    let slow =
        HashRequest { password: "p".into(), algorithm: Algorithm::ALGORITHM_BCRYPT.into(), ..Default::default() };
    let in_flight = tokio::spawn(async move { client.hash(slow).await.map(|r| r.into_owned().hash) });
    tokio::time::sleep(Duration::from_millis(30)).await;
    sidecar.stop().await.unwrap();
    let hash = in_flight.await.unwrap().expect("in-flight request finishes during the drain");
    assert!(hash.starts_with("$2b$11$"));
    assert!(!socket.exists(), "socket file removed on shutdown");
}

#[tokio::test]
async fn traceparent_is_accepted_and_a_malformed_one_is_harmless() {
    let sidecar = Sidecar::start().await;
    for traceparent in ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "garbage"] {
        let (status, body) = connect_json(
            sidecar.socket(),
            "attache.password.v1.PasswordService/Hash",
            r#"{"password":"p"}"#,
            &[("traceparent", traceparent)],
        )
        .await;
        assert_eq!(status.as_u16(), 200, "{body}");
    }
}

#[tokio::test]
async fn the_optional_tcp_listener_serves_the_same_api() {
    let sidecar = Sidecar::start_with(|c| c.server.tcp = Some("127.0.0.1:0".parse().unwrap())).await;
    let addr = sidecar.tcp_addr().expect("tcp listener bound");
    let request = http::Request::post("/attache.sidecar.v1.SidecarService/GetInfo")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (status, _, body) = http1_tcp(addr, request).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(r#""modules":["password","image","kafka"]"#));
}

#[tokio::test]
async fn server_reflection_lists_and_describes_the_services() {
    use connectrpc_reflection::wire::v1::{
        ServerReflectionRequest, server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let sidecar = Sidecar::start().await;
    let uri: http::Uri = "http://localhost".parse().unwrap();
    let conn = connectrpc::client::Http2Connection::connect_unix(sidecar.socket(), uri.clone()).await.unwrap();
    let client =
        connectrpc_reflection::ServerReflectionClient::new(conn.shared(4), connectrpc::client::ClientConfig::new(uri));
    let mut stream = client.server_reflection_info().await.unwrap();
    let ask =
        |request: MessageRequest| ServerReflectionRequest { message_request: Some(request), ..Default::default() };
    stream.send(ask(MessageRequest::ListServices(String::new()))).await.unwrap();
    stream.send(ask(MessageRequest::FileContainingSymbol("attache.password.v1.PasswordService".into()))).await.unwrap();
    stream.close_send();

    let listed = stream.message().await.unwrap().unwrap().to_owned_message();
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else { panic!("{listed:?}") };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "attache.password.v1.PasswordService",
        "attache.sidecar.v1.SidecarService",
        "grpc.reflection.v1.ServerReflection",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let described = stream.message().await.unwrap().unwrap().to_owned_message();
    let Some(MessageResponse::FileDescriptorResponse(files)) = described.message_response else {
        panic!("{described:?}")
    };
    assert!(!files.file_descriptor_proto.is_empty());
    assert!(files.file_descriptor_proto[0].windows(b"password.proto".len()).any(|w| w == b"password.proto"));
}

#[tokio::test]
async fn peers_outside_the_allowlist_are_refused_and_counted() {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap();
    let sidecar = Sidecar::start_with(|c| {
        c.server.allowed_uids = vec![me.wrapping_add(1)];
        c.server.allowed_gids = vec![u32::MAX - 1];
    })
    .await;
    let stream = tokio::net::UnixStream::connect(sidecar.socket()).await.unwrap();
    let handshake = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(stream)).await;
    let refused = match handshake {
        Err(_) => true,
        Ok((mut sender, conn)) => {
            tokio::spawn(conn);
            let request = http::Request::post("/attache.sidecar.v1.SidecarService/GetInfo")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(b"{}")))
                .unwrap();
            sender.send_request(request).await.is_err()
        }
    };
    assert!(refused, "a peer whose uid and gid are not allowed must not be served");
    let metrics = admin_get(&sidecar, "/metrics").await;
    assert!(metrics.contains("attache_refused_peers_total 1"), "{metrics}");
}

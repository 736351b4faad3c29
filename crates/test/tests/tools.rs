//! The tools operators reach for work on the socket unchanged: `buf curl`
//! (from the repository's npm tools) and `grpcurl` (installed by
//! scripts/setup from the Go module proxy) list every service by
//! reflection, the health check included, and call it by name.

use std::path::PathBuf;
use std::process::Command;

use attache_test::Sidecar;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e} (run scripts/setup)"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{command:?} failed: {text}");
    text
}

const SERVICES: [&str; 6] = [
    "attache.sidecar.v1.SidecarService",
    "attache.password.v1.PasswordService",
    "attache.redis.v1.RedisService",
    "attache.image.v1.ImageService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buf_curl_lists_every_service_and_calls_the_health_check() {
    let sidecar = Sidecar::start().await;
    let socket = sidecar.socket().to_str().unwrap().to_owned();
    let buf = repo().join("node_modules/.bin/buf");
    let listed = tokio::task::spawn_blocking({
        let (buf, socket) = (buf.clone(), socket.clone());
        move || {
            run(Command::new(buf).args([
                "curl",
                "--unix-socket",
                &socket,
                "--http2-prior-knowledge",
                "--list-methods",
                "http://localhost",
            ]))
        }
    })
    .await
    .unwrap();
    for service in SERVICES {
        assert!(listed.contains(&format!("{service}/")), "{service} missing from:\n{listed}");
    }
    let checked = tokio::task::spawn_blocking(move || {
        run(Command::new(buf).args([
            "curl",
            "--unix-socket",
            &socket,
            "--http2-prior-knowledge",
            "--protocol",
            "grpc",
            "http://localhost/grpc.health.v1.Health/Check",
        ]))
    })
    .await
    .unwrap();
    assert!(checked.contains("SERVING"), "{checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_every_service_and_calls_the_health_check() {
    let sidecar = Sidecar::start().await;
    // grpcurl's -unix flag dials TCP with grpc-go 1.61; the unix:// form works.
    let socket = format!("unix://{}", sidecar.socket().display());
    let grpcurl = std::env::var_os("ATTACHE_GRPCURL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join("go/bin/grpcurl"));
    let listed = tokio::task::spawn_blocking({
        let (grpcurl, socket) = (grpcurl.clone(), socket.clone());
        move || run(Command::new(grpcurl).args(["-plaintext", &socket, "list"]))
    })
    .await
    .unwrap();
    for service in SERVICES {
        assert!(listed.lines().any(|l| l.trim() == service), "{service} missing from:\n{listed}");
    }
    let checked = tokio::task::spawn_blocking(move || {
        run(Command::new(grpcurl).args(["-plaintext", &socket, "grpc.health.v1.Health/Check"]))
    })
    .await
    .unwrap();
    assert!(checked.contains("\"SERVING\""), "{checked}");
}

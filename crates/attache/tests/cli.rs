//! The binary as an operator runs it.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_attache");

fn attache(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_clear().output().expect("run attache")
}

fn spawn(socket: &Path) -> Child {
    spawn_with(socket, &[])
}

/// `attache run` on `socket`, once it serves, with `env` added to its
/// environment.
fn spawn_with(socket: &Path, env: &[(&OsStr, &OsStr)]) -> Child {
    let mut child = Command::new(BIN)
        .args(["run", "--socket", socket.to_str().unwrap(), "--admin", "off"])
        .env_clear()
        .env("ATTACHE_PASSWORD_BCRYPT_COST", "4")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn attache");
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("attache exited ({status}) instead of serving on {}:\n{stderr}", socket.display());
        }
        assert!(Instant::now() < deadline, "attache did not start serving on {}", socket.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `attache run` with only `env`, which must be refused before it serves:
/// the exit code and stderr.
fn run_refused(env: &[(&OsStr, &OsStr)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("refused.sock");
    let out = Command::new(BIN)
        .args(["run", "--socket", socket.to_str().unwrap(), "--admin", "off"])
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run attache");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// One Connect JSON call over HTTP/1.1, as curl would send it.
fn call(socket: &Path, procedure: &str, body: &str) -> String {
    let mut stream = UnixStream::connect(socket).expect("connect");
    write!(
        stream,
        "POST /{procedure} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

#[test]
fn config_default_is_complete_and_passes_check() {
    let out = attache(&["config", "default"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[password.argon2]") && text.contains("memory_kib = 19456"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.toml");
    std::fs::write(&file, &text).unwrap();
    let check = attache(&["config", "check", file.to_str().unwrap()]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn config_check_names_the_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[password.argon2]\nmemory_kib = -1\n").unwrap();
    let out = attache(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password.argon2.memory_kib"), "{stderr}");
}

#[test]
fn a_stray_variable_that_is_not_utf8_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stray.sock");
    let not_utf8 = OsStr::from_bytes(b"\xff");
    let mut child = spawn_with(&socket, &[(OsStr::new("FOO"), not_utf8), (not_utf8, OsStr::new("bar"))]);
    assert!(
        call(&socket, "attache.password.v1.PasswordService/Hash", r#"{"password":"pw"}"#).starts_with("HTTP/1.1 200")
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn an_attache_variable_that_is_not_utf8_is_refused_by_name() {
    let url = OsStr::from_bytes(b"redis://:hunter2\xff@127.0.0.1:6379");
    let (code, stderr) = run_refused(&[(OsStr::new("ATTACHE_REDIS_URL"), url)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("ATTACHE_REDIS_URL: the value is not valid UTF-8"), "{stderr}");
    assert!(!stderr.contains("hunter2") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn config_errors_never_print_a_redis_password() {
    let dir = tempfile::tempdir().unwrap();
    let unclosed = dir.path().join("unclosed.toml");
    std::fs::write(&unclosed, "[redis]\nurl = \"redis://:hunter2@127.0.0.1:6379\n").unwrap();
    let out = attache(&["config", "check", unclosed.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 2, column") && !stderr.contains("hunter2"), "{stderr}");

    let bad_port = "unix://host:port/run/redis.sock?password=hunter2";
    let malformed = dir.path().join("malformed.toml");
    std::fs::write(&malformed, format!("[redis]\nurl = {bad_port:?}\n")).unwrap();
    let out = attache(&["config", "check", malformed.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redis.url: invalid port number") && !stderr.contains("hunter2"), "{stderr}");

    let (code, stderr) = run_refused(&[(OsStr::new("ATTACHE_REDIS_URL"), OsStr::new(bad_port))]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("redis.url: invalid port number") && !stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn version_prints_the_crate_version() {
    let out = attache(&["version"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("attache {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn serves_with_no_config_refuses_a_live_socket_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("a.sock");
    let mut first = spawn(&socket);
    let reply = call(
        &socket,
        "attache.password.v1.PasswordService/Hash",
        r#"{"password":"pw","algorithm":"ALGORITHM_BCRYPT"}"#,
    );
    assert!(reply.starts_with("HTTP/1.1 200") && reply.contains(r#"{"hash":"$2b$04$"#), "{reply}");

    // A second sidecar on the same live socket exits with a clear error and
    // leaves the first one serving.
    let second = Command::new(BIN)
        .args(["run", "--socket", socket.to_str().unwrap(), "--admin", "off"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another process is serving on"));
    assert!(
        call(
            &socket,
            "attache.password.v1.PasswordService/Verify",
            r#"{"password":"a","hash":"$2b$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzabcde"}"#
        )
        .starts_with("HTTP/1.1 200")
    );

    let status = terminate(&mut first);
    assert!(status.success(), "exit status {status:?}");
    assert!(!socket.exists(), "socket removed on SIGTERM");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut child = spawn(&socket);
    assert!(
        call(&socket, "attache.password.v1.PasswordService/Hash", r#"{"password":"pw"}"#).starts_with("HTTP/1.1 200")
    );
    assert!(terminate(&mut child).success());
}

#[test]
fn json_logs_carry_the_callers_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("t.sock");
    let mut child = Command::new(BIN)
        .args(["run", "--socket", socket.to_str().unwrap(), "--admin", "off"])
        .env_clear()
        .env("ATTACHE_LOG_FORMAT", "json")
        .env("ATTACHE_LOG_LEVEL", "info,attache_server=debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "attache did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut stream = UnixStream::connect(&socket).unwrap();
    write!(
        stream,
        "POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         traceparent: 00-{trace_id}-00f067aa0ba902b7-01\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(terminate(&mut child).success());
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    let done = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["fields"]["message"] == "rpc done")
        .unwrap_or_else(|| panic!("no JSON 'rpc done' line in:\n{logs}"));
    assert_eq!(done["span"]["trace_id"], trace_id, "{done}");
    assert_eq!(done["span"]["parent_id"], "00f067aa0ba902b7", "{done}");
    assert_eq!(done["span"]["module"], "sidecar", "{done}");
}

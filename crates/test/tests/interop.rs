//! Hashes move both ways between attache and the libraries applications
//! already use: PHP's password_hash, PyPI bcrypt and argon2-cffi, npm bcrypt,
//! bcryptjs and @node-rs/argon2. The peers run for real (testing/interop/).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use attache_proto::attache::password::v1::{Algorithm, HashRequest, VerifyRequest};
use attache_test::Sidecar;
use connectrpc::Protocol;
use serde_json::{Value, json};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testing/interop")
}

/// The peer commands. The Python interpreter is `ATTACHE_INTEROP_PYTHON`,
/// else the venv scripts/setup makes under target/.
fn peer(name: &str) -> Command {
    let dir = interop_dir();
    let mut command = match name {
        "php" => {
            let mut c = Command::new("php");
            c.arg(dir.join("vectors.php"));
            c
        }
        "python" => {
            let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/interop-venv/bin/python");
            let python = std::env::var_os("ATTACHE_INTEROP_PYTHON").map(PathBuf::from).unwrap_or(venv);
            let mut c = Command::new(python);
            c.arg(dir.join("vectors.py"));
            c
        }
        "node" => {
            let mut c = Command::new("node");
            c.arg(dir.join("vectors.mjs"));
            c
        }
        other => panic!("unknown peer {other}"),
    };
    command.current_dir(dir);
    command
}

fn run_peer(name: &str, mode: &str, stdin: Option<&Value>) -> Value {
    let mut child = peer(name)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the {name} peer ({e}); scripts/test installs it"));
    let input = stdin.map(|v| v.to_string()).unwrap_or_default();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{name} {mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name} {mode} printed no JSON ({e})"))
}

fn wrong(password: &str) -> String {
    format!("X{}", &password[1..])
}

async fn peer_hashes_verify_in_attache(name: &str) {
    // The production policy, so the peers' low-cost hashes need a rehash.
    let sidecar = Sidecar::start_with(|c| c.password = Default::default()).await;
    let client = sidecar.password(Protocol::Grpc).await;
    let vectors = run_peer(name, "make", None);
    let vectors = vectors.as_array().unwrap();
    assert!(vectors.len() >= 9, "{name} made too few vectors");
    for v in vectors {
        let (lib, password, hash) =
            (v["lib"].as_str().unwrap(), v["password"].as_str().unwrap(), v["hash"].as_str().unwrap());
        let verify = |password: String| VerifyRequest { password, hash: hash.into(), ..Default::default() };
        let ok =
            client.verify(verify(password.into())).await.unwrap_or_else(|e| panic!("{lib} {hash}: {e:?}")).into_owned();
        assert!(ok.valid, "{lib}: attache rejected a correct password for {hash}");
        assert!(ok.needs_rehash, "{lib}: a low-cost {hash} must need a rehash under the argon2id policy");
        let bad = client.verify(verify(wrong(password))).await.unwrap().into_owned();
        assert!(!bad.valid, "{lib}: attache accepted a wrong password for {hash}");
    }
}

async fn attache_hashes_verify_in_peer(name: &str) {
    let sidecar = Sidecar::start().await;
    let client = sidecar.password(Protocol::Grpc).await;
    let passwords = [
        "correct horse battery staple",
        "pässwörd ✓",
        "0123456789012345678901234567890123456789012345678901234567890123456789ab",
    ];
    let long = "long-".repeat(20);
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    let mut requests: Vec<(Algorithm, &str)> = Vec::new();
    for pw in passwords {
        requests.push((Algorithm::ALGORITHM_ARGON2ID, pw));
        requests.push((Algorithm::ALGORITHM_BCRYPT, pw));
    }
    requests.push((Algorithm::ALGORITHM_ARGON2ID, &long));
    for (algorithm, pw) in requests {
        let request = HashRequest { password: pw.into(), algorithm: algorithm.into(), ..Default::default() };
        let hash = client.hash(request).await.unwrap().into_owned().hash;
        cases.push(json!({"password": pw, "hash": hash}));
        expected.push(true);
        cases.push(json!({"password": wrong(pw), "hash": hash}));
        expected.push(false);
    }
    let verdicts = run_peer(name, "check", Some(&Value::Array(cases.clone())));
    let verdicts: Vec<bool> = verdicts.as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
    for ((case, got), want) in cases.iter().zip(&verdicts).zip(&expected) {
        assert_eq!(got, want, "{name} verified {case} as {got}");
    }
    assert_eq!(verdicts.len(), expected.len());
}

#[tokio::test]
async fn php_password_hash_to_attache() {
    peer_hashes_verify_in_attache("php").await;
}

#[tokio::test]
async fn attache_to_php_password_verify() {
    attache_hashes_verify_in_peer("php").await;
}

#[tokio::test]
async fn python_bcrypt_and_argon2_cffi_to_attache() {
    peer_hashes_verify_in_attache("python").await;
}

#[tokio::test]
async fn attache_to_python_bcrypt_and_argon2_cffi() {
    attache_hashes_verify_in_peer("python").await;
}

#[tokio::test]
async fn node_bcrypt_bcryptjs_and_argon2_to_attache() {
    peer_hashes_verify_in_attache("node").await;
}

#[tokio::test]
async fn attache_to_node_bcrypt_bcryptjs_and_argon2() {
    attache_hashes_verify_in_peer("node").await;
}

/// PHP's password_verify uses only the first 72 bytes of a bcrypt password
/// and stops at a NUL byte; attache must answer exactly as PHP does.
#[tokio::test]
async fn bcrypt_edge_cases_answer_like_php() {
    let sidecar = Sidecar::start().await;
    let client = sidecar.password(Protocol::Grpc).await;
    let hash = run_peer("php", "make", None)
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["lib"] == "php bcrypt" && v["password"].as_str().unwrap().len() > 72)
        .map(|v| v["hash"].as_str().unwrap().to_owned())
        .expect("php made a bcrypt hash of a long password");
    let long = "long-".repeat(20);
    let candidates = [
        long.clone(),
        long[..72].to_string(),
        long[..71].to_string(),
        format!("{}tail", &long[..72]),
        format!("{}\0after-nul", &long[..72]),
    ];
    let cases: Vec<Value> = candidates.iter().map(|p| json!({"password": p, "hash": hash})).collect();
    let php: Vec<bool> = run_peer("php", "check", Some(&Value::Array(cases)))
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    for (candidate, php_says) in candidates.iter().zip(php) {
        let ours = client
            .verify(VerifyRequest { password: candidate.clone(), hash: hash.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_owned();
        assert_eq!(ours.valid, php_says, "password of {} bytes", candidate.len());
    }
}

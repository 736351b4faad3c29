use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use toml::Value;

use crate::{Config, DEFAULT_TOML, Error, Flags, LogFormat, MapEnv};

fn leaves(value: &toml::Value) -> BTreeSet<String> {
    let mut out = Vec::new();
    collect_leaves(value, &mut Vec::new(), &mut out);
    out.into_iter().map(|(path, _)| path.join(".")).collect()
}

fn collect_leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Option<Value>)>) {
    match value {
        Value::Table(table) => {
            for (key, value) in table {
                path.push(key.clone());
                collect_leaves(value, path, out);
                path.pop();
            }
        }
        leaf => out.push((path.clone(), Some(leaf.clone()))),
    }
}

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attache.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn the_documented_default_is_the_default() {
    let documented: Config = toml::from_str(DEFAULT_TOML).unwrap();
    assert_eq!(documented, Config::default());
    // Every field is written out, not left to serde defaults.
    let written = leaves(&DEFAULT_TOML.parse::<toml::Table>().map(toml::Value::Table).unwrap());
    let all = leaves(&toml::Value::try_from(Config::default()).unwrap());
    let missing: Vec<_> = all.difference(&written).collect();
    assert!(missing.is_empty(), "default.toml does not document {missing:?}");
}

#[test]
fn the_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("example.toml");
    let config = Config::check_file(&path).unwrap();
    assert_eq!(config.server.allowed_gids, vec![33]);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.password.algorithm, attache_password::Algorithm::Bcrypt);
}

#[test]
fn no_config_at_all_serves_defaults() {
    let loaded = Config::load(None, &MapEnv::default(), &Flags::default()).unwrap();
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty());
}

#[test]
fn flags_beat_environment_beats_file() {
    let (_dir, path) =
        write("[server]\nsocket = \"/from/file.sock\"\nmax_request_bytes = \"1 MiB\"\n[password]\nworkers = 3\n");
    let env = MapEnv::new([
        ("ATTACHE_SOCKET", "/from/env.sock"),
        ("ATTACHE_PASSWORD_WORKERS", "5"),
        ("ATTACHE_SERVER_ALLOWED_UIDS", "1000, 1001"),
        ("ATTACHE_PASSWORD_ARGON2_MEMORY_KIB", "65536"),
        ("ATTACHE_SERVER_TCP", "127.0.0.1:7311"),
    ]);
    let loaded = Config::load(Some(&path), &env, &Flags::default()).unwrap().config;
    assert_eq!(loaded.server.socket, Path::new("/from/env.sock"));
    assert_eq!(loaded.password.workers, 5);
    assert_eq!(loaded.server.allowed_uids, vec![1000, 1001]);
    assert_eq!(loaded.password.argon2.memory_kib, 65536);
    assert_eq!(loaded.server.tcp, Some("127.0.0.1:7311".parse().unwrap()));
    assert_eq!(loaded.server.max_request_bytes.as_u64(), 1024 * 1024);

    let flags = Flags { socket: Some("/from/flag.sock".into()), admin: Some("off".into()) };
    let loaded = Config::load(Some(&path), &env, &flags).unwrap().config;
    assert_eq!(loaded.server.socket, Path::new("/from/flag.sock"));
    assert_eq!(loaded.admin.listen, "off");
}

#[test]
fn errors_name_the_field_and_where_it_came_from() {
    let (_dir, path) = write("[password]\nworkers = \"many\"\n");
    let err = Config::check_file(&path).unwrap_err().to_string();
    assert!(err.contains("password.workers"), "{err}");

    let (_dir, path) = write("[server]\nsockett = \"/x\"\n");
    let err = Config::check_file(&path).unwrap_err().to_string();
    assert!(err.contains("sockett"), "{err}");

    let env = MapEnv::new([("ATTACHE_PASSWORD_WORKERS", "lots")]);
    let err = Config::load(None, &env, &Flags::default()).unwrap_err();
    assert!(matches!(&err, Error::Field { field, .. } if field == "ATTACHE_PASSWORD_WORKERS"), "{err}");

    let env = MapEnv::new([("ATTACHE_PASSWORD_ALGORITHM", "md5")]);
    let err = Config::load(None, &env, &Flags::default()).unwrap_err().to_string();
    assert!(err.contains("password.algorithm (from ATTACHE_PASSWORD_ALGORITHM)"), "{err}");

    let env = MapEnv::new([("ATTACHE_PASSWORD_NICE", "-5")]);
    let err = Config::load(None, &env, &Flags::default()).unwrap_err().to_string();
    assert!(err.contains("password.nice -5"), "{err}");

    let env = MapEnv::new([("ATTACHE_SERVER_TCP", "0.0.0.0:7311")]);
    let err = Config::load(None, &env, &Flags::default()).unwrap_err().to_string();
    assert!(err.contains("allow_non_loopback_tcp"), "{err}");
}

#[test]
fn unknown_variables_are_warned_about_not_fatal() {
    let env = MapEnv::new([("ATTACHE_SOKET", "/x"), ("ATTACHE_TIMEOUT_MS", "100")]);
    let loaded = Config::load(None, &env, &Flags::default()).unwrap();
    assert_eq!(loaded.warnings, vec!["ignoring unknown environment variable ATTACHE_SOKET".to_string()]);
}

#[test]
fn a_variable_that_is_not_utf8_is_skipped_unless_it_is_ours() {
    let raw = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());
    let mut env = MapEnv::new([("ATTACHE_PASSWORD_WORKERS", "3")]);
    env.0.insert("FOO".into(), raw(b"\xff"));
    env.0.insert(raw(b"B\xffR"), "baz".into());
    env.0.insert(raw(b"NOT_ATTACHE_\xff"), raw(b"\xff"));
    let loaded = Config::load(None, &env, &Flags::default()).unwrap();
    assert_eq!(loaded.config.password.workers, 3);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let mut env = MapEnv::default();
    env.0.insert("ATTACHE_REDIS_URL".into(), raw(b"redis://:hunter2\xff@127.0.0.1"));
    let err = Config::load(None, &env, &Flags::default()).unwrap_err();
    assert!(matches!(&err, Error::Field { field, .. } if field == "ATTACHE_REDIS_URL"), "{err}");
    let err = err.to_string();
    assert!(err.contains("not valid UTF-8") && !err.contains("hunter2"), "{err}");

    let mut env = MapEnv::default();
    env.0.insert(raw(b"ATTACHE_REDIS_\xffRL"), "redis://127.0.0.1".into());
    let err = Config::load(None, &env, &Flags::default()).unwrap_err().to_string();
    assert!(err.starts_with("ATTACHE_REDIS_\u{fffd}RL: ") && err.contains("not valid UTF-8"), "{err}");
}

#[test]
fn a_syntax_error_gives_its_line_but_does_not_quote_it() {
    let (_dir, path) = write("[redis]\nconnections = 1\nurl = \"redis://:hunter2@127.0.0.1:6379\n[server]\n");
    let checked = Config::check_file(&path).unwrap_err();
    let loaded = Config::load(Some(&path), &MapEnv::default(), &Flags::default()).unwrap_err();
    for err in [checked, loaded] {
        assert!(matches!(err, Error::File { .. }), "{err}");
        let err = err.to_string();
        assert!(err.contains("attache.toml is not valid: line 3, column 39: invalid basic string"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn a_bad_redis_url_is_refused_without_quoting_its_password() {
    for url in [
        "redis://:hunter2@127.0.0.1:port",
        "redis://app:12/hunter2@127.0.0.1",
        "unix://host:port/run/r.sock?password=hunter2",
        "unix:///run/r.sock?password=hunter2&db=x",
        "unix:///run/r.sock?password=hunter2&foo=1",
        "http://:hunter2@127.0.0.1",
    ] {
        let env = MapEnv::new([("ATTACHE_REDIS_URL", url)]);
        let err = Config::load(None, &env, &Flags::default()).unwrap_err().to_string();
        assert!(err.starts_with("redis.url: ") && !err.contains("hunter2"), "{url}: {err}");

        let (_dir, path) = write(&format!("[redis]\nurl = {url:?}\n"));
        let err = Config::check_file(&path).unwrap_err().to_string();
        assert!(err.contains("redis.url: ") && !err.contains("hunter2"), "{url}: {err}");
    }
}

/// `redis.tls.*` have no default, so TOML leaves them out of the serialized
/// defaults; the variable names still reach them.
#[test]
fn redis_tls_files_are_set_by_environment_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n").unwrap();
    let ca = ca.to_str().unwrap();
    let env =
        MapEnv::new([("ATTACHE_REDIS_URL", "rediss://:hunter2@127.0.0.1:6380"), ("ATTACHE_REDIS_TLS_CA_FILE", ca)]);
    let loaded = Config::load(None, &env, &Flags::default()).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.redis.tls.ca_file.as_deref(), Some(Path::new(ca)));

    let env = MapEnv::new([
        ("ATTACHE_REDIS_URL", "rediss://:hunter2@127.0.0.1:6380"),
        ("ATTACHE_REDIS_TLS_CERT_FILE", ca),
        ("ATTACHE_REDIS_TLS_KEY_FILE", "/nonexistent/key.pem"),
    ]);
    let err = Config::load(None, &env, &Flags::default()).unwrap_err().to_string();
    assert!(err.starts_with("redis.tls.key_file: cannot read /nonexistent/key.pem"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

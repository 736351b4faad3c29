//! Where the API socket lives when `server.socket` is not set.
//!
//! A fixed path in a directory every user can write (the old
//! `/tmp/attache.sock`) can be bound by any local user before attache starts:
//! attache then fails to start, and the apps send that user their calls,
//! passwords included. So the default is in a directory that only attache's
//! user may write, and the SDKs pick it by the same rule (`sdks/node`,
//! `sdks/php`; keep the three in step):
//!
//! 1. `$RUNTIME_DIRECTORY/attache.sock` (systemd's `RuntimeDirectory=`; the
//!    first of several);
//! 2. `/run/attache/attache.sock` when running as root;
//! 3. `$XDG_RUNTIME_DIR/attache/attache.sock`;
//! 4. `$TMPDIR/attache-<euid>/attache.sock`, `/tmp` when `TMPDIR` is unset.
//!
//! Empty or relative values count as unset: the spec of each variable makes
//! them absolute, and a relative one would move with the working directory.
//! The listener creates or checks the directory when it binds.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// File name of the socket inside its directory.
const SOCKET_NAME: &str = "attache.sock";

/// The directory used by root when systemd gives no `RUNTIME_DIRECTORY`.
const ROOT_DIR: &str = "/run/attache";

/// The default socket path of this process.
pub(crate) fn default_socket() -> PathBuf {
    default_socket_in(|name| std::env::var_os(name), euid())
}

/// The default socket path for a process whose environment `var` reads and
/// whose effective uid is `euid`. Tests pass a map, never touching the
/// process environment.
pub(crate) fn default_socket_in(var: impl Fn(&str) -> Option<OsString>, euid: u32) -> PathBuf {
    let absolute = |value: OsString| Some(PathBuf::from(value)).filter(|p| p.is_absolute());
    let runtime =
        var("RUNTIME_DIRECTORY").and_then(|dirs| std::env::split_paths(&dirs).next()).and_then(|d| absolute(d.into()));
    if let Some(dir) = runtime {
        return dir.join(SOCKET_NAME);
    }
    if euid == 0 {
        return Path::new(ROOT_DIR).join(SOCKET_NAME);
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR").and_then(absolute) {
        return dir.join("attache").join(SOCKET_NAME);
    }
    let tmp = var("TMPDIR").and_then(absolute).unwrap_or_else(|| PathBuf::from("/tmp"));
    tmp.join(format!("attache-{euid}")).join(SOCKET_NAME)
}

/// The effective uid: the owner of every file this process creates.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn check(vars: &[(&str, &str)], euid: u32, expected: &str) {
        let vars: HashMap<&str, OsString> = vars.iter().map(|(k, v)| (*k, OsString::from(v))).collect();
        assert_eq!(
            default_socket_in(|name| vars.get(name).cloned(), euid),
            Path::new(expected),
            "{vars:?} euid {euid}"
        );
    }

    #[test]
    fn runtime_directory_wins_then_root_then_xdg_then_tmp() {
        let all = [("RUNTIME_DIRECTORY", "/run/svc"), ("XDG_RUNTIME_DIR", "/run/user/1000"), ("TMPDIR", "/var/tmp")];
        check(&all, 0, "/run/svc/attache.sock");
        check(&all, 1000, "/run/svc/attache.sock");
        check(&all[1..], 0, "/run/attache/attache.sock");
        check(&all[1..], 1000, "/run/user/1000/attache/attache.sock");
        check(&all[2..], 1000, "/var/tmp/attache-1000/attache.sock");
        check(&[], 1000, "/tmp/attache-1000/attache.sock");
        check(&[], 0, "/run/attache/attache.sock");
    }

    #[test]
    fn several_runtime_directories_use_the_first() {
        check(&[("RUNTIME_DIRECTORY", "/run/a:/run/b")], 1000, "/run/a/attache.sock");
    }

    #[test]
    fn empty_or_relative_values_count_as_unset() {
        for bad in ["", "relative/dir", ":/run/b"] {
            check(
                &[("RUNTIME_DIRECTORY", bad), ("XDG_RUNTIME_DIR", bad), ("TMPDIR", bad)],
                1000,
                "/tmp/attache-1000/attache.sock",
            );
        }
    }

    #[test]
    fn euid_is_the_owner_of_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&file).unwrap()), euid());
    }
}

//! The policy every SDK shares: where the socket is, and the default
//! deadline.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Code, Error, Result};

const ROOT_SOCKET: &str = "/run/attache/attache.sock";

/// The socket the sidecar listens on when its configuration names none, by
/// its own rule: `$RUNTIME_DIRECTORY/attache.sock` (systemd), else
/// `/run/attache/attache.sock` (root, or when it exists), else
/// `$XDG_RUNTIME_DIR/attache/attache.sock`, else
/// `$TMPDIR/attache-<uid>/attache.sock` (TMPDIR default `/tmp`), the last
/// refused if another user owns that directory or may write it.
/// `ATTACHE_SOCKET`, which the builder reads first, overrides all of them.
pub fn default_socket() -> Result<PathBuf> {
    let euid = rustix::process::geteuid().as_raw();
    resolve(|name| std::env::var(name).ok(), euid, |p| p.exists())
}

fn resolve(getenv: impl Fn(&str) -> Option<String>, euid: u32, exists: impl Fn(&Path) -> bool) -> Result<PathBuf> {
    let absolute = |v: Option<String>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    let runtime = getenv("RUNTIME_DIRECTORY").map(|v| v.split(':').next().unwrap_or("").to_owned());
    if let Some(dir) = absolute(runtime) {
        return Ok(dir.join("attache.sock"));
    }
    if euid == 0 || exists(Path::new(ROOT_SOCKET)) {
        return Ok(PathBuf::from(ROOT_SOCKET));
    }
    if let Some(dir) = absolute(getenv("XDG_RUNTIME_DIR")) {
        return Ok(dir.join("attache").join("attache.sock"));
    }
    let tmp = absolute(getenv("TMPDIR")).unwrap_or_else(|| PathBuf::from("/tmp"));
    let dir = tmp.join(format!("attache-{euid}"));
    check_private(&dir, euid)?;
    Ok(dir.join("attache.sock"))
}

/// Refuses a socket directory another user could have made or could
/// write: they could answer in the sidecar's place.
fn check_private(dir: &Path, euid: u32) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(()); // Not made yet: the sidecar makes it, privately.
    };
    let fix = "remove it, or set ATTACHE_SOCKET";
    let refuse = |why: String| Err(Error::new(Code::Unavailable, format!("refusing {}: {why}; {fix}", dir.display())));
    if !meta.is_dir() {
        return refuse("the socket directory is a symbolic link or not a directory".into());
    }
    if meta.uid() != euid {
        return refuse(format!(
            "the socket directory is owned by uid {}, not by this process's uid {euid}",
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return refuse(format!(
            "the socket directory has mode {:o}, so other users may write it",
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(())
}

/// `ATTACHE_TIMEOUT_MS` when it is a positive number of milliseconds (at
/// most a day).
pub(crate) fn env_timeout() -> Option<Duration> {
    let ms: f64 = std::env::var("ATTACHE_TIMEOUT_MS").ok()?.trim().parse().ok()?;
    (ms > 0.0 && ms <= 86_400_000.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn follows_the_sidecars_rule() {
        let never = |_: &Path| false;
        assert_eq!(
            resolve(env(&[("RUNTIME_DIRECTORY", "/run/a:/run/b")]), 1000, never).unwrap(),
            Path::new("/run/a/attache.sock")
        );
        assert_eq!(resolve(env(&[]), 0, never).unwrap(), Path::new(ROOT_SOCKET));
        assert_eq!(resolve(env(&[]), 1000, |p| p == Path::new(ROOT_SOCKET)).unwrap(), Path::new(ROOT_SOCKET));
        assert_eq!(
            resolve(env(&[("XDG_RUNTIME_DIR", "/run/user/1000")]), 1000, never).unwrap(),
            Path::new("/run/user/1000/attache/attache.sock")
        );
        // Relative directories are ignored, as the sidecar ignores them.
        let tmp = tempdir();
        let got =
            resolve(env(&[("XDG_RUNTIME_DIR", "relative"), ("TMPDIR", tmp.to_str().unwrap())]), 4242, never).unwrap();
        assert_eq!(got, tmp.join("attache-4242/attache.sock"));
    }

    #[test]
    fn refuses_a_directory_others_may_write() {
        let tmp = tempdir();
        // Root's rule is /run/attache; as root, act for another user.
        let euid = rustix::process::geteuid().as_raw();
        let uid = if euid == 0 { 4242 } else { euid };
        let dir = tmp.join(format!("attache-{uid}"));
        std::fs::create_dir(&dir).unwrap();
        if euid == 0 {
            std::os::unix::fs::chown(&dir, Some(uid), None).unwrap();
        }
        let tmpdir = tmp.to_str().unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = resolve(env(&[("TMPDIR", tmpdir)]), uid, |_| false).unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert!(err.message().contains("other users may write it"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(resolve(env(&[("TMPDIR", tmpdir)]), uid, |_| false).unwrap(), dir.join("attache.sock"));
        // A directory of the right name that another user owns.
        let theirs = tmp.join(format!("attache-{}", uid + 1));
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o750)).unwrap();
        let err = resolve(env(&[("TMPDIR", tmpdir)]), uid + 1, |_| false).unwrap_err();
        assert!(err.message().contains("owned by uid"), "{err}");
    }

    fn tempdir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("attache-client-test-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

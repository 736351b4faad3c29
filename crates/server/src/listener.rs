//! Binding the API socket: where it goes, who owns its directory,
//! stale-socket takeover, file mode, removal on shutdown, and the
//! peer-credential allowlist.
//!
//! The default path (see [`crate::socket_path`]) gets the strict checks: its
//! directory must be a real directory owned by attache's effective uid and
//! writable by no one else, or attache refuses to start, because whoever
//! controls that directory can take the socket and receive the apps' calls.
//! A configured path is the operator's choice, so only the mistakes that
//! hand the socket to another user are refused. For both, refused are: a
//! directory above the socket that every user may write without the sticky
//! bit (anyone could rename ours away and put theirs in its place), and a
//! stale socket file of another user (never removed: attache would take over
//! a path it does not own).

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use crate::Error;
use crate::socket_path;

/// Mode of a socket directory attache creates: its group (the apps' users,
/// after `chgrp`) may reach the socket, no one else may list or write it.
const DIR_MODE: u32 = 0o750;

/// A bound Unix socket that removes its file when dropped, if the file is
/// still the one it created.
pub struct UnixSocket {
    pub(crate) listener: UnixListener,
    path: PathBuf,
    inode: (u64, u64),
}

/// Where to bind, and so which checks apply.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// The default path: its directory is created or must be private.
    Default(&'a Path),
    /// A path from the configuration.
    Configured(&'a Path),
}

impl UnixSocket {
    /// Binds `path` with `mode`, or the default path when `path` is empty
    /// (an unset `server.socket`). An existing socket file is replaced only
    /// if nothing answers on it and attache's user owns it; a live one is
    /// [`Error::SocketInUse`].
    pub fn bind(path: &Path, mode: u32) -> Result<Self, Error> {
        let default;
        let target = if path.as_os_str().is_empty() {
            default = socket_path::default_socket();
            Target::Default(&default)
        } else {
            Target::Configured(path)
        };
        Self::bind_as(target, mode, socket_path::euid())
    }

    /// [`Self::bind`] for a process whose effective uid is `euid`.
    fn bind_as(target: Target<'_>, mode: u32, euid: u32) -> Result<Self, Error> {
        let path = match target {
            Target::Default(path) | Target::Configured(path) => path,
        };
        let bind_err = |source| Error::Bind { what: format!("unix socket {}", path.display()), source };
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match target {
            Target::Default(_) => {
                open_to_all(parent.parent().unwrap_or(Path::new("/")))?;
                private_dir(parent, euid)?;
            }
            Target::Configured(_) => {
                std::fs::create_dir_all(parent).map_err(bind_err)?;
                if open_to_all(parent)? {
                    tracing::warn!(
                        directory = %parent.display(),
                        "server.socket is in a directory every user can create files in; another user could take \
                         the path while attache is stopped: prefer a private directory, or leave server.socket unset"
                    );
                }
            }
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => return Err(Error::NotASocket(path.to_owned())),
            Ok(meta) => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(Error::SocketInUse(path.to_owned())),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused || e.kind() == ErrorKind::NotFound => {
                    if meta.uid() != euid {
                        return Err(Error::UnsafeSocketPath {
                            path: path.to_owned(),
                            reason: format!(
                                "a stale socket owned by uid {} is in the way and attache (uid {euid}) will not remove \
                                 another user's file; remove it yourself if it is safe, or choose another server.socket",
                                meta.uid()
                            ),
                        });
                    }
                    tracing::info!(path = %path.display(), "replacing stale socket file");
                    std::fs::remove_file(path).or_else(ignore_not_found).map_err(bind_err)?;
                }
                Err(e) => return Err(bind_err(e)),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(bind_err(e)),
        }
        let listener = UnixListener::bind(path).map_err(bind_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(bind_err)?;
        let meta = std::fs::metadata(path).map_err(bind_err)?;
        Ok(Self { listener, path: path.to_owned(), inode: (meta.dev(), meta.ino()) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let ours = std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn ignore_not_found(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == ErrorKind::NotFound { Ok(()) } else { Err(e) }
}

/// Creates the default socket directory, or checks that the existing one is
/// attache's alone: whoever can write it can put their own socket there.
fn private_dir(dir: &Path, euid: u32) -> Result<(), Error> {
    let refuse = |reason: String| Error::UnsafeSocketPath { path: dir.to_owned(), reason };
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        // The umask may have taken bits the apps' group needs.
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
            .map_err(|source| Error::Bind { what: format!("socket directory {}", dir.display()), source })?,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(Error::Bind {
                what: format!("socket directory {} (create its parent or set server.socket)", dir.display()),
                source,
            });
        }
    }
    // Checked even when just created: another user may have won the race.
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|source| Error::Bind { what: format!("socket directory {}", dir.display()), source })?;
    if meta.file_type().is_symlink() {
        return Err(refuse(
            "the socket directory is a symbolic link, which may point anywhere; remove it or set server.socket".into(),
        ));
    }
    if !meta.is_dir() {
        return Err(refuse("this is not a directory; remove it or set server.socket".into()));
    }
    if meta.uid() != euid {
        return Err(refuse(format!(
            "the socket directory is owned by uid {}, not by attache's uid {euid}, and its owner could take the \
             socket; remove it (or chown it to uid {euid}) or set server.socket",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "the socket directory has mode {:04o}, so other users may write it; chmod 750 it or set server.socket",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Refuses `dir` if every user may write it without the sticky bit: any of
/// them could rename what attache puts there and put their own in its
/// place. Returns whether every user may create files in it (sticky, as
/// `/tmp`).
fn open_to_all(dir: &Path) -> Result<bool, Error> {
    let mode = std::fs::metadata(dir)
        .map_err(|source| Error::Bind { what: format!("socket directory {}", dir.display()), source })?
        .mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(Error::UnsafeSocketPath {
            path: dir.to_owned(),
            reason: format!(
                "this directory has mode {:04o}, so any user could replace the socket below it; choose a \
                 directory only attache's user can write, or chmod +t it",
                mode & 0o7777
            ),
        });
    }
    Ok(mode & 0o002 != 0)
}

/// Who may connect, by SO_PEERCRED. Empty lists allow everyone the socket's
/// file mode lets in.
#[derive(Debug, Clone, Default)]
pub struct PeerPolicy {
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

impl PeerPolicy {
    /// Whether the peer of `stream` may talk to attache; logs refusals.
    pub fn admits(&self, stream: &UnixStream) -> bool {
        if self.uids.is_empty() && self.gids.is_empty() {
            return true;
        }
        match stream.peer_cred() {
            Ok(cred) => {
                let ok = self.uids.contains(&cred.uid()) || self.gids.contains(&cred.gid());
                if !ok {
                    tracing::warn!(
                        uid = cred.uid(),
                        gid = cred.gid(),
                        pid = cred.pid(),
                        "refused connection from a peer not in server.allowed_uids/allowed_gids"
                    );
                }
                ok
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused connection: cannot read peer credentials");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives `path` to another user and returns the euid attache should act
    /// as: as root, the file goes to uid 65534 (nobody); otherwise the file
    /// stays ours and attache pretends to be the next uid.
    fn give_away(path: &Path) -> u32 {
        let me = socket_path::euid();
        if me == 0 {
            std::os::unix::fs::lchown(path, Some(65534), None).unwrap();
            me
        } else {
            me + 1
        }
    }

    fn refusal(result: Result<UnixSocket, Error>) -> (PathBuf, String) {
        match result {
            Err(Error::UnsafeSocketPath { path, reason }) => (path, reason),
            Err(other) => panic!("expected a refusal, got {other}"),
            Ok(socket) => panic!("bound {} instead of refusing", socket.path().display()),
        }
    }

    #[tokio::test]
    async fn default_dir_is_created_private_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("attache-x");
        let path = dir.join("attache.sock");
        let first = UnixSocket::bind_as(Target::Default(&path), 0o660, socket_path::euid()).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o750);
        drop(first);
        let again = UnixSocket::bind_as(Target::Default(&path), 0o660, socket_path::euid()).unwrap();
        assert!(path.exists());
        drop(again);
    }

    #[tokio::test]
    async fn default_dir_others_may_write_is_refused() {
        for mode in [0o777, 0o770, 0o1777] {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("attache.sock");
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let (refused, reason) = refusal(UnixSocket::bind_as(Target::Default(&path), 0o660, socket_path::euid()));
            assert_eq!(refused, tmp.path());
            assert!(reason.contains("chmod 750"), "{reason}");
            assert!(!path.exists(), "mode {mode:o}");
        }
    }

    #[tokio::test]
    async fn default_dir_owned_by_another_user_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("attache-x");
        std::fs::DirBuilder::new().mode(0o750).create(&dir).unwrap();
        let euid = give_away(&dir);
        let owner = std::fs::metadata(&dir).unwrap().uid();
        let path = dir.join("attache.sock");
        let (refused, reason) = refusal(UnixSocket::bind_as(Target::Default(&path), 0o660, euid));
        assert_eq!(refused, dir);
        assert!(reason.contains(&format!("owned by uid {owner}, not by attache's uid {euid}")), "{reason}");
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn default_dir_that_is_a_symlink_or_a_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::DirBuilder::new().mode(0o750).create(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let (_, reason) =
            refusal(UnixSocket::bind_as(Target::Default(&link.join("a.sock")), 0o660, socket_path::euid()));
        assert!(reason.contains("symbolic link"), "{reason}");
        assert!(!real.join("a.sock").exists());

        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let (_, reason) =
            refusal(UnixSocket::bind_as(Target::Default(&file.join("a.sock")), 0o660, socket_path::euid()));
        assert!(reason.contains("not a directory"), "{reason}");
    }

    #[tokio::test]
    async fn stale_socket_of_another_user_is_refused_and_left_in_place() {
        for default in [true, false] {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("attache.sock");
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
            let euid = give_away(&path);
            let owner = std::fs::symlink_metadata(&path).unwrap().uid();
            let target = if default { Target::Default(&path) } else { Target::Configured(&path) };
            let (refused, reason) = refusal(UnixSocket::bind_as(target, 0o660, euid));
            assert_eq!(refused, path);
            assert!(reason.contains(&format!("stale socket owned by uid {owner}")), "{reason}");
            let left = std::fs::symlink_metadata(&path).unwrap();
            assert!(left.file_type().is_socket() && left.uid() == owner);
        }
    }

    #[tokio::test]
    async fn a_dir_anyone_may_write_needs_the_sticky_bit() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("attache.sock");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let (refused, reason) = refusal(UnixSocket::bind(&path, 0o660));
        assert_eq!(refused, tmp.path());
        assert!(reason.contains("mode 0777"), "{reason}");
        assert!(!path.exists());
        // The default path's directory goes in there too, so the same holds.
        let (refused, _) =
            refusal(UnixSocket::bind_as(Target::Default(&tmp.path().join("d/a.sock")), 0o660, socket_path::euid()));
        assert_eq!(refused, tmp.path());
        // As /tmp is: others may create files but not remove ours.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        drop(UnixSocket::bind(&path, 0o660).unwrap());
        // The operator's choice of a group-writable directory stands.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o770)).unwrap();
        drop(UnixSocket::bind(&path, 0o660).unwrap());
    }

    #[tokio::test]
    async fn live_socket_is_not_taken_over_and_stale_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let first = UnixSocket::bind(&path, 0o660).unwrap();
        assert!(matches!(UnixSocket::bind(&path, 0o660), Err(Error::SocketInUse(_))));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o660);
        drop(first);
        assert!(!path.exists());
        // A socket file nobody listens on, as a crashed process leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let second = UnixSocket::bind(&path, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        drop(second);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn regular_files_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-socket");
        std::fs::write(&path, b"data").unwrap();
        assert!(matches!(UnixSocket::bind(&path, 0o660), Err(Error::NotASocket(_))));
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }

    #[tokio::test]
    async fn peer_policy_checks_uid_and_gid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sock");
        let socket = UnixSocket::bind(&path, 0o660).unwrap();
        let client = UnixStream::connect(&path).await.unwrap();
        let (server_side, _) = socket.listener.accept().await.unwrap();
        let me = client.peer_cred().unwrap();
        assert!(PeerPolicy::default().admits(&server_side));
        assert!(PeerPolicy { uids: vec![me.uid()], gids: vec![] }.admits(&server_side));
        assert!(PeerPolicy { uids: vec![], gids: vec![me.gid()] }.admits(&server_side));
        assert!(!PeerPolicy { uids: vec![me.uid() + 1], gids: vec![me.gid() + 1] }.admits(&server_side));
    }
}

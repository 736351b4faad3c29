//! Binding the API socket: stale-socket takeover, file mode, removal on
//! shutdown, and the peer-credential allowlist.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

use crate::Error;

/// A bound Unix socket that removes its file when dropped, if the file is
/// still the one it created.
pub struct UnixSocket {
    pub(crate) listener: UnixListener,
    path: PathBuf,
    inode: (u64, u64),
}

impl UnixSocket {
    /// Binds `path` with `mode`. An existing socket file is replaced only if
    /// nothing answers on it; a live one is [`Error::SocketInUse`].
    pub fn bind(path: &Path, mode: u32) -> Result<Self, Error> {
        let bind_err = |source| Error::Bind { what: format!("unix socket {}", path.display()), source };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => return Err(Error::NotASocket(path.to_owned())),
            Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(Error::SocketInUse(path.to_owned())),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused || e.kind() == ErrorKind::NotFound => {
                    tracing::info!(path = %path.display(), "replacing stale socket file");
                    std::fs::remove_file(path).or_else(ignore_not_found).map_err(bind_err)?;
                }
                Err(e) => return Err(bind_err(e)),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(bind_err(e)),
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(bind_err)?;
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

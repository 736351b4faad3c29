"""Client defaults shared with every attache SDK: the socket and the deadline.

The default socket follows the sidecar's own rule
(crates/server/src/socket_path.rs; the Node and PHP SDKs keep the same),
always in a directory only its user may write: a fixed path in /tmp could
be bound first by any local user, who would then receive the calls.
"""

from __future__ import annotations

import os
import stat
from typing import Mapping

from .errors import Unavailable

ROOT_SOCKET = "/run/attache/attache.sock"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2


def default_socket(
    env: Mapping[str, str] | None = None,
    euid: int | None = None,
) -> str:
    """The socket when neither ``socket=`` nor ``$ATTACHE_SOCKET`` says.

    ``$RUNTIME_DIRECTORY/attache.sock`` (the first of several), else
    ``/run/attache/attache.sock`` when running as root or when it exists,
    else ``$XDG_RUNTIME_DIR/attache/attache.sock``, else
    ``$TMPDIR/attache-<euid>/attache.sock`` (``/tmp`` when TMPDIR is unset).
    Empty or relative values count as unset. Raises :class:`Unavailable` if
    the last one's directory exists but another user owns it or may write
    it: that user could be listening there in the sidecar's place.
    """
    env = os.environ if env is None else env
    uid = os.geteuid() if euid is None else euid

    def absolute(value: str | None) -> str | None:
        return value if value and os.path.isabs(value) else None

    runtime = absolute((env.get("RUNTIME_DIRECTORY") or "").split(":")[0])
    if runtime:
        return os.path.join(runtime, "attache.sock")
    if uid == 0 or os.path.exists(ROOT_SOCKET):
        return ROOT_SOCKET
    xdg = absolute(env.get("XDG_RUNTIME_DIR"))
    if xdg:
        return os.path.join(xdg, "attache", "attache.sock")
    directory = os.path.join(absolute(env.get("TMPDIR")) or "/tmp", f"attache-{uid}")
    _check_private(directory, uid)
    return os.path.join(directory, "attache.sock")


def _check_private(directory: str, uid: int) -> None:
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        return  # Not made yet: the sidecar creates it, privately, when it starts.
    fix = "remove it, or set ATTACHE_SOCKET"
    if not stat.S_ISDIR(st.st_mode):
        raise Unavailable(f"refusing {directory}: the socket directory is a symbolic link or not a directory; {fix}")
    if st.st_uid != uid:
        raise Unavailable(
            f"refusing {directory}: the socket directory is owned by uid {st.st_uid}, not by this process's uid "
            f"{uid}, and its owner could answer in the sidecar's place; {fix}"
        )
    if st.st_mode & 0o022:
        raise Unavailable(
            f"refusing {directory}: the socket directory has mode {oct(st.st_mode & 0o7777)[2:]}, so other users "
            "may write it; chmod 750 it, or set ATTACHE_SOCKET"
        )


def resolve_socket(socket: str | None) -> str:
    return socket or os.environ.get("ATTACHE_SOCKET") or default_socket()


def resolve_timeout(timeout: float | None) -> float:
    """Seconds: ``timeout=``, else ``$ATTACHE_TIMEOUT_MS`` (milliseconds), else 10 s."""
    if timeout is not None:
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        return float(timeout)
    try:
        ms = float(os.environ.get("ATTACHE_TIMEOUT_MS", ""))
    except ValueError:
        ms = 0.0
    return ms / 1000 if ms > 0 and ms != float("inf") else DEFAULT_TIMEOUT

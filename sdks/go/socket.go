package attache

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// rootSocket is where the sidecar listens when it runs as root and systemd
// gives it no RUNTIME_DIRECTORY.
const rootSocket = "/run/attache/attache.sock"

// DefaultSocket is the socket path the sidecar picks when none is
// configured (crates/server/src/socket_path.rs; the Node and PHP SDKs
// follow the same rule), always in a directory only its user may write: a
// fixed path in /tmp could be bound first by any local user, who would
// then receive the calls.
//
// It is `$RUNTIME_DIRECTORY/attache.sock` (the first of several), else
// /run/attache/attache.sock when running as root or when it exists, else
// `$XDG_RUNTIME_DIR/attache/attache.sock`, else
// `$TMPDIR/attache-<euid>/attache.sock` (/tmp when TMPDIR is unset). Empty
// or relative values count as unset. It fails with CodeUnavailable if that
// last directory exists but another user owns it or may write it: that
// user could be listening there in the sidecar's place.
func DefaultSocket() (string, error) {
	return defaultSocket(os.Getenv, os.Geteuid(), func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

func defaultSocket(getenv func(string) string, euid int, exists func(string) bool) (string, error) {
	absolute := func(v string) string {
		if filepath.IsAbs(v) {
			return v
		}
		return ""
	}
	runtimeDir, _, _ := strings.Cut(getenv("RUNTIME_DIRECTORY"), ":")
	if dir := absolute(runtimeDir); dir != "" {
		return filepath.Join(dir, "attache.sock"), nil
	}
	if euid == 0 || exists(rootSocket) {
		return rootSocket, nil
	}
	if dir := absolute(getenv("XDG_RUNTIME_DIR")); dir != "" {
		return filepath.Join(dir, "attache", "attache.sock"), nil
	}
	tmp := absolute(getenv("TMPDIR"))
	if tmp == "" {
		tmp = "/tmp"
	}
	dir := filepath.Join(tmp, fmt.Sprintf("attache-%d", euid))
	if err := checkPrivate(dir, euid); err != nil {
		return "", err
	}
	return filepath.Join(dir, "attache.sock"), nil
}

// checkPrivate refuses a socket directory another user could have made or
// could write. Only this last directory sits where other users may create
// files; the others are made by systemd, root or the login session.
func checkPrivate(dir string, euid int) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return nil // Not made yet: the sidecar creates it, privately, when it starts.
	}
	const fix = "remove it, or set ATTACHE_SOCKET"
	if !info.IsDir() {
		return newError(CodeUnavailable, "refusing %s: the socket directory is a symbolic link or not a directory; %s", dir, fix)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != euid {
		return newError(CodeUnavailable,
			"refusing %s: the socket directory is owned by uid %d, not by this process's uid %d, and its owner could answer in the sidecar's place; %s",
			dir, st.Uid, euid, fix)
	}
	if info.Mode().Perm()&0o022 != 0 {
		return newError(CodeUnavailable,
			"refusing %s: the socket directory has mode %o, so other users may write it; chmod 750 it, or set ATTACHE_SOCKET",
			dir, info.Mode().Perm())
	}
	return nil
}

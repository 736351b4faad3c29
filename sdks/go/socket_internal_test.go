package attache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultSocketRule(t *testing.T) {
	none := func(string) bool { return false }
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	all := map[string]string{"RUNTIME_DIRECTORY": "/run/svc:/run/other", "XDG_RUNTIME_DIR": "/run/user/1000", "TMPDIR": "/var/tmp"}
	for _, c := range []struct {
		vars   map[string]string
		euid   int
		exists func(string) bool
		want   string
	}{
		{all, 1000, none, "/run/svc/attache.sock"},
		{all, 0, none, "/run/svc/attache.sock"},
		{map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 0, none, "/run/attache/attache.sock"},
		{map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, none, "/run/user/1000/attache/attache.sock"},
		{map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000, func(p string) bool { return p == rootSocket }, rootSocket},
		{map[string]string{"RUNTIME_DIRECTORY": "relative", "XDG_RUNTIME_DIR": "also-relative", "TMPDIR": "/nonexistent-tmp"}, 1000, none, "/nonexistent-tmp/attache-1000/attache.sock"},
		{map[string]string{}, 1000, none, "/tmp/attache-1000/attache.sock"},
	} {
		got, err := defaultSocket(env(c.vars), c.euid, c.exists)
		if err != nil || got != c.want {
			t.Errorf("%v euid %d: got %q, %v; want %q", c.vars, c.euid, got, err, c.want)
		}
	}
}

func TestDefaultSocketRefusesADirectoryOthersControl(t *testing.T) {
	tmp := t.TempDir()
	euid := os.Geteuid()
	dir := filepath.Join(tmp, "attache-"+itoa(euid))
	env := func(k string) string {
		if k == "TMPDIR" {
			return tmp
		}
		return ""
	}
	none := func(string) bool { return false }
	if euid == 0 {
		// Root stops at /run/attache; check the directory rule directly.
		checkDir := func() error { return checkPrivate(dir, euid) }
		must := func(err error, want string) {
			t.Helper()
			if (err == nil) != (want == "") || (err != nil && !contains(err.Error(), want)) {
				t.Fatalf("got %v, want %q", err, want)
			}
		}
		must(checkDir(), "")
		must(os.Mkdir(dir, 0o700), "")
		must(checkDir(), "")
		must(os.Chmod(dir, 0o777), "")
		must(checkDir(), "other users may write it")
		must(os.Chown(dir, 12345, 0), "")
		must(checkDir(), "owned by uid 12345")
		must(os.Remove(dir), "")
		must(os.Symlink(tmp, dir), "")
		must(checkDir(), "symbolic link")
		if e := checkDir().(*Error); e.Code() != CodeUnavailable {
			t.Fatalf("code %s", e.Code())
		}
		return
	}
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o777)
	if _, err := defaultSocket(env, euid, none); err == nil || !contains(err.Error(), "other users may write it") {
		t.Fatalf("got %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

package attache_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

func TestInfoReportsVersionAndModules(t *testing.T) {
	info := must[attache.Info](t)(client.Info(context.Background()))
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(info.Version) {
		t.Fatalf("version %q", info.Version)
	}
	modules := slices.Sorted(slices.Values(info.Modules))
	if !slices.Equal(modules, []string{"image", "kafka", "password", "postgres", "redis"}) {
		t.Fatalf("modules %v", info.Modules)
	}
	// With no backend configured: the offloaders, and Kafka spool-only.
	_, bare := newSidecar(t, nil)
	info = must[attache.Info](t)(bare.Info(context.Background()))
	if !slices.Equal(slices.Sorted(slices.Values(info.Modules)), []string{"image", "kafka", "password"}) {
		t.Fatalf("modules without backends %v", info.Modules)
	}
}

func TestMissingSocketIsUnavailableAfterRetries(t *testing.T) {
	c := must[*attache.Client](t)(attache.New(attache.WithSocket("/nonexistent/attache.sock"), attache.WithTimeout(2*time.Second)))
	defer c.Close()
	start := time.Now()
	_, err := c.Password.Hash(context.Background(), "x")
	aerr := wantCode(t, err, attache.CodeUnavailable, "/nonexistent/attache.sock")
	if !aerr.IsRetryable() {
		t.Fatal("unavailable is retryable")
	}
	// Two retries: 12.5-25 ms, then 25-50 ms of backoff.
	if d := time.Since(start); d < 35*time.Millisecond || d > time.Second {
		t.Fatalf("two retries took %v", d)
	}
	equal(t, attache.CodeOf(err), attache.CodeUnavailable, "CodeOf")
}

// An idempotent call outlives a sidecar restart by its retries; a call
// the proto does not mark idempotent is never sent twice.
func TestRetriesFollowTheProtosIdempotencyLevel(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "attache.sock")
	c := must[*attache.Client](t)(attache.New(attache.WithSocket(socket), attache.WithRetries(8)))
	defer c.Close()
	ctx := context.Background()

	started := make(chan *sidecar, 1)
	go func() {
		time.Sleep(150 * time.Millisecond)
		s, err := startSidecar(nil, socket)
		if err != nil {
			t.Error(err)
		}
		started <- s
	}()
	// GetInfo is NO_SIDE_EFFECTS: retried until the sidecar is up.
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("GetInfo was not retried until the sidecar came up: %v", err)
	}
	if info.Version == "" {
		t.Fatal("no version")
	}
	s := <-started
	if s == nil {
		t.FailNow()
	}
	equal(t, s.stop(), 0, "exit code")

}

// A socket that accepts and hangs up at once: every attempt is one
// connection, counted.
func TestRetriesCountedPerAttempt(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "hangup.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	c := must[*attache.Client](t)(attache.New(attache.WithSocket(socket), attache.WithRetries(3)))
	defer c.Close()
	ctx := context.Background()
	attempts := func(call func() error) int64 {
		t.Helper()
		before := accepted.Load()
		wantCode(t, call(), attache.CodeUnavailable)
		return accepted.Load() - before
	}
	// NO_SIDE_EFFECTS in the proto: 1 + 3 retries.
	equal(t, attempts(func() error { _, err := c.Info(ctx); return err }), int64(4), "GetInfo attempts")
	equal(t, attempts(func() error { _, err := c.Password.Hash(ctx, "x"); return err }), int64(4), "Password.Hash attempts")
	equal(t, attempts(func() error { _, _, err := c.Redis.DoCached(ctx, 0, "GET", "k"); return err }), int64(4), "DoCached attempts")
	// No idempotency level: sent once.
	equal(t, attempts(func() error { _, err := c.Redis.Do(ctx, "INCR", "k"); return err }), int64(1), "Redis.Do attempts")
	equal(t, attempts(func() error { _, err := c.Postgres.Query(ctx, "select 1"); return err }), int64(1), "Postgres.Query attempts")
	equal(t, attempts(func() error {
		_, err := c.Kafka.Produce(ctx, []attache.KafkaRecord{{Topic: "t"}})
		return err
	}), int64(1), "Kafka.Produce attempts")
	// Retries off.
	off := must[*attache.Client](t)(attache.New(attache.WithSocket(socket), attache.WithRetries(0)))
	defer off.Close()
	equal(t, attempts(func() error { _, err := off.Info(ctx); return err }), int64(1), "GetInfo attempts without retries")
}

// Backoff never runs past the deadline: with many retries allowed, the
// call still ends by its deadline.
func TestRetriesStopAtTheDeadline(t *testing.T) {
	c := must[*attache.Client](t)(attache.New(attache.WithSocket("/nonexistent/attache.sock"), attache.WithRetries(100)))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Info(ctx)
	wantCode(t, err, attache.CodeUnavailable)
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("retries ran %v, past the 300 ms deadline", d)
	}
}

func TestContextDeadlineIsTheCallsDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := client.Password.HashWith(ctx, "slow", attache.HashOptions{Algorithm: attache.Bcrypt, BcryptCost: 14})
	wantCode(t, err, attache.CodeDeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) && attache.CodeOf(err) != attache.CodeDeadlineExceeded {
		t.Fatal(err)
	}
}

func TestClientTimeoutAppliesWithoutAContextDeadline(t *testing.T) {
	c := must[*attache.Client](t)(attache.New(attache.WithSocket(shared.socket), attache.WithTimeout(20*time.Millisecond)))
	defer c.Close()
	_, err := c.Password.HashWith(context.Background(), "slow", attache.HashOptions{Algorithm: attache.Bcrypt, BcryptCost: 14})
	wantCode(t, err, attache.CodeDeadlineExceeded)
	// A context deadline wins over the client's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Password.Hash(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("ATTACHE_TIMEOUT_MS", "1500")
	t.Setenv("ATTACHE_SOCKET", shared.socket)
	c := must[*attache.Client](t)(attache.New())
	defer c.Close()
	equal(t, c.Timeout(), 1500*time.Millisecond, "timeout from ATTACHE_TIMEOUT_MS")
	equal(t, c.Socket(), shared.socket, "socket from ATTACHE_SOCKET")
	must[attache.Info](t)(c.Info(context.Background()))

	t.Setenv("ATTACHE_TIMEOUT_MS", "nonsense")
	c2 := must[*attache.Client](t)(attache.New())
	equal(t, c2.Timeout(), 10*time.Second, "default timeout")
	c3 := must[*attache.Client](t)(attache.New(attache.WithTimeout(time.Second)))
	equal(t, c3.Timeout(), time.Second, "WithTimeout wins")
}

// The sidecar and the SDK pick the same socket when neither is told one.
func TestDefaultSocketMatchesTheSidecars(t *testing.T) {
	runtime := t.TempDir()
	t.Setenv("ATTACHE_SOCKET", "")
	t.Setenv("RUNTIME_DIRECTORY", runtime+":/elsewhere")
	path := must[string](t)(attache.DefaultSocket())
	equal(t, path, filepath.Join(runtime, "attache.sock"), "default socket")
	s, err := startSidecarDefault(map[string]string{"RUNTIME_DIRECTORY": runtime}, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { equal(t, s.stop(), 0, "exit code") }()
	c := must[*attache.Client](t)(attache.New())
	defer c.Close()
	equal(t, c.Socket(), path, "client socket")
	must[attache.Info](t)(c.Info(context.Background()))
}

func TestDefaultSocketWithoutRuntimeDirectory(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", "")
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	path := must[string](t)(attache.DefaultSocket())
	if os.Geteuid() == 0 {
		equal(t, path, "/run/attache/attache.sock", "root's default socket")
	} else {
		equal(t, path, filepath.Join(xdg, "attache", "attache.sock"), "default socket under XDG_RUNTIME_DIR")
	}
}

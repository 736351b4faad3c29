package attache_test

// The tests run the real attache binary ($ATTACHE_BIN, default
// ../../target/debug/attache) on temporary sockets, with real Redis,
// PostgreSQL and Kafka started by the repository's testing/ scripts, and
// read results back with independent clients (redis-cli, psql, kcat).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

var (
	root        string // the repository
	bin         string // the attache binary
	scratch     string // temporary files of this run
	redisURL    string
	redisPort   string
	postgresURL string
	kafkaBroker string
	backendEnv  map[string]string // every backend, for sidecars that need them all
	shared      *sidecar
	client      *attache.Client
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attache Go SDK tests:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if root, err = filepath.Abs("../.."); err != nil {
		return 1, err
	}
	bin = os.Getenv("ATTACHE_BIN")
	if bin == "" {
		bin = filepath.Join(root, "target/debug/attache")
	}
	if _, err := os.Stat(bin); err != nil {
		return 1, fmt.Errorf("no attache binary at %s; run cargo build or set ATTACHE_BIN", bin)
	}
	// Short: a Postgres socket path holds at most 107 bytes.
	if scratch, err = os.MkdirTemp("", "atgo-"); err != nil {
		return 1, err
	}
	defer os.RemoveAll(scratch)

	redisDir := filepath.Join(scratch, "redis")
	if redisURL, err = script("redis/start", nil, redisDir); err != nil {
		return 1, err
	}
	defer script("redis/stop", nil, redisDir)
	redisPort = strings.TrimSuffix(redisURL[strings.LastIndex(redisURL, ":")+1:], "/0")

	pgDir := filepath.Join(scratch, "pg")
	if postgresURL, err = script("postgres/start", nil, pgDir); err != nil {
		return 1, err
	}
	defer script("postgres/stop", nil, pgDir)

	if _, err = script("kafka/install", nil); err != nil {
		return 1, err
	}
	kafkaDir := filepath.Join(scratch, "kafka")
	// KAFKA_PARENT_PID: a run that dies leaves no broker behind.
	kafkaEnv := []string{"KAFKA_AUTO_CREATE=true", fmt.Sprintf("KAFKA_PARENT_PID=%d", os.Getpid())}
	if kafkaBroker, err = script("kafka/start", kafkaEnv, kafkaDir); err != nil {
		return 1, err
	}
	defer script("kafka/stop", nil, kafkaDir)

	backendEnv = map[string]string{
		"ATTACHE_REDIS_URL":                            redisURL,
		"ATTACHE_POSTGRES_URL":                         postgresURL,
		"ATTACHE_KAFKA_BROKERS":                        kafkaBroker,
		"ATTACHE_KAFKA_PRODUCER_UNKNOWN_TOPIC_TIMEOUT": "2s",
		"ATTACHE_PASSWORD_ARGON2_MEMORY_KIB":           "1024",
		"ATTACHE_PASSWORD_ARGON2_ITERATIONS":           "1",
		"ATTACHE_PASSWORD_BCRYPT_COST":                 "4",
	}
	if shared, err = startSidecar(backendEnv, ""); err != nil {
		return 1, err
	}
	defer shared.stop()
	if client, err = attache.New(attache.WithSocket(shared.socket)); err != nil {
		return 1, err
	}
	defer client.Close()
	// The sidecar connects to Redis and Postgres in the background.
	ctx := context.Background()
	for i := 0; ; i++ {
		_, errRedis := client.Redis.Do(ctx, "PING")
		_, errPG := client.Postgres.Query(ctx, "select 1")
		if errRedis == nil && errPG == nil {
			break
		}
		if i > 250 {
			return 1, fmt.Errorf("backends not ready through the sidecar: %v; %v", errRedis, errPG)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m.Run(), nil
}

// script runs testing/NAME with args and returns what it printed.
func script(name string, env []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "testing", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("testing/%s: %v: %s", name, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

type sidecar struct {
	socket string
	cmd    *exec.Cmd
	spool  string
	exited chan struct{}
}

// startSidecar runs attache on socket (a fresh one if empty) with env and
// its own Kafka spool, and waits until the socket answers.
func startSidecar(env map[string]string, socket string) (*sidecar, error) {
	dir, err := os.MkdirTemp(scratch, "sc-")
	if err != nil {
		return nil, err
	}
	if socket == "" {
		socket = filepath.Join(dir, "attache.sock")
	}
	s := &sidecar{socket: socket, spool: filepath.Join(dir, "spool"), exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "run", "--socket", socket, "--admin", "off")
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ATTACHE_LOG_LEVEL=error", "ATTACHE_KAFKA_SPOOL_DIR=" + s.spool}
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	return s.start()
}

func (s *sidecar) start() (*sidecar, error) {
	socket := s.socket
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("attache exited on start: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("attache did not start within 15 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startSidecarDefault runs attache with no socket configured, expecting
// it to listen on socket by its default rule.
func startSidecarDefault(env map[string]string, socket string) (*sidecar, error) {
	dir, err := os.MkdirTemp(scratch, "sc-")
	if err != nil {
		return nil, err
	}
	s := &sidecar{socket: socket, spool: filepath.Join(dir, "spool"), exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "run", "--admin", "off")
	s.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ATTACHE_LOG_LEVEL=error", "ATTACHE_KAFKA_SPOOL_DIR=" + s.spool}
	for k, v := range env {
		s.cmd.Env = append(s.cmd.Env, k+"="+v)
	}
	return s.start()
}

// stop sends SIGTERM and returns the exit code.
func (s *sidecar) stop() int {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return s.cmd.ProcessState.ExitCode()
}

// newSidecar is startSidecar for one test, stopped (and checked to exit
// 0) when it ends, with a client of its own.
func newSidecar(t *testing.T, env map[string]string, options ...attache.Option) (*sidecar, *attache.Client) {
	t.Helper()
	s, err := startSidecar(env, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := attache.New(append([]attache.Option{attache.WithSocket(s.socket)}, options...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if code := s.stop(); code != 0 {
			t.Errorf("attache exited with %d on SIGTERM", code)
		}
	})
	return s, c
}

// with is backendEnv with changes; an empty value removes a variable.
func with(changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range backendEnv {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// name is a random name with prefix, for keys, tables and topics.
func name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// wantCode fails t unless err is an *attache.Error with code whose
// message contains every fragment.
func wantCode(t *testing.T, err error, code attache.Code, fragments ...string) *attache.Error {
	t.Helper()
	var aerr *attache.Error
	if !errors.As(err, &aerr) {
		t.Fatalf("want an *attache.Error %s, got %T %v", code, err, err)
	}
	if aerr.Code() != code {
		t.Fatalf("want code %s, got %s: %s", code, aerr.Code(), aerr.Message())
	}
	for _, f := range fragments {
		if !strings.Contains(aerr.Message(), f) {
			t.Fatalf("want %q in the message of %v", f, aerr)
		}
	}
	return aerr
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func equal[T comparable](t *testing.T, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

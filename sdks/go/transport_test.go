package attache_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

// proxy forwards a socket of its own to another, byte for byte, counting
// the connections made to it: how many, and how many at once. Each
// direction is copied until its end, and the sidecar closing its side
// closes the client's, as the client would see the sidecar itself do.
type proxy struct {
	socket   string
	accepted atomic.Int64
	open     atomic.Int64
	mu       sync.Mutex
	maxOpen  int64
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{socket: filepath.Join(t.TempDir(), "proxy.sock")}
	l, err := net.Listen("unix", p.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p
}

func (p *proxy) serve(c net.Conn, target string) {
	defer c.Close()
	p.accepted.Add(1)
	p.mu.Lock()
	p.maxOpen = max(p.maxOpen, p.open.Add(1))
	p.mu.Unlock()
	defer p.open.Add(-1)
	u, err := net.Dial("unix", target)
	if err != nil {
		return
	}
	defer u.Close()
	up := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, c)
		_ = u.(*net.UnixConn).CloseWrite()
		close(up)
	}()
	_, _ = io.Copy(c, u) // until the sidecar closes its side
	c.Close()
	<-up
}

func (p *proxy) most() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxOpen
}

// A call waiting for a connection gets the one another call gives back:
// a slot is a call in flight, not an open connection.
func TestPoolHandsAnIdleConnectionToAWaitingCall(t *testing.T) {
	p := newProxy(t, shared.socket)
	c := must[*attache.Client](t)(attache.New(attache.WithSocket(p.socket), attache.WithMaxConnections(1)))
	defer c.Close()
	ctx := context.Background()

	slow := make(chan error, 1)
	go func() {
		_, err := c.Postgres.Query(ctx, "select pg_sleep(0.3)")
		slow <- err
	}()
	time.Sleep(50 * time.Millisecond) // the slow call holds the one connection
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := c.Info(waitCtx); err != nil {
		t.Fatalf("the waiting call never got the connection back: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the waiting call took %v", d)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	equal(t, p.accepted.Load(), int64(1), "connections")

	// Many calls at once share at most the maximum of connections.
	p = newProxy(t, shared.socket)
	c2 := must[*attache.Client](t)(attache.New(attache.WithSocket(p.socket), attache.WithMaxConnections(2)))
	defer c2.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := c2.Info(ctx)
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := p.most(); n > 2 {
		t.Fatalf("%d connections open at once, over the maximum of 2", n)
	}
}

// The sidecar refuses a body over its limits before reading it, answers
// and closes: the caller gets its answer, not a broken connection, and the
// body is not uploaded again.
func TestEarlyRefusalOfALargeBodyIsTheSidecarsAnswer(t *testing.T) {
	big := make([]byte, 8<<20)
	_, _ = rand.Read(big)
	for _, c := range []struct {
		name   string
		env    map[string]string
		needle string
	}{
		// The image routes admit max(server.max_request_bytes, 4/3 of
		// image.max_input_bytes + 1 MiB): 4 MiB here.
		{"over the request limit", map[string]string{"ATTACHE_IMAGE_MAX_INPUT_BYTES": "1 MiB"}, "exceeds limit"},
		{"over the in-flight budget", map[string]string{"ATTACHE_SERVER_MAX_IN_FLIGHT_BYTES": "5 MiB"}, "server.max_in_flight_bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, direct := newSidecar(t, c.env)
			ctx := context.Background()
			_, err := direct.Image.Probe(ctx, big)
			wantCode(t, err, attache.CodeResourceExhausted, c.needle)

			p := newProxy(t, s.socket)
			counted := must[*attache.Client](t)(attache.New(attache.WithSocket(p.socket)))
			defer counted.Close()
			_, err = counted.Image.Probe(ctx, big)
			wantCode(t, err, attache.CodeResourceExhausted, c.needle)
			equal(t, p.accepted.Load(), int64(1), "uploads")

			// The client goes on, on a new connection.
			must[attache.ImageInfo](t)(direct.Image.Probe(ctx, photo(t, 30, 20, "png", false)))
		})
	}
}

// A kept-alive connection the sidecar closed while it was idle (its
// server.idle_timeout here) is found closed before use and replaced: the
// call succeeds without a retry.
func TestIdleConnectionClosedBySidecarIsRedialled(t *testing.T) {
	_, c := newSidecar(t, map[string]string{"ATTACHE_SERVER_IDLE_TIMEOUT": "200ms"}, attache.WithRetries(0))
	ctx := context.Background()
	must[attache.Info](t)(c.Info(ctx))
	time.Sleep(600 * time.Millisecond)
	must[attache.Info](t)(c.Info(ctx))
	must[attache.Info](t)(c.Info(ctx))
}

// fakeServer answers HTTP/1.1 on a Unix socket: the first request of each
// connection with 200 and an empty protobuf message (every reply's
// default), and the second it reads whole, then closes the connection
// without answering, as a sidecar that stops (a crash, a drain) after
// reading a request does. It counts the requests it read.
func fakeServer(t *testing.T) (socket string, requests *atomic.Int64) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "fake.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	requests = new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if i > 0 {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\nContent-Length: 0\r\n\r\n")
				}
			}()
		}
	}()
	return socket, requests
}

// After the whole request is written, the connection ending before the
// reply does not prove the sidecar did not run it: a call that is not
// idempotent is not sent again, it fails as unavailable.
func TestRequestTheSidecarReadIsNotSentAgain(t *testing.T) {
	socket, requests := fakeServer(t)
	c := must[*attache.Client](t)(attache.New(attache.WithSocket(socket)))
	defer c.Close()
	ctx := context.Background()
	must[attache.Info](t)(c.Info(ctx)) // the connection is kept alive
	_, err := c.Redis.Do(ctx, "INCR", "counter")
	wantCode(t, err, attache.CodeUnavailable)
	equal(t, requests.Load(), int64(2), "requests the server read")

	// An idempotent call is sent again by the retry rule, on a new
	// connection.
	must[attache.Info](t)(c.Info(ctx)) // a new connection's first request
	must[attache.Info](t)(c.Info(ctx)) // its second, read and dropped, then a retry
	equal(t, requests.Load(), int64(5), "requests the server read")
}

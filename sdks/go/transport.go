package attache

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	sidecarv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/sidecar/v1"
)

// transport carries every call on the sidecar's socket. Unary calls are
// the Connect protocol (binary protobuf) written by hand on pooled
// keep-alive HTTP/1.1 connections, in the caller's goroutine: one write,
// one read. Streams go through connect-go's generated clients, for which
// transport is the connect.HTTPClient: a server stream (Redis Subscribe)
// on the same HTTP/1.1 pool, and the bidi streams (Kafka Consume and
// ProduceStream, Postgres Transaction), which connect-go cannot run on
// HTTP/1.1, on HTTP/2 without TLS (h2c).
//
// Why: measured by cmd/transport-bench (README, Transport), connect-go's
// unary call on net/http costs ~125 µs p50 over the raw-socket floor on a
// 2-core machine (h2c ~150, gRPC ~190, grpc-go ~160), most of it handing
// each request to net/http's per-connection goroutines and connect-go's
// per-call setup, against ~35 µs for one hand-written request. Streams
// are rare and long, so their per-message cost matters less than
// connect-go's handling of them.
type transport struct {
	socket  string
	idleFor time.Duration
	max     int
	// slots holds one token per call in flight on the HTTP/1.1 pool,
	// taken before a connection is and given back with it: a call waits
	// here when maxConnections calls are in flight, and wakes when one
	// ends.
	slots chan struct{}

	mu     sync.Mutex
	idle   []*conn // most recently used last
	open   int     // connections open, idle or in use; at most max
	closed bool

	h2 *http.Transport
}

type conn struct {
	net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	idleAt time.Time
	reused bool
}

func newTransport(socket string, maxConnections int) *transport {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	h2 := &http.Transport{DialContext: dial, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
	h2.Protocols = new(http.Protocols)
	h2.Protocols.SetUnencryptedHTTP2(true)
	return &transport{
		socket: socket, idleFor: 5 * time.Second, max: maxConnections, slots: make(chan struct{}, maxConnections), h2: h2,
	}
}

// Do sends one request. Client and bidi streams (a body of unknown
// length, which connect-go streams through a pipe) go over h2c.
func (t *transport) Do(req *http.Request) (*http.Response, error) {
	if req.ContentLength < 0 {
		return t.h2.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		resp, err := t.roundTrip(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		t.put(c, false)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		// As in unary: sent again only when the request provably went
		// unread.
		if attempt == 0 && c.reused && unsent(err) && (req.Body == nil || req.GetBody != nil) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			continue
		}
		return nil, err
	}
}

// staleConn says a connection broke: the sidecar closed it.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || peerClosed(err)
}

// peerClosed is a write (or read) refused because the sidecar closed its
// end of the connection.
func peerClosed(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// writeError is a request the sidecar cut off before it was written whole,
// with no reply to read on the connection.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// unsent says a call failed in a way that proves the sidecar did not run
// it: the connection was closed before the whole request was written, and
// held no reply. A failure after the whole request was written (EOF or a
// reset while reading the reply) proves nothing: the sidecar may have read
// the request and run it before closing (a drain on restart, a crash).
func unsent(err error) bool {
	var we *writeError
	return errors.As(err, &we) && peerClosed(we.err)
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

func (t *transport) roundTrip(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	// The context's end interrupts the write or the read in progress.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })
	keep := true
	if err := writeRequest(c.w, req); err != nil {
		// The sidecar may have answered (refusing a body too large) and
		// closed without reading the rest: its reply is still readable.
		if !peerClosed(err) {
			stop()
			return nil, err
		}
		if _, perr := c.r.Peek(1); perr != nil {
			stop()
			return nil, &writeError{err}
		}
		keep = false
	}
	resp, err := http.ReadResponse(c.r, req)
	if err != nil {
		stop()
		return nil, err
	}
	resp.Body = &body{ReadCloser: resp.Body, t: t, c: c, stop: stop, keep: keep && !resp.Close}
	return resp, nil
}

func writeRequest(w *bufio.Writer, req *http.Request) error {
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: attache\r\n")
	for k, vs := range req.Header {
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("Content-Length: ")
	w.WriteString(strconv.FormatInt(req.ContentLength, 10))
	w.WriteString("\r\n\r\n")
	if req.Body != nil {
		n, err := io.Copy(w, req.Body)
		req.Body.Close()
		if err != nil {
			return err
		}
		if n != req.ContentLength {
			return errors.New("request body length differs from its Content-Length")
		}
	}
	return w.Flush()
}

// body gives its connection back once the reply is read to its end, and
// closes it if the reply is left unread.
type body struct {
	io.ReadCloser
	t    *transport
	c    *conn
	stop func() bool
	keep bool
	once sync.Once
	eof  bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
		b.release()
	}
	return n, err
}

func (b *body) Close() error {
	b.release()
	return nil
}

func (b *body) release() {
	b.once.Do(func() {
		// Stopped before the deadline fired: the connection is sound.
		sound := b.stop()
		_ = b.ReadCloser.Close()
		b.t.put(b.c, sound && b.keep && b.eof)
	})
}

// get takes a slot, waiting for one while maxConnections calls are in
// flight, then the most recently used idle connection that is still open,
// or else dials one (fresh: dials in any case, closing an idle connection
// if the pool is full).
func (t *transport) get(ctx context.Context, fresh bool) (*conn, error) {
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t.mu.Lock()
	for len(t.idle) > 0 && !fresh {
		c := t.idle[len(t.idle)-1]
		t.idle = t.idle[:len(t.idle)-1]
		t.mu.Unlock()
		if time.Since(c.idleAt) < t.idleFor && c.alive() {
			c.reused = true
			return c, nil
		}
		c.Close()
		t.mu.Lock()
		t.open--
	}
	// This call's slot bounds the connections in use to max-1 others, so
	// a full pool has an idle one to close.
	var evict *conn
	if t.open >= t.max && len(t.idle) > 0 {
		evict = t.idle[0]
		t.idle = t.idle[1:]
		t.open--
	}
	t.open++
	t.mu.Unlock()
	if evict != nil {
		evict.Close()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", t.socket)
	if err != nil {
		t.mu.Lock()
		t.open--
		t.mu.Unlock()
		<-t.slots
		return nil, err
	}
	return &conn{Conn: nc, r: bufio.NewReaderSize(nc, 16<<10), w: bufio.NewWriterSize(nc, 16<<10)}, nil
}

// alive says an idle connection is still open, by a non-blocking read of
// one byte: EOF (or a reset) is a connection the sidecar closed while it
// sat idle (its idle_timeout, a restart), which would fail the request
// written on it; no byte and no end yet (EAGAIN) is a connection still
// open. A byte the sidecar sent unasked also spoils it.
func (c *conn) alive() bool {
	if c.r.Buffered() > 0 {
		return false
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		for {
			_, err := syscall.Read(int(fd), b[:])
			if err == syscall.EINTR {
				continue
			}
			open = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
			return true // never wait for readability
		}
	})
	return err == nil && open
}

// put gives a connection back to the pool, or closes it, and frees the
// call's slot.
func (t *transport) put(c *conn, keep bool) {
	t.mu.Lock()
	if keep && !t.closed {
		c.idleAt = time.Now()
		t.idle = append(t.idle, c)
		t.mu.Unlock()
	} else {
		t.open--
		t.mu.Unlock()
		c.Close()
	}
	<-t.slots
}

// CloseIdleConnections closes the connections no call is using.
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.open -= len(idle)
	t.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
	t.h2.CloseIdleConnections()
}

// unary is one Connect unary call (binary protobuf) on a pooled HTTP/1.1
// connection, in the caller's goroutine: one write of the request, one
// read of the reply. The context's deadline travels as
// Connect-Timeout-Ms; the sidecar enforces it, and the context's end cuts
// the connection if the reply has not come by then.
func (t *transport) unary(ctx context.Context, procedure string, req, reply proto.Message) error {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	body, err := proto.MarshalOptions{}.MarshalAppend((*buf)[:0], req)
	if err != nil {
		return &Error{code: CodeInternal, message: "cannot encode the request: " + err.Error(), cause: err}
	}
	*buf = body
	timeout := int64(0)
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(1, time.Until(deadline).Milliseconds())
	}
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx, attempt > 0)
		if err != nil {
			return err
		}
		status, data, keep, err := c.exchange(ctx, procedure, timeout, body)
		t.put(c, err == nil && keep)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A kept-alive connection get found open but the sidecar
			// closed before the request was written whole (it went
			// between the check and the write): the request was not
			// read, so it is sent again once, on a fresh connection. Any
			// other failure is left to the caller's retry rule, which
			// sends again only calls the proto marks idempotent.
			if attempt == 0 && c.reused && unsent(err) {
				continue
			}
			return err
		}
		if status != http.StatusOK {
			return connectError(status, data)
		}
		if err := proto.Unmarshal(data, reply); err != nil {
			return &Error{code: CodeInternal, message: "cannot decode the sidecar's reply: " + err.Error(), cause: err}
		}
		return nil
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// exchange writes one request and reads its reply whole.
func (c *conn) exchange(ctx context.Context, procedure string, timeout int64, body []byte) (status int, data []byte, keep bool, err error) {
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })
	defer func() {
		if !stop() {
			keep = false // the deadline fired: the connection is spent
		}
	}()
	w := c.w
	w.WriteString("POST ")
	w.WriteString(procedure)
	w.WriteString(" HTTP/1.1\r\nHost: attache\r\nContent-Type: application/proto\r\nConnect-Protocol-Version: 1\r\n")
	if timeout > 0 {
		w.WriteString("Connect-Timeout-Ms: ")
		w.WriteString(strconv.FormatInt(timeout, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("Content-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		// The sidecar may refuse a body (over server.max_request_bytes or
		// its in-flight budget) before reading it: it answers and closes,
		// and the write fails. What it sent before closing is still
		// readable: its answer is the call's, and the connection is not
		// kept.
		if peerClosed(err) {
			if status, data, _, rerr := readReply(c.r); rerr == nil {
				return status, data, false, nil
			}
			return 0, nil, false, &writeError{err}
		}
		return 0, nil, false, err
	}
	return readReply(c.r)
}

var errMalformed = errors.New("malformed HTTP reply from the sidecar")

// readReply reads one HTTP/1.1 reply whole: the status, the body and
// whether the connection stays open. It reads only the headers that say
// so (Content-Length, Transfer-Encoding, Connection), without
// net/http's per-reply header map.
func readReply(r *bufio.Reader) (status int, data []byte, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return 0, nil, false, errMalformed
	}
	keep = line[7] == '1'
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, errMalformed
	}
	length, chunked := -1, false
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, ok := strings.Cut(string(line), ":")
		if !ok {
			return 0, nil, false, errMalformed
		}
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "content-length"):
			if length, err = strconv.Atoi(value); err != nil || length < 0 {
				return 0, nil, false, errMalformed
			}
		case strings.EqualFold(name, "transfer-encoding"):
			chunked = strings.Contains(strings.ToLower(value), "chunked")
		case strings.EqualFold(name, "connection"):
			keep = keep && !strings.EqualFold(value, "close")
		}
	}
	switch {
	case chunked:
		if data, err = io.ReadAll(httputil.NewChunkedReader(r)); err != nil {
			return 0, nil, false, err
		}
		for { // the trailer section, up to its empty line
			if line, err = r.ReadSlice('\n'); err != nil {
				return 0, nil, false, err
			}
			if len(line) <= 2 {
				break
			}
		}
	case length >= 0:
		data = make([]byte, length)
		if _, err = io.ReadFull(r, data); err != nil {
			return 0, nil, false, err
		}
	default: // the body runs to the end of the connection
		data, err = io.ReadAll(r)
		return status, data, false, err
	}
	return status, data, keep, nil
}

// connectError is the *Error of a Connect error reply: JSON
// {code, message, details}, the details' ErrorInfo decoded from its
// protobuf value, else read from its JSON debug copy.
func connectError(status int, data []byte) error {
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type  string          `json:"type"`
			Value string          `json:"value"`
			Debug json.RawMessage `json:"debug"`
		} `json:"details"`
	}
	if json.Unmarshal(data, &body) != nil || body.Code == "" {
		return &Error{code: httpCode(status), message: "HTTP " + strconv.Itoa(status) + " from the sidecar", metadata: map[string]string{}}
	}
	e := &Error{code: codeFromName(body.Code), message: body.Message, metadata: map[string]string{}}
	for _, d := range body.Details {
		if d.Type[strings.LastIndex(d.Type, "/")+1:] != "attache.sidecar.v1.ErrorInfo" {
			continue
		}
		var info sidecarv1.ErrorInfo
		if raw, err := decodeBase64(d.Value); err == nil && proto.Unmarshal(raw, &info) == nil {
			e.reason, e.domain = info.GetReason(), info.GetDomain()
			maps.Copy(e.metadata, info.GetMetadata())
			break
		}
		var debug struct {
			Reason   string         `json:"reason"`
			Domain   string         `json:"domain"`
			Metadata map[string]any `json:"metadata"`
		}
		if json.Unmarshal(d.Debug, &debug) == nil {
			e.reason, e.domain = debug.Reason, debug.Domain
			for k, v := range debug.Metadata {
				if v != nil {
					e.metadata[k] = fmt.Sprint(v)
				}
			}
			break
		}
	}
	return e
}

// decodeBase64 takes Connect's unpadded standard base64, or any other
// form a server may write.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// httpCode is the Connect protocol's code for an HTTP status without a
// Connect error body.
func httpCode(status int) Code {
	switch status {
	case 400:
		return CodeInternal
	case 401:
		return CodeUnauthenticated
	case 403:
		return CodePermissionDenied
	case 404:
		return CodeUnimplemented
	case 429, 502, 503, 504:
		return CodeUnavailable
	}
	return CodeUnknown
}

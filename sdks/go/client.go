package attache

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	sidecarv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/sidecar/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/sidecar/v1/sidecarv1connect"
)

// DefaultTimeout is the deadline of a call whose context has none, unless
// ATTACHE_TIMEOUT_MS or WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// DefaultRetries is how many times an idempotent call that failed with
// CodeUnavailable is sent again, unless WithRetries says otherwise.
const DefaultRetries = 2

// Client is a client of the attache sidecar on its Unix socket. It is safe
// for concurrent use: create one per process and share it.
//
// Every method takes a context: its deadline is the call's deadline (the
// sidecar is told it and gives up when it passes); when it has none, the
// client's timeout applies. Calls the proto marks idempotent
// (NO_SIDE_EFFECTS or IDEMPOTENT) that fail with CodeUnavailable are sent
// again, with capped jittered backoff, inside that deadline; no other call
// is retried.
type Client struct {
	// Password hashes and verifies passwords on the sidecar's threads.
	Password *PasswordClient
	// Image resizes and probes images on the sidecar's threads.
	Image *ImageClient
	// Redis runs Redis/Valkey commands through the sidecar's shared
	// pipelined connections and client-side cache.
	Redis *RedisClient
	// Postgres runs SQL on the sidecar's shared connection pool.
	Postgres *PostgresClient
	// Kafka produces through the sidecar's durable spool and consumes
	// through consumer groups.
	Kafka *KafkaClient

	socket    string
	timeout   time.Duration
	retries   int
	transport *transport
}

type settings struct {
	socket         string
	timeout        time.Duration
	retries        int
	maxConnections int
}

// An Option configures a Client.
type Option func(*settings)

// WithSocket sets the sidecar's socket path. Default: $ATTACHE_SOCKET, else
// DefaultSocket.
func WithSocket(path string) Option { return func(s *settings) { s.socket = path } }

// WithTimeout sets the deadline of calls whose context has none. Default:
// $ATTACHE_TIMEOUT_MS milliseconds, else 10 s.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// WithRetries sets how many times an idempotent call that failed with
// CodeUnavailable is sent again; 0 turns retries off. Default 2.
func WithRetries(n int) Option { return func(s *settings) { s.retries = max(0, n) } }

// WithMaxConnections caps the HTTP/1.1 connections to the socket, each
// carrying one call at a time; a call waits for one when all are busy
// (streams travel on HTTP/2 connections of their own). Default 128.
func WithMaxConnections(n int) Option { return func(s *settings) { s.maxConnections = max(1, n) } }

// New makes a client. It does not connect: the first call does. It fails
// only when no socket is given and the default one is unsafe to use (see
// DefaultSocket).
func New(options ...Option) (*Client, error) {
	s := settings{timeout: envTimeout(), retries: DefaultRetries, maxConnections: 128}
	for _, o := range options {
		o(&s)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.socket == "" {
		s.socket = os.Getenv("ATTACHE_SOCKET")
	}
	if s.socket == "" {
		path, err := DefaultSocket()
		if err != nil {
			return nil, err
		}
		s.socket = path
	}
	c := &Client{socket: s.socket, timeout: s.timeout, retries: s.retries, transport: newTransport(s.socket, s.maxConnections)}
	c.Password = newPasswordClient(c)
	c.Image = newImageClient(c)
	c.Redis = newRedisClient(c)
	c.Postgres = newPostgresClient(c)
	c.Kafka = newKafkaClient(c)
	return c, nil
}

// envTimeout is ATTACHE_TIMEOUT_MS when it is a positive number, else 0.
func envTimeout() time.Duration {
	ms, err := strconv.ParseFloat(os.Getenv("ATTACHE_TIMEOUT_MS"), 64)
	if err != nil || ms <= 0 || ms > float64(24*time.Hour/time.Millisecond) {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// Socket is the socket path the client calls.
func (c *Client) Socket() string { return c.socket }

// Timeout is the deadline of calls whose context has none.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Close closes idle connections; calls and streams in flight go on.
func (c *Client) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// Info is what SidecarService.GetInfo reports.
type Info struct {
	// Version is the sidecar's version, e.g. "0.1.0".
	Version string
	// Modules serve requests, e.g. ["password", "image"].
	Modules []string
}

// Info reports the sidecar's version and modules: a cheap call to check
// that the socket answers.
func (c *Client) Info(ctx context.Context) (Info, error) {
	reply, err := unary[sidecarv1.GetInfoResponse](c, ctx, sidecarv1connect.SidecarServiceGetInfoProcedure, &sidecarv1.GetInfoRequest{})
	if err != nil {
		return Info{}, err
	}
	return Info{Version: reply.GetVersion(), Modules: reply.GetModules()}, nil
}

// withDeadline gives ctx the client's timeout unless it has a deadline.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return withDefaultDeadline(ctx, c.timeout)
}

func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// unary runs one call under the client's deadline and its retry rule.
func unary[Res any, PRes interface {
	*Res
	proto.Message
}](c *Client, ctx context.Context, procedure string, req proto.Message) (*Res, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	retries := 0
	if idempotent(procedure) {
		retries = c.retries
	}
	reply := PRes(new(Res))
	for attempt := 0; ; attempt++ {
		err := c.transport.unary(ctx, procedure, req, reply)
		if err == nil {
			return reply, nil
		}
		e := asError(err)
		if ctx.Err() != nil {
			e = asError(ctx.Err())
		}
		if e.code != CodeUnavailable || attempt >= retries || !sleepBackoff(ctx, attempt) {
			return nil, e
		}
	}
}

var idempotency sync.Map // procedure -> bool

// idempotent says whether the proto marks a method NO_SIDE_EFFECTS or
// IDEMPOTENT (its idempotency_level, as protoc-gen-go registered it), the
// only calls the retry rule sends again. Nothing restates it per call.
func idempotent(procedure string) bool {
	if v, ok := idempotency.Load(procedure); ok {
		return v.(bool)
	}
	name := protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(procedure, "/"), "/", "."))
	level := descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN
	if d, err := protoregistry.GlobalFiles.FindDescriptorByName(name); err == nil {
		if m, ok := d.(protoreflect.MethodDescriptor); ok {
			level = m.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel()
		}
	}
	v := level == descriptorpb.MethodOptions_NO_SIDE_EFFECTS || level == descriptorpb.MethodOptions_IDEMPOTENT
	idempotency.Store(procedure, v)
	return v
}

// baseURL is the URL every call goes to; the transport dials the socket
// whatever the host.
const baseURL = "http://attache"

// sleepBackoff waits min(1 s, 25 ms × 2^attempt), jittered to 50–100 % of
// it; false, at once, if that would pass ctx's deadline, or if ctx ends.
func sleepBackoff(ctx context.Context, attempt int) bool {
	backoff := min(time.Second, 25*time.Millisecond<<min(attempt, 10))
	backoff = time.Duration(float64(backoff) * (0.5 + rand.Float64()/2))
	if deadline, ok := ctx.Deadline(); ok && time.Now().Add(backoff).After(deadline) {
		return false
	}
	timer := time.NewTimer(backoff)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// openStream opens a bidi stream that ends, at the sidecar too, when ctx
// ends or cancel is called. net/http's HTTP/2 client does not reset a
// stream whose context ends while its request body is open (seen: the
// sidecar got no frame, and rolled a Transaction back only at its idle
// timeout); closing both halves does, with END_STREAM and RST_STREAM.
func openStream[Req, Res any](ctx context.Context, open func(context.Context) *connect.BidiStreamForClient[Req, Res]) (*connect.BidiStreamForClient[Req, Res], context.CancelFunc) {
	streamCtx, cancel := context.WithCancel(ctx)
	stream := open(streamCtx)
	context.AfterFunc(streamCtx, func() {
		_ = stream.CloseRequest()
		_ = stream.CloseResponse()
	})
	return stream, cancel
}

package attache

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"connectrpc.com/connect"

	redisv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/redis/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/redis/v1/redisv1connect"
)

// RedisClient runs Redis/Valkey commands through the sidecar: every
// process on the host shares its pipelined connections and its client-side
// cache, which Redis keeps correct by invalidation (RESP3 CLIENT TRACKING).
//
// Do, DoMulti and Batch are not retried (a command may not be
// idempotent); DoCached and MGetCached are, on CodeUnavailable. A module
// without ATTACHE_REDIS_URL answers CodeFailedPrecondition; Redis down,
// CodeUnavailable.
type RedisClient struct {
	c   *Client
	rpc redisv1connect.RedisServiceClient
}

// Its streams go through connect-go's generated client, on the
// client's transport.
func newRedisClient(c *Client) *RedisClient {
	return &RedisClient{c: c, rpc: redisv1connect.NewRedisServiceClient(c.transport, baseURL)}
}

// Do runs one command, e.g. Do(ctx, "HINCRBY", "stats", "hits", 1).
// Arguments are strings, byte slices or numbers (sent in decimal). An
// error reply is returned as a *RedisError.
func (r *RedisClient) Do(ctx context.Context, args ...any) (RedisValue, error) {
	encoded, err := redisArgs("args", args)
	if err != nil {
		return RedisValue{}, err
	}
	reply, err := unary[redisv1.DoResponse](r.c, ctx, redisv1connect.RedisServiceDoProcedure, &redisv1.DoRequest{Args: encoded})
	if err != nil {
		return RedisValue{}, err
	}
	v := fromRedisValue(reply.GetReply())
	return v, v.Err()
}

// DoMulti runs commands in order and returns their replies in order; an
// error reply is a value of KindError, not an error. MULTI … EXEC (with
// WATCH) given in one DoMulti runs on a dedicated connection, atomically.
func (r *RedisClient) DoMulti(ctx context.Context, commands ...[]any) ([]RedisValue, error) {
	req := &redisv1.DoMultiRequest{Commands: make([]*redisv1.Command, len(commands))}
	for i, c := range commands {
		encoded, err := redisArgs("commands["+itoa(i)+"]", c)
		if err != nil {
			return nil, err
		}
		req.Commands[i] = &redisv1.Command{Args: encoded}
	}
	reply, err := unary[redisv1.DoMultiResponse](r.c, ctx, redisv1connect.RedisServiceDoMultiProcedure, req)
	if err != nil {
		return nil, err
	}
	return fromRedisValues(reply.GetReplies()), nil
}

// DoCached serves a read-only command (GET, HGET, HGETALL, SMEMBERS,
// ZRANGE, …) from the sidecar's cache, or fetches it and has Redis track
// the key so that a change anywhere invalidates the cached reply. ttl caps
// how long the reply may be served from the cache (0: the sidecar's
// default); the key's own TTL shortens it. Commands outside the cacheable
// allowlist are CodeInvalidArgument.
func (r *RedisClient) DoCached(ctx context.Context, ttl time.Duration, args ...any) (value RedisValue, cacheHit bool, err error) {
	encoded, err := redisArgs("args", args)
	if err != nil {
		return RedisValue{}, false, err
	}
	reply, err := unary[redisv1.DoCachedResponse](r.c, ctx, redisv1connect.RedisServiceDoCachedProcedure, &redisv1.DoCachedRequest{Args: encoded, TtlMs: millis(ttl)})
	if err != nil {
		return RedisValue{}, false, err
	}
	v := fromRedisValue(reply.GetReply())
	return v, reply.GetCacheHit(), v.Err()
}

// MGetCached reads many string keys, serving hits from the cache and
// fetching only the misses; one value per key (nil for a missing one).
func (r *RedisClient) MGetCached(ctx context.Context, ttl time.Duration, keys ...string) (values []RedisValue, cacheHits int, err error) {
	req := &redisv1.MGetCachedRequest{Keys: make([][]byte, len(keys)), TtlMs: millis(ttl)}
	for i, k := range keys {
		req.Keys[i] = []byte(k)
	}
	reply, err := unary[redisv1.MGetCachedResponse](r.c, ctx, redisv1connect.RedisServiceMGetCachedProcedure, req)
	if err != nil {
		return nil, 0, err
	}
	return fromRedisValues(reply.GetValues()), int(reply.GetCacheHits()), nil
}

// RedisCall is one call of a Batch: make it with RedisCmd or
// RedisCachedCmd.
type RedisCall struct {
	args   []any
	cached bool
	ttl    time.Duration
}

// RedisCmd is a Do call for Batch.
func RedisCmd(args ...any) RedisCall { return RedisCall{args: args} }

// RedisCachedCmd is a DoCached call for Batch.
func RedisCachedCmd(ttl time.Duration, args ...any) RedisCall {
	return RedisCall{args: args, cached: true, ttl: ttl}
}

// RedisResult is the outcome of one call of a Batch.
type RedisResult struct {
	Value RedisValue
	// CacheHit says a RedisCachedCmd was answered from the cache.
	CacheHit bool
	// Err is the call's own failure: an *Error as a whole call would have
	// failed, or the *RedisError of an error reply.
	Err error
}

// Batch runs many independent calls in one round trip, each with its own
// result: a failed call does not fail the others. It is the explicit form
// of the Node SDK's auto-pipelining. The error is the batch's as a whole
// (the sidecar unreachable, the deadline passed).
func (r *RedisClient) Batch(ctx context.Context, calls ...RedisCall) ([]RedisResult, error) {
	req := &redisv1.BatchRequest{Calls: make([]*redisv1.BatchCall, len(calls))}
	for i, c := range calls {
		encoded, err := redisArgs("calls["+itoa(i)+"]", c.args)
		if err != nil {
			return nil, err
		}
		if c.cached {
			req.Calls[i] = &redisv1.BatchCall{Call: &redisv1.BatchCall_DoCached{DoCached: &redisv1.DoCachedRequest{Args: encoded, TtlMs: millis(c.ttl)}}}
		} else {
			req.Calls[i] = &redisv1.BatchCall{Call: &redisv1.BatchCall_Do{Do: &redisv1.DoRequest{Args: encoded}}}
		}
	}
	reply, err := unary[redisv1.BatchResponse](r.c, ctx, redisv1connect.RedisServiceBatchProcedure, req)
	if err != nil {
		return nil, err
	}
	if len(reply.GetResults()) != len(calls) {
		return nil, newError(CodeInternal, "the sidecar answered %d of %d calls", len(reply.GetResults()), len(calls))
	}
	out := make([]RedisResult, len(calls))
	for i, res := range reply.GetResults() {
		switch k := res.GetResult().(type) {
		case *redisv1.BatchResult_Do:
			v := fromRedisValue(k.Do.GetReply())
			out[i] = RedisResult{Value: v, Err: v.Err()}
		case *redisv1.BatchResult_DoCached:
			v := fromRedisValue(k.DoCached.GetReply())
			out[i] = RedisResult{Value: v, CacheHit: k.DoCached.GetCacheHit(), Err: v.Err()}
		case *redisv1.BatchResult_Error:
			out[i] = RedisResult{Err: &Error{code: codeFromName(k.Error.GetCode()), message: k.Error.GetMessage(), metadata: map[string]string{}}}
		default:
			out[i] = RedisResult{Err: newError(CodeInternal, "the sidecar's batch reply lacks result %d", i)}
		}
	}
	return out, nil
}

// RedisMessage is one message published on a channel.
type RedisMessage struct {
	Channel string
	// Pattern is the pattern that matched, for pattern subscriptions.
	Pattern string
	Payload []byte
}

// Subscription is a live Redis subscription: read it with Receive or
// range over Messages; Close unsubscribes. Every subscriber of a channel
// on the host shares one Redis subscription.
type Subscription struct {
	stream  *connect.ServerStreamForClient[redisv1.SubscribeResponse]
	cancel  context.CancelFunc
	mu      sync.Mutex
	closed  bool
	failure error
}

// Subscribe subscribes to channels and patterns (glob-style) and returns
// once Redis has confirmed every one, within the context's deadline or
// the client's timeout. The subscription lives until Close or until ctx
// ends. A subscriber that falls behind is ended with
// CodeResourceExhausted; a lost connection with CodeUnavailable.
func (r *RedisClient) Subscribe(ctx context.Context, channels, patterns []string) (*Subscription, error) {
	streamCtx, cancel := context.WithCancel(ctx)
	confirmed := make(chan struct{})
	go func() {
		// The wait for the confirmation has a deadline; the stream has none.
		wait, stop := withDefaultDeadline(ctx, r.c.timeout)
		defer stop()
		select {
		case <-confirmed:
		case <-wait.Done():
			cancel()
		}
	}()
	stream, err := r.rpc.Subscribe(streamCtx, connect.NewRequest(&redisv1.SubscribeRequest{Channels: channels, Patterns: patterns}))
	if err != nil {
		close(confirmed)
		cancel()
		return nil, asError(err)
	}
	s := &Subscription{stream: stream, cancel: cancel}
	ok := stream.Receive()
	close(confirmed)
	if !ok || stream.Msg().GetSubscribed() == nil {
		err := s.end()
		if err == nil {
			err = newError(CodeUnavailable, "the subscription ended before Redis confirmed it")
		}
		if ctx.Err() == nil && streamCtx.Err() != nil {
			err = newError(CodeDeadlineExceeded, "Redis did not confirm the subscription within %s", r.c.timeout)
		}
		cancel()
		_ = stream.Close()
		return nil, err
	}
	return s, nil
}

func (s *Subscription) end() error {
	err := s.stream.Err()
	if err == nil {
		return nil
	}
	return asError(err)
}

// Receive waits for the next message. After Close it returns ErrClosed;
// when the stream ends, the error that ended it.
func (s *Subscription) Receive() (RedisMessage, error) {
	for s.stream.Receive() {
		if m := s.stream.Msg().GetMessage(); m != nil {
			return RedisMessage{Channel: m.GetChannel(), Pattern: m.GetPattern(), Payload: m.GetPayload()}, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return RedisMessage{}, ErrClosed
	}
	if s.failure == nil {
		s.failure = s.end()
		if s.failure == nil {
			s.failure = newError(CodeUnavailable, "the sidecar ended the subscription")
		}
	}
	return RedisMessage{}, s.failure
}

// Messages ranges over the messages until the subscription fails (the
// failure is yielded once, then the loop ends) or is closed (the loop just
// ends). Leaving the loop early leaves the subscription open.
func (s *Subscription) Messages() iter.Seq2[RedisMessage, error] {
	return func(yield func(RedisMessage, error) bool) {
		for {
			m, err := s.Receive()
			if err != nil {
				if errors.Is(err, ErrClosed) {
					return
				}
				yield(RedisMessage{}, err)
				return
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// Close unsubscribes.
func (s *Subscription) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	_ = s.stream.Close()
	return nil
}

// Helpers for common commands.

// Get is GET: the value, nil if the key is missing.
func (r *RedisClient) Get(ctx context.Context, key string) (RedisValue, error) {
	return r.Do(ctx, "GET", key)
}

// GetCached is GET through the cache (see DoCached), with the sidecar's
// default TTL.
func (r *RedisClient) GetCached(ctx context.Context, key string) (RedisValue, error) {
	v, _, err := r.DoCached(ctx, 0, "GET", key)
	return v, err
}

// SetOptions are SET's options.
type SetOptions struct {
	// TTL expires the key after this long (PX), rounded down to the
	// millisecond; 0 keeps it.
	TTL time.Duration
	// NX sets the key only if it does not exist.
	NX bool
}

// Set is SET; false when NX was given and the key existed.
func (r *RedisClient) Set(ctx context.Context, key string, value any, o ...SetOptions) (bool, error) {
	args := []any{"SET", key, value}
	for _, opt := range o {
		if opt.TTL > 0 {
			args = append(args, "PX", opt.TTL.Milliseconds())
		}
		if opt.NX {
			args = append(args, "NX")
		}
	}
	v, err := r.Do(ctx, args...)
	return !v.IsNil(), err
}

// Del is DEL: how many of the keys existed.
func (r *RedisClient) Del(ctx context.Context, keys ...string) (int64, error) {
	return r.int(r.Do(ctx, append([]any{"DEL"}, strs(keys)...)...))
}

// Incr is INCR: the new value.
func (r *RedisClient) Incr(ctx context.Context, key string) (int64, error) {
	return r.int(r.Do(ctx, "INCR", key))
}

// Expire is EXPIRE, rounded down to the second; false if the key does not
// exist.
func (r *RedisClient) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	n, err := r.int(r.Do(ctx, "EXPIRE", key, int64(ttl/time.Second)))
	return n == 1, err
}

// HGet is HGET: nil if the key or the field is missing.
func (r *RedisClient) HGet(ctx context.Context, key, field string) (RedisValue, error) {
	return r.Do(ctx, "HGET", key, field)
}

// HSet is HSET of several fields: how many were new.
func (r *RedisClient) HSet(ctx context.Context, key string, fields map[string]any) (int64, error) {
	args := []any{"HSET", key}
	for f, v := range fields {
		args = append(args, f, v)
	}
	return r.int(r.Do(ctx, args...))
}

// HGetAll is HGETALL as text.
func (r *RedisClient) HGetAll(ctx context.Context, key string) (map[string]string, error) {
	v, err := r.Do(ctx, "HGETALL", key)
	if err != nil {
		return nil, err
	}
	return v.StringMap()
}

// MGet is MGET: one value per key, nil for a missing one.
func (r *RedisClient) MGet(ctx context.Context, keys ...string) ([]RedisValue, error) {
	v, err := r.Do(ctx, append([]any{"MGET"}, strs(keys)...)...)
	if err != nil {
		return nil, err
	}
	return v.Slice()
}

func (r *RedisClient) int(v RedisValue, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	n, err := v.Int64()
	if errors.Is(err, ErrNil) {
		return 0, nil
	}
	return n, err
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// millis is a duration as the wire's whole milliseconds, 0 for none.
func millis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Millisecond)
}

package attache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

// cli runs redis-cli on the test server: the independent client.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-p", redisPort}, args...)...).Output()
	if err != nil {
		t.Fatalf("redis-cli %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func TestRedisHelpersAndTypedValues(t *testing.T) {
	ctx := context.Background()
	r := client.Redis
	k := name("greeting")
	equal(t, must[bool](t)(r.Set(ctx, k, "héllo")), true, "SET")
	equal(t, must[bool](t)(r.Set(ctx, k, "x", attache.SetOptions{NX: true})), false, "SET NX of an existing key")
	equal(t, must[attache.RedisValue](t)(r.Get(ctx, k)).String(), "héllo", "GET")
	equal(t, cli(t, "GET", k), "héllo", "redis-cli GET")
	missing := must[attache.RedisValue](t)(r.Get(ctx, name("missing")))
	equal(t, missing.IsNil(), true, "missing key is nil")
	if _, err := missing.Text(); !errors.Is(err, attache.ErrNil) {
		t.Fatalf("Text of nil: %v", err)
	}

	n := name("n")
	equal(t, must[int64](t)(r.Incr(ctx, n)), int64(1), "INCR")
	equal(t, must[int64](t)(must[attache.RedisValue](t)(r.Get(ctx, n)).Int64()), int64(1), "a counter read back as Int64")
	equal(t, must[bool](t)(r.Expire(ctx, n, 100*time.Second)), true, "EXPIRE")
	equal(t, cli(t, "TTL", n), "100", "redis-cli TTL")
	equal(t, must[bool](t)(r.Set(ctx, name("px"), 1.5, attache.SetOptions{TTL: time.Minute})), true, "SET PX")

	h := name("h")
	equal(t, must[int64](t)(r.HSet(ctx, h, map[string]any{"a": "1", "b": 2})), int64(2), "HSET")
	equal(t, must[attache.RedisValue](t)(r.HGet(ctx, h, "b")).String(), "2", "HGET")
	all := must[map[string]string](t)(r.HGetAll(ctx, h))
	equal(t, fmt.Sprint(all), "map[a:1 b:2]", "HGETALL")
	got := must[[]attache.RedisValue](t)(r.MGet(ctx, k, "no-such-key-"+k))
	equal(t, got[0].String(), "héllo", "MGET first")
	equal(t, got[1].IsNil(), true, "MGET missing")
	equal(t, must[int64](t)(r.Del(ctx, k, n, h)), int64(3), "DEL")

	// Binary-safe bulk strings.
	bin := name("bin")
	payload := []byte{0, 255, 13, 10}
	must[attache.RedisValue](t)(r.Do(ctx, "SET", bin, payload))
	b := must[[]byte](t)(must[attache.RedisValue](t)(r.Do(ctx, "GET", bin)).Bytes())
	if !bytes.Equal(b, payload) {
		t.Fatalf("binary value % x", b)
	}
	// RESP3 types: doubles, booleans, maps, sets, integers from arguments.
	z := name("z")
	must[attache.RedisValue](t)(r.Do(ctx, "ZADD", z, 1.5, "a", 2, "b"))
	score := must[float64](t)(must[attache.RedisValue](t)(r.Do(ctx, "ZSCORE", z, "a")).Float64())
	equal(t, score, 1.5, "ZSCORE as a double")
	s := name("s")
	must[attache.RedisValue](t)(r.Do(ctx, "SADD", s, "x", "y"))
	members := must[attache.RedisValue](t)(r.Do(ctx, "SMEMBERS", s))
	equal(t, members.Kind(), attache.KindSet, "SMEMBERS kind")
	strs := must[[]string](t)(members.Strings())
	slices.Sort(strs)
	equal(t, fmt.Sprint(strs), "[x y]", "set members")
	yes := must[bool](t)(must[attache.RedisValue](t)(r.Do(ctx, "SISMEMBER", s, "x")).Bool())
	equal(t, yes, true, "SISMEMBER")
	hm := name("hm")
	must[int64](t)(r.HSet(ctx, hm, map[string]any{"only": 1}))
	hv := must[attache.RedisValue](t)(r.Do(ctx, "HGETALL", hm))
	equal(t, hv.Kind(), attache.KindMap, "HGETALL is a RESP3 map")
	pairs := must[[]attache.RedisPair](t)(hv.Map())
	if len(pairs) != 1 || pairs[0].Key.String() != "only" || must[int64](t)(pairs[0].Value.Int64()) != 1 {
		t.Fatalf("HGETALL map %#v", hv)
	}

	// A top-level error reply is a *RedisError.
	_, err := r.Do(ctx, "INCR", bin)
	var rerr *attache.RedisError
	if !errors.As(err, &rerr) || !strings.Contains(rerr.Message, "not an integer") || rerr.Prefix() != "ERR" {
		t.Fatalf("INCR of a binary value: %v", err)
	}
	_, err = r.Do(ctx, "SET", bin, struct{}{})
	wantCode(t, err, attache.CodeInvalidArgument, "args[2]")
}

func TestRedisDoMultiAndTransactions(t *testing.T) {
	ctx := context.Background()
	k, bin := name("t"), name("bin")
	must[attache.RedisValue](t)(client.Redis.Do(ctx, "SET", bin, []byte{0xff}))
	replies := must[[]attache.RedisValue](t)(client.Redis.DoMulti(ctx,
		[]any{"SET", k, 1}, []any{"INCR", bin}, []any{"MULTI"}, []any{"INCR", k}, []any{"INCR", k}, []any{"EXEC"}))
	equal(t, replies[0].String(), "OK", "SET")
	equal(t, replies[1].Kind(), attache.KindError, "an error reply inside DoMulti is a value")
	var rerr *attache.RedisError
	if !errors.As(replies[1].Err(), &rerr) {
		t.Fatalf("Err of an error reply: %v", replies[1].Err())
	}
	exec := must[[]attache.RedisValue](t)(replies[5].Slice())
	equal(t, fmt.Sprint(must[int64](t)(exec[0].Int64()), must[int64](t)(exec[1].Int64())), "2 3", "EXEC replies")
	equal(t, cli(t, "GET", k), "3", "redis-cli reads the transaction's result")
}

func TestRedisCacheIsInvalidatedByWrites(t *testing.T) {
	ctx := context.Background()
	k := name("cached")
	cli(t, "SET", k, "v1")
	v, hit := must2(t)(client.Redis.DoCached(ctx, time.Minute, "GET", k))
	equal(t, [2]any{v.String(), hit}, [2]any{"v1", false}, "first read")
	v, hit = must2(t)(client.Redis.DoCached(ctx, time.Minute, "GET", k))
	equal(t, [2]any{v.String(), hit}, [2]any{"v1", true}, "second read is a hit")
	// A write from another client invalidates the cached reply.
	cli(t, "SET", k, "v2")
	deadline := time.Now().Add(2 * time.Second)
	for {
		v, _ = must2(t)(client.Redis.DoCached(ctx, time.Minute, "GET", k))
		if v.String() == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache still serves v1 after a write")
		}
		time.Sleep(5 * time.Millisecond)
	}
	equal(t, must[attache.RedisValue](t)(client.Redis.GetCached(ctx, k)).String(), "v2", "GetCached")

	other := name("other")
	cli(t, "SET", other, "o")
	values, hits, err := client.Redis.MGetCached(ctx, time.Minute, k, other, name("missing"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, fmt.Sprintln(values[0].String(), values[1].String(), values[2].IsNil()), "v2 o true\n", "MGetCached values")
	if hits < 1 {
		t.Fatalf("MGetCached hits %d; %s was cached", hits, k)
	}

	_, _, err = client.Redis.DoCached(ctx, 0, "SET", k, "x")
	wantCode(t, err, attache.CodeInvalidArgument)
}

func must2(t *testing.T) func(attache.RedisValue, bool, error) (attache.RedisValue, bool) {
	return func(v attache.RedisValue, hit bool, err error) (attache.RedisValue, bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, hit
	}
}

func TestRedisBatch(t *testing.T) {
	ctx := context.Background()
	k := name("b")
	results := must[[]attache.RedisResult](t)(client.Redis.Batch(ctx,
		attache.RedisCmd("SET", k, "1"),
		attache.RedisCmd("INCR", k),
		attache.RedisCachedCmd(time.Minute, "GET", k),
		attache.RedisCachedCmd(time.Minute, "INCR", k), // not cacheable: its own error
		attache.RedisCmd("HGET", k, "f"),               // WRONGTYPE: an error reply
	))
	equal(t, results[0].Value.String(), "OK", "SET")
	equal(t, must[int64](t)(results[1].Value.Int64()), int64(2), "INCR")
	equal(t, results[2].Value.String(), "2", "cached GET")
	wantCode(t, results[3].Err, attache.CodeInvalidArgument)
	var rerr *attache.RedisError
	if !errors.As(results[4].Err, &rerr) || rerr.Prefix() != "WRONGTYPE" {
		t.Fatalf("HGET of a string: %v", results[4].Err)
	}
}

func TestRedisSubscribe(t *testing.T) {
	ctx := context.Background()
	ch := name("news")
	sub, err := client.Redis.Subscribe(ctx, []string{ch}, []string{ch + ".*"})
	if err != nil {
		t.Fatal(err)
	}
	// Confirmed: a publish now reaches us (two subscriptions match).
	equal(t, cli(t, "PUBLISH", ch+".sport", "goal"), "1", "subscribers of the pattern")
	must[attache.RedisValue](t)(client.Redis.Do(ctx, "PUBLISH", ch, "hello"))
	m := must[attache.RedisMessage](t)(sub.Receive())
	equal(t, fmt.Sprint(m.Channel, m.Pattern, string(m.Payload)), fmt.Sprint(ch+".sport", ch+".*", "goal"), "pattern message")
	for m, err := range sub.Messages() {
		if err != nil {
			t.Fatal(err)
		}
		equal(t, fmt.Sprint(m.Channel, m.Pattern, string(m.Payload)), fmt.Sprint(ch, "", "hello"), "channel message")
		break
	}
	sub.Close()
	if _, err := sub.Receive(); !errors.Is(err, attache.ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
}

func TestRedisModuleDisabledAndBackendDown(t *testing.T) {
	ctx := context.Background()
	_, off := newSidecar(t, with(map[string]string{"ATTACHE_REDIS_URL": ""}))
	_, err := off.Redis.Do(ctx, "PING")
	wantCode(t, err, attache.CodeFailedPrecondition, "ATTACHE_REDIS_URL")
	_, _, err = off.Redis.DoCached(ctx, 0, "GET", "k")
	wantCode(t, err, attache.CodeFailedPrecondition)

	_, down := newSidecar(t, with(map[string]string{"ATTACHE_REDIS_URL": fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t))}))
	_, err = down.Redis.Do(ctx, "PING")
	wantCode(t, err, attache.CodeUnavailable)
	_, err = down.Redis.Subscribe(ctx, []string{"c"}, nil)
	wantCode(t, err, attache.CodeUnavailable)
}

func TestRedisDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// BLPOP blocks on a dedicated connection; the deadline ends it.
	_, err := client.Redis.Do(ctx, "BLPOP", name("empty"), 5)
	wantCode(t, err, attache.CodeDeadlineExceeded)
}

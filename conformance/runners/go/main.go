// Command go-runner is the Go SDK's runner of the conformance suite
// (conformance/README.md): it reads one request per line on stdin, runs
// its op through the SDK's public API, and writes one reply per line on
// stdout, after a hello line. Logs go to stderr; nothing else to stdout.
//
//	cd conformance/runners/go && go build -o ../../../target/conformance/go-runner .
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"strings"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

const sdkModule = "github.com/attache-sidecar/attache/sdks/go"

type request struct {
	ID        json.RawMessage `json:"id"`
	Socket    *string         `json:"socket"`
	Op        string          `json:"op"`
	Args      json.RawMessage `json:"args"`
	TimeoutMS *float64        `json:"timeout_ms"`
}

type failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type reply struct {
	ID          json.RawMessage `json:"id"`
	Result      any             `json:"result,omitempty"`
	Error       *failure        `json:"error,omitempty"`
	Unsupported string          `json:"unsupported,omitempty"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("go-runner: ")
	out := bufio.NewWriter(os.Stdout)
	write := func(v any) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			r, _ := v.(reply)
			buf.Reset()
			_ = enc.Encode(reply{ID: r.ID, Error: &failure{Code: "internal", Message: "runner: cannot encode the result: " + err.Error()}})
		}
		_, _ = out.Write(buf.Bytes())
		_ = out.Flush()
	}
	write(obj{"hello": obj{"sdk": "go", "version": sdkVersion()}})

	r := &runner{clients: map[string]*attache.Client{}}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	for in.Scan() {
		line := bytes.TrimSpace(in.Bytes())
		if len(line) == 0 {
			continue
		}
		write(r.handle(line))
	}
	if err := in.Err(); err != nil {
		log.Fatal(err)
	}
}

// sdkVersion is the SDK module's version as built in: v0.0.0, the local
// checkout, through the replace directive.
func sdkVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == sdkModule {
			if dep.Replace != nil {
				return dep.Version + " (local)"
			}
			return dep.Version
		}
	}
	return "unknown"
}

type runner struct {
	clients map[string]*attache.Client // by socket; "" is the one made without a socket option
}

// client is the client of socket, made on first use; nil makes it
// without WithSocket, so that the SDK's default rule finds the socket.
func (r *runner) client(socket *string) (*attache.Client, error) {
	key := ""
	if socket != nil {
		key = *socket
	}
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	var options []attache.Option
	if socket != nil {
		options = append(options, attache.WithSocket(*socket))
	}
	c, err := attache.New(options...)
	if err != nil {
		return nil, err
	}
	r.clients[key] = c
	return c, nil
}

// handle answers one request line; whatever happens, with a reply.
func (r *runner) handle(line []byte) (rep reply) {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return reply{ID: json.RawMessage("null"), Error: &failure{Code: "internal", Message: "runner: bad request line: " + err.Error()}}
	}
	rep.ID = req.ID
	defer func() {
		if p := recover(); p != nil {
			log.Printf("%s: panic: %v\n%s", req.Op, p, debug.Stack())
			rep = reply{ID: req.ID, Error: &failure{Code: "internal", Message: fmt.Sprintf("runner: panic: %v", p)}}
		}
	}()
	op, ok := ops[req.Op]
	if !ok {
		rep.Error = &failure{Code: "internal", Message: "runner: unknown op " + req.Op}
		return rep
	}
	c, err := r.client(req.Socket)
	if err != nil {
		rep.Error = errorOf(err)
		return rep
	}
	ctx := context.Background()
	if req.TimeoutMS != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*req.TimeoutMS*float64(time.Millisecond)))
		defer cancel()
	}
	args := req.Args
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	result, err := op(ctx, c, args)
	if err != nil {
		rep.Error = errorOf(err)
		return rep
	}
	rep.Result = result
	return rep
}

// errorOf names an error as the suite does: the SDK's code, redis_reply
// for a Redis error reply, and internal for anything that is not the
// SDK's error (the runner's own failures included).
func errorOf(err error) *failure {
	var redisErr *attache.RedisError
	if errors.As(err, &redisErr) {
		return &failure{Code: "redis_reply", Message: redisErr.Message}
	}
	var aerr *attache.Error
	if errors.As(err, &aerr) {
		return &failure{Code: aerr.Code().String(), Message: aerr.Message()}
	}
	return &failure{Code: "internal", Message: err.Error()}
}

// handler runs one op.
type handler func(ctx context.Context, c *attache.Client, args json.RawMessage) (any, error)

// op decodes an op's args into A, strictly: a field the runner does not
// know is an error rather than silently ignored.
func op[A any](run func(ctx context.Context, c *attache.Client, args A) (any, error)) handler {
	return func(ctx context.Context, c *attache.Client, raw json.RawMessage) (any, error) {
		var args A
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&args); err != nil {
			return nil, fmt.Errorf("runner: bad args: %w", err)
		}
		return run(ctx, c, args)
	}
}

// enum turns the suite's lower snake case enum names into the SDK's
// spelling, where they differ ("north_east" is GravityNorthEast,
// "northeast"; "read_committed" is ReadCommitted, "read committed").
func enum(name, sep string) string { return strings.ReplaceAll(name, "_", sep) }

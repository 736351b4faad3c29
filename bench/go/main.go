// Command transport is bench/run's Go transport client: round-trip latency
// from Go of a trivial unary call through the SDK (Client.Info, i.e.
// SidecarService.GetInfo: Connect binary over the SDK's own HTTP/1.1
// transport on the Unix socket), beside two raw Unix-socket echoes of 32
// bytes from Go's own net.UnixConn (the floors): one blocking thread per
// connection (`echo`) and tokio (`echo_async`). Each server's CPU per call
// is read from /proc over its run; the servers take turns in rounds so
// drift falls on all of them alike. The same contract as
// bench/node/transport.mjs and bench/php/transport.php.
//
//	transport ATTACHE_SOCKET:PID ECHO_SOCKET:PID ECHO_ASYNC_SOCKET:PID N
//	  -> JSON on stdout.
//
// sdks/go/cmd/transport-bench is the spike that chose the SDK's transport
// (connect-go, grpc-go, hand-written); this one times only what an app gets.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	attache "github.com/attache-sidecar/attache/sdks/go"
)

const rounds = 5

type server struct {
	path string
	pid  int
}

func parseServer(arg string) server {
	at := strings.LastIndexByte(arg, ':')
	if at < 0 {
		fail("want SOCKET:PID, got " + arg)
	}
	pid, err := strconv.Atoi(arg[at+1:])
	check(err)
	return server{path: arg[:at], pid: pid}
}

// cpuNs is the nanoseconds pid has run on a CPU, all its threads
// (schedstat).
func cpuNs(pid int) int64 {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var total int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if field, _, ok := strings.Cut(string(data), " "); ok {
			n, _ := strconv.ParseInt(field, 10, 64)
			total += n
		}
	}
	return total
}

// run holds latencies and the server's CPU time over them.
type run struct {
	samples []int64
	cpu     int64
}

func (r *run) time(pid, warmup, calls int, call func() error) {
	for range warmup {
		check(call())
	}
	before := cpuNs(pid)
	for range calls {
		t := time.Now()
		check(call())
		r.samples = append(r.samples, time.Since(t).Nanoseconds())
	}
	r.cpu += cpuNs(pid) - before
}

func (r *run) report() map[string]any {
	s := slices.Clone(r.samples)
	slices.Sort(s)
	at := func(q float64) float64 { return float64(s[int(math.Round(float64(len(s)-1)*q))]) / 1000 }
	return map[string]any{
		"p50_us": at(0.5), "p99_us": at(0.99), "n": len(s),
		"server_cpu_us_per_call": float64(r.cpu) / float64(len(s)) / 1000,
	}
}

// echoCall is a blocking round trip of 32 bytes on one connection.
func echoCall(path string) func() error {
	conn, err := net.Dial("unix", path)
	check(err)
	out, in := make([]byte, 32), make([]byte, 32)
	for i := range out {
		out[i] = 7
	}
	return func() error {
		if _, err := conn.Write(out); err != nil {
			return err
		}
		_, err := io.ReadFull(conn, in)
		return err
	}
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: transport ATTACHE_SOCKET:PID ECHO_SOCKET:PID ECHO_ASYNC_SOCKET:PID N")
	}
	sidecar, echo, echoAsync := parseServer(os.Args[1]), parseServer(os.Args[2]), parseServer(os.Args[3])
	n, err := strconv.Atoi(os.Args[4])
	check(err)
	perRound, warmup := n/rounds, n/10/rounds

	blocking, tokio := echoCall(echo.path), echoCall(echoAsync.path)
	client, err := attache.New(attache.WithSocket(sidecar.path))
	check(err)
	defer client.Close()
	ctx := context.Background()
	info := func() error { _, err := client.Info(ctx); return err }
	var floor, floorTokio, sdk run
	for range rounds {
		floor.time(echo.pid, warmup, perRound, blocking)
		floorTokio.time(echoAsync.pid, warmup, perRound, tokio)
		sdk.time(sidecar.pid, warmup, perRound, info)
	}
	// A struct, not a map, keeps the keys in the Node and PHP clients' order.
	out, err := json.Marshal(struct {
		Client     string         `json:"client"`
		Floor      map[string]any `json:"floor"`
		FloorTokio map[string]any `json:"floor_tokio"`
		Attache    map[string]any `json:"attache"`
	}{"go", floor.report(), floorTokio.report(), sdk.report()})
	check(err)
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "transport (go):", msg)
	os.Exit(1)
}

// Command transport-bench is the spike that chose the Go SDK's transport:
// sequential SidecarService.GetInfo calls over the Unix socket through
// connect-go (Connect protocol on HTTP/1.1 and on h2c, gRPC protocol on
// h2c), through grpc-go (a `unix:` target), through one hand-written
// Connect request (the least a client can do), and through the SDK as
// shipped, beside the floor: a raw 32-byte echo over a Unix socket to a Go
// process of its own. Variants run in interleaved rounds so that drift on
// a noisy machine hits them alike.
//
//	cd sdks/go/cmd/transport-bench
//	go run . -bin ../../../../target/release/attache -n 20000
//
// It is a module of its own so that grpc-go never enters the SDK's go.mod.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	attache "github.com/attache-sidecar/attache/sdks/go"
	sidecarv1 "github.com/attache-sidecar/attache/sdks/go/gen/attache/sidecar/v1"
	"github.com/attache-sidecar/attache/sdks/go/gen/attache/sidecar/v1/sidecarv1connect"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "echo-server" {
		echoServer(os.Args[2])
		return
	}
	bin := flag.String("bin", os.Getenv("ATTACHE_BIN"), "the attache binary")
	n := flag.Int("n", 20000, "measured calls per variant")
	warmup := flag.Int("warmup", 2000, "calls per variant before measuring")
	rounds := flag.Int("rounds", 5, "interleaved rounds the calls are split into")
	flag.Parse()
	if *bin == "" {
		fail("set -bin or ATTACHE_BIN to the attache binary")
	}

	dir, err := os.MkdirTemp("", "attache-go-bench-")
	check(err)
	defer os.RemoveAll(dir)
	sidecarSock := filepath.Join(dir, "attache.sock")
	echoSock := filepath.Join(dir, "echo.sock")

	sidecar := exec.Command(*bin, "run", "--socket", sidecarSock, "--admin", "off")
	sidecar.Env = append(os.Environ(), "ATTACHE_LOG_LEVEL=warn", "ATTACHE_KAFKA_SPOOL_DIR="+filepath.Join(dir, "spool"))
	sidecar.Stderr = os.Stderr
	check(sidecar.Start())
	defer stop(sidecar)
	self, err := os.Executable()
	check(err)
	echo := exec.Command(self, "echo-server", echoSock)
	echo.Stderr = os.Stderr
	check(echo.Start())
	defer stop(echo)
	waitSocket(sidecarSock)
	waitSocket(echoSock)

	ctx := context.Background()
	variants := []variant{
		{name: "floor: raw Go echo, 32 B", call: echoCall(echoSock)},
		{name: "connect-go, Connect, HTTP/1.1", call: connectCall(sidecarSock, false)},
		{name: "connect-go, Connect, h2c", call: connectCall(sidecarSock, true)},
		{name: "connect-go, gRPC, h2c", call: connectCall(sidecarSock, true, connect.WithGRPC())},
		{name: "grpc-go, unix: target", call: grpcCall(sidecarSock)},
		{name: "hand-written Connect request, HTTP/1.1 (reference)", call: rawCall(sidecarSock)},
		{name: "the SDK (Client.Info): Connect, hand-written HTTP/1.1, pooled", call: sdkCall(sidecarSock)},
	}
	for i := range variants {
		for range *warmup {
			check(variants[i].call(ctx))
		}
	}
	per := *n / *rounds
	for range *rounds {
		for i := range variants {
			for range per {
				start := time.Now()
				check(variants[i].call(ctx))
				variants[i].samples = append(variants[i].samples, time.Since(start))
			}
		}
	}

	floor := percentile(variants[0].samples, 50)
	fmt.Printf("%d sequential calls each (%d rounds, %d warm-up), %s, %d CPUs, %s\n\n",
		per**rounds, *rounds, *warmup, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format(time.DateOnly))
	fmt.Println("| transport | p50 | p99 | p50 over the floor |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for _, v := range variants {
		p50, p99 := percentile(v.samples, 50), percentile(v.samples, 99)
		fmt.Printf("| %s | %s | %s | %s |\n", v.name, us(p50), us(p99), us(p50-floor))
	}
}

type variant struct {
	name    string
	call    func(context.Context) error
	samples []time.Duration
}

func echoCall(path string) func(context.Context) error {
	conn, err := net.Dial("unix", path)
	check(err)
	out, in := make([]byte, 32), make([]byte, 32)
	return func(context.Context) error {
		if _, err := conn.Write(out); err != nil {
			return err
		}
		_, err := io.ReadFull(conn, in)
		return err
	}
}

func echoServer(path string) {
	l, err := net.Listen("unix", path)
	check(err)
	for {
		conn, err := l.Accept()
		check(err)
		go func() {
			buf := make([]byte, 32)
			for {
				if _, err := io.ReadFull(conn, buf); err != nil {
					return
				}
				if _, err := conn.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

func connectCall(path string, h2c bool, opts ...connect.ClientOption) func(context.Context) error {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	transport := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16}
	if h2c {
		transport.Protocols = new(http.Protocols)
		transport.Protocols.SetUnencryptedHTTP2(true)
	}
	client := sidecarv1connect.NewSidecarServiceClient(&http.Client{Transport: transport}, "http://localhost", opts...)
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := client.GetInfo(ctx, connect.NewRequest(&sidecarv1.GetInfoRequest{}))
		return err
	}
}

// rawCall is the least a client can do: one write of a fixed Connect
// request and a read of the reply, on one keep-alive connection. It is
// no transport to ship (no pooling, no errors, no deadlines); it shows
// how much of a call is the sidecar's own cost.
func rawCall(path string) func(context.Context) error {
	conn, err := net.Dial("unix", path)
	check(err)
	request := []byte("POST " + sidecarv1connect.SidecarServiceGetInfoProcedure + " HTTP/1.1\r\nhost: localhost\r\n" +
		"content-type: application/proto\r\nconnect-protocol-version: 1\r\nconnect-timeout-ms: 10000\r\ncontent-length: 0\r\n\r\n")
	reader := bufio.NewReader(conn)
	return func(context.Context) error {
		if _, err := conn.Write(request); err != nil {
			return err
		}
		resp, err := http.ReadResponse(reader, nil)
		if err != nil {
			return err
		}
		var reply sidecarv1.GetInfoResponse
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
		}
		return proto.Unmarshal(body, &reply)
	}
}

// sdkCall is what an app gets: attache.Client.Info.
func sdkCall(path string) func(context.Context) error {
	client, err := attache.New(attache.WithSocket(path))
	check(err)
	return func(ctx context.Context) error {
		_, err := client.Info(ctx)
		return err
	}
}

func grpcCall(path string) func(context.Context) error {
	conn, err := grpc.NewClient("unix:"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	check(err)
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var reply sidecarv1.GetInfoResponse
		return conn.Invoke(ctx, sidecarv1connect.SidecarServiceGetInfoProcedure, &sidecarv1.GetInfoRequest{}, &reply)
	}
}

func percentile(samples []time.Duration, p int) time.Duration {
	s := slices.Clone(samples)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3) }

func waitSocket(path string) {
	for range 500 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	fail("nothing answers on " + path)
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "transport-bench:", msg)
	os.Exit(1)
}

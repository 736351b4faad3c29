package attache

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		name, wire string
		status     int
		body       string
		keep       bool
	}{
		{"sized", "HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\ncontent-length: 3\r\n\r\nabc", 200, "abc", true},
		{"chunked with a trailer", "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\nX-Trailer: 1\r\n\r\n", 400, "abc", true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, "", false},
		{"HTTP/1.0", "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 1\r\n\r\nx", 503, "x", false},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nrest", 200, "rest", false},
	} {
		wire := c.wire
		if c.keep {
			wire += "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
		}
		r := bufio.NewReader(strings.NewReader(wire))
		status, body, keep, err := readReply(r)
		if err != nil || status != c.status || string(body) != c.body || keep != c.keep {
			t.Errorf("%s: got %d %q keep=%v %v", c.name, status, body, keep, err)
			continue
		}
		if keep { // the next reply on the connection reads cleanly
			if status, _, _, err := readReply(r); err != nil || status != 204 {
				t.Errorf("%s: the next reply: %d %v", c.name, status, err)
			}
		}
	}
	for _, bad := range []string{"SPDY/3 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"} {
		if _, _, _, err := readReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestConnectErrorBody(t *testing.T) {
	// ErrorInfo{reason: "23505", domain: "postgres", metadata: {sqlstate: 23505}} as protobuf, unpadded base64.
	body := `{"code":"already_exists","message":"duplicate key","details":[{"type":"attache.sidecar.v1.ErrorInfo","value":"CgUyMzUwNRIIcG9zdGdyZXMaEQoIc3Fsc3RhdGUSBTIzNTA1"}]}`
	e := connectError(409, []byte(body)).(*Error)
	if e.Code() != CodeAlreadyExists || e.Message() != "duplicate key" || e.Reason() != "23505" || e.Domain() != "postgres" || e.SQLState() != "23505" {
		t.Fatalf("decoded %v %q %q %v", e, e.Reason(), e.Domain(), e.Metadata())
	}
	// Only the JSON debug copy.
	body = `{"code":"invalid_argument","message":"m","details":[{"type":"type.googleapis.com/attache.sidecar.v1.ErrorInfo","value":"!!","debug":{"reason":"42601","metadata":{"position":7}}}]}`
	e = connectError(400, []byte(body)).(*Error)
	if e.Code() != CodeInvalidArgument || e.Reason() != "42601" || e.Position() != "7" {
		t.Fatalf("from debug: %v %v", e, e.Metadata())
	}
	// Not a Connect body: the HTTP status decides.
	if e := connectError(503, []byte("<html>")).(*Error); e.Code() != CodeUnavailable {
		t.Fatalf("HTTP 503: %v", e)
	}
}

// alive tells an idle connection still open from one the server closed,
// or one holding bytes nobody asked for, without blocking.
func TestAliveChecksAnIdleConnection(t *testing.T) {
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pair := func() (*conn, net.Conn) {
		t.Helper()
		nc, err := net.Dial("unix", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close(); server.Close() })
		return &conn{Conn: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, server
	}
	c, _ := pair()
	for range 2 { // the check takes nothing from the connection
		if !c.alive() {
			t.Fatal("an open connection is not alive")
		}
	}
	c, server := pair()
	server.Close()
	if c.alive() {
		t.Fatal("a connection the server closed is alive")
	}
	c, server = pair()
	_, _ = server.Write([]byte("x"))
	if c.alive() {
		t.Fatal("a connection holding an unasked byte is alive")
	}
}

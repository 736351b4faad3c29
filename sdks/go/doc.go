// Package attache is the Go client of the attache sidecar: password
// hashing and image resizing off the app's process, Redis/Valkey with a
// host-wide client-side cache, PostgreSQL through one shared pool, and
// Kafka through a durable local spool, over the sidecar's Unix socket.
//
//	client, err := attache.New() // $ATTACHE_SOCKET, else the sidecar's default socket
//	if err != nil { … }
//	hash, err := client.Password.Hash(ctx, "correct horse battery staple")
//
// Key decision: unary calls are the Connect protocol written by hand on
// pooled HTTP/1.1 connections, in the caller's goroutine; streams use
// connect-go's generated clients (bidi ones over h2c). A spike
// (cmd/transport-bench) measured connect-go on net/http, with the Connect
// or gRPC protocol, and grpc-go at 125–210 µs p50 over the raw-socket
// floor per trivial call on a 2-core machine, and this path at ~42 µs.
//
// One policy for every call, shared with the other attache SDKs: the
// context's deadline is the call's (the client's timeout when it has
// none: $ATTACHE_TIMEOUT_MS, else 10 s); calls the proto marks
// NO_SIDE_EFFECTS or IDEMPOTENT that fail with CodeUnavailable are sent
// again (2 retries by default) with capped jittered backoff inside that
// deadline; every failure is an *Error with a Code named as in the Node
// SDK ("invalid_argument", "unavailable", …).
package attache

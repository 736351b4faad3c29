//! Round-trip latency from Rust of a trivial unary RPC
//! (SidecarService.GetInfo), beside two raw Unix-socket echoes of 32 bytes:
//! one blocking thread per connection (`echo`) and tokio (`echo_async`, the
//! same epoll runtime attache serves on). A blocking client against each
//! echo and against attache (a hand-written Connect HTTP/1.1 call: the least
//! a client can do) separates the sidecar's own share from the socket's; the
//! generated connectrpc client (gRPC and Connect over h2c) and the Rust SDK
//! (`attache-client`, its own Connect HTTP/1.1 on tokio) are what a Rust app
//! pays. Each server's CPU per call is read from /proc over its run.
//! The servers take turns in rounds, so drift on a shared machine falls on
//! all of them alike.
//! Usage: transport ATTACHE_SOCKET:PID ECHO_SOCKET:PID ECHO_ASYNC_SOCKET:PID N
//!   -> JSON on stdout.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use attache_bench::{cpu_ns, percentiles};
use attache_proto::attache::sidecar::v1::{GetInfoRequest, SidecarServiceClient};
use connectrpc::Protocol;
use connectrpc::client::{ClientConfig, Http2Connection};

const ROUNDS: usize = 5;

/// Latencies and the server's CPU time over them.
#[derive(Default)]
struct Run {
    samples: Vec<u64>,
    server_cpu_ns: u64,
}

impl Run {
    /// Times `calls` round trips of `call` (after `warmup` untimed ones),
    /// adding the server `pid`'s CPU time over the timed ones.
    fn time(&mut self, pid: u32, warmup: usize, calls: usize, mut call: impl FnMut()) {
        for _ in 0..warmup {
            call();
        }
        let cpu = cpu_ns(pid);
        for _ in 0..calls {
            let t = Instant::now();
            call();
            self.samples.push(t.elapsed().as_nanos() as u64);
        }
        self.server_cpu_ns += cpu_ns(pid) - cpu;
    }

    fn report(self) -> serde_json::Value {
        let n = self.samples.len() as f64;
        let mut out = percentiles(self.samples);
        out["server_cpu_us_per_call"] = serde_json::json!(self.server_cpu_ns as f64 / n / 1000.0);
        out
    }
}

/// A server under test: its socket and its process.
struct Server {
    path: String,
    pid: u32,
}

fn server(arg: &str) -> Server {
    let (path, pid) = arg.rsplit_once(':').expect("SOCKET:PID");
    Server { path: path.to_owned(), pid: pid.parse().expect("pid") }
}

/// A blocking echo round trip of 32 bytes.
fn echo_call(stream: &mut UnixStream) {
    let msg = [7u8; 32];
    let mut buf = [0u8; 32];
    stream.write_all(&msg).unwrap();
    stream.read_exact(&mut buf).unwrap();
}

/// A Connect unary call written and read with blocking socket calls.
fn connect_call(stream: &mut UnixStream, buf: &mut [u8]) {
    const REQUEST: &[u8] = b"POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/proto\r\ncontent-length: 0\r\n\r\n";
    stream.write_all(REQUEST).unwrap();
    // The head, then a body of content-length bytes or chunks up to the
    // empty one.
    let mut got = 0;
    loop {
        got += stream.read(&mut buf[got..]).unwrap();
        let seen = &buf[..got];
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = std::str::from_utf8(&seen[..end]).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
            .map(|(_, v)| v.trim().parse::<usize>().unwrap());
        let done = match length {
            Some(len) => got >= end + 4 + len,
            None => seen.ends_with(b"0\r\n\r\n"),
        };
        if done {
            return;
        }
    }
}

async fn rpc_client(path: &str, protocol: Protocol) -> SidecarServiceClient<connectrpc::client::SharedHttp2Connection> {
    let uri: http::Uri = "http://localhost".parse().unwrap();
    let conn = Http2Connection::connect_unix(path, uri.clone()).await.expect("attache socket");
    SidecarServiceClient::new(conn.shared(64), ClientConfig::new(uri).with_protocol(protocol))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (attache, echo, echo_async) = (server(&args[1]), server(&args[2]), server(&args[3]));
    let n: usize = args[4].parse().unwrap();
    let (per_round, warmup) = (n / ROUNDS, n / 10 / ROUNDS);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut blocking_echo = UnixStream::connect(&echo.path).expect("echo socket");
    let mut tokio_echo = UnixStream::connect(&echo_async.path).expect("echo_async socket");
    let mut h1 = UnixStream::connect(&attache.path).expect("attache socket");
    let grpc = runtime.block_on(rpc_client(&attache.path, Protocol::Grpc));
    let connect = runtime.block_on(rpc_client(&attache.path, Protocol::Connect));
    let sdk = runtime.block_on(attache_client::Client::connect(&attache.path)).expect("attache socket");
    let mut buf = vec![0u8; 4096];
    let [mut floor, mut floor_tokio, mut raw, mut grpc_run, mut connect_run, mut sdk_run] = Default::default();
    for _ in 0..ROUNDS {
        Run::time(&mut floor, echo.pid, warmup, per_round, || echo_call(&mut blocking_echo));
        Run::time(&mut floor_tokio, echo_async.pid, warmup, per_round, || echo_call(&mut tokio_echo));
        Run::time(&mut raw, attache.pid, warmup, per_round, || connect_call(&mut h1, &mut buf));
        Run::time(&mut grpc_run, attache.pid, warmup, per_round, || {
            runtime.block_on(grpc.get_info(GetInfoRequest::default())).expect("GetInfo");
        });
        Run::time(&mut connect_run, attache.pid, warmup, per_round, || {
            runtime.block_on(connect.get_info(GetInfoRequest::default())).expect("GetInfo");
        });
        Run::time(&mut sdk_run, attache.pid, warmup, per_round, || {
            runtime.block_on(sdk.info()).expect("GetInfo");
        });
    }
    println!(
        "{}",
        serde_json::json!({
            "client": "rust",
            "floor": floor.report(),
            "floor_tokio": floor_tokio.report(),
            "attache_connect_h1_blocking": raw.report(),
            "attache": grpc_run.report(),
            "attache_connect_h2": connect_run.report(),
            "attache_sdk": sdk_run.report(),
        })
    );
}

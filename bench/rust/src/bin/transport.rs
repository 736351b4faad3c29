//! Round-trip latency from Rust: raw Unix-socket echo (the floor) and a
//! trivial unary RPC (SidecarService.GetInfo) over gRPC and Connect.
//! Usage: transport ATTACHE_SOCKET ECHO_SOCKET N  -> JSON on stdout.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use attache_bench::percentiles;
use attache_proto::attache::sidecar::v1::{GetInfoRequest, SidecarServiceClient};
use connectrpc::Protocol;
use connectrpc::client::{ClientConfig, Http2Connection};

fn floor(path: &str, n: usize) -> Vec<u64> {
    let mut stream = UnixStream::connect(path).expect("echo socket");
    let msg = [7u8; 32];
    let mut buf = [0u8; 32];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        stream.write_all(&msg).unwrap();
        stream.read_exact(&mut buf).unwrap();
        if i >= n / 10 {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    samples
}

/// A Connect unary call written and read with blocking socket calls: the
/// least a client can do, so what remains is the server's share.
fn raw_connect(path: &str, n: usize) -> Vec<u64> {
    let mut stream = UnixStream::connect(path).expect("attache socket");
    let request = b"POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/proto\r\ncontent-length: 0\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        stream.write_all(request).unwrap();
        // The reply is chunked; it ends with the empty chunk.
        let mut got = 0;
        loop {
            got += stream.read(&mut buf[got..]).unwrap();
            if buf[..got].ends_with(b"0\r\n\r\n") {
                break;
            }
        }
        if i >= n / 10 {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    samples
}

async fn rpc(path: &str, protocol: Protocol, n: usize) -> Vec<u64> {
    let uri: http::Uri = "http://localhost".parse().unwrap();
    let conn = Http2Connection::connect_unix(path, uri.clone()).await.expect("attache socket");
    let client = SidecarServiceClient::new(conn.shared(64), ClientConfig::new(uri).with_protocol(protocol));
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        client.get_info(GetInfoRequest::default()).await.expect("GetInfo");
        if i >= n / 10 {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    samples
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (attache, echo, n) = (&args[1], &args[2], args[3].parse::<usize>().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let floor = percentiles(floor(echo, n));
    let grpc = percentiles(runtime.block_on(rpc(attache, Protocol::Grpc, n)));
    let connect = percentiles(runtime.block_on(rpc(attache, Protocol::Connect, n)));
    println!(
        "{}",
        serde_json::json!({
            "client": "rust",
            "floor": floor,
            "attache": grpc,
            "attache_connect_h2": connect,
            "attache_connect_h1_blocking": percentiles(raw_connect(attache, n)),
        })
    );
}

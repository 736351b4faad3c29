//! Cache-hit latency from Rust: DoCached of a key already in attache's
//! cache, sequentially, over Connect (the generated client, h2c) and as a
//! blocking Connect HTTP/1.1 call (the least a client can do).
//! Usage: redis_hit ATTACHE_SOCKET N  -> JSON on stdout.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use attache_bench::percentiles;
use attache_proto::attache::redis::v1::{DoCachedRequest, RedisServiceClient};
use buffa::Message;
use connectrpc::Protocol;
use connectrpc::client::{ClientConfig, Http2Connection};

fn request() -> DoCachedRequest {
    DoCachedRequest { args: vec![b"GET".to_vec(), b"key:0".to_vec()], ttl_ms: 600_000, ..Default::default() }
}

async fn generated(path: &str, n: usize) -> Vec<u64> {
    let uri: http::Uri = "http://localhost".parse().unwrap();
    let conn = Http2Connection::connect_unix(path, uri.clone()).await.expect("attache socket");
    let client = RedisServiceClient::new(conn.shared(64), ClientConfig::new(uri).with_protocol(Protocol::Connect));
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        let reply = client.do_cached(request()).await.expect("DoCached").into_owned();
        assert!(reply.cache_hit || i == 0, "expected a cache hit");
        if i >= n / 10 {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    samples
}

fn blocking(path: &str, n: usize) -> Vec<u64> {
    let mut stream = UnixStream::connect(path).expect("attache socket");
    let body = request().encode_to_vec();
    let mut message = format!(
        "POST /attache.redis.v1.RedisService/DoCached HTTP/1.1\r\nhost: localhost\r\n\
         content-type: application/proto\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    message.extend_from_slice(&body);
    let mut buf = vec![0u8; 4096];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        stream.write_all(&message).unwrap();
        let mut got = 0;
        loop {
            got += stream.read(&mut buf[got..]).unwrap();
            if buf[..got].ends_with(b"0\r\n\r\n") || content_complete(&buf[..got]) {
                break;
            }
        }
        if i >= n / 10 {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    samples
}

/// Whether a reply with a content-length header has all its body.
fn content_complete(reply: &[u8]) -> bool {
    let text = String::from_utf8_lossy(reply);
    let Some(head_end) = text.find("\r\n\r\n") else { return false };
    let length = text[..head_end]
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().ok()))
        .flatten();
    length.is_some_and(|len| reply.len() >= head_end + 4 + len)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (attache, n) = (&args[1], args[2].parse::<usize>().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let generated = percentiles(runtime.block_on(generated(attache, n)));
    println!(
        "{}",
        serde_json::json!({
            "client": "rust",
            "cache_hit_connect_h2": generated,
            "cache_hit_connect_h1_blocking": percentiles(blocking(attache, n)),
        })
    );
}

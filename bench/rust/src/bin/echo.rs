//! A Unix-socket echo server: the floor every client's round trip is
//! compared with. One blocking thread per connection, the least work a
//! server can do per message.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

fn main() {
    let path = std::env::args().nth(1).expect("usage: echo SOCKET");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || stream.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

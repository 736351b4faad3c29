"""N sequential trivial calls on one connection from a blocking client, for
bench/callgrind and bench/syscalls: `connect` = Connect JSON
SidecarService.GetInfo over HTTP/1.1 keep-alive to attache, `echo` = a
32-byte round trip to a raw echo server.
Usage: calls.py SOCKET N connect|echo"""
import socket
import sys

path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
REQUEST = (b"POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")


def connect_call():
    s.sendall(REQUEST)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    lengths = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
    if lengths:
        while len(rest) < int(lengths[0].split(b":")[1]):
            rest += s.recv(65536)
    else:
        while not rest.endswith(b"0\r\n\r\n"):
            rest += s.recv(65536)


def echo_call():
    s.sendall(b"\x07" * 32)
    got = 0
    while got < 32:
        got += len(s.recv(32 - got))


call = connect_call if mode == "connect" else echo_call
for _ in range(n):
    call()

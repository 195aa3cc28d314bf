#!/usr/bin/env python3
"""Deterministic HTTP load for instruction counts (scripts/instructions_http.sh):
CONNS keep-alive connections; ROUNDS times, each connection sends DEPTH
pipelined `GET PATH` requests in one write, then every connection reads its
DEPTH responses. Prints the number of responses read.

    http_client.py HOST:PORT PATH CONNS DEPTH ROUNDS
"""
import socket
import sys


def read_responses(sock, count, buf):
    """Reads `count` responses (each with a Content-Length body)."""
    done = 0
    while done < count:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            end = head_end + 4 + length
            if len(buf) >= end:
                assert buf.startswith(b"HTTP/1.1 200"), buf[:40]
                buf = buf[end:]
                done += 1
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("server closed the connection")
        buf += chunk
    return buf


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    path, conns, depth, rounds = sys.argv[2], *map(int, sys.argv[3:6])
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() * depth
    socks = [socket.create_connection((host, int(port))) for _ in range(conns)]
    bufs = [b""] * conns
    for _ in range(rounds):
        for s in socks:
            s.sendall(request)
        for i, s in enumerate(socks):
            bufs[i] = read_responses(s, depth, bufs[i])
    for s in socks:
        s.close()
    print(conns * depth * rounds)


if __name__ == "__main__":
    main()

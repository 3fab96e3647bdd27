#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/http_request_fuzz.cc into
tests/app/http_corpus/.

Each seed is: config byte, split point (2 bytes, little-endian), then the
request bytes (see the comment at the top of the fuzz target): valid and
invalid requests, pipelined ones, chunked bodies and request smuggling
attempts. Run from anywhere; rewrites the files.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "app", "http_corpus")

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
HEAD = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"


def seed(config, split, text):
    return bytes([config]) + struct.pack("<H", split) + text


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "get.bin": seed(0, 10, GET),
        "get_curl.bin": seed(0, 30, b"GET /index.html HTTP/1.1\r\n"
                             b"Host: example.com:443\r\nUser-Agent: curl/8\r\n"
                             b"Accept: */*\r\n\r\n"),
        "pipelined.bin": seed(4, 40, GET + HEAD + GET + b"GET / HTTP/1.1\r\n"
                              b"Host: x\r\nConnection: close\r\n\r\n" + GET),
        "pipelined_small_space.bin": seed(8, 3, HEAD + GET + HEAD + HEAD),
        "post_content_length.bin": seed(
            2, 50, b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"\r\nhello" + GET),
        "chunked.bin": seed(
            0, 70, b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
            b"chunked\r\n\r\n5\r\nhello\r\n1b;a=\"b c\"\r\n" + GET +
            b"\r\n0\r\nTrailer: 1\r\n\r\n" + HEAD),
        "http10_keep_alive.bin": seed(
            16, 20, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            b"HEAD / HTTP/1.0\r\n\r\n"),
        "host_ipv6.bin": seed(0, 5, b"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n"
                              b"\r\n" + GET),
        "host_missing.bin": seed(0, 0, GET + b"GET / HTTP/1.1\r\n\r\n" + GET),
        "host_twice.bin": seed(0, 33, b"GET / HTTP/1.1\r\nHost: a\r\n"
                               b"Host: b\r\n\r\n"),
        "host_bad.bin": seed(0, 22, b"GET / HTTP/1.1\r\nHost: a b%4\r\n\r\n"),
        "smuggle_cl_te.bin": seed(
            0, 60, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG" + GET),
        "smuggle_te_twice.bin": seed(
            0, 61, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
            b"\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + GET),
        "smuggle_cl_twice.bin": seed(
            0, 45, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Content-Length: 4\r\n\r\nabcd" + GET),
        "obs_fold.bin": seed(0, 30, b"GET / HTTP/1.1\r\nHost: x\r\n"
                             b"X: a\r\n folded\r\n\r\n"),
        "bare_lf.bin": seed(0, 12, b"\n\nGET / HTTP/1.1\nHost: x\n\n"),
        "long_target.bin": seed(1, 100, b"GET /" + b"a" * 200 +
                                b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        "long_header.bin": seed(1, 10, b"GET / HTTP/1.1\r\nHost: x\r\nX: " +
                                b"v" * 100 + b"\r\n\r\n"),
        "connect.bin": seed(0, 8, b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n"
                            b"\r\n"),
        "garbage.bin": seed(0, 4, b"\x16\x03\x01\x00\x05hello\r\n\r\n"),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

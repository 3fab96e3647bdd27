#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/tls_server_first_flight_fuzz.cc into
tests/tls/handshake/corpus/.

Each seed is: control byte, split point, then a real ClientHello record
from OpenSSL libssl (Python's ssl module over a MemoryBIO, no network).
The control byte picks the server configuration (see the comment at the
top of the fuzz target). Run from anywhere; rewrites the files.
"""
import os
import ssl

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                   "tls", "handshake", "corpus")


def client_hello(sni="server.test", alpn=None, tls12=False, groups=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if not tls12:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "client_hello.bin": bytes([0, 0]) + client_hello(),
        "client_hello_split.bin": bytes([1, 77]) + client_hello(),
        "client_hello_alpn_sni_strict.bin":
            bytes([8, 0]) + client_hello(alpn=["h2", "http/1.1"]),
        "client_hello_retry.bin": bytes([4, 0]) + client_hello(),
        "client_hello_client_auth.bin": bytes([2, 0]) + client_hello(),
        "client_hello_no_sni.bin": bytes([0, 0]) + client_hello(sni=None),
        "client_hello_tls12_only.bin":
            bytes([0, 0]) + client_hello(tls12=True),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/tcp_rx_fuzz.cc into tests/net/tcp_corpus/.

Each seed is a config byte and a script of operations (see the comment at
the top of tcp_rx_fuzz.cc for the encoding). Run from anywhere; rewrites
the files.
"""
import os

SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10
M_MSS, M_WS, M_SACK, M_TS = 0x10, 0x20, 0x40, 0x80


def seg(flow, flags, mode=M_TS, win=0xFF, length=0, extra=(), split=False):
    """A segment; `extra` holds the mode's bytes in order (seq, ack, then
    after window and length: MSS, WS, SACK, TS)."""
    arg = flow | (8 if split else 0)
    pre, post = [], []
    # seq / ack bytes come before window and length.
    e = list(extra)
    if mode & 3 == 2:
        pre.append(e.pop(0))
    elif mode & 3 == 3:
        pre += e[:4]
        e = e[4:]
    if (mode >> 2) & 3 == 1:
        pre.append(e.pop(0))
    elif (mode >> 2) & 3 == 3:
        pre += e[:4]
        e = e[4:]
    post = e
    return bytes([arg << 4 | 0, flags, mode] + pre + [win, length] + post)


def syn(flow, opts=True):
    if not opts:
        return seg(flow, SYN, 0)
    # MSS 64 + 232 * 6 = 1456, window scale 7, SACK-permitted, TS.
    return seg(flow, SYN, M_MSS | M_WS | M_SACK | M_TS, extra=[232, 7, 0])


def ack(flow, **kw):
    return seg(flow, ACK, M_TS, extra=[0], **kw)


def handshake(flow):
    return syn(flow) + ack(flow)


def data(flow, n=None):
    """In-order ACK|PSH data: 100 bytes, or n * 8."""
    if n is None:
        return bytes([flow << 4 | 15])
    return bytes([(flow | 8) << 4 | 15, n])


def clock(b):
    return bytes([0x07, b])


def send(arg, n48):
    """arg picks the handle (mod the handles known) and the piece size."""
    return bytes([arg << 4 | 8, n48])


def consumed(handle, n64):
    return bytes([handle << 4 | 9, n64])


def close(handle):
    return bytes([(handle | 8) << 4 | 10])


def shutdown(handle):
    return bytes([handle << 4 | 10])


def abort(handle):
    return bytes([handle << 4 | 11])


def connect(flow, port443=False):
    return bytes([(flow | (8 if port443 else 0)) << 4 | 12])


def modes(consume=True, unread=False, hold=False):
    return bytes([(consume | unread << 1 | hold << 2) << 4 | 14])


def raw_tcp(b, v6=False):
    arg = 2 if v6 else 0
    return bytes([arg << 4 | 6, len(b) >> 8, len(b) & 0xFF]) + b


SEEDS = {
    "handshake": b"\x00" + handshake(0),
    "handshake_v6_no_options": b"\x07" + syn(4, False) + seg(4, ACK, 0),
    "data_both_ways": b"\x00" + handshake(0) + data(0) + send(0, 10) +
    clock(50) + ack(0) + data(0, 40) + consumed(0, 2) + clock(45),
    "fin_passive_close": b"\x00" + handshake(0) + data(0) +
    seg(0, FIN | ACK, M_TS, extra=[0]) + close(0) + ack(0) + clock(200),
    "fin_active_close": b"\x00" + handshake(1) + send(0, 4) + shutdown(0) +
    ack(1) + seg(1, FIN | ACK, M_TS, extra=[0]) + clock(255),
    "rst": b"\x00" + handshake(0) + seg(0, RST, 0) + handshake(1) +
    seg(1, RST | ACK, M_TS, extra=[0]) + handshake(2) +
    seg(2, RST, 2, extra=[40]),  # in window, not exact: a challenge ACK
    "active_open": b"\x00" + connect(1) +
    seg(1, SYN | ACK, M_MSS | M_WS | M_SACK | M_TS, extra=[100, 2, 0]) +
    send(5, 60) + clock(20) + ack(1) + clock(200) + abort(0),
    "syn_cookies": b"\x40" + syn(0) + syn(1) + syn(2) + ack(2) + ack(1) +
    data(2),
    "loss_and_dupacks": b"\x00" + handshake(0) + send(0, 80) + clock(5) +
    seg(0, ACK, 0x04 | M_SACK | M_TS, extra=[200, 0, 10, 20, 0]) * 4 +
    clock(250) + clock(140) + ack(0),
    "zero_window": b"\x20" + handshake(4) + send(0, 100) +
    seg(4, ACK, M_TS, win=0, extra=[0]) + clock(140) + clock(160) +
    seg(4, ACK, M_TS, extra=[0]) + clock(180),
    "reorder_unread": b"\x00" + handshake(0) + modes(False, True) +
    seg(0, ACK, 2 | M_TS, length=100, extra=[100, 0]) +
    seg(0, ACK | PSH, 1 | M_TS, length=100, extra=[0]) + consumed(0, 1) +
    consumed(0, 255) + close(0) + clock(255),
    "raw_segment": b"\x00" + handshake(0) +
    raw_tcp(bytes.fromhex("9c40005000000000000000007012ffff00000000"
                          "0204ffff01030300")),
}
# Several connections at once, both families, both directions, and long
# enough that libFuzzer's length limit starts past a few operations.
SEEDS["long_session"] = (
    b"\x00" + handshake(0) + handshake(5) + connect(2) +
    seg(2, SYN | ACK, M_MSS | M_SACK | M_TS, extra=[200, 0]) + data(0) +
    data(5, 30) + send(0, 20) + send(1, 20) + send(2, 20) + clock(30) +
    ack(0) + ack(5) + ack(2) + data(2) + modes(True, True) + data(0, 200) +
    seg(5, ACK, 2 | M_TS, length=200, extra=[50, 0]) + data(5) +
    send(3, 200) + clock(60) +
    seg(0, ACK, 0x04 | M_SACK | M_TS, extra=[100, 0, 20, 10, 0]) * 3 +
    clock(100) + consumed(0, 255) + consumed(1, 255) + shutdown(0) +
    seg(0, FIN | ACK, M_TS, extra=[0]) + close(1) + ack(5) +
    seg(5, FIN | ACK, M_TS, extra=[0]) + abort(2) + seg(2, ACK, M_TS,
                                                       extra=[0]) +
    clock(200) + clock(255))


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "tests", "net", "tcp_corpus")
    os.makedirs(out, exist_ok=True)
    for name, b in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(b)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/net_rx_fuzz.cc into tests/net/corpus/.

Each seed is: control byte, split seed, Ethernet frame (see the comment at
the top of net_rx_fuzz.cc). The stack under fuzz is 02:00:00:00:00:02,
198.18.0.2/24 and 2001:db8::2/64; the peer is 02:00:00:00:00:01,
198.18.0.1 and 2001:db8::1. Run from anywhere; rewrites the files.
"""
import os
import struct

OUR_MAC = bytes.fromhex("020000000002")
PEER_MAC = bytes.fromhex("020000000001")
BCAST = b"\xff" * 6
OUR_IP = bytes([198, 18, 0, 2])
PEER_IP = bytes([198, 18, 0, 1])
OUR_IP6 = bytes.fromhex("20010db8000000000000000000000002")
PEER_IP6 = bytes.fromhex("20010db8000000000000000000000001")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst, src, etype, vlan=None):
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack("!H", etype)


def ipv4(src, dst, proto, payload, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000,
                    ttl, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def icmp_echo(data):
    m = struct.pack("!BBHHH", 8, 0, 0, 0x42, 1) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def icmp_frag_needed(mtu, quoted):
    """Destination Unreachable, fragmentation needed (RFC 1191)."""
    m = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quoted
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def ipv6(src, dst, nxt, payload, hop=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nxt, hop) + src + \
        dst + payload


def icmp6(src, dst, mtype, body):
    m = struct.pack("!BBH", mtype, 0, 0) + body
    pseudo = src + dst + struct.pack("!II", len(m), 58)
    return m[:2] + struct.pack("!H", csum(pseudo + m)) + m[4:]


def solicited(a):
    return bytes.fromhex("ff0200000000000000000001ff") + a[13:]


def seed(ctl, split, frame):
    return bytes([ctl, split]) + frame


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "tests", "net", "corpus")
    os.makedirs(out, exist_ok=True)
    arp_req = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC,
                          PEER_IP, b"\0" * 6, OUR_IP)
    arp_rep = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, PEER_MAC,
                          PEER_IP, OUR_MAC, OUR_IP)
    sol = solicited(OUR_IP6)
    ns = icmp6(PEER_IP6, sol, 135,
               b"\0" * 4 + OUR_IP6 + b"\x01\x01" + PEER_MAC)
    na = icmp6(PEER_IP6, OUR_IP6, 136,
               struct.pack("!I", 0x60000000) + PEER_IP6 + b"\x02\x01" +
               PEER_MAC)
    echo6 = icmp6(PEER_IP6, OUR_IP6, 128, struct.pack("!HH", 7, 1) + b"abc")
    hbh = bytes([58, 0, 1, 4, 0, 0, 0, 0])
    # The first 8 bytes of one of our TCP segments (ports 443 -> 50000,
    # a sequence number), quoted by a router's too-big report.
    far4, far6 = bytes([198, 19, 0, 9]), PEER_IP6[:15] + b"\x09"
    tcp8 = struct.pack("!HHI", 443, 50000, 0x01020304)
    frag = icmp_frag_needed(1280, ipv4(OUR_IP, far4, 6, b"\0" * 1480)[:20] +
                            tcp8)
    ptb = icmp6(PEER_IP6, OUR_IP6, 2, struct.pack("!I", 1280) +
                ipv6(OUR_IP6, far6, 6, b"\0" * 1440)[:40] + tcp8)
    seeds = {
        "arp_request": seed(0, 0, eth(BCAST, PEER_MAC, 0x0806) + arp_req),
        "arp_reply_pending": seed(0x20, 0, eth(OUR_MAC, PEER_MAC, 0x0806) +
                                  arp_rep),
        "icmp_echo": seed(0, 0, eth(OUR_MAC, PEER_MAC, 0x0800) +
                          ipv4(PEER_IP, OUR_IP, 1, icmp_echo(b"x" * 33))),
        "icmp_echo_chained": seed(0x03, 17, eth(OUR_MAC, PEER_MAC, 0x0800) +
                                  ipv4(PEER_IP, OUR_IP, 1,
                                       icmp_echo(b"y" * 300))),
        "tcp4": seed(0x04, 0, eth(OUR_MAC, PEER_MAC, 0x0800) +
                     ipv4(PEER_IP, OUR_IP, 6, b"\0" * 20, ttl=0)),
        "vlan_arp": seed(0, 0, eth(BCAST, PEER_MAC, 0x0806, vlan=0) +
                         arp_req),
        "vlan_stripped_echo": seed(0x10, 0, eth(OUR_MAC, PEER_MAC, 0x0800) +
                                   ipv4(PEER_IP, OUR_IP, 1,
                                        icmp_echo(b""))),
        "ns": seed(0, 0, eth(b"\x33\x33" + sol[12:], PEER_MAC, 0x86DD) +
                   ipv6(PEER_IP6, sol, 58, ns, hop=255)),
        "na_pending": seed(0x60, 0, eth(OUR_MAC, PEER_MAC, 0x86DD) +
                           ipv6(PEER_IP6, OUR_IP6, 58, na, hop=255)),
        "icmp6_echo": seed(0, 0, eth(OUR_MAC, PEER_MAC, 0x86DD) +
                           ipv6(PEER_IP6, OUR_IP6, 58, echo6)),
        "icmp6_echo_hbh": seed(0x01, 60, eth(OUR_MAC, PEER_MAC, 0x86DD) +
                               ipv6(PEER_IP6, OUR_IP6, 0, hbh + echo6)),
        "tcp6": seed(0, 0, eth(OUR_MAC, PEER_MAC, 0x86DD) +
                     ipv6(PEER_IP6, OUR_IP6, 6, b"\0" * 20)),
        "icmp_frag_needed": seed(0, 0, eth(OUR_MAC, PEER_MAC, 0x0800) +
                                 ipv4(PEER_IP, OUR_IP, 1, frag)),
        "icmp6_packet_too_big": seed(0, 0, eth(OUR_MAC, PEER_MAC, 0x86DD) +
                                     ipv6(PEER_IP6, OUR_IP6, 58, ptb)),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

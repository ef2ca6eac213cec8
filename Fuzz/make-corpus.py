#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/corpus/<target>/ (deterministic; rerun after changing a harness).
Each seed is a well-formed example of what the harness expects (see Fuzz/Sources/*.swift)."""
import os, struct, zlib, hashlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
seeds = {}

def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, []).append(bytes(data))

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s > 0xFFFF: s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def ipv4(proto, payload, src=b"\x0a\x00\x00\x01", dst=b"\x0a\x01\x00\x02", ttl=64, flags=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, flags, ttl, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload

def tcp_v4(payload=b"", flags=0x10, opts=b"", src=b"\x0a\x00\x00\x01", dst=b"\x0a\x01\x00\x02", seq=1000):
    off = (20 + len(opts)) // 4
    t = struct.pack("!HHIIBBHHH", 8080, 50000, seq, 1, off << 4, flags, 65535, 0, 0) + opts + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(t))
    t = t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]
    return t

def tcp_v6(payload=b"", flags=0x10, opts=b"", src=b"\xfd" + b"\0" * 14 + b"\x01", dst=b"\xfd" + b"\0" * 14 + b"\x02", seq=1000):
    off = (20 + len(opts)) // 4
    t = struct.pack("!HHIIBBHHH", 8080, 50000, seq, 1, off << 4, flags, 65535, 0, 0) + opts + payload
    pseudo = src + dst + struct.pack("!I3xB", len(t), 6)
    t = t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:]
    return t

def ipv6(nh, payload, src=b"\xfd" + b"\0" * 14 + b"\x01", dst=b"\xfd" + b"\0" * 14 + b"\x02", hl=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hl) + src + dst + payload

ETH4 = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
ETH6 = ETH4[:12] + b"\x86\xdd"
VLAN4 = ETH4[:12] + b"\x81\x00\x00\x05\x08\x00"
MSS = b"\x02\x04\x05\xb4\x01\x03\x03\x07"

syn4 = ETH4 + ipv4(6, tcp_v4(flags=0x02, opts=MSS))
syn6 = ETH6 + ipv6(6, tcp_v6(flags=0x02, opts=MSS))
data4 = ETH4 + ipv4(6, tcp_v4(b"x" * 200))
data6 = ETH6 + ipv6(6, tcp_v6(b"y" * 200))
udp4 = ETH4 + ipv4(17, struct.pack("!HHHH", 53, 53, 16, 0) + b"abcdefgh")
icmp4 = ETH4 + ipv4(1, b"\x08\x00\xf7\xff\x00\x00\x00\x00")
frag4 = ETH4 + ipv4(17, b"z" * 600, flags=0)

# request lines and subnets
for l in ["0 peer 17", "1 421 672 0 0 " + "0A" * 64, "2 " + "ab" * 64, "3 " + "cd" * 32, "4 655 12 c", "8", "9",
          "10 1f2e peer 10.1.0.0/16#10", "11 1f2e peer fd00::/64", "12 77 a b 192.0.2.1 655 c 100",
          "13 77 a b", "14 9 a", "15 a b", "16 a b 00112233 427 64 4 0 192.0.2.1 655", "16 a b 00 0 0 0 0", "17 1500",
          "17 -1", "1 913 672 0 0 00", "0 x 17.5", "18 x", "-5", "+17 3"]:
    add("request", l)
for s in ["10.0.0.0/8", "10.1.2.3", "192.168.1.0/24#5", "fd00::/48", "::1", "::ffff:10.0.0.1/128", "2001:db8::1:0:0:1/64#0",
          "00:11:22:33:44:55", "0:1:2:3:4:5#3", "1.2.3.4/33", "fe80::1%eth0", "a:b:c:d:e:f:1:2/128", "10.0.0.0/08", "::/0"]:
    add("subnet", s)

# handshake: mode byte, then (mode 1) flags, cipher/digest/mac/compression table picks, key bytes...
add("handshake", b"\x00" + b"0 peer 17\n1 421 672 0 0 " + b"1" * 128 + b"\n")
for c in range(0, 64, 3):
    add("handshake", bytes([1, 0, c, 0, 2, 0]) + bytes(range(64)) + bytes(64) + b"\x05" * 40)
add("handshake", bytes([1, 2, 0, 0, 0, 0]) + bytes(range(64)) + b"\x10abc" + b"\x03" * 30)

# metastream: count, switch point, suite, key (64), then items
ms = bytes([4, 2, 0]) + bytes(range(64)) + b"\x00\x0b0 peer 17\x00" + b"\x01\x00\x10" + b"P" * 16 + b"\x00\x058 hi\x01\x00\x40" + bytes(64) + b"\x03" * 8
add("metastream", ms)
add("metastream", bytes([2, 0, 3]) + bytes(64) + b"\x00\x0510 1 a\x01\x05\xdc" + b"f" * 1500 + b"\x20" * 8)

# packet-open: suite selector, key material (none), level, plaintext chunk, datagram
frame = ETH4[:0] + data4
seq = struct.pack("!I", 1)
add("packet-open", bytes([0, 0, 5]) + b"hello" + seq + frame)
add("packet-open", bytes([0, 1, 0]) + seq + zlib.compress(frame, 1))
add("packet-open", bytes([0, 9, 0]) + seq + frame)
add("packet-open", bytes([0xC8, 3, 4, 2, 0, 0]) + b"\x01" * 16)

# replay window: bytes, base, ops
add("replay-window", bytes([4, 0]) + bytes([0] * 10 + [0x50, 0x45, 0x20, 0x00] + [0x80, 5, 0x80, 9] + [0xC0, 0, 0, 0, 200]))
add("replay-window", bytes([1, 1]) + bytes([0x80, 1, 0x80, 2, 0x80, 250, 0x80, 3] + [0] * 20))

for lvl, comp in [(1, zlib.compress(frame, 1)), (9, zlib.compress(frame, 9)), (0, frame), (10, b"\x11\x00\x00")]:
    add("decompress", bytes([lvl, 0x05, 0xee]) + comp)
    add("ccompression", bytes([lvl]) + struct.pack("!H", 1518) + b"\x00" + comp)
    add("ccompression", bytes([lvl]) + struct.pack("!H", 4000) + b"\x01" + frame)

# forwarding: edge options x4, subnet count, subnets (owner, kind, bytes, prefix, weight), mode, source, frame
fw = bytes([0, 0, 0, 0, 2, 1, 1, 10, 1, 0, 0, 16, 10, 2, 1, 10, 2, 0, 0, 16, 10, 0x00, 0]) + data4
add("forwarding", fw)
add("forwarding", bytes([0, 0, 0, 0, 1, 1, 0]) + b"\x02\x00\x00\x00\x00\x02" + bytes([5, 0x01, 1]) + data4)
add("forwarding", bytes([0, 0, 0, 0, 1, 2, 2]) + b"\xfd" + bytes(15) + bytes([64, 5, 0x00, 0]) + data6)

for f in [syn4, syn6, VLAN4 + ipv4(6, tcp_v4(flags=0x02, opts=MSS))]:
    add("mss-clamp", struct.pack("!H", 1400) + f)
for f in [data4, data6, udp4, icmp4, ETH4 + ipv4(6, b"", ttl=1)]:
    add("ttl", f)
add("icmp", bytes([0]) + struct.pack("!H", 1400) + b"\x01" + udp4)
add("icmp", bytes([1]) + struct.pack("!H", 1400) + b"\x04" + data4)
add("icmp", bytes([2]) + struct.pack("!H", 1280) + b"\x03" + data6)
add("icmp", bytes([3]) + struct.pack("!H", 1280) + b"\x00" + data6)
add("icmp", bytes([4]) + struct.pack("!H", 200) + b"\x00" + frag4)

def vnet(gso, hdr, size, start, flags=1):
    return struct.pack("<BBHHHH", flags, gso, hdr, size, start, 16)
big4 = ETH4 + ipv4(6, tcp_v4(bytes(range(256)) * 12, flags=0x18))
big6 = ETH6 + ipv6(6, tcp_v6(bytes(range(256)) * 12, flags=0x19))
add("segmenter", vnet(1, 54, 1448, 34) + b"\x00" + big4)
add("segmenter", vnet(4, 74, 1000, 54) + b"\x01" + big6)
add("segmenter", vnet(0x81, 54, 100, 34) + b"\x00" + big4[:800])
add("segmenter", vnet(0, 0, 0, 34) + b"\x00" + data4)

# gro: v6 flag, then ops: 0x00-0x7f template frames (payload u16, bytes), 0x80 raw chunk
add("gro", bytes([0]) + b"".join(bytes([0x00]) + struct.pack("!H", 1000) for _ in range(5)) + bytes([0x20, 0x01, 0x00]))
add("gro", bytes([1]) + b"".join(bytes([0x00]) + struct.pack("!H", 500) for _ in range(3)) + bytes([0x80, 10]) + b"0123456789")

def bgp(t, body):
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), t) + body
def attrs_v4(nh=b"\x0a\x00\x00\x02"):
    return (b"\x40\x01\x01\x00" + b"\x40\x02\x06\x02\x01\x00\x00\xfd\xea" + b"\x40\x03\x04" + nh + b"\x80\x04\x04\x00\x00\x00\x05"
            + b"\xc0\x08\x04\xfd\xea\x00\x01")
def update(withdrawn=b"", attrs=b"", nlri=b""):
    return bgp(2, struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs)) + attrs + nlri)
mp6 = b"\x90\x0e" + struct.pack("!H", 5 + 16 + 1 + 5) + b"\x00\x02\x01\x10" + b"\xfd" + bytes(15) + b"\x00" + b"\x20\xfd\x00\x00\x01"
open_body = struct.pack("!BHHI", 4, 65002, 90, 0x0A000002) + bytes([14, 2, 12, 1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0xfd, 0xea])
msgs = [bgp(1, open_body), bgp(4, b""), bgp(3, b"\x06\x02"), bgp(5, b"\x00\x01\x00\x01"),
        update(attrs=attrs_v4(), nlri=b"\x18\xc0\x00\x02\x10\x0a\x01"), update(withdrawn=b"\x18\xc0\x00\x02"),
        update(attrs=b"\x40\x01\x01\x00\x40\x02\x00" + mp6), update(), update(attrs=b"\x40\x01\x01\x09")]
for i, m in enumerate(msgs):
    add("bgp-codec", bytes([i & 3]) + m)
    add("bgp-session", bytes([0x03]) + bytes([0xff]) + m)
framed = b"".join(bytes([2, len(m) - 19]) + m[19:] for m in msgs[4:7])
add("bgp-session", bytes([0x43]) + framed + bytes([4, 0]))
add("bgp-session", bytes([0x80, 0xff]) + msgs[0] + msgs[1])

def bfd(state, my, your, flags=0, mult=3):
    return struct.pack("!BBBBIIIII", 0x20, (state << 6) | flags, mult, 24, my, your, 300000, 300000, 0)
add("bfd", b"\x01\x2c\x01\x2c\x03\x00" + b"\x00\x18" + bfd(1, 7, 0) + b"\x00\x18" + bfd(3, 7, 0x1234) + b"\x02\x01\x00" + b"\x02\x10\x00")
add("bfd", b"\x00\x10\x00\x10\x01\x01" + b"\x01\x18" + bfd(2, 9, 0x1234, 0x20) + b"\x03\x10")

for h in ["GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD /metrics?x=1 HTTP/1.0\n\n", "POST / HTTP/1.1\r\n\r\n", "GET /\r\n\r\n"]:
    add("metrics-http", h)
for c in ["dump nodes", "--json dump edges", "dump subnets", "dump connections", "dump graph", "info a", "info zz",
          "stats", "--json stats", "show protocols", "debug 3", "retry", "stop", "", "  dump nodes \r"]:
    add("control", c + "\n")

for t, items in seeds.items():
    d = os.path.join(ROOT, t)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    for data in items:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
            f.write(data)
print("seeds:", ", ".join(f"{t} {len(v)}" for t, v in sorted(seeds.items())))

// Targets for the UDP receive pipeline and the TAP side.
import CCompression
import MeshCrypto
import MeshRouting
import TincConfig
import TunTap
@testable import TincDaemon
#if canImport(Glibc)
import Glibc
#endif

/// Packet suites an ANS_KEY can ask for: none/none first so inputs get past the MAC.
let packetSuites: [(c: Int, d: Int, m: Int)] = [(0, 0, 0), (0, 672, 4), (0, 64, 20), (427, 64, 4), (419, 672, 16),
                                                 (421, 64, 4), (904, 0, 0), (93, 4, 16), (91, 64, 4), (1019, 672, 32)]

/// PacketCipher.open on hostile datagrams, a seal/open round trip, then decompression of what opened.
func fuzzPacketOpen(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let sel = r.u8()
    let c: Int, d: Int, m: Int
    if sel < 0xC0 {
        (c, d, m) = packetSuites[Int(sel) % packetSuites.count]
    } else {   // any cipher/digest/MAC-length number an ANS_KEY can carry
        c = pick(&r, cipherNumbers); d = pick(&r, digestNumbers); m = pick(&r, smallNumbers)
    }
    guard let cs = CipherSuite(nid: c), let ds = DigestSuite(nid: d) else { return }
    var km = r.bytes(cs.keyLength + cs.ivLength)
    if cs.isNone && km.isEmpty { km = [1] }
    guard km.count == cs.keyLength + cs.ivLength || cs.isNone,
          let pc = try? PacketCipher(cipher: cs, digest: ds, macLength: m, keyMaterial: km) else { return }
    let level = Int(r.u8() % 13)
    let plain = r.chunk()
    let sealed = pc.seal(plain)
    if !sealed.isEmpty || plain.isEmpty {
        fuzzCheck(sealed.count <= plain.count + pc.overhead, "seal grew by more than the overhead")
        if let back = pc.open(sealed) { fuzzCheck(back == plain, "\(cs.name)/\(ds.name) round trip differs") }
    }
    let datagram = r.rest()
    // The RX worker's buffers: output exactly as large as the datagram (ASan sees any overrun).
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(datagram.count, 1), alignment: 16)
    defer { out.deallocate() }
    let res = datagram.withUnsafeBytes { pc.openResult($0, into: UnsafeMutableRawBufferPointer(rebasing: out[0 ..< datagram.count])) }
    guard case .success(let n) = res else { return }
    fuzzCheck(n <= datagram.count, "open returned \(n) > \(datagram.count)")
    // tinc's receive_udppacket: strip the 4-byte sequence number, decompress into an MTU buffer.
    guard n >= 4 else { return }
    let body = UnsafeRawBufferPointer(rebasing: out[4 ..< n])
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: 1518, alignment: 16)
    defer { frame.deallocate() }
    if let k = PacketCompression.decompress(level: level, body, into: frame) {
        fuzzCheck(k >= 0 && k <= 1518, "decompressed \(k) bytes into 1518")
    }
}

/// tinc 1.0's replay check against a straightforward model: a set of late sequence numbers.
struct ReplayModel {
    var last: UInt32 = 0
    var late = Set<UInt32>()
    var farDrops = 0
    let w: UInt32
    mutating func check(_ seq: UInt32) -> String {
        var lost: UInt32 = 0
        if w > 0 && seq != last &+ 1 {
            if seq >= last &+ w &* 8 {
                if farDrops < Int(w / 4) { farDrops += 1; return "far" }
                lost = seq &- last &- 1
                late.removeAll()
            } else if seq <= last {
                let tooOld = last >= w &* 8 && seq <= last &- w &* 8
                if tooOld || !late.contains(seq) { return "replayed" }
            } else {
                var s = last &+ 1
                while s < seq { late.insert(s); s &+= 1 }
            }
        }
        farDrops = 0
        late.remove(seq)
        // Entries that fell out of the window can never be accepted again.
        if seq > last {
            last = seq
            if w > 0, last >= w &* 8 { late = late.filter { $0 > last &- w &* 8 } }
        }
        return lost > 0 ? "lost \(lost)" : "accept"
    }
}

func fuzzReplayWindow(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let bytes = Int(r.u8() % 9)
    var win = ReplayWindow(bytes: bytes)
    var model = ReplayModel(w: UInt32(bytes))
    var base: UInt32 = r.u8() & 1 == 0 ? 0 : UInt32.max - 300
    while r.remaining >= 2 {
        let op = r.u8()
        let seq: UInt32
        switch op >> 6 {
        case 0: seq = model.last &+ 1
        case 1: seq = model.last &+ UInt32(op & 0x3F) &- 32
        case 2: seq = base &+ UInt32(r.u8())
        default: seq = r.u32()
        }
        base &+= 1
        let got: String
        switch win.check(seq) {
        case .accept: got = "accept"
        case .accepted(let lost): got = "lost \(lost)"
        case .replayed: got = "replayed"
        case .farFuture: got = "far"
        }
        let want = model.check(seq)
        fuzzCheck(got == want, "seq \(seq) window \(bytes): got \(got), model \(want)")
    }
}

/// Decompression (zlib levels 1-9, LZO 10/11) of hostile input into a bounded buffer, and a round trip.
func fuzzDecompress(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let level = Int(Int8(bitPattern: r.u8()))   // includes negative and out-of-range levels
    let maxSize = Int(r.u16())
    let input = r.rest()
    if let out = PacketCompression.decompress(level: level, input, maxSize: maxSize) {
        fuzzCheck(out.count <= maxSize, "decompressed \(out.count) > \(maxSize)")
    }
    if PacketCompression.levels.contains(level), input.count <= 4096, let z = PacketCompression.compress(level: level, input) {
        fuzzCheck(z.count <= PacketCompression.maxCompressedSize(level: level, inputLength: input.count) ?? -1, "compressed past its bound")
        let back = PacketCompression.decompress(level: level, z, maxSize: input.count)
        fuzzCheck(back == input, "level \(level) round trip differs")
    }
}

/// The C shim itself with exactly sized heap buffers, so ASan/UBSan see any overrun in C.
func fuzzCCompression(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let level = Int32(Int8(bitPattern: r.u8()))
    let cap = Int(r.u16()) % 20000
    let compress = r.u8() & 1 == 1
    let input = r.rest()
    let inBuf = UnsafeMutablePointer<UInt8>.allocate(capacity: max(input.count, 1))
    defer { inBuf.deallocate() }
    inBuf.initialize(from: input, count: input.count)
    let out = UnsafeMutablePointer<UInt8>.allocate(capacity: max(cap, 1))
    defer { out.deallocate() }
    let n = compress ? ccz_compress(level, input.isEmpty ? nil : inBuf, input.count, cap == 0 ? nil : out, cap)
                     : ccz_decompress(level, input.isEmpty ? nil : inBuf, input.count, cap == 0 ? nil : out, cap)
    fuzzCheck(n <= cap, "C shim wrote \(n) into \(cap)")
    _ = ccz_bound(level, input.count)
}

// MARK: - forwarding decision

func fuzzForwarding(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let g = MeshGraph(myName: "me")
    let names = ["me", "a", "b", "c"]
    let nodes = names.map { g.lookupOrCreateNode(named: $0) }
    for (x, y) in [(0, 1), (1, 0), (1, 2), (2, 1)] {
        _ = g.addEdge(from: nodes[x], to: nodes[y], address: "192.0.2.\(x + 1)", port: "655", options: UInt32(r.u8() & 0x0f), weight: 10)
    }
    let subnets = Int(r.u8() % 12)
    for _ in 0 ..< subnets {
        let owner = nodes[Int(r.u8()) % nodes.count]
        let kind = r.u8() % 3
        let s: Subnet
        switch kind {
        case 0: s = Subnet(address: .mac(r.bytes(6).padded(6)), weight: Int(r.u8()))
        case 1: s = Subnet(address: .ipv4(r.bytes(4).padded(4), prefix: Int(r.u8() % 33)), weight: Int(r.u8()))
        default: s = Subnet(address: .ipv6(r.bytes(16).padded(16), prefix: Int(r.u8() % 129)), weight: Int(r.u8()))
        }
        _ = g.addSubnet(s, owner: owner)
    }
    _ = g.run()
    var settings = DaemonSettings(name: "me", confDir: "/nonexistent")
    let m = r.u8()
    settings.mode = RoutingMode.allCases[Int(m & 3) % 3]
    settings.broadcast = BroadcastMode.allCases[Int(m >> 2 & 3) % 3]
    settings.forwarding = ForwardingMode.allCases[Int(m >> 4 & 3) % 3]
    settings.decrementTTL = m & 0x40 != 0
    settings.clampMSS = m & 0x80 != 0
    let table = ForwardingTable(graph: g, settings: settings, mstNeighbors: g.mstNeighbors(),
                                pmtu: { _ in (min: 0, mtu: 1518) }, udpAddress: { _ in nil })
    let source = Int32(Int(r.u8()) % (nodes.count + 1)) - 1
    let frame = r.rest()
    let d = frame.withUnsafeBytes { table.decide($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, length: frame.count, source: source) }
    if case .node(let id) = d {
        fuzzCheck(id >= 0 && Int(id) < table.routes.count, "decision names node \(id) outside the table")
        fuzzCheck(table.routes[Int(id)].reachable, "decision sends to unreachable node \(table.names[Int(id)])")
        fuzzCheck(id != table.myID && id != source, "decision sends to myself or back to the source")
    }
}

extension Array where Element == UInt8 {
    func padded(_ n: Int) -> [UInt8] { count >= n ? self : self + [UInt8](repeating: 0, count: n - count) }
}

// MARK: - frame rewriting

/// The TCP (or any) checksum over the pseudo-header of an Ethernet frame; nil if not a plain TCP frame.
func tcpChecksumValid(_ f: [UInt8]) -> Bool? {
    guard f.count >= 14 else { return nil }
    var l3 = 14
    var type = Int(f[12]) << 8 | Int(f[13])
    if type == 0x8100 { guard f.count >= 18 else { return nil }; l3 = 18; type = Int(f[16]) << 8 | Int(f[17]) }
    var pseudo: [UInt8]
    var l4: Int, end: Int
    if type == 0x0800 {
        guard f.count >= l3 + 20, f[l3 + 9] == 6 else { return nil }
        let ihl = Int(f[l3] & 0x0F) * 4
        let total = Int(f[l3 + 2]) << 8 | Int(f[l3 + 3])
        guard ihl >= 20, total >= ihl + 20, l3 + total <= f.count else { return nil }
        l4 = l3 + ihl; end = l3 + total
        pseudo = Array(f[l3 + 12 ..< l3 + 20]) + [0, 6, UInt8((end - l4) >> 8), UInt8((end - l4) & 0xFF)]
    } else if type == 0x86DD {
        guard f.count >= l3 + 40, f[l3 + 6] == 6 else { return nil }
        let plen = Int(f[l3 + 4]) << 8 | Int(f[l3 + 5])
        guard plen >= 20, l3 + 40 + plen <= f.count else { return nil }
        l4 = l3 + 40; end = l4 + plen
        pseudo = Array(f[l3 + 8 ..< l3 + 40]) + [0, 0, UInt8(plen >> 8), UInt8(plen & 0xFF), 0, 0, 0, 6]
    } else { return nil }
    let all = pseudo + Array(f[l4 ..< end])
    var s: UInt32 = 0
    var i = 0
    while i + 1 < all.count { s += UInt32(all[i]) << 8 | UInt32(all[i + 1]); i += 2 }
    if i < all.count { s += UInt32(all[i]) << 8 }
    while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
    return s == 0xFFFF
}

func ipv4HeaderValid(_ f: [UInt8], _ l3: Int) -> Bool {
    let ihl = Int(f[l3] & 0x0F) * 4
    guard ihl >= 20, l3 + ihl <= f.count else { return false }
    var s: UInt32 = 0
    var i = l3
    while i + 1 < l3 + ihl { s += UInt32(f[i]) << 8 | UInt32(f[i + 1]); i += 2 }
    while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
    return s == 0xFFFF
}

func fuzzMSSClamp(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let mtu = Int(r.u16())
    var f = r.rest()
    let before = tcpChecksumValid(f)
    let n = f.count
    let changed = f.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!, length: n, mtu: mtu) }
    if changed, before == true {
        fuzzCheck(tcpChecksumValid(f) == true, "clamped segment has a bad TCP checksum")
    }
}

func fuzzTTL(_ data: UnsafeRawBufferPointer) {
    var f = Array(data)
    let n = f.count
    let v4ok = n >= 34 && f[12] == 0x08 && f[13] == 0 && ipv4HeaderValid(f, 14)
    let oldTTL = n >= 34 ? f[22] : 0
    let keep = f.withUnsafeMutableBytes { TTL.decrement($0.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 8)!, length: n) }
    fuzzCheck(f.count == n, "TTL changed the frame length")
    if v4ok && keep {
        fuzzCheck(f[22] == oldTTL - 1, "TTL not decremented")
        fuzzCheck(ipv4HeaderValid(f, 14), "IPv4 header checksum broken by the TTL decrement")
    }
}

func fuzzICMP(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let op = r.u8()
    let mtu = Int(r.u16())
    let code = r.u8()
    let f = r.rest()
    switch op % 5 {
    case 0:
        if let o = ICMPReply.ipv4(f, code: code) {
            fuzzCheck(o.count <= 14 + 576, "ICMPv4 reply \(o.count) bytes")
            fuzzCheck(ipv4HeaderValid(o, 14), "ICMPv4 reply IP checksum")
        }
    case 1:
        if let o = ICMPReply.fragmentationNeeded(f, mtu: mtu) { fuzzCheck(o.count <= 14 + 576, "frag-needed \(o.count) bytes") }
    case 2:
        if let o = ICMPReply.ipv6(f, code: code) { fuzzCheck(o.count <= 14 + 1280, "ICMPv6 reply \(o.count) bytes") }
    case 3:
        if let o = ICMPReply.packetTooBig(f, mtu: mtu) { fuzzCheck(o.count <= 14 + 1280, "packet-too-big \(o.count) bytes") }
    default:
        let maxPayload = mtu % 1600
        guard let frags = ICMPReply.fragmentIPv4(f, maxPayload: maxPayload) else { return }
        let total = Int(f[16]) << 8 | Int(f[17])
        var joined: [UInt8] = []
        for fr in frags {
            fuzzCheck(fr.count <= 34 + (maxPayload & ~7), "fragment \(fr.count) bytes for payload \(maxPayload)")
            fuzzCheck(ipv4HeaderValid(fr, 14), "fragment IP checksum")
            joined += fr[34...]
        }
        fuzzCheck(joined == Array(f[34 ..< 14 + total]), "fragments do not reassemble to the payload")
    }
}

/// The vnet-header super-frame segmenter: every segment fits the output buffer and the MSS, the
/// payload comes out complete and in order, and checksums are right when the input is consistent.
func fuzzSegmenter(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let hdrBytes = r.bytes(VirtioNetHeader.size).padded(VirtioNetHeader.size)
    let h = hdrBytes.withUnsafeBytes { VirtioNetHeader($0.baseAddress!) }
    let outSize = [1518, 1522, 9018, 65550][Int(r.u8() % 4)]
    var f = r.rest()
    if f.count > TCPCoalescer.capacity { f.removeSubrange(TCPCoalescer.capacity...) }
    let n = f.count
    // Exactly-sized input copy so reads past the frame are caught.
    let inBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(n, 1), alignment: 16)
    defer { inBuf.deallocate() }
    inBuf.copyBytes(from: f)
    var seg = SuperFrameSegmenter()
    guard seg.start(inBuf.baseAddress!, length: n, header: h) else {
        if h.flags & VirtioNetHeader.needsChecksum != 0 {
            SuperFrameSegmenter.completeChecksum(inBuf.baseAddress!, length: n, start: h.checksumStart, offset: h.checksumOffset)
        }
        return
    }
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: outSize, alignment: 16)
    defer { out.deallocate() }
    var payload: [UInt8] = []
    var headerLen = -1
    var segments = 0
    while seg.hasMore {
        let k = seg.next(into: out)
        if k == 0 { break }
        segments += 1
        fuzzCheck(k <= outSize, "segment \(k) > buffer \(outSize)")
        let s = Array(out[0 ..< k])
        let l4 = h.checksumStart
        let thl = Int(s[l4 + 12] >> 4) * 4
        headerLen = l4 + thl
        fuzzCheck(k - headerLen <= h.gsoSize, "segment payload \(k - headerLen) > MSS \(h.gsoSize)")
        payload += s[headerLen...]
        let consistent = (s[12] == 0x08 && s[13] == 0 && Int(s[14] & 0x0F) * 4 + 14 == l4 && s[23] == 6)
            || (s[12] == 0x86 && s[13] == 0xDD && l4 == 54 && s[20] == 6)
        if consistent { fuzzCheck(tcpChecksumValid(s) == true, "segment \(segments) has a bad TCP checksum") }
        fuzzCheck(segments <= 65536, "segmenter does not terminate")
    }
    if headerLen > 0, payload.count == n - headerLen {
        fuzzCheck(payload == Array(f[headerLen...]), "segments do not carry the payload in order")
    }
}

/// GRO: frames offered in order; every written frame fits, and super-frames split back into
/// exactly the frames that went in.
func fuzzGRO(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    var gro = TCPCoalescer()
    defer { gro.deallocate() }
    // A template TCP/IPv4 or IPv6 frame; the input mutates fields and lengths per frame.
    let v6 = r.u8() & 1 == 1
    var inputs: [[UInt8]] = []
    var written: [(hdr: [UInt8], frame: [UInt8])] = []
    func write(_ h: UnsafeRawPointer, _ f: UnsafeRawPointer, _ n: Int) {
        fuzzCheck(n <= TCPCoalescer.capacity, "GRO wrote \(n) bytes")
        written.append((Array(UnsafeRawBufferPointer(start: h, count: VirtioNetHeader.size)), Array(UnsafeRawBufferPointer(start: f, count: n))))
    }
    var seq: UInt32 = 1000
    while r.remaining > 0 && inputs.count < 64 {
        let op = r.u8()
        var f: [UInt8]
        if op & 0x80 != 0 {
            f = r.chunk()
        } else {
            let pay = Int(r.u16() % 1460) + (op & 0x40 != 0 ? 0 : 1)
            f = makeTCPFrame(v6: v6, seq: seq, payload: pay, flags: op & 0x20 != 0 ? 0x18 : 0x10, tweak: op & 0x1F, r: &r)
            seq &+= UInt32(pay)
        }
        inputs.append(f)
        let taken = f.withUnsafeBytes { gro.offer($0.baseAddress!, length: f.count) }
        if !taken {
            gro.flush(write)
            let begun = f.withUnsafeBytes { gro.begin($0.baseAddress!, length: f.count) }
            if !begun { f.withUnsafeBytes { p in [UInt8](repeating: 0, count: VirtioNetHeader.size).withUnsafeBytes { write($0.baseAddress!, p.baseAddress!, f.count) } } }
        }
    }
    gro.flush(write)
    // Splitting every written frame again gives the input frames' payload bytes in order.
    var outBytes = 0, inBytes = 0
    for w in written {
        let h = w.hdr.withUnsafeBytes { VirtioNetHeader($0.baseAddress!) }
        if h.gsoType == 0 { outBytes += w.frame.count; continue }
        var seg = SuperFrameSegmenter()
        let ok = w.frame.withUnsafeBytes { seg.start($0.baseAddress!, length: w.frame.count, header: h) }
        fuzzCheck(ok, "GRO super-frame cannot be segmented")
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 65550, alignment: 16)
        defer { out.deallocate() }
        w.frame.withUnsafeBytes { _ in
            while seg.hasMore {
                let k = seg.next(into: out)
                if k == 0 { break }
                outBytes += k
            }
        }
    }
    for f in inputs { inBytes += f.count }
    fuzzCheck(outBytes == inBytes, "GRO in \(inBytes) bytes, out \(outBytes) after re-segmenting")
}

func makeTCPFrame(v6: Bool, seq: UInt32, payload: Int, flags: UInt8, tweak: UInt8, r: inout FuzzReader) -> [UInt8] {
    var f = [UInt8](repeating: 0, count: 14)
    f[12] = v6 ? 0x86 : 0x08; f[13] = v6 ? 0xDD : 0x00
    let tcpLen = 20 + payload
    if v6 {
        var ip = [UInt8](repeating: 0, count: 40)
        ip[0] = 0x60; ip[4] = UInt8(tcpLen >> 8); ip[5] = UInt8(tcpLen & 0xFF); ip[6] = 6; ip[7] = 64
        ip[8] = 0xfd; ip[23] = 1; ip[24] = 0xfd; ip[39] = 2
        f += ip
    } else {
        var ip: [UInt8] = [0x45, 0, UInt8((20 + tcpLen) >> 8), UInt8((20 + tcpLen) & 0xFF), 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
        if tweak & 1 != 0 { ip[8] = 63 }
        f += ip
    }
    var tcp: [UInt8] = [0x1f, 0x90, 0xc3, 0x50, UInt8(seq >> 24), UInt8(seq >> 16 & 0xFF), UInt8(seq >> 8 & 0xFF), UInt8(seq & 0xFF),
                        0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]
    if tweak & 2 != 0 { tcp[11] = 2 }
    if tweak & 4 != 0 { tcp[13] = 0x12 }
    f += tcp
    f += r.bytes(payload).padded(payload)
    return f
}

/// Router mode's answers to frames it cannot deliver (tinc's route_ipv4_unreachable /
/// route_ipv6_unreachable): an ICMP error from the original destination back to the sender,
/// quoting as much of the original as fits in 576 bytes (IPv4) or 1280 bytes (IPv6).
enum ICMPReply {
    static let v4DestUnreachable: UInt8 = 3
    static let v4FragNeeded: UInt8 = 4
    static let v4NetUnknown: UInt8 = 6, v4HostUnreachable: UInt8 = 1, v4NetUnreachable: UInt8 = 0, v4AdminProhibited: UInt8 = 13
    static let v6DestUnreachable: UInt8 = 1
    static let v6NoRoute: UInt8 = 0, v6AddressUnreachable: UInt8 = 3, v6AdminProhibited: UInt8 = 1

    static func checksum(_ b: ArraySlice<UInt8>, initial: UInt32 = 0) -> UInt16 {
        var s = initial
        var i = b.startIndex
        while i + 1 < b.endIndex { s += UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2 }
        if i < b.endIndex { s += UInt32(b[i]) << 8 }
        while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
        return ~UInt16(s)
    }

    /// ICMPv4 "fragmentation needed" (3/4) telling the sender the next-hop MTU (RFC 1191).
    static func fragmentationNeeded(_ f: [UInt8], mtu: Int) -> [UInt8]? {
        guard var r = ipv4(f, code: v4FragNeeded) else { return nil }
        // The IP header starts at 14, ICMP at 34: bytes 6-7 of the ICMP header carry the MTU.
        r[34 + 6] = UInt8(mtu >> 8 & 0xFF); r[34 + 7] = UInt8(mtu & 0xFF)
        r[34 + 2] = 0; r[34 + 3] = 0
        let c = checksum(r[34...])
        r[34 + 2] = UInt8(c >> 8); r[34 + 3] = UInt8(c & 0xFF)
        return r
    }

    /// ICMPv6 "packet too big" (2/0) with the path MTU.
    static func packetTooBig(_ f: [UInt8], mtu: Int) -> [UInt8]? {
        guard var r = ipv6(f, code: 0) else { return nil }
        r[54] = 2
        r[54 + 4] = UInt8(mtu >> 24 & 0xFF); r[54 + 5] = UInt8(mtu >> 16 & 0xFF)
        r[54 + 6] = UInt8(mtu >> 8 & 0xFF); r[54 + 7] = UInt8(mtu & 0xFF)
        r[54 + 2] = 0; r[54 + 3] = 0
        let c = icmpv6Checksum(src: r[22..<38], dst: r[38..<54], payload: Array(r[54...]))
        r[54 + 2] = UInt8(c >> 8); r[54 + 3] = UInt8(c & 0xFF)
        return r
    }

    /// Splits an Ethernet+IPv4 frame (no IP options) into fragments carrying at most `maxPayload`
    /// bytes of IP payload each (a multiple of 8), as tinc does for non-DF frames above the PMTU.
    static func fragmentIPv4(_ f: [UInt8], maxPayload: Int) -> [[UInt8]]? {
        guard f.count > 34, f[14] == 0x45, maxPayload >= 8 else { return nil }
        let chunk = maxPayload & ~7
        let total = Int(f[16]) << 8 | Int(f[17])
        guard total <= f.count - 14, total > 20 else { return nil }
        let payload = Array(f[34 ..< 14 + total])
        let origOffset = (Int(f[20] & 0x1F) << 8 | Int(f[21])) * 8
        let origMF = f[20] & 0x20 != 0
        var out: [[UInt8]] = []
        var off = 0
        while off < payload.count {
            let n = min(chunk, payload.count - off)
            var frag = Array(f[0..<34]) + payload[off ..< off + n]
            let ipLen = 20 + n
            frag[16] = UInt8(ipLen >> 8); frag[17] = UInt8(ipLen & 0xFF)
            let last = off + n >= payload.count
            let fo = (origOffset + off) / 8
            frag[20] = (f[20] & 0x40) | (last && !origMF ? 0 : 0x20) | UInt8(fo >> 8 & 0x1F)
            frag[21] = UInt8(fo & 0xFF)
            frag[24] = 0; frag[25] = 0
            let c = checksum(frag[14..<34])
            frag[24] = UInt8(c >> 8); frag[25] = UInt8(c & 0xFF)
            out.append(frag)
            off += n
        }
        return out
    }

    /// ICMPv4 destination unreachable for an Ethernet+IPv4 frame; nil for frames that must not get one.
    static func ipv4(_ f: [UInt8], code: UInt8) -> [UInt8]? {
        guard f.count >= 34, f[12] == 0x08, f[13] == 0x00 else { return nil }
        let ihl = Int(f[14] & 0x0F) * 4
        guard ihl >= 20, f.count >= 14 + ihl else { return nil }
        // Never answer an ICMP error with an error, nor non-first fragments.
        if f[23] == 1, f.count > 14 + ihl, [3, 4, 5, 11, 12].contains(f[14 + ihl]) { return nil }
        if (f[20] & 0x1F) != 0 || f[21] != 0 { return nil }
        let quote = Array(f[14..<min(f.count, 14 + 548)])
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45
        let total = 20 + 8 + quote.count
        ip[2] = UInt8(total >> 8); ip[3] = UInt8(total & 0xFF)
        ip[8] = 255; ip[9] = 1
        ip.replaceSubrange(12..<16, with: f[30..<34])   // from the address that could not be reached
        ip.replaceSubrange(16..<20, with: f[26..<30])   // back to the sender
        let ipc = checksum(ip[...])
        ip[10] = UInt8(ipc >> 8); ip[11] = UInt8(ipc & 0xFF)
        var icmp: [UInt8] = [v4DestUnreachable, code, 0, 0, 0, 0, 0, 0] + quote
        let c = checksum(icmp[...])
        icmp[2] = UInt8(c >> 8); icmp[3] = UInt8(c & 0xFF)
        return ethernetSwap(f, type: [0x08, 0x00]) + ip + icmp
    }

    /// ICMPv6 destination unreachable for an Ethernet+IPv6 frame.
    static func ipv6(_ f: [UInt8], code: UInt8) -> [UInt8]? {
        guard f.count >= 54, f[12] == 0x86, f[13] == 0xDD else { return nil }
        if f[20] == 58, f.count > 54, f[54] < 128 { return nil }   // no errors about ICMPv6 errors
        let quote = Array(f[14..<min(f.count, 14 + 1280 - 48)])
        let payloadLen = 8 + quote.count
        var ip = [UInt8](repeating: 0, count: 40)
        ip[0] = 0x60
        ip[4] = UInt8(payloadLen >> 8); ip[5] = UInt8(payloadLen & 0xFF)
        ip[6] = 58; ip[7] = 255
        ip.replaceSubrange(8..<24, with: f[38..<54])
        ip.replaceSubrange(24..<40, with: f[22..<38])
        var icmp: [UInt8] = [v6DestUnreachable, code, 0, 0, 0, 0, 0, 0] + quote
        icmp.withUnsafeMutableBufferPointer { _ in }
        let c = icmpv6Checksum(src: ip[8..<24], dst: ip[24..<40], payload: icmp)
        icmp[2] = UInt8(c >> 8); icmp[3] = UInt8(c & 0xFF)
        return ethernetSwap(f, type: [0x86, 0xDD]) + ip + icmp
    }

    static func icmpv6Checksum(src: ArraySlice<UInt8>, dst: ArraySlice<UInt8>, payload: [UInt8]) -> UInt16 {
        let len = payload.count
        let pseudo = Array(src) + Array(dst) + [UInt8(len >> 24 & 0xFF), UInt8(len >> 16 & 0xFF), UInt8(len >> 8 & 0xFF), UInt8(len & 0xFF), 0, 0, 0, 58]
        return checksum((pseudo + payload)[...])
    }

    static func ethernetSwap(_ f: [UInt8], type: [UInt8]) -> [UInt8] {
        Array(f[6..<12]) + Array(f[0..<6]) + type
    }
}

/// tinc's 3-per-second limit on generated ICMP.
struct ICMPRateLimit {
    private var second = 0
    private var count = 0
    mutating func allow(now: Int) -> Bool {
        if now != second { second = now; count = 0 }
        count += 1
        return count <= 3
    }
}

/// Which device queue an Ethernet frame's flow belongs to: a hash of the IPv4/IPv6 addresses, the
/// protocol and, for TCP/UDP/SCTP, the ports (the inner headers also in switch mode); frames that
/// are not IP go to queue 0. Deterministic per flow, so one flow always uses one queue.
enum FlowHash {
    @inline(__always)
    static func queue(_ f: UnsafeRawPointer, _ len: Int, of count: Int) -> Int {
        guard count > 1, len >= 34 else { return 0 }
        return Int(hash(f, len) % UInt32(count))
    }

    static func hash(_ f: UnsafeRawPointer, _ len: Int) -> UInt32 {
        @inline(__always) func byte(_ i: Int) -> UInt8 { f.load(fromByteOffset: i, as: UInt8.self) }
        var h: UInt32 = 2_166_136_261
        @inline(__always) func mix(_ from: Int, _ n: Int) {
            for i in from..<(from + n) { h = (h ^ UInt32(byte(i))) &* 16_777_619 }
        }
        let type = UInt16(byte(12)) << 8 | UInt16(byte(13))
        var proto: UInt8
        var l4: Int
        if type == 0x0800 {
            let ihl = Int(byte(14) & 0x0F) * 4
            proto = byte(23)
            mix(26, 8)                                   // source and destination address
            // Only a first (or the only) fragment carries the ports.
            let fragmentOffset = (UInt16(byte(20)) << 8 | UInt16(byte(21))) & 0x1FFF
            l4 = fragmentOffset == 0 && ihl >= 20 ? 14 + ihl : -1
        } else if type == 0x86DD, len >= 54 {
            proto = byte(20)
            mix(22, 32)
            l4 = 54
        } else {
            return 0
        }
        h = (h ^ UInt32(proto)) &* 16_777_619
        if l4 > 0 && l4 + 4 <= len && (proto == 6 || proto == 17 || proto == 132) { mix(l4, 4) }
        return h
    }
}

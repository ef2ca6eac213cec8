/// TCP MSS clamping (tinc's ClampMSS): lower the MSS option of TCP segments crossing the tunnel so
/// that full-sized segments fit the path MTU instead of falling back to TCP or being fragmented.
/// `mtu` is the largest frame (Ethernet header included) the path carries.
enum MSSClamp {
    /// Rewrites the MSS in place when it is larger than the path allows. Returns true when changed.
    @discardableResult
    static func clamp(_ f: UnsafeMutableRawPointer, length: Int, mtu: Int) -> Bool {
        guard length >= 14 else { return false }
        @inline(__always) func u8(_ i: Int) -> Int { Int(f.load(fromByteOffset: i, as: UInt8.self)) }
        var start = 14
        var type = u8(12) << 8 | u8(13)
        if type == 0x8100 {   // one VLAN tag
            guard length >= 18 else { return false }
            start += 4
            type = u8(16) << 8 | u8(17)
        }
        if type == 0x0800 {
            guard length >= start + 20, u8(start + 9) == 6 else { return false }
            // Only the first fragment carries the TCP header.
            guard (u8(start + 6) & 0x1F) == 0 && u8(start + 7) == 0 else { return false }
            start += (u8(start) & 0x0F) * 4
        } else if type == 0x86DD {
            guard length >= start + 40, u8(start + 6) == 6 else { return false }
            start += 40
        } else {
            return false
        }
        guard length >= start + 20 else { return false }
        let optionsLength = ((u8(start + 12) >> 4) - 5) * 4
        guard optionsLength > 0, length >= start + 20 + optionsLength else { return false }
        let newMSS = mtu - start - 20
        guard newMSS > 0 else { return false }
        // Walk the options properly (tinc only looks at the first option's length byte).
        var i = start + 20
        let end = start + 20 + optionsLength
        while i < end {
            let kind = u8(i)
            if kind == 0 { return false }          // end of options
            if kind == 1 { i += 1; continue }      // no-op
            guard i + 1 < end else { return false }
            let len = u8(i + 1)
            guard len >= 2, i + len <= end else { return false }
            if kind == 2 && len == 4 {
                let old = u8(i + 2) << 8 | u8(i + 3)
                guard old > newMSS else { return false }
                f.storeBytes(of: UInt8(newMSS >> 8), toByteOffset: i + 2, as: UInt8.self)
                f.storeBytes(of: UInt8(newMSS & 0xFF), toByteOffset: i + 3, as: UInt8.self)
                // Incremental checksum update (RFC 1624): HC' = ~(~HC + ~m + m'). The checksum sums
                // 16-bit words from the start of the TCP header; after an odd number of NOPs the MSS
                // value straddles two words, and its bytes count swapped (one's-complement sums
                // commute with byte swapping, so swapping m and m' is exact).
                let odd = (i + 2 - start) & 1 == 1
                @inline(__always) func word(_ v: Int) -> Int { odd ? (v & 0xFF) << 8 | v >> 8 : v }
                let csumAt = start + 16
                var sum = (~(u8(csumAt) << 8 | u8(csumAt + 1))) & 0xFFFF
                sum += (~word(old)) & 0xFFFF
                sum += word(newMSS)
                while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
                let csum = ~sum & 0xFFFF
                f.storeBytes(of: UInt8(csum >> 8), toByteOffset: csumAt, as: UInt8.self)
                f.storeBytes(of: UInt8(csum & 0xFF), toByteOffset: csumAt + 1, as: UInt8.self)
                return true
            }
            i += len
        }
        return false
    }
}

// Prefix (NLRI) encoding: <length, prefix bytes> (RFC 4271 4.3, RFC 4760 5), optionally
// preceded by a 4-byte path identifier (RFC 7911 3).

enum NLRICodec {
    /// Parses prefixes in `p[start..<end]` straight into `out` (no per-prefix heap work).
    /// Returns false when the field is malformed (a length larger than the family allows
    /// or a prefix running past `end`); prefixes parsed before the error stay in `out`.
    @inline(__always)
    static func parse(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, family: IPPrefix.Family,
                      addPath: Bool, into out: inout [IPPrefix], pathIDs: inout [UInt32]) -> Bool {
        if start >= end { return true }
        if family == .ipv4 && !addPath {
            return parseIPv4(p, start, end, into: &out)
        }
        let maxLen = family == .ipv4 ? 32 : 128
        out.reserveCapacity(out.count + (end - start) / (family == .ipv4 ? 4 : 8) + 1)
        var i = start
        while i < end {
            if addPath {
                guard end - i >= 5 else { return false }
                pathIDs.append(p.wireU32(at: i))
                i += 4
            }
            let len = Int(p[i])
            i += 1
            guard len <= maxLen else { return false }
            let nb = (len + 7) >> 3
            guard end - i >= nb else { return false }
            var hi: UInt64 = 0, lo: UInt64 = 0
            var k = 0
            while k < nb {
                let b = UInt64(p[i + k])
                if k < 8 { hi |= b << UInt64(56 - 8 * k) } else { lo |= b << UInt64(120 - 8 * k) }
                k += 1
            }
            i += nb
            out.append(IPPrefix(family: family, hi: hi, lo: lo, length: len))
        }
        return true
    }

    /// The hot path: IPv4 without path identifiers.
    @inline(__always)
    static func parseIPv4(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, into out: inout [IPPrefix]) -> Bool {
        out.reserveCapacity(out.count + (end - start + 3) / 4)
        var i = start
        while i < end {
            let len = Int(p[i])
            i += 1
            guard len <= 32 else { return false }
            let nb = (len + 7) >> 3
            guard end - i >= nb else { return false }
            var a: UInt32 = 0
            switch nb {
            case 4: a = UInt32(p[i]) << 24 | UInt32(p[i + 1]) << 16 | UInt32(p[i + 2]) << 8 | UInt32(p[i + 3])
            case 3: a = UInt32(p[i]) << 24 | UInt32(p[i + 1]) << 16 | UInt32(p[i + 2]) << 8
            case 2: a = UInt32(p[i]) << 24 | UInt32(p[i + 1]) << 16
            case 1: a = UInt32(p[i]) << 24
            default: break
            }
            i += nb
            out.append(IPPrefix(ipv4: a, length: len))
        }
        return true
    }

    /// Encoded size of one prefix.
    @inline(__always)
    static func encodedSize(_ prefix: IPPrefix, addPath: Bool) -> Int {
        1 + (Int(prefix.length) + 7) / 8 + (addPath ? 4 : 0)
    }

    @inline(__always)
    static func write(_ prefix: IPPrefix, pathID: UInt32?, into w: inout WireWriter) {
        if let id = pathID { w.u32(id) }
        let len = Int(prefix.length)
        w.u8(prefix.length)
        let nb = (len + 7) >> 3
        var k = 0
        while k < nb {
            let b = k < 8 ? prefix.hi >> UInt64(56 - 8 * k) : prefix.lo >> UInt64(120 - 8 * k)
            w.u8(UInt8(truncatingIfNeeded: b))
            k += 1
        }
    }

    static func write(_ prefixes: [IPPrefix], pathIDs: [UInt32], addPath: Bool, into w: inout WireWriter) {
        for (i, p) in prefixes.enumerated() {
            write(p, pathID: addPath ? (i < pathIDs.count ? pathIDs[i] : 0) : nil, into: &w)
        }
    }
}

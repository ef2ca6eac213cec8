// AS_PATH / AS4_PATH segments (RFC 4271 4.3, RFC 5065, RFC 6793).

public enum ASPathSegment: Equatable, Hashable, Sendable {
    case set([UInt32])              // type 1
    case sequence([UInt32])         // type 2
    case confedSequence([UInt32])   // type 3 (RFC 5065)
    case confedSet([UInt32])        // type 4 (RFC 5065)

    public var typeCode: UInt8 {
        switch self {
        case .set: return 1
        case .sequence: return 2
        case .confedSequence: return 3
        case .confedSet: return 4
        }
    }

    public var asns: [UInt32] {
        switch self {
        case .set(let a), .sequence(let a), .confedSequence(let a), .confedSet(let a): return a
        }
    }

    public var isConfederation: Bool {
        switch self {
        case .confedSequence, .confedSet: return true
        default: return false
        }
    }

    func with(_ a: [UInt32]) -> ASPathSegment {
        switch self {
        case .set: return .set(a)
        case .sequence: return .sequence(a)
        case .confedSequence: return .confedSequence(a)
        case .confedSet: return .confedSet(a)
        }
    }

    /// RFC 4271 9.1.2.2 a) path length contribution: a sequence counts each AS, a set
    /// counts 1, confederation segments count 0.
    public var pathLength: Int {
        switch self {
        case .sequence(let a): return a.count
        case .set(let a): return a.isEmpty ? 0 : 1
        case .confedSequence, .confedSet: return 0
        }
    }
}

public enum ASPath {
    /// Path length of a whole AS_PATH (for best-path selection and RFC 6793 merging).
    public static func length(_ path: [ASPathSegment]) -> Int {
        var n = 0
        for s in path { n += s.pathLength }
        return n
    }

    /// Human readable like BIRD: "65001 65002 {65003 65004}".
    public static func string(_ path: [ASPathSegment]) -> String {
        path.map { s -> String in
            let a = s.asns.map(String.init).joined(separator: " ")
            switch s {
            case .sequence: return a
            case .set: return "{" + a + "}"
            case .confedSequence: return "(" + a + ")"
            case .confedSet: return "({" + a + "})"
            }
        }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Reconstructs the 4-byte path from AS_PATH and AS4_PATH (RFC 6793 4.2.3): if the
    /// AS_PATH is shorter than the AS4_PATH, AS4_PATH is ignored; otherwise the leading
    /// (len(AS_PATH) - len(AS4_PATH)) ASes of AS_PATH are prepended to AS4_PATH.
    /// Confederation segments of AS_PATH are kept in front.
    public static func merge(asPath: [ASPathSegment], as4Path: [ASPathSegment]?) -> [ASPathSegment] {
        guard let as4 = as4Path else { return asPath }
        let n2 = length(asPath)
        let n4 = length(as4)
        guard n2 >= n4 else { return asPath }
        var keep = n2 - n4
        var out: [ASPathSegment] = []
        for seg in asPath {
            if keep == 0 {
                if seg.isConfederation { out.append(seg); continue }
                break
            }
            switch seg {
            case .confedSequence, .confedSet:
                out.append(seg)
            case .set:
                out.append(seg)
                keep -= seg.pathLength
            case .sequence(let a):
                if a.count <= keep {
                    out.append(seg)
                    keep -= a.count
                } else {
                    out.append(.sequence(Array(a[..<keep])))
                    keep = 0
                }
            }
        }
        // Join adjacent sequences so "1 2" + "3 4" reads as one segment.
        if case .sequence(let tail)? = out.last, case .sequence(let head)? = as4.first, tail.count + head.count <= 255 {
            out[out.count - 1] = .sequence(tail + head)
            out.append(contentsOf: as4.dropFirst())
        } else {
            out.append(contentsOf: as4)
        }
        return out
    }

    /// Parses AS_PATH / AS4_PATH segments of `asSize` (2 or 4) bytes each.
    /// RFC 7606 7.2: malformed when a segment overruns, a single octet is left over,
    /// a segment length is zero, or the segment type is unknown.
    static func parse(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, asSize: Int) -> (path: [ASPathSegment], error: String?) {
        var segs: [ASPathSegment] = []
        var i = start
        while i < end {
            guard end - i >= 2 else { return (segs, "AS_PATH underrun: one octet left") }
            let t = p[i]
            let count = Int(p[i + 1])
            i += 2
            guard count > 0 else { return (segs, "AS_PATH segment of length 0") }
            guard end - i >= count * asSize else { return (segs, "AS_PATH segment overruns attribute") }
            var asns = [UInt32]()
            asns.reserveCapacity(count)
            for k in 0..<count {
                asns.append(asSize == 4 ? p.wireU32(at: i + 4 * k) : UInt32(p.wireU16(at: i + 2 * k)))
            }
            i += count * asSize
            switch t {
            case 1: segs.append(.set(asns))
            case 2: segs.append(.sequence(asns))
            case 3: segs.append(.confedSequence(asns))
            case 4: segs.append(.confedSet(asns))
            default: return (segs, "unknown AS_PATH segment type \(t)")
            }
        }
        return (segs, nil)
    }

    /// Writes segments, splitting ones longer than 255 ASes. With `asSize` 2, ASNs above
    /// 65535 become AS_TRANS.
    static func write(_ path: [ASPathSegment], asSize: Int, into w: inout WireWriter) {
        for seg in path {
            let a = seg.asns
            if a.isEmpty { continue }
            var from = 0
            while from < a.count {
                let to = min(a.count, from + 255)
                w.u8(seg.typeCode)
                w.u8(UInt8(to - from))
                for k in from..<to {
                    let asn = a[k]
                    if asSize == 4 { w.u32(asn) } else { w.u16(asn > 0xFFFF ? UInt16(BGPWire.asTrans) : UInt16(asn)) }
                }
                from = to
            }
        }
    }

    static func hasFourOctetASN(_ path: [ASPathSegment]) -> Bool {
        for s in path { for a in s.asns where a > 0xFFFF { return true } }
        return false
    }
}

extension PathAttributes {
    /// The AS path to use for routing: AS_PATH, merged with AS4_PATH when the session is
    /// 2-byte (RFC 6793 4.2.3). When AGGREGATOR carries an AS other than AS_TRANS while
    /// AS4_AGGREGATOR is present, AS4_PATH and AS4_AGGREGATOR are ignored.
    public var effectiveASPath: [ASPathSegment] {
        guard let as4 = as4Path else { return asPath }
        if let agg = aggregator, as4Aggregator != nil, agg.as != BGPWire.asTrans { return asPath }
        return ASPath.merge(asPath: asPath, as4Path: as4)
    }

    /// AGGREGATOR with AS4_AGGREGATOR applied (RFC 6793 4.2.3).
    public var effectiveAggregator: Aggregator? {
        guard let agg = aggregator else { return nil }
        if agg.as == BGPWire.asTrans, let a4 = as4Aggregator { return a4 }
        return agg
    }
}

// Path attributes of an UPDATE (RFC 4271 4.3/5, RFC 1997, RFC 4760, RFC 6793) and their
// RFC 7606 error handling.

public enum Origin: UInt8, Sendable, CustomStringConvertible {
    case igp = 0, egp = 1, incomplete = 2
    public var description: String {
        switch self {
        case .igp: return "IGP"
        case .egp: return "EGP"
        case .incomplete: return "Incomplete"
        }
    }
}

/// AGGREGATOR / AS4_AGGREGATOR value.
public struct Aggregator: Equatable, Hashable, Sendable {
    public var `as`: UInt32
    public var address: UInt32
    public init(as asn: UInt32, address: UInt32) {
        self.as = asn
        self.address = address
    }
}

/// An attribute carried opaquely: optional transitive attributes BGPLite does not model
/// (their flags already have the Partial bit set when unrecognized, RFC 4271 5) and the
/// extended / large communities (kept as received, after RFC 7606 length checks).
public struct RawAttribute: Equatable, Hashable, Sendable {
    public var flags: UInt8
    public var type: UInt8
    public var value: [UInt8]
    public init(flags: UInt8, type: UInt8, value: [UInt8]) {
        self.flags = flags
        self.type = type
        self.value = value
    }
}

/// MP_REACH_NLRI (RFC 4760 3).
public struct MPReach: Equatable, Sendable {
    public var afiSafi: AFISAFI
    /// 4 bytes for IPv4; 16 (global) or 32 (global + link-local, RFC 2545) for IPv6.
    public var nextHop: [UInt8]
    public var nlri: [IPPrefix]
    /// Path identifiers, parallel to `nlri`, when ADD-PATH is in use for this family.
    public var pathIDs: [UInt32]

    public init(afiSafi: AFISAFI, nextHop: [UInt8], nlri: [IPPrefix], pathIDs: [UInt32] = []) {
        self.afiSafi = afiSafi
        self.nextHop = nextHop
        self.nlri = nlri
        self.pathIDs = pathIDs
    }

    /// IPv6 next hop(s) as prefixes (/128): (global, link-local).
    public var ipv6NextHops: (global: IPPrefix?, linkLocal: IPPrefix?) {
        func at(_ o: Int) -> IPPrefix? {
            guard nextHop.count >= o + 16 else { return nil }
            return IPPrefix(family: .ipv6, bytes: nextHop[o..<(o + 16)], length: 128)
        }
        return (at(0), nextHop.count >= 32 ? at(16) : nil)
    }

    /// Builds an IPv6 next-hop field from a global and optional link-local address.
    public static func ipv6NextHop(global: IPPrefix, linkLocal: IPPrefix? = nil) -> [UInt8] {
        global.addressBytes + (linkLocal?.addressBytes ?? [])
    }
}

/// MP_UNREACH_NLRI (RFC 4760 4).
public struct MPUnreach: Equatable, Sendable {
    public var afiSafi: AFISAFI
    public var withdrawn: [IPPrefix]
    public var pathIDs: [UInt32]

    public init(afiSafi: AFISAFI, withdrawn: [IPPrefix], pathIDs: [UInt32] = []) {
        self.afiSafi = afiSafi
        self.withdrawn = withdrawn
        self.pathIDs = pathIDs
    }
}

public struct PathAttributes: Equatable, Sendable {
    public var origin: Origin?
    /// AS_PATH as it is on the wire of this session (2-byte sessions: may contain AS_TRANS;
    /// see `effectiveASPath`). On encode: the real 4-byte path.
    public var asPath: [ASPathSegment]
    /// AS4_PATH as received on a 2-byte session (nil otherwise). On encode for a 2-byte
    /// session it is sent as given; when nil it is generated from `asPath` if needed.
    public var as4Path: [ASPathSegment]?
    public var nextHop: UInt32?
    public var med: UInt32?
    public var localPref: UInt32?
    public var atomicAggregate: Bool
    public var aggregator: Aggregator?
    /// AS4_AGGREGATOR (2-byte sessions only), see `effectiveAggregator`.
    public var as4Aggregator: Aggregator?
    public var communities: [UInt32]
    public var mpReach: MPReach?
    public var mpUnreach: MPUnreach?
    /// Optional transitive attributes passed on opaquely (see `RawAttribute`).
    public var unknown: [RawAttribute]

    public init(origin: Origin? = nil, asPath: [ASPathSegment] = [], as4Path: [ASPathSegment]? = nil,
                nextHop: UInt32? = nil, med: UInt32? = nil, localPref: UInt32? = nil,
                atomicAggregate: Bool = false, aggregator: Aggregator? = nil, as4Aggregator: Aggregator? = nil,
                communities: [UInt32] = [], mpReach: MPReach? = nil, mpUnreach: MPUnreach? = nil,
                unknown: [RawAttribute] = []) {
        self.origin = origin
        self.asPath = asPath
        self.as4Path = as4Path
        self.nextHop = nextHop
        self.med = med
        self.localPref = localPref
        self.atomicAggregate = atomicAggregate
        self.aggregator = aggregator
        self.as4Aggregator = as4Aggregator
        self.communities = communities
        self.mpReach = mpReach
        self.mpUnreach = mpUnreach
        self.unknown = unknown
    }

    /// No attribute at all (an UPDATE with only withdrawals, or an End-of-RIB).
    public var isEmpty: Bool { self == PathAttributes() }

    /// Attribute type codes.
    public enum Code {
        public static let origin: UInt8 = 1
        public static let asPath: UInt8 = 2
        public static let nextHop: UInt8 = 3
        public static let med: UInt8 = 4
        public static let localPref: UInt8 = 5
        public static let atomicAggregate: UInt8 = 6
        public static let aggregator: UInt8 = 7
        public static let communities: UInt8 = 8
        public static let originatorID: UInt8 = 9
        public static let clusterList: UInt8 = 10
        public static let mpReach: UInt8 = 14
        public static let mpUnreach: UInt8 = 15
        public static let extendedCommunities: UInt8 = 16
        public static let as4Path: UInt8 = 17
        public static let as4Aggregator: UInt8 = 18
        public static let largeCommunities: UInt8 = 32
    }

    /// Attribute flag bits.
    public enum Flag {
        public static let optional: UInt8 = 0x80
        public static let transitive: UInt8 = 0x40
        public static let partial: UInt8 = 0x20
        public static let extendedLength: UInt8 = 0x10
    }

    static func name(_ type: UInt8) -> String {
        switch type {
        case 1: return "ORIGIN"
        case 2: return "AS_PATH"
        case 3: return "NEXT_HOP"
        case 4: return "MULTI_EXIT_DISC"
        case 5: return "LOCAL_PREF"
        case 6: return "ATOMIC_AGGREGATE"
        case 7: return "AGGREGATOR"
        case 8: return "COMMUNITIES"
        case 9: return "ORIGINATOR_ID"
        case 10: return "CLUSTER_LIST"
        case 14: return "MP_REACH_NLRI"
        case 15: return "MP_UNREACH_NLRI"
        case 16: return "EXTENDED_COMMUNITIES"
        case 17: return "AS4_PATH"
        case 18: return "AS4_AGGREGATOR"
        case 32: return "LARGE_COMMUNITY"
        default: return "attribute \(type)"
        }
    }

    /// The well-known communities (RFC 1997, RFC 8326).
    public static let noExport: UInt32 = 0xFFFF_FF01
    public static let noAdvertise: UInt32 = 0xFFFF_FF02
    public static let noExportSubconfed: UInt32 = 0xFFFF_FF03
    public static let gracefulShutdown: UInt32 = 0xFFFF_0000
}

// MARK: - Encoding

extension PathAttributes {
    /// Writes one attribute header + value, choosing the extended length form when needed.
    @inline(__always)
    static func writeAttribute(_ w: inout WireWriter, flags: UInt8, type: UInt8, value: (inout WireWriter) -> Void) {
        // Always reserve a 2-byte length, then shrink to 1 byte if it fits.
        let start = w.count
        w.u8(flags | Flag.extendedLength)
        w.u8(type)
        w.u16(0)
        value(&w)
        let len = w.count - start - 4
        if len <= 255 && flags & Flag.extendedLength == 0 {
            w.bytes[start] = flags & ~Flag.extendedLength
            w.bytes[start + 2] = UInt8(len)
            w.bytes.remove(at: start + 3)
        } else {
            w.patchU16(at: start + 2, UInt16(truncatingIfNeeded: len))
        }
    }

    static func writeAttribute(_ w: inout WireWriter, flags: UInt8, type: UInt8, bytes: [UInt8]) {
        let ext = bytes.count > 255
        w.u8(ext ? flags | Flag.extendedLength : flags & ~Flag.extendedLength)
        w.u8(type)
        if ext { w.u16(UInt16(truncatingIfNeeded: bytes.count)) } else { w.u8(UInt8(bytes.count)) }
        w.append(contentsOf: bytes)
    }

    /// Writes every attribute except MP_REACH/MP_UNREACH, in type order.
    func encodeAttributes(into w: inout WireWriter, options: CodecOptions) {
        let wk = Flag.transitive
        let optTrans = Flag.optional | Flag.transitive
        let optNonTrans = Flag.optional
        if let o = origin {
            PathAttributes.writeAttribute(&w, flags: wk, type: Code.origin, bytes: [o.rawValue])
        }
        if origin != nil || !asPath.isEmpty {
            let asSize = options.fourOctetAS ? 4 : 2
            PathAttributes.writeAttribute(&w, flags: wk, type: Code.asPath) { w in
                ASPath.write(asPath, asSize: asSize, into: &w)
            }
        }
        if let nh = nextHop {
            var v = WireWriter(capacity: 4); v.u32(nh)
            PathAttributes.writeAttribute(&w, flags: wk, type: Code.nextHop, bytes: v.bytes)
        }
        if let m = med {
            var v = WireWriter(capacity: 4); v.u32(m)
            PathAttributes.writeAttribute(&w, flags: optNonTrans, type: Code.med, bytes: v.bytes)
        }
        if let lp = localPref {
            var v = WireWriter(capacity: 4); v.u32(lp)
            PathAttributes.writeAttribute(&w, flags: wk, type: Code.localPref, bytes: v.bytes)
        }
        if atomicAggregate {
            PathAttributes.writeAttribute(&w, flags: wk, type: Code.atomicAggregate, bytes: [])
        }
        if let agg = aggregator {
            var v = WireWriter(capacity: 8)
            if options.fourOctetAS { v.u32(agg.as) } else { v.u16(agg.as > 0xFFFF ? UInt16(BGPWire.asTrans) : UInt16(agg.as)) }
            v.u32(agg.address)
            PathAttributes.writeAttribute(&w, flags: optTrans, type: Code.aggregator, bytes: v.bytes)
        }
        if !communities.isEmpty {
            PathAttributes.writeAttribute(&w, flags: optTrans, type: Code.communities) { w in
                for c in communities { w.u32(c) }
            }
        }
        if !options.fourOctetAS {
            // RFC 6793 4.2.2: a NEW speaker talking to an OLD one sends AS4_PATH (without
            // confederation segments) when the path holds 4-byte ASNs, and AS4_AGGREGATOR.
            var as4 = as4Path
            if as4 == nil, ASPath.hasFourOctetASN(asPath) {
                as4 = asPath.filter { !$0.isConfederation }
            }
            if let p = as4 {
                PathAttributes.writeAttribute(&w, flags: optTrans, type: Code.as4Path) { w in
                    ASPath.write(p, asSize: 4, into: &w)
                }
            }
            var a4 = as4Aggregator
            if a4 == nil, let agg = aggregator, agg.as > 0xFFFF { a4 = agg }
            if let a = a4 {
                var v = WireWriter(capacity: 8); v.u32(a.as); v.u32(a.address)
                PathAttributes.writeAttribute(&w, flags: optTrans, type: Code.as4Aggregator, bytes: v.bytes)
            }
        }
        for r in unknown {
            PathAttributes.writeAttribute(&w, flags: r.flags, type: r.type, bytes: r.value)
        }
    }

    static func encodeMPReach(_ r: MPReach, into w: inout WireWriter, options: CodecOptions) {
        let addPath = options.sendsPathID(r.afiSafi)
        writeAttribute(&w, flags: Flag.optional, type: Code.mpReach) { w in
            w.u16(r.afiSafi.afi)
            w.u8(r.afiSafi.safi)
            w.u8(UInt8(truncatingIfNeeded: r.nextHop.count))
            w.append(contentsOf: r.nextHop)
            w.u8(0)
            NLRICodec.write(r.nlri, pathIDs: r.pathIDs, addPath: addPath, into: &w)
        }
    }

    static func encodeMPUnreach(_ u: MPUnreach, into w: inout WireWriter, options: CodecOptions) {
        let addPath = options.sendsPathID(u.afiSafi)
        writeAttribute(&w, flags: Flag.optional, type: Code.mpUnreach) { w in
            w.u16(u.afiSafi.afi)
            w.u8(u.afiSafi.safi)
            NLRICodec.write(u.withdrawn, pathIDs: u.pathIDs, addPath: addPath, into: &w)
        }
    }
}

// MARK: - Decoding with RFC 7606 error handling

/// Accumulates the most severe RFC 7606 outcome while decoding an UPDATE.
struct UpdateErrorCollector {
    var level = 0 // 0 none, 1 attribute discard, 2 treat-as-withdraw, 3 AFI/SAFI disable, 4 session reset
    var reasons: [String] = []
    var notification: NotificationMessage?

    mutating func discard(_ r: String) { reasons.append(r); level = max(level, 1) }
    mutating func withdraw(_ r: String) { reasons.append(r); level = max(level, 2) }
    mutating func reset(_ n: NotificationMessage, _ r: String) {
        reasons.append(r)
        if level < 4 { notification = n }
        level = 4
    }

    var action: UpdateErrorAction {
        switch level {
        case 0: return .none
        case 1: return .attributeDiscard(reasons)
        case 2: return .treatAsWithdraw(reasons)
        case 3: return .afiSafiDisable
        default: return .sessionReset(notification ?? NotificationMessage(code: 3, subcode: 0))
        }
    }
}

extension PathAttributes {
    /// Parses the path attribute field `p[start..<end]`. Returns which mandatory
    /// attributes were present. Errors go to `errors`; parsing continues where RFC 7606
    /// allows it so that all NLRI can still be found.
    static func decode(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, options: CodecOptions,
                       into a: inout PathAttributes, errors e: inout UpdateErrorCollector) -> (origin: Bool, asPath: Bool, nextHop: Bool) {
        var seen = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        func testAndSet(_ t: UInt8) -> Bool {
            let bit = UInt64(1) << UInt64(t & 63)
            switch t >> 6 {
            case 0: defer { seen.0 |= bit }; return seen.0 & bit != 0
            case 1: defer { seen.1 |= bit }; return seen.1 & bit != 0
            case 2: defer { seen.2 |= bit }; return seen.2 & bit != 0
            default: defer { seen.3 |= bit }; return seen.3 & bit != 0
            }
        }
        var hasOrigin = false, hasASPath = false, hasNextHop = false
        let fourOctet = options.fourOctetAS
        var i = start
        while i < end {
            // RFC 7606 4: header underrun or length overrun -> treat-as-withdraw; the Total
            // Attribute Length still locates the NLRI field.
            guard end - i >= 3 else { e.withdraw("truncated attribute header"); break }
            let flags = p[i]
            let type = p[i + 1]
            let len: Int
            let hdr: Int
            if flags & Flag.extendedLength != 0 {
                guard end - i >= 4 else { e.withdraw("truncated attribute header"); break }
                len = p.wireU16(at: i + 2)
                hdr = 4
            } else {
                len = Int(p[i + 2])
                hdr = 3
            }
            let vs = i + hdr
            let ve = vs + len
            guard ve <= end else {
                if type == Code.mpReach || type == Code.mpUnreach {
                    e.reset(NotificationMessage(code: 3, subcode: 9, data: p.wireBytes(i, end)),
                            "\(name(type)) overruns the attribute field")
                } else {
                    e.withdraw("\(name(type)) length \(len) overruns the attribute field")
                }
                break
            }
            i = ve
            if testAndSet(type) {
                if type == Code.mpReach || type == Code.mpUnreach {
                    e.reset(NotificationMessage(code: 3, subcode: 1), "duplicate \(name(type))")
                    return (hasOrigin, hasASPath, hasNextHop)
                }
                e.discard("duplicate \(name(type)) ignored")
                continue
            }
            let optional = flags & Flag.optional != 0
            let transitive = flags & Flag.transitive != 0
            /// Flags check (RFC 7606 3 c): Optional and Transitive bits must match.
            func flagsOK(_ opt: Bool, _ trans: Bool) -> Bool { optional == opt && transitive == trans }

            switch type {
            case Code.origin:
                guard flagsOK(false, true) else { e.withdraw("bad flags for ORIGIN"); continue }
                guard len == 1, let o = Origin(rawValue: p[vs]) else { e.withdraw("malformed ORIGIN"); continue }
                a.origin = o
                hasOrigin = true
            case Code.asPath:
                guard flagsOK(false, true) else { e.withdraw("bad flags for AS_PATH"); continue }
                let (segs, err) = ASPath.parse(p, vs, ve, asSize: fourOctet ? 4 : 2)
                if let err = err { e.withdraw("malformed AS_PATH: " + err); continue }
                if !options.confederationPeer && segs.contains(where: { $0.isConfederation }) {
                    e.withdraw("AS_PATH with confederation segments from a non-confederation peer")
                    continue
                }
                a.asPath = segs
                hasASPath = true
            case Code.nextHop:
                guard flagsOK(false, true) else { e.withdraw("bad flags for NEXT_HOP"); continue }
                guard len == 4 else { e.withdraw("malformed NEXT_HOP (length \(len))"); continue }
                a.nextHop = p.wireU32(at: vs)
                hasNextHop = true
            case Code.med:
                guard flagsOK(true, false) else { e.withdraw("bad flags for MULTI_EXIT_DISC"); continue }
                guard len == 4 else { e.withdraw("malformed MULTI_EXIT_DISC (length \(len))"); continue }
                a.med = p.wireU32(at: vs)
            case Code.localPref:
                guard flagsOK(false, true) else { e.withdraw("bad flags for LOCAL_PREF"); continue }
                guard len == 4 else { e.withdraw("malformed LOCAL_PREF (length \(len))"); continue }
                a.localPref = p.wireU32(at: vs)
            case Code.atomicAggregate:
                guard flagsOK(false, true) else { e.withdraw("bad flags for ATOMIC_AGGREGATE"); continue }
                guard len == 0 else { e.discard("malformed ATOMIC_AGGREGATE (length \(len)) discarded"); continue }
                a.atomicAggregate = true
            case Code.aggregator:
                guard flagsOK(true, true) else { e.withdraw("bad flags for AGGREGATOR"); continue }
                guard len == (fourOctet ? 8 : 6) else { e.discard("malformed AGGREGATOR (length \(len)) discarded"); continue }
                a.aggregator = fourOctet
                    ? Aggregator(as: p.wireU32(at: vs), address: p.wireU32(at: vs + 4))
                    : Aggregator(as: UInt32(p.wireU16(at: vs)), address: p.wireU32(at: vs + 2))
            case Code.communities:
                guard flagsOK(true, true) else { e.withdraw("bad flags for COMMUNITIES"); continue }
                guard len > 0, len % 4 == 0 else { e.withdraw("malformed COMMUNITIES (length \(len))"); continue }
                var c = [UInt32]()
                c.reserveCapacity(len / 4)
                var k = vs
                while k < ve { c.append(p.wireU32(at: k)); k += 4 }
                a.communities = c
            case Code.originatorID:
                guard flagsOK(true, false) else { e.withdraw("bad flags for ORIGINATOR_ID"); continue }
                guard len == 4 else { e.withdraw("malformed ORIGINATOR_ID (length \(len))"); continue }
                // Route reflection is not supported: validated, then dropped (non-transitive).
            case Code.clusterList:
                guard flagsOK(true, false) else { e.withdraw("bad flags for CLUSTER_LIST"); continue }
                guard len > 0, len % 4 == 0 else { e.withdraw("malformed CLUSTER_LIST (length \(len))"); continue }
            case Code.mpReach:
                decodeMPReach(p, vs, ve, flags: flags, attrStart: vs - hdr, options: options, into: &a, errors: &e)
                if e.level >= 4 { return (hasOrigin, hasASPath, hasNextHop) }
            case Code.mpUnreach:
                decodeMPUnreach(p, vs, ve, flags: flags, attrStart: vs - hdr, options: options, into: &a, errors: &e)
                if e.level >= 4 { return (hasOrigin, hasASPath, hasNextHop) }
            case Code.as4Path:
                // RFC 6793 3: a NEW speaker discards AS4_PATH from a NEW speaker silently.
                if fourOctet { continue }
                guard flagsOK(true, true) else { e.discard("bad flags for AS4_PATH, discarded"); continue }
                let (segs, err) = ASPath.parse(p, vs, ve, asSize: 4)
                if let err = err { e.discard("malformed AS4_PATH discarded: " + err); continue }
                if segs.contains(where: { $0.isConfederation }) {
                    e.discard("AS4_PATH with confederation segments discarded")
                    continue
                }
                a.as4Path = segs
            case Code.as4Aggregator:
                if fourOctet { continue }
                guard flagsOK(true, true) else { e.discard("bad flags for AS4_AGGREGATOR, discarded"); continue }
                guard len == 8 else { e.discard("malformed AS4_AGGREGATOR (length \(len)) discarded"); continue }
                a.as4Aggregator = Aggregator(as: p.wireU32(at: vs), address: p.wireU32(at: vs + 4))
            case Code.extendedCommunities:
                guard flagsOK(true, true) else { e.withdraw("bad flags for EXTENDED_COMMUNITIES"); continue }
                guard len % 8 == 0 else { e.withdraw("malformed EXTENDED_COMMUNITIES (length \(len))"); continue }
                a.unknown.append(RawAttribute(flags: flags & ~Flag.extendedLength, type: type, value: p.wireBytes(vs, ve)))
            case Code.largeCommunities:
                guard flagsOK(true, true) else { e.withdraw("bad flags for LARGE_COMMUNITY"); continue }
                guard len > 0, len % 12 == 0 else { e.withdraw("malformed LARGE_COMMUNITY (length \(len))"); continue }
                a.unknown.append(RawAttribute(flags: flags & ~Flag.extendedLength, type: type, value: p.wireBytes(vs, ve)))
            default:
                if !optional {
                    // RFC 4271 6.3 (not relaxed by RFC 7606).
                    e.reset(NotificationMessage(code: 3, subcode: 2, data: p.wireBytes(vs - hdr, ve)), "unrecognized well-known attribute \(type)")
                    return (hasOrigin, hasASPath, hasNextHop)
                }
                if transitive {
                    // Passed on with the Partial bit set (RFC 4271 5).
                    a.unknown.append(RawAttribute(flags: (flags | Flag.partial) & ~Flag.extendedLength, type: type,
                                                  value: p.wireBytes(vs, ve)))
                }
                // Unrecognized optional non-transitive: quietly ignored.
            }
        }
        return (hasOrigin, hasASPath, hasNextHop)
    }

    static func decodeMPReach(_ p: UnsafeRawBufferPointer, _ vs: Int, _ ve: Int, flags: UInt8, attrStart: Int,
                              options: CodecOptions, into a: inout PathAttributes, errors e: inout UpdateErrorCollector) {
        func fail(_ r: String) { e.reset(NotificationMessage(code: 3, subcode: 9, data: p.wireBytes(attrStart, ve)), r) }
        guard flags & (Flag.optional | Flag.transitive) == Flag.optional else { return fail("bad flags for MP_REACH_NLRI") }
        guard ve - vs >= 5 else { return fail("MP_REACH_NLRI too short") }
        let f = AFISAFI(afi: UInt16(p.wireU16(at: vs)), safi: p[vs + 2])
        let nhLen = Int(p[vs + 3])
        let nhStart = vs + 4
        // next hop + reserved octet
        guard ve - nhStart >= nhLen + 1 else { return fail("MP_REACH_NLRI next hop overruns attribute") }
        guard let family = f.prefixFamily else {
            // A family we cannot parse: ignore the routes in it (caller checks negotiation).
            e.discard("MP_REACH_NLRI for unsupported \(f) ignored")
            return
        }
        switch (family, nhLen) {
        case (.ipv6, 16), (.ipv6, 32), (.ipv4, 4), (.ipv4, 16), (.ipv4, 32): break
        default: return fail("MP_REACH_NLRI next hop length \(nhLen) invalid for \(f)")
        }
        var r = MPReach(afiSafi: f, nextHop: p.wireBytes(nhStart, nhStart + nhLen), nlri: [])
        let addPath = options.receivesPathID(f)
        let ok = NLRICodec.parse(p, nhStart + nhLen + 1, ve, family: family, addPath: addPath, into: &r.nlri, pathIDs: &r.pathIDs)
        a.mpReach = r
        if !ok { fail("malformed NLRI in MP_REACH_NLRI (\(f))") }
    }

    static func decodeMPUnreach(_ p: UnsafeRawBufferPointer, _ vs: Int, _ ve: Int, flags: UInt8, attrStart: Int,
                                options: CodecOptions, into a: inout PathAttributes, errors e: inout UpdateErrorCollector) {
        func fail(_ r: String) { e.reset(NotificationMessage(code: 3, subcode: 9, data: p.wireBytes(attrStart, ve)), r) }
        guard flags & (Flag.optional | Flag.transitive) == Flag.optional else { return fail("bad flags for MP_UNREACH_NLRI") }
        guard ve - vs >= 3 else { return fail("MP_UNREACH_NLRI too short") }
        let f = AFISAFI(afi: UInt16(p.wireU16(at: vs)), safi: p[vs + 2])
        guard let family = f.prefixFamily else {
            if ve - vs == 3 {
                a.mpUnreach = MPUnreach(afiSafi: f, withdrawn: []) // End-of-RIB of another family
            } else {
                e.discard("MP_UNREACH_NLRI for unsupported \(f) ignored")
            }
            return
        }
        var u = MPUnreach(afiSafi: f, withdrawn: [])
        let ok = NLRICodec.parse(p, vs + 3, ve, family: family, addPath: options.receivesPathID(f),
                                 into: &u.withdrawn, pathIDs: &u.pathIDs)
        a.mpUnreach = u
        if !ok { fail("malformed NLRI in MP_UNREACH_NLRI (\(f))") }
    }
}

extension PathAttributes {
    /// RFC 7606 7.5: LOCAL_PREF received from an external (non-confederation) peer is
    /// attribute-discarded. Returns true if one was removed (report as attribute discard).
    @discardableResult
    public mutating func discardLocalPrefFromExternalPeer() -> Bool {
        guard localPref != nil else { return false }
        localPref = nil
        return true
    }
}

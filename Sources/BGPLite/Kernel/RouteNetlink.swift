/// rtnetlink wire format for IPv4/IPv6 unicast routes (linux/netlink.h, linux/rtnetlink.h), written and parsed
/// in Swift so the codec is testable without a socket. Host byte order for netlink headers and integer
/// attributes (little-endian on every Linux target we build for), network order for addresses.
public enum RouteNetlink {
    // linux/netlink.h
    public static let msgNoop: UInt16 = 1, msgError: UInt16 = 2, msgDone: UInt16 = 3, msgOverrun: UInt16 = 4
    public static let flagRequest: UInt16 = 0x01, flagMulti: UInt16 = 0x02, flagAck: UInt16 = 0x04
    public static let flagDumpInterrupted: UInt16 = 0x10
    public static let flagDump: UInt16 = 0x300
    public static let flagReplace: UInt16 = 0x100, flagExcl: UInt16 = 0x200, flagCreate: UInt16 = 0x400
    public static let flagCapped: UInt16 = 0x100, flagAckTLVs: UInt16 = 0x200
    public static let errAttrMsg: UInt16 = 1
    // linux/rtnetlink.h
    public static let newRoute: UInt16 = 24, delRoute: UInt16 = 25, getRoute: UInt16 = 26
    public static let attrDst: UInt16 = 1, attrOIF: UInt16 = 4, attrGateway: UInt16 = 5, attrPriority: UInt16 = 6
    public static let attrTable: UInt16 = 15
    public static let tableUnspec: UInt32 = 0, tableMain: UInt32 = 254
    public static let typeUnicast: UInt8 = 1
    public static let scopeUniverse: UInt8 = 0, scopeLink: UInt8 = 253, scopeNowhere: UInt8 = 255
    public static let protoBird: UInt8 = 12
    static let AF_INET: UInt8 = 2, AF_INET6: UInt8 = 10

    static let headerSize = 16      // struct nlmsghdr
    static let rtmsgSize = 12       // struct rtmsg

    @inline(__always) static func align4(_ n: Int) -> Int { (n + 3) & ~3 }

    /// A route request as it goes on the wire.
    public struct RouteRequest: Equatable {
        public var type: UInt16                  // newRoute / delRoute
        public var flags: UInt16
        public var sequence: UInt32
        public var prefix: IPPrefix
        public var gateway: IPPrefix?
        public var metric: UInt32?
        public var table: UInt32
        public var protocolNumber: UInt8
        public var outputInterface: UInt32?
        public init(type: UInt16, flags: UInt16, sequence: UInt32, prefix: IPPrefix, gateway: IPPrefix?,
                    metric: UInt32?, table: UInt32, protocolNumber: UInt8, outputInterface: UInt32?) {
            self.type = type; self.flags = flags; self.sequence = sequence; self.prefix = prefix
            self.gateway = gateway; self.metric = metric; self.table = table
            self.protocolNumber = protocolNumber; self.outputInterface = outputInterface
        }

        /// Bytes this request occupies in a batch (already 4-aligned).
        public var encodedSize: Int {
            let a = prefix.family == .ipv4 ? 4 : 16
            var n = RouteNetlink.headerSize + RouteNetlink.rtmsgSize
            n += 4 + a                                   // RTA_DST (a is 4-aligned)
            if gateway != nil { n += 4 + a }
            if metric != nil { n += 8 }
            if outputInterface != nil { n += 8 }
            n += 8                                       // RTA_TABLE
            return n
        }
    }

    /// Appends `request` to `buffer` (one nlmsghdr + rtmsg + attributes).
    public static func append(_ r: RouteRequest, to buffer: inout [UInt8]) {
        let size = r.encodedSize
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: size))
        buffer.withUnsafeMutableBytes { raw in
            let p = raw.baseAddress! + start
            p.storeBytes(of: UInt32(size).littleEndian, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: r.type.littleEndian, toByteOffset: 4, as: UInt16.self)
            p.storeBytes(of: r.flags.littleEndian, toByteOffset: 6, as: UInt16.self)
            p.storeBytes(of: r.sequence.littleEndian, toByteOffset: 8, as: UInt32.self)
            // nlmsg_pid 0: the kernel.
            let v4 = r.prefix.family == .ipv4
            var o = headerSize
            p.storeBytes(of: v4 ? AF_INET : AF_INET6, toByteOffset: o, as: UInt8.self)       // rtm_family
            p.storeBytes(of: r.prefix.length, toByteOffset: o + 1, as: UInt8.self)          // rtm_dst_len
            // rtm_src_len 0, rtm_tos 0
            p.storeBytes(of: UInt8(r.table < 256 ? r.table : tableUnspec), toByteOffset: o + 4, as: UInt8.self)
            p.storeBytes(of: r.protocolNumber, toByteOffset: o + 5, as: UInt8.self)
            let scope: UInt8 = r.type == delRoute ? scopeNowhere : (r.gateway == nil ? scopeLink : scopeUniverse)
            p.storeBytes(of: scope, toByteOffset: o + 6, as: UInt8.self)
            p.storeBytes(of: typeUnicast, toByteOffset: o + 7, as: UInt8.self)
            // rtm_flags 0
            o += rtmsgSize
            func attrHeader(_ type: UInt16, _ payload: Int) {
                p.storeBytes(of: UInt16(4 + payload).littleEndian, toByteOffset: o, as: UInt16.self)
                p.storeBytes(of: type.littleEndian, toByteOffset: o + 2, as: UInt16.self)
                o += 4
            }
            func address(_ a: IPPrefix) {
                p.storeBytes(of: UInt32(truncatingIfNeeded: a.hi >> 32).bigEndian, toByteOffset: o, as: UInt32.self)
                if a.family == .ipv6 {
                    p.storeBytes(of: UInt32(truncatingIfNeeded: a.hi).bigEndian, toByteOffset: o + 4, as: UInt32.self)
                    p.storeBytes(of: a.lo.bigEndian, toByteOffset: o + 8, as: UInt64.self)
                    o += 16
                } else {
                    o += 4
                }
            }
            func u32(_ type: UInt16, _ v: UInt32) {
                attrHeader(type, 4)
                p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
                o += 4
            }
            attrHeader(attrDst, v4 ? 4 : 16); address(r.prefix)
            if let g = r.gateway { attrHeader(attrGateway, v4 ? 4 : 16); address(g) }
            if let m = r.metric { u32(attrPriority, m) }
            if let oif = r.outputInterface { u32(attrOIF, oif) }
            u32(attrTable, r.table)
            precondition(o == size)
        }
    }

    /// A dump request (RTM_GETROUTE, NLM_F_DUMP) for one family.
    public static func dumpRequest(family: IPPrefix.Family, sequence: UInt32) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: headerSize + rtmsgSize)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt32(headerSize + rtmsgSize).littleEndian, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: getRoute.littleEndian, toByteOffset: 4, as: UInt16.self)
            p.storeBytes(of: (flagRequest | flagDump).littleEndian, toByteOffset: 6, as: UInt16.self)
            p.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: family == .ipv4 ? AF_INET : AF_INET6, toByteOffset: headerSize, as: UInt8.self)
        }
        return b
    }

    /// One message of a received datagram.
    public struct Message {
        public var type: UInt16
        public var flags: UInt16
        public var sequence: UInt32
        public var portID: UInt32
        public var payload: ArraySlice<UInt8>
    }

    /// Splits a datagram into messages; stops at the first malformed header (never traps).
    public static func messages(in data: ArraySlice<UInt8>) -> [Message] {
        var out: [Message] = []
        var i = data.startIndex
        while data.endIndex - i >= headerSize {
            let len = Int(u32le(data, i))
            guard len >= headerSize, len <= data.endIndex - i else { break }
            out.append(Message(type: u16le(data, i + 4), flags: u16le(data, i + 6), sequence: u32le(data, i + 8),
                               portID: u32le(data, i + 12), payload: data[(i + headerSize)..<(i + len)]))
            i += align4(len)
        }
        return out
    }

    /// NLMSG_ERROR payload: errno (0 = ACK), the echoed request's sequence, and the extended-ACK text if any.
    public struct Ack: Equatable {
        public var error: Int32
        public var sequence: UInt32
        public var message: String?
    }

    public static func parseAck(_ m: Message) -> Ack? {
        let p = m.payload
        guard m.type == msgError, p.count >= 4 + headerSize else { return nil }
        let err = Int32(bitPattern: u32le(p, p.startIndex))
        let echoed = p.startIndex + 4
        let seq = u32le(p, echoed + 8)
        var text: String?
        if m.flags & flagAckTLVs != 0 {
            // TLVs follow the echoed request: only its header when capped, else the whole echoed message.
            var t = echoed + headerSize
            if m.flags & flagCapped == 0 {
                let echoedLen = Int(u32le(p, echoed))
                t = echoed + align4(max(headerSize, echoedLen))
            }
            for (type, value) in attributes(in: p, from: t) where type == errAttrMsg {
                text = String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return Ack(error: -err, sequence: seq, message: text)
    }

    /// Attribute (type, value) pairs starting at `offset` (nla / rtattr layout; nested flag bits masked off).
    public static func attributes(in data: ArraySlice<UInt8>, from offset: Int) -> [(UInt16, ArraySlice<UInt8>)] {
        var out: [(UInt16, ArraySlice<UInt8>)] = []
        var i = max(offset, data.startIndex)
        while data.endIndex - i >= 4 {
            let len = Int(u16le(data, i))
            guard len >= 4, len <= data.endIndex - i else { break }
            out.append((u16le(data, i + 2) & 0x3fff, data[(i + 4)..<(i + len)]))
            i += align4(len)
        }
        return out
    }

    /// A route as the kernel reports it in a dump.
    public struct Route: Equatable, CustomStringConvertible {
        public var prefix: IPPrefix
        public var gateway: IPPrefix?
        public var metric: UInt32
        public var table: UInt32
        public var protocolNumber: UInt8
        public var type: UInt8
        public var outputInterface: UInt32?
        public var description: String {
            var s = "\(prefix)"
            if let g = gateway { s += " via \(g.addressString)" }
            if let o = outputInterface { s += " oif \(o)" }
            return s + " proto \(protocolNumber) metric \(metric) table \(table)"
        }
    }

    /// Parses an RTM_NEWROUTE message of a dump; nil for other families or malformed messages.
    public static func parseRoute(_ m: Message) -> Route? {
        let p = m.payload
        guard m.type == newRoute, p.count >= rtmsgSize else { return nil }
        let s = p.startIndex
        let familyByte = p[s], dstLen = Int(p[s + 1])
        let family: IPPrefix.Family
        if familyByte == AF_INET { family = .ipv4 } else if familyByte == AF_INET6 { family = .ipv6 } else { return nil }
        let alen = family == .ipv4 ? 4 : 16
        guard dstLen <= alen * 8 else { return nil }
        var route = Route(prefix: IPPrefix(family: family, hi: 0, lo: 0, length: dstLen), gateway: nil, metric: 0,
                          table: UInt32(p[s + 4]), protocolNumber: p[s + 5], type: p[s + 7], outputInterface: nil)
        for (type, v) in attributes(in: p, from: s + rtmsgSize) {
            switch type {
            case attrDst:
                guard v.count == alen, let pr = IPPrefix(family: family, bytes: v, length: dstLen) else { return nil }
                route.prefix = pr
            case attrGateway:
                if v.count == alen { route.gateway = IPPrefix(family: family, bytes: v, length: alen * 8) }
            case attrPriority:
                if v.count == 4 { route.metric = u32le(v, v.startIndex) }
            case attrTable:
                if v.count == 4 { route.table = u32le(v, v.startIndex) }
            case attrOIF:
                if v.count == 4 { route.outputInterface = u32le(v, v.startIndex) }
            default:
                break
            }
        }
        return route
    }

    @inline(__always) static func u16le(_ d: ArraySlice<UInt8>, _ i: Int) -> UInt16 {
        UInt16(d[i]) | UInt16(d[i + 1]) << 8
    }
    @inline(__always) static func u32le(_ d: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        UInt32(d[i]) | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2]) << 16 | UInt32(d[i + 3]) << 24
    }
}

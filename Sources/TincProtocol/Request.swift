/// The tinc 1.0 (protocol 17) meta requests, one ASCII line each.
/// Parsing mirrors tinc's sscanf formats: fields split on spaces, extra trailing fields ignored,
/// every string field limited to 2048 characters (MAX_STRING).
public enum RequestType: Int, CaseIterable, Sendable {
    case id = 0, metaKey, challenge, chalReply, ack, status, error, termReq, ping, pong,
         addSubnet, delSubnet, addEdge, delEdge, keyChanged, reqKey, ansKey, packet

    /// The name tinc uses in logs ("Got ADD_EDGE from …").
    public var name: String {
        switch self {
        case .id: return "ID"
        case .metaKey: return "METAKEY"
        case .challenge: return "CHALLENGE"
        case .chalReply: return "CHAL_REPLY"
        case .ack: return "ACK"
        case .status: return "STATUS"
        case .error: return "ERROR"
        case .termReq: return "TERMREQ"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .addSubnet: return "ADD_SUBNET"
        case .delSubnet: return "DEL_SUBNET"
        case .addEdge: return "ADD_EDGE"
        case .delEdge: return "DEL_EDGE"
        case .keyChanged: return "KEY_CHANGED"
        case .reqKey: return "REQ_KEY"
        case .ansKey: return "ANS_KEY"
        case .packet: return "PACKET"
        }
    }
}

/// Option bits carried in ACK and ADD_EDGE (tinc's connection.h).
public struct ConnectionOptions: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let indirect = ConnectionOptions(rawValue: 0x1)
    public static let tcpOnly = ConnectionOptions(rawValue: 0x2)
    public static let pmtuDiscovery = ConnectionOptions(rawValue: 0x4)
    public static let clampMSS = ConnectionOptions(rawValue: 0x8)
}

public enum Request: Equatable, Sendable {
    case id(name: String, version: Int)
    case metaKey(cipher: Int, digest: Int, macLength: Int, compression: Int, key: String)
    case challenge(String)
    case chalReply(String)
    case ack(port: String, weight: Int, options: UInt32)
    case ping
    case pong
    case addSubnet(nonce: String, owner: String, subnet: String)
    case delSubnet(nonce: String, owner: String, subnet: String)
    case addEdge(nonce: String, from: String, to: String, address: String, port: String, options: UInt32, weight: Int)
    case delEdge(nonce: String, from: String, to: String)
    case keyChanged(nonce: String, origin: String)
    case reqKey(from: String, to: String)
    case ansKey(from: String, to: String, key: String, cipher: Int, digest: Int, macLength: Int, compression: Int,
                address: String?, port: String?)
    case packet(length: Int)

    public var type: RequestType {
        switch self {
        case .id: return .id
        case .metaKey: return .metaKey
        case .challenge: return .challenge
        case .chalReply: return .chalReply
        case .ack: return .ack
        case .ping: return .ping
        case .pong: return .pong
        case .addSubnet: return .addSubnet
        case .delSubnet: return .delSubnet
        case .addEdge: return .addEdge
        case .delEdge: return .delEdge
        case .keyChanged: return .keyChanged
        case .reqKey: return .reqKey
        case .ansKey: return .ansKey
        case .packet: return .packet
        }
    }

    /// The wire line without the trailing newline, formatted as tinc 1.0.36 sends it.
    public var line: String {
        switch self {
        case let .id(name, version): return "0 \(name) \(version)"
        case let .metaKey(c, d, m, z, key): return "1 \(c) \(d) \(m) \(z) \(key)"
        case let .challenge(h): return "2 \(h)"
        case let .chalReply(h): return "3 \(h)"
        case let .ack(port, weight, options): return "4 \(port) \(weight) \(String(options, radix: 16))"
        case .ping: return "8"
        case .pong: return "9"
        case let .addSubnet(n, owner, subnet): return "10 \(n) \(owner) \(subnet)"
        case let .delSubnet(n, owner, subnet): return "11 \(n) \(owner) \(subnet)"
        case let .addEdge(n, from, to, address, port, options, weight):
            return "12 \(n) \(from) \(to) \(address) \(port) \(String(options, radix: 16)) \(weight)"
        case let .delEdge(n, from, to): return "13 \(n) \(from) \(to)"
        case let .keyChanged(n, origin): return "14 \(n) \(origin)"
        case let .reqKey(from, to): return "15 \(from) \(to)"
        case let .ansKey(from, to, key, c, d, m, z, address, port):
            var s = "16 \(from) \(to) \(key) \(c) \(d) \(m) \(z)"
            if let a = address, let p = port { s += " \(a) \(p)" }
            return s
        case let .packet(length): return "17 \(length)"
        }
    }
}

public struct RequestError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        case bogus                 // first field not a number
        case unknown(Int)          // number without a handler
        case malformed(RequestType, String)
    }
    public let kind: Kind

    public var description: String {
        switch kind {
        case .bogus: return "Bogus data received"
        case .unknown(let n): return "Unknown request \(n)"
        case .malformed(let t, let why): return "Got bad \(t.name): \(why)"
        }
    }
}

/// tinc's check_id: node names are [A-Za-z0-9_]+.
public func isValidNodeName<S: StringProtocol>(_ s: S) -> Bool {
    !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x5f }
}

extension Request {
    static let maxString = 2048

    /// Parses one meta line (without its newline).
    public init(parsing line: Substring) throws {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = f.first, let num = Request.leadingInt(first) else { throw RequestError(kind: .bogus) }
        guard let type = RequestType(rawValue: num), ![.status, .error, .termReq].contains(type) else {
            throw RequestError(kind: .unknown(num))
        }
        func bad(_ why: String) -> RequestError { RequestError(kind: .malformed(type, why)) }
        func need(_ n: Int) throws {
            guard f.count >= n + 1 else { throw bad("expected \(n) fields, got \(f.count - 1)") }
            for s in f.dropFirst().prefix(n) where s.count > Request.maxString { throw bad("field longer than \(Request.maxString)") }
        }
        func int(_ i: Int) throws -> Int {
            guard let v = Request.leadingInt(f[i]) else { throw bad("field \(i) '\(f[i].prefix(40))' is not a number") }
            return v
        }
        func hexInt(_ i: Int) throws -> UInt32 {
            guard let v = Request.leadingHex(f[i]) else { throw bad("field \(i) '\(f[i].prefix(40))' is not hex") }
            return v
        }
        func nonce(_ i: Int) throws -> String {
            guard Request.leadingHex(f[i]) != nil else { throw bad("random prefix '\(f[i].prefix(40))' is not hex") }
            return String(f[i])
        }
        switch type {
        case .id:
            try need(2)
            self = .id(name: String(f[1]), version: try int(2))
        case .metaKey:
            try need(5)
            self = .metaKey(cipher: try int(1), digest: try int(2), macLength: try int(3), compression: try int(4), key: String(f[5]))
        case .challenge:
            try need(1); self = .challenge(String(f[1]))
        case .chalReply:
            try need(1); self = .chalReply(String(f[1]))
        case .ack:
            try need(3)
            self = .ack(port: String(f[1]), weight: try int(2), options: try hexInt(3))
        case .ping: self = .ping
        case .pong: self = .pong
        case .addSubnet, .delSubnet:
            try need(3)
            let n = try nonce(1)
            self = type == .addSubnet ? .addSubnet(nonce: n, owner: String(f[2]), subnet: String(f[3]))
                                      : .delSubnet(nonce: n, owner: String(f[2]), subnet: String(f[3]))
        case .addEdge:
            try need(7)
            self = .addEdge(nonce: try nonce(1), from: String(f[2]), to: String(f[3]), address: String(f[4]),
                            port: String(f[5]), options: try hexInt(6), weight: try int(7))
        case .delEdge:
            try need(3)
            self = .delEdge(nonce: try nonce(1), from: String(f[2]), to: String(f[3]))
        case .keyChanged:
            try need(2)
            self = .keyChanged(nonce: try nonce(1), origin: String(f[2]))
        case .reqKey:
            try need(2)
            self = .reqKey(from: String(f[1]), to: String(f[2]))
        case .ansKey:
            try need(7)
            let hasAddr = f.count >= 10
            self = .ansKey(from: String(f[1]), to: String(f[2]), key: String(f[3]), cipher: try int(4), digest: try int(5),
                           macLength: try int(6), compression: try int(7),
                           address: hasAddr ? String(f[8]) : nil, port: hasAddr ? String(f[9]) : nil)
        case .packet:
            try need(1)
            let n = try int(1)
            // %hd: a short; anything outside 0...32767 cannot be a frame tinc would send.
            guard n >= 0 && n <= 32767 else { throw bad("length \(n) out of range") }
            self = .packet(length: n)
        case .status, .error, .termReq:
            throw RequestError(kind: .unknown(num))
        }
    }

    /// sscanf("%d")-like: optional sign and leading digits; "17.7" gives 17.
    static func leadingInt<S: StringProtocol>(_ s: S) -> Int? {
        var it = s.utf8.makeIterator()
        var neg = false
        var v = 0
        var digits = 0
        var c = it.next()
        if c == UInt8(ascii: "-") || c == UInt8(ascii: "+") { neg = c == UInt8(ascii: "-"); c = it.next() }
        while let ch = c, ch >= 0x30 && ch <= 0x39 {
            if digits < 18 { v = v * 10 + Int(ch - 0x30) }
            digits += 1
            c = it.next()
        }
        guard digits > 0, digits <= 18 else { return nil }
        return neg ? -v : v
    }

    /// sscanf("%x")-like on leading hex digits.
    static func leadingHex<S: StringProtocol>(_ s: S) -> UInt32? {
        var v: UInt64 = 0
        var digits = 0
        for ch in s.utf8 {
            let d: UInt8
            switch ch {
            case 0x30...0x39: d = ch - 0x30
            case 0x41...0x46: d = ch - 0x41 + 10
            case 0x61...0x66: d = ch - 0x61 + 10
            default:
                guard digits > 0 else { return nil }
                return UInt32(truncatingIfNeeded: v)
            }
            v = (v << 4 | UInt64(d)) & 0xffff_ffff
            digits += 1
        }
        return digits > 0 ? UInt32(truncatingIfNeeded: v) : nil
    }
}

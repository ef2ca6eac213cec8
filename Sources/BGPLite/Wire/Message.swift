// BGP-4 message framing and top-level encode/decode (RFC 4271 section 4, RFC 8654).

/// Message type codes (RFC 4271 4.1, RFC 2918).
public enum BGPMessageType: UInt8, Sendable, CustomStringConvertible {
    case open = 1, update, notification, keepalive, routeRefresh

    public var description: String {
        switch self {
        case .open: return "OPEN"
        case .update: return "UPDATE"
        case .notification: return "NOTIFICATION"
        case .keepalive: return "KEEPALIVE"
        case .routeRefresh: return "ROUTE-REFRESH"
        }
    }
}

/// Address family / subsequent address family pair (RFC 4760).
public struct AFISAFI: Hashable, Sendable, CustomStringConvertible {
    public var afi: UInt16
    public var safi: UInt8

    public init(afi: UInt16, safi: UInt8) {
        self.afi = afi
        self.safi = safi
    }

    public static let ipv4Unicast = AFISAFI(afi: 1, safi: 1)
    public static let ipv6Unicast = AFISAFI(afi: 2, safi: 1)
    public static let ipv4Multicast = AFISAFI(afi: 1, safi: 2)
    public static let ipv6Multicast = AFISAFI(afi: 2, safi: 2)

    /// The prefix family whose NLRI encoding this AFI/SAFI uses, when it is plain
    /// prefix encoding (unicast or multicast of IPv4/IPv6); nil for other families.
    public var prefixFamily: IPPrefix.Family? {
        guard safi == 1 || safi == 2 else { return nil }
        switch afi {
        case 1: return .ipv4
        case 2: return .ipv6
        default: return nil
        }
    }

    public var description: String {
        switch (afi, safi) {
        case (1, 1): return "ipv4-unicast"
        case (2, 1): return "ipv6-unicast"
        case (1, 2): return "ipv4-multicast"
        case (2, 2): return "ipv6-multicast"
        default: return "afi\(afi)/safi\(safi)"
        }
    }
}

/// What was negotiated on the session and therefore changes the wire encoding.
public struct CodecOptions: Sendable {
    /// Both sides announced the four-octet AS capability (RFC 6793).
    public var fourOctetAS: Bool
    /// Both sides announced the extended message capability (RFC 8654): UPDATE,
    /// NOTIFICATION and ROUTE-REFRESH may be up to 65535 bytes.
    public var extendedMessages: Bool
    /// Families for which received NLRI carry a 4-byte path identifier (RFC 7911).
    public var addPathReceive: Set<AFISAFI>
    /// Families for which sent NLRI carry a 4-byte path identifier (RFC 7911).
    public var addPathSend: Set<AFISAFI>
    /// The peer is in our confederation (RFC 5065). BGPLite is never a confederation
    /// member, so by default AS_CONFED_* segments make an AS_PATH malformed.
    public var confederationPeer: Bool

    public init(fourOctetAS: Bool = true, extendedMessages: Bool = false,
                addPathReceive: Set<AFISAFI> = [], addPathSend: Set<AFISAFI> = [],
                confederationPeer: Bool = false) {
        self.fourOctetAS = fourOctetAS
        self.extendedMessages = extendedMessages
        self.addPathReceive = addPathReceive
        self.addPathSend = addPathSend
        self.confederationPeer = confederationPeer
    }

    /// Options for the OPEN exchange, before anything is negotiated.
    public static let initial = CodecOptions(fourOctetAS: false, extendedMessages: false)

    /// Largest message allowed for `type` (OPEN and KEEPALIVE never exceed 4096, RFC 8654).
    public func maxLength(for type: BGPMessageType) -> Int {
        switch type {
        case .open, .keepalive: return BGPWire.maxStandardLength
        default: return extendedMessages ? BGPWire.maxExtendedLength : BGPWire.maxStandardLength
        }
    }

    @inline(__always)
    func receivesPathID(_ f: AFISAFI) -> Bool { !addPathReceive.isEmpty && addPathReceive.contains(f) }
    @inline(__always)
    func sendsPathID(_ f: AFISAFI) -> Bool { !addPathSend.isEmpty && addPathSend.contains(f) }
}

/// Protocol constants.
public enum BGPWire {
    public static let headerLength = 19
    public static let markerLength = 16
    public static let maxStandardLength = 4096
    public static let maxExtendedLength = 65535
    /// AS_TRANS (RFC 6793).
    public static let asTrans: UInt32 = 23456
}

/// A fatal protocol error: the session must be closed after sending `notification`.
public struct BGPError: Error, CustomStringConvertible, Equatable, Sendable {
    public let notification: NotificationMessage
    public let reason: String

    public init(_ notification: NotificationMessage, _ reason: String) {
        self.notification = notification
        self.reason = reason
    }

    public init(code: UInt8, subcode: UInt8, data: [UInt8] = [], reason: String) {
        self.init(NotificationMessage(code: code, subcode: subcode, data: data), reason)
    }

    public var description: String { "\(notification.description) (\(reason))" }
}

/// One BGP message.
public enum BGPMessage: Equatable, Sendable {
    case open(OpenMessage)
    case update(UpdateMessage)
    case notification(NotificationMessage)
    case keepalive
    case routeRefresh(RouteRefreshMessage)

    public var type: BGPMessageType {
        switch self {
        case .open: return .open
        case .update: return .update
        case .notification: return .notification
        case .keepalive: return .keepalive
        case .routeRefresh: return .routeRefresh
        }
    }
}

public enum BGPFraming {
    /// Inspects the start of a receive buffer. Returns the length of the first message
    /// when all of it is in `bytes`, nil when more bytes are needed, and throws a
    /// Message Header Error (RFC 4271 6.1) when the header is invalid.
    public static func messageLength(_ bytes: UnsafeRawBufferPointer, options: CodecOptions) throws(BGPError) -> Int? {
        let n = bytes.count
        // Reject a bad marker as early as possible, even on a partial header.
        let markerBytes = min(n, BGPWire.markerLength)
        var i = 0
        while i < markerBytes {
            if bytes[i] != 0xFF {
                throw BGPError(code: 1, subcode: 1, reason: "header marker is not all ones")
            }
            i += 1
        }
        guard n >= BGPWire.headerLength else { return nil }
        let length = try checkHeader(bytes, options: options).length
        return n >= length ? length : nil
    }

    /// Validates marker, length and type of a complete header (at least 19 bytes).
    static func checkHeader(_ bytes: UnsafeRawBufferPointer, options: CodecOptions) throws(BGPError) -> (length: Int, type: BGPMessageType) {
        for i in 0..<BGPWire.markerLength where bytes[i] != 0xFF {
            throw BGPError(code: 1, subcode: 1, reason: "header marker is not all ones")
        }
        let length = bytes.wireU16(at: 16)
        let lengthField = [bytes[16], bytes[17]]
        let rawType = bytes[18]
        guard length >= BGPWire.headerLength, length <= BGPWire.maxExtendedLength else {
            throw BGPError(code: 1, subcode: 2, data: lengthField, reason: "message length \(length) out of range")
        }
        guard let type = BGPMessageType(rawValue: rawType) else {
            throw BGPError(code: 1, subcode: 3, data: [rawType], reason: "unknown message type \(rawType)")
        }
        guard length <= options.maxLength(for: type) else {
            throw BGPError(code: 1, subcode: 2, data: lengthField,
                           reason: "\(type) length \(length) exceeds \(options.maxLength(for: type))")
        }
        let ok: Bool
        switch type {
        case .open: ok = length >= 29
        case .update: ok = length >= 23
        case .notification: ok = length >= 21
        case .keepalive: ok = length == 19
        case .routeRefresh: ok = true // checked on decode: RFC 7313 has its own error code
        }
        guard ok else {
            throw BGPError(code: 1, subcode: 2, data: lengthField, reason: "bad length \(length) for \(type)")
        }
        return (length, type)
    }
}

extension BGPMessage {
    /// Decodes one whole message (header included). Errors carry the NOTIFICATION to send.
    /// UPDATE errors that RFC 7606 does not escalate to a session reset are not thrown;
    /// use `decodeDetailed` (or `UpdateMessage.decode(body:options:)`) to see them.
    public static func decode(_ bytes: UnsafeRawBufferPointer, options: CodecOptions) throws(BGPError) -> BGPMessage {
        try decodeDetailed(bytes, options: options).message
    }

    /// Like `decode`, but also returns the RFC 7606 outcome for UPDATE messages
    /// (`.none` for all other types).
    public static func decodeDetailed(_ bytes: UnsafeRawBufferPointer, options: CodecOptions) throws(BGPError) -> (message: BGPMessage, action: UpdateErrorAction) {
        guard bytes.count >= BGPWire.headerLength else {
            if let b = bytes.baseAddress, bytes.count > 0 {
                // Surfaces a marker error first, like framing would.
                _ = try BGPFraming.messageLength(UnsafeRawBufferPointer(start: b, count: bytes.count), options: options)
            }
            throw BGPError(code: 1, subcode: 2, data: [], reason: "message shorter than header")
        }
        let (length, type) = try BGPFraming.checkHeader(bytes, options: options)
        guard length == bytes.count else {
            throw BGPError(code: 1, subcode: 2, data: [bytes[16], bytes[17]],
                           reason: "length field \(length) does not match \(bytes.count) bytes given")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[BGPWire.headerLength...])
        switch type {
        case .keepalive:
            return (.keepalive, .none)
        case .open:
            return (.open(try OpenMessage.decode(body: body)), .none)
        case .notification:
            return (.notification(NotificationMessage.decode(body: body)), .none)
        case .routeRefresh:
            guard body.count == 4 else {
                throw BGPError(code: 7, subcode: 1, data: Array(bytes),
                               reason: "ROUTE-REFRESH length \(length) is not 23")
            }
            return (.routeRefresh(RouteRefreshMessage.decode(body: body)), .none)
        case .update:
            let d = UpdateMessage.decode(body: body, options: options)
            if case .sessionReset(let n) = d.action {
                throw BGPError(n, d.reasons.joined(separator: "; "))
            }
            return (.update(d.update), d.action)
        }
    }

    /// Convenience for `[UInt8]` input.
    public static func decode(_ bytes: [UInt8], options: CodecOptions) throws(BGPError) -> BGPMessage {
        let r: Result<BGPMessage, BGPError> = bytes.withUnsafeBytes { raw in
            do throws(BGPError) { return .success(try decode(raw, options: options)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Encodes the message including its header.
    public func encode(options: CodecOptions) -> [UInt8] {
        var w = WireWriter(capacity: 64)
        switch self {
        case .keepalive:
            BGPWire.writeHeader(&w, type: .keepalive)
        case .open(let m):
            BGPWire.writeHeader(&w, type: .open)
            m.encodeBody(into: &w)
        case .notification(let m):
            BGPWire.writeHeader(&w, type: .notification)
            m.encodeBody(into: &w, maxBody: options.maxLength(for: .notification) - BGPWire.headerLength)
        case .routeRefresh(let m):
            BGPWire.writeHeader(&w, type: .routeRefresh)
            m.encodeBody(into: &w)
        case .update(let m):
            w.reserve(BGPWire.maxStandardLength)
            BGPWire.writeHeader(&w, type: .update)
            m.encodeBody(into: &w, options: options)
        }
        w.patchU16(at: 16, UInt16(truncatingIfNeeded: w.count))
        return w.bytes
    }
}

extension BGPWire {
    /// Marker, placeholder length (patched later) and type.
    static func writeHeader(_ w: inout WireWriter, type: BGPMessageType) {
        for _ in 0..<markerLength { w.u8(0xFF) }
        w.u16(0)
        w.u8(type.rawValue)
    }
}

// MARK: - Byte helpers

/// Append-only big-endian writer.
struct WireWriter {
    var bytes: [UInt8]

    init(capacity: Int = 0) {
        bytes = []
        if capacity > 0 { bytes.reserveCapacity(capacity) }
    }

    var count: Int { bytes.count }

    mutating func reserve(_ n: Int) { bytes.reserveCapacity(n) }
    @inline(__always) mutating func u8(_ v: UInt8) { bytes.append(v) }
    @inline(__always) mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    @inline(__always) mutating func u32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }
    mutating func append<C: Collection>(contentsOf c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
    mutating func patchU16(at i: Int, _ v: UInt16) {
        bytes[i] = UInt8(truncatingIfNeeded: v >> 8)
        bytes[i + 1] = UInt8(truncatingIfNeeded: v)
    }
    mutating func patchU8(at i: Int, _ v: UInt8) { bytes[i] = v }
}

extension UnsafeRawBufferPointer {
    /// Big-endian 16-bit value at `i` (caller checks bounds).
    @inline(__always) func wireU16(at i: Int) -> Int { Int(self[i]) << 8 | Int(self[i + 1]) }
    /// Big-endian 32-bit value at `i` (caller checks bounds).
    @inline(__always) func wireU32(at i: Int) -> UInt32 {
        UInt32(self[i]) << 24 | UInt32(self[i + 1]) << 16 | UInt32(self[i + 2]) << 8 | UInt32(self[i + 3])
    }
    /// Bytes `[from, to)` copied into an array.
    @inline(__always) func wireBytes(_ from: Int, _ to: Int) -> [UInt8] {
        from < to ? Array(UnsafeRawBufferPointer(rebasing: self[from..<to])) : []
    }
}

// Capabilities advertisement (RFC 5492) and the capabilities BGPLite understands.

/// One graceful-restart family entry (RFC 4724 3).
public struct GracefulRestartFamily: Equatable, Hashable, Sendable {
    public var afiSafi: AFISAFI
    public var forwardingPreserved: Bool

    public init(_ afiSafi: AFISAFI, forwardingPreserved: Bool) {
        self.afiSafi = afiSafi
        self.forwardingPreserved = forwardingPreserved
    }
}

/// Graceful Restart capability (code 64, RFC 4724; N bit from RFC 8538).
public struct GracefulRestartCapability: Equatable, Sendable {
    /// The R bit: the sender has restarted.
    public var restartState: Bool
    /// The N bit (RFC 8538): graceful restart also covers NOTIFICATION-triggered resets.
    public var notification: Bool
    /// Restart time in seconds (12 bits; larger values are clamped on encode).
    public var restartTime: UInt16
    public var families: [GracefulRestartFamily]

    public init(restartState: Bool = false, notification: Bool = false, restartTime: UInt16, families: [GracefulRestartFamily] = []) {
        self.restartState = restartState
        self.notification = notification
        self.restartTime = restartTime
        self.families = families
    }

    /// Tuple-style convenience matching the RFC's field layout.
    public init(restartState: Bool = false, restartTime: UInt16, families: [(AFISAFI, forwardingPreserved: Bool)]) {
        self.init(restartState: restartState, notification: false, restartTime: restartTime,
                  families: families.map { GracefulRestartFamily($0.0, forwardingPreserved: $0.forwardingPreserved) })
    }
}

/// One ADD-PATH capability entry (RFC 7911 4).
public struct AddPathEntry: Equatable, Hashable, Sendable {
    public enum Mode: UInt8, Sendable { case receive = 1, send = 2, both = 3 }
    public var afiSafi: AFISAFI
    /// Raw send/receive field; `mode` interprets it.
    public var sendReceive: UInt8

    public init(_ afiSafi: AFISAFI, mode: Mode) {
        self.afiSafi = afiSafi
        self.sendReceive = mode.rawValue
    }

    public init(_ afiSafi: AFISAFI, sendReceive: UInt8) {
        self.afiSafi = afiSafi
        self.sendReceive = sendReceive
    }

    public var mode: Mode? { Mode(rawValue: sendReceive) }
    public var canReceive: Bool { sendReceive & 1 != 0 }
    public var canSend: Bool { sendReceive & 2 != 0 }
}

public enum Capability: Equatable, Sendable {
    case multiprotocol(AFISAFI)                       // 1, RFC 4760
    case routeRefresh                                 // 2, RFC 2918
    case enhancedRouteRefresh                         // 70, RFC 7313
    case fourOctetAS(UInt32)                          // 65, RFC 6793
    case gracefulRestart(GracefulRestartCapability)   // 64, RFC 4724
    case extendedMessage                              // 6, RFC 8654
    case addPath([AddPathEntry])                      // 69, RFC 7911
    case unknown(code: UInt8, data: [UInt8])

    public enum Code {
        public static let multiprotocol: UInt8 = 1
        public static let routeRefresh: UInt8 = 2
        public static let extendedMessage: UInt8 = 6
        public static let gracefulRestart: UInt8 = 64
        public static let fourOctetAS: UInt8 = 65
        public static let addPath: UInt8 = 69
        public static let enhancedRouteRefresh: UInt8 = 70
    }

    public var code: UInt8 {
        switch self {
        case .multiprotocol: return Code.multiprotocol
        case .routeRefresh: return Code.routeRefresh
        case .enhancedRouteRefresh: return Code.enhancedRouteRefresh
        case .fourOctetAS: return Code.fourOctetAS
        case .gracefulRestart: return Code.gracefulRestart
        case .extendedMessage: return Code.extendedMessage
        case .addPath: return Code.addPath
        case .unknown(let c, _): return c
        }
    }

    /// Capability value bytes (without code and length).
    public var value: [UInt8] {
        var w = WireWriter()
        switch self {
        case .multiprotocol(let f):
            w.u16(f.afi); w.u8(0); w.u8(f.safi)
        case .routeRefresh, .enhancedRouteRefresh, .extendedMessage:
            break
        case .fourOctetAS(let asn):
            w.u32(asn)
        case .gracefulRestart(let gr):
            var v = min(gr.restartTime, 0x0FFF)
            if gr.restartState { v |= 0x8000 }
            if gr.notification { v |= 0x4000 }
            w.u16(v)
            for f in gr.families {
                w.u16(f.afiSafi.afi); w.u8(f.afiSafi.safi); w.u8(f.forwardingPreserved ? 0x80 : 0)
            }
        case .addPath(let entries):
            for e in entries {
                w.u16(e.afiSafi.afi); w.u8(e.afiSafi.safi); w.u8(e.sendReceive)
            }
        case .unknown(_, let d):
            w.append(contentsOf: d)
        }
        return w.bytes
    }

    /// Code, length, value. Values longer than 255 bytes are truncated to stay encodable
    /// (only possible for huge GR/ADD-PATH lists or unknown data).
    func encode(into w: inout WireWriter) {
        var v = value
        if v.count > 255 {
            // Keep whole entries for the list-style capabilities.
            let keep: Int
            switch self {
            case .gracefulRestart: keep = 2 + (253 / 4) * 4
            case .addPath: keep = (255 / 4) * 4
            default: keep = 255
            }
            v = Array(v[..<keep])
        }
        w.u8(code)
        w.u8(UInt8(v.count))
        w.append(contentsOf: v)
    }

    /// Decodes one capability value. Malformed known capabilities are an OPEN error.
    static func decode(code: UInt8, value p: UnsafeRawBufferPointer) throws(BGPError) -> Capability {
        let n = p.count
        func malformed(_ what: String) -> BGPError {
            BGPError(code: 2, subcode: 0, reason: "malformed \(what) capability (length \(n))")
        }
        switch code {
        case Code.multiprotocol:
            guard n == 4 else { throw malformed("multiprotocol") }
            return .multiprotocol(AFISAFI(afi: UInt16(p.wireU16(at: 0)), safi: p[3]))
        case Code.routeRefresh:
            guard n == 0 else { throw malformed("route refresh") }
            return .routeRefresh
        case Code.enhancedRouteRefresh:
            guard n == 0 else { throw malformed("enhanced route refresh") }
            return .enhancedRouteRefresh
        case Code.extendedMessage:
            guard n == 0 else { throw malformed("extended message") }
            return .extendedMessage
        case Code.fourOctetAS:
            guard n == 4 else { throw malformed("four-octet AS") }
            return .fourOctetAS(p.wireU32(at: 0))
        case Code.gracefulRestart:
            guard n >= 2, (n - 2) % 4 == 0 else { throw malformed("graceful restart") }
            let flags = p.wireU16(at: 0)
            var fams: [GracefulRestartFamily] = []
            var i = 2
            while i + 4 <= n {
                fams.append(GracefulRestartFamily(AFISAFI(afi: UInt16(p.wireU16(at: i)), safi: p[i + 2]),
                                                  forwardingPreserved: p[i + 3] & 0x80 != 0))
                i += 4
            }
            return .gracefulRestart(GracefulRestartCapability(restartState: flags & 0x8000 != 0,
                                                              notification: flags & 0x4000 != 0,
                                                              restartTime: UInt16(flags & 0x0FFF),
                                                              families: fams))
        case Code.addPath:
            guard n % 4 == 0 else { throw malformed("ADD-PATH") }
            var entries: [AddPathEntry] = []
            var i = 0
            while i + 4 <= n {
                entries.append(AddPathEntry(AFISAFI(afi: UInt16(p.wireU16(at: i)), safi: p[i + 2]), sendReceive: p[i + 3]))
                i += 4
            }
            return .addPath(entries)
        default:
            return .unknown(code: code, data: p.wireBytes(0, n))
        }
    }
}

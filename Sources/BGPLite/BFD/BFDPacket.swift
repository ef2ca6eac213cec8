/// BFD session states (RFC 5880 §4.1 "Sta").
public enum BFDState: UInt8, CustomStringConvertible, Sendable {
    case adminDown = 0, down = 1, initial = 2, up = 3
    public var description: String {
        switch self {
        case .adminDown: return "AdminDown"
        case .down: return "Down"
        case .initial: return "Init"
        case .up: return "Up"
        }
    }
}

/// Diagnostic codes (RFC 5880 §4.1 "Diag"); values 9-31 are reserved but carried as received.
public struct BFDDiagnostic: RawRepresentable, Equatable, Hashable, CustomStringConvertible, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x1f }
    public static let none = BFDDiagnostic(rawValue: 0)
    public static let controlDetectionTimeExpired = BFDDiagnostic(rawValue: 1)
    public static let echoFunctionFailed = BFDDiagnostic(rawValue: 2)
    public static let neighborSignaledSessionDown = BFDDiagnostic(rawValue: 3)
    public static let forwardingPlaneReset = BFDDiagnostic(rawValue: 4)
    public static let pathDown = BFDDiagnostic(rawValue: 5)
    public static let concatenatedPathDown = BFDDiagnostic(rawValue: 6)
    public static let administrativelyDown = BFDDiagnostic(rawValue: 7)
    public static let reverseConcatenatedPathDown = BFDDiagnostic(rawValue: 8)
    public var description: String {
        let names = ["No Diagnostic", "Control Detection Time Expired", "Echo Function Failed",
                     "Neighbor Signaled Session Down", "Forwarding Plane Reset", "Path Down",
                     "Concatenated Path Down", "Administratively Down", "Reverse Concatenated Path Down"]
        return Int(rawValue) < names.count ? names[Int(rawValue)] : "Reserved (\(rawValue))"
    }
}

/// Why a received control packet was discarded (RFC 5880 §6.8.6 reception checks).
public enum BFDPacketError: Error, Equatable, CustomStringConvertible {
    case truncated(Int)
    case badVersion(UInt8)
    case badLength(field: Int, received: Int)
    case zeroDetectMultiplier
    case multipoint
    case zeroMyDiscriminator
    case zeroYourDiscriminator(state: BFDState)
    case authenticationNotSupported(type: UInt8?)

    public var description: String {
        switch self {
        case .truncated(let n): return "truncated packet (\(n) bytes)"
        case .badVersion(let v): return "unsupported version \(v)"
        case .badLength(let f, let r): return "bad length field \(f) (\(r) bytes received)"
        case .zeroDetectMultiplier: return "detect multiplier is zero"
        case .multipoint: return "multipoint bit set"
        case .zeroMyDiscriminator: return "my discriminator is zero"
        case .zeroYourDiscriminator(let s): return "your discriminator is zero in state \(s)"
        case .authenticationNotSupported(let t):
            return "authentication present (type \(t.map(String.init) ?? "?")) but no authentication is configured"
        }
    }
}

/// A BFD Control packet (RFC 5880 §4.1), mandatory section only; we never send the authentication section.
/// Intervals are microseconds.
public struct BFDPacket: Equatable, CustomStringConvertible, Sendable {
    public static let version: UInt8 = 1
    public static let size = 24

    public var diagnostic: BFDDiagnostic = .none
    public var state: BFDState = .down
    public var poll = false
    public var final = false
    public var controlPlaneIndependent = false
    public var authenticationPresent = false
    public var demand = false
    public var multipoint = false
    public var detectMultiplier: UInt8 = 3
    public var myDiscriminator: UInt32 = 0
    public var yourDiscriminator: UInt32 = 0
    public var desiredMinTxInterval: UInt32 = 1_000_000
    public var requiredMinRxInterval: UInt32 = 0
    public var requiredMinEchoRxInterval: UInt32 = 0

    public init() {}

    public init(state: BFDState, diagnostic: BFDDiagnostic = .none, poll: Bool = false, final: Bool = false,
                detectMultiplier: UInt8, myDiscriminator: UInt32, yourDiscriminator: UInt32,
                desiredMinTxInterval: UInt32, requiredMinRxInterval: UInt32, requiredMinEchoRxInterval: UInt32 = 0) {
        self.state = state; self.diagnostic = diagnostic; self.poll = poll; self.final = final
        self.detectMultiplier = detectMultiplier; self.myDiscriminator = myDiscriminator
        self.yourDiscriminator = yourDiscriminator; self.desiredMinTxInterval = desiredMinTxInterval
        self.requiredMinRxInterval = requiredMinRxInterval; self.requiredMinEchoRxInterval = requiredMinEchoRxInterval
    }

    public func encode() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: BFDPacket.size)
        b[0] = BFDPacket.version << 5 | diagnostic.rawValue & 0x1f
        var f = state.rawValue << 6
        if poll { f |= 0x20 }
        if final { f |= 0x10 }
        if controlPlaneIndependent { f |= 0x08 }
        if authenticationPresent { f |= 0x04 }
        if demand { f |= 0x02 }
        if multipoint { f |= 0x01 }
        b[1] = f
        b[2] = detectMultiplier
        b[3] = UInt8(BFDPacket.size)
        func put(_ v: UInt32, _ at: Int) {
            b[at] = UInt8(v >> 24); b[at + 1] = UInt8(v >> 16 & 0xff); b[at + 2] = UInt8(v >> 8 & 0xff); b[at + 3] = UInt8(v & 0xff)
        }
        put(myDiscriminator, 4)
        put(yourDiscriminator, 8)
        put(desiredMinTxInterval, 12)
        put(requiredMinRxInterval, 16)
        put(requiredMinEchoRxInterval, 20)
        return b
    }

    /// Decodes and applies the packet-level reception checks of RFC 5880 §6.8.6 (session selection is the
    /// caller's). A packet with the A bit is rejected: we do not run authentication.
    public static func decode<C: Collection>(_ bytes: C) throws -> BFDPacket where C.Element == UInt8, C.Index == Int {
        let n = bytes.count
        guard n >= 4 else { throw BFDPacketError.truncated(n) }
        let s = bytes.startIndex
        let version = bytes[s] >> 5
        guard version == BFDPacket.version else { throw BFDPacketError.badVersion(version) }
        let flags = bytes[s + 1]
        let auth = flags & 0x04 != 0
        let length = Int(bytes[s + 3])
        guard length >= (auth ? 26 : 24), length <= n else { throw BFDPacketError.badLength(field: length, received: n) }
        var p = BFDPacket()
        p.diagnostic = BFDDiagnostic(rawValue: bytes[s] & 0x1f)
        p.state = BFDState(rawValue: flags >> 6)!
        p.poll = flags & 0x20 != 0
        p.final = flags & 0x10 != 0
        p.controlPlaneIndependent = flags & 0x08 != 0
        p.authenticationPresent = auth
        p.demand = flags & 0x02 != 0
        p.multipoint = flags & 0x01 != 0
        p.detectMultiplier = bytes[s + 2]
        func get(_ at: Int) -> UInt32 {
            UInt32(bytes[s + at]) << 24 | UInt32(bytes[s + at + 1]) << 16 | UInt32(bytes[s + at + 2]) << 8 | UInt32(bytes[s + at + 3])
        }
        p.myDiscriminator = get(4)
        p.yourDiscriminator = get(8)
        p.desiredMinTxInterval = get(12)
        p.requiredMinRxInterval = get(16)
        p.requiredMinEchoRxInterval = get(20)
        guard p.detectMultiplier != 0 else { throw BFDPacketError.zeroDetectMultiplier }
        guard !p.multipoint else { throw BFDPacketError.multipoint }
        guard p.myDiscriminator != 0 else { throw BFDPacketError.zeroMyDiscriminator }
        if p.yourDiscriminator == 0 && p.state != .down && p.state != .adminDown {
            throw BFDPacketError.zeroYourDiscriminator(state: p.state)
        }
        if auth { throw BFDPacketError.authenticationNotSupported(type: n > 24 ? bytes[s + 24] : nil) }
        return p
    }

    public var description: String {
        var f = ""
        if poll { f += "P" }
        if final { f += "F" }
        if controlPlaneIndependent { f += "C" }
        if authenticationPresent { f += "A" }
        if demand { f += "D" }
        if multipoint { f += "M" }
        return "BFD \(state) diag \(diagnostic.rawValue) [\(f)] mult \(detectMultiplier) my \(myDiscriminator) your \(yourDiscriminator) tx \(desiredMinTxInterval) rx \(requiredMinRxInterval) echo \(requiredMinEchoRxInterval)"
    }
}

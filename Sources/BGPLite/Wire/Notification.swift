// NOTIFICATION message (RFC 4271 4.5, 6; RFC 4486 Cease subcodes; RFC 8203/9003
// shutdown communication; RFC 7313 ROUTE-REFRESH error; RFC 6608 FSM subcodes).
import MeshIO

public struct NotificationMessage: Equatable, Sendable, CustomStringConvertible {
    public var code: UInt8
    public var subcode: UInt8
    public var data: [UInt8]

    public init(code: UInt8, subcode: UInt8, data: [UInt8] = []) {
        self.code = code
        self.subcode = subcode
        self.data = data
    }

    // Error codes.
    public static let messageHeaderError: UInt8 = 1
    public static let openMessageError: UInt8 = 2
    public static let updateMessageError: UInt8 = 3
    public static let holdTimerExpiredCode: UInt8 = 4
    public static let fsmError: UInt8 = 5
    public static let ceaseCode: UInt8 = 6
    public static let routeRefreshMessageError: UInt8 = 7

    /// Cease subcodes (RFC 4486, RFC 9687 uses code 8 "send hold timer expired").
    public enum CeaseSubcode: UInt8, Sendable {
        case maximumPrefixes = 1, administrativeShutdown, peerDeconfigured, administrativeReset,
             connectionRejected, otherConfigurationChange, connectionCollision, outOfResources,
             hardReset, bfdDown
    }

    public static var holdTimerExpired: NotificationMessage { NotificationMessage(code: 4, subcode: 0) }

    /// RFC 9687 Send Hold Timer Expired (code 8).
    public static var sendHoldTimerExpired: NotificationMessage { NotificationMessage(code: 8, subcode: 0) }

    public static func cease(_ subcode: CeaseSubcode, data: [UInt8] = []) -> NotificationMessage {
        NotificationMessage(code: 6, subcode: subcode.rawValue, data: data)
    }

    /// Cease / Maximum number of prefixes reached with the RFC 4486 data (AFI, SAFI, limit).
    public static func maximumPrefixes(_ f: AFISAFI, limit: UInt32) -> NotificationMessage {
        var w = WireWriter(capacity: 7)
        w.u16(f.afi); w.u8(f.safi); w.u32(limit)
        return cease(.maximumPrefixes, data: w.bytes)
    }

    /// Cease / Administrative shutdown with an RFC 9003 shutdown communication (UTF-8, ≤ 255 bytes).
    public static func administrativeShutdown(message: String = "") -> NotificationMessage {
        cease(.administrativeShutdown, data: shutdownCommunication(message))
    }

    /// Cease / Administrative reset with an RFC 9003 shutdown communication.
    public static func administrativeReset(message: String = "") -> NotificationMessage {
        cease(.administrativeReset, data: shutdownCommunication(message))
    }

    static func shutdownCommunication(_ s: String) -> [UInt8] {
        if s.isEmpty { return [] }
        var utf8 = Array(s.utf8)
        if utf8.count > 255 {
            // Truncate on a character boundary.
            var n = 255
            while n > 0 && (utf8[n] & 0xC0) == 0x80 { n -= 1 }
            utf8 = Array(utf8[..<n])
        }
        return [UInt8(utf8.count)] + utf8
    }

    /// The RFC 8203/9003 shutdown communication, if this is an Administrative Shutdown or
    /// Reset carrying one. Invalid UTF-8 is repaired with U+FFFD.
    public var shutdownCommunication: String? {
        guard code == 6, subcode == 2 || subcode == 4, let n = data.first, n > 0, data.count >= 1 + Int(n) else { return nil }
        return String(decoding: data[1...Int(n)], as: UTF8.self)
    }

    /// Error code names (BIRD's wording).
    public static func codeName(_ code: UInt8) -> String {
        switch code {
        case 1: return "Message header error"
        case 2: return "OPEN message error"
        case 3: return "UPDATE message error"
        case 4: return "Hold timer expired"
        case 5: return "Finite state machine error"
        case 6: return "Cease"
        case 7: return "ROUTE-REFRESH message error"
        case 8: return "Send hold timer expired"
        default: return "Unknown error \(code)"
        }
    }

    /// Subcode names (BIRD's wording, IANA registry), nil when unknown or zero.
    public static func subcodeName(code: UInt8, subcode: UInt8) -> String? {
        switch (code, subcode) {
        case (1, 1): return "Connection not synchronized"
        case (1, 2): return "Bad message length"
        case (1, 3): return "Bad message type"
        case (2, 1): return "Unsupported version number"
        case (2, 2): return "Bad peer AS"
        case (2, 3): return "Bad BGP identifier"
        case (2, 4): return "Unsupported optional parameter"
        case (2, 5): return "Authentication failure"
        case (2, 6): return "Unacceptable hold time"
        case (2, 7): return "Unsupported capability"
        case (2, 11): return "Role mismatch"
        case (3, 1): return "Malformed attribute list"
        case (3, 2): return "Unrecognized well-known attribute"
        case (3, 3): return "Missing mandatory attribute"
        case (3, 4): return "Invalid attribute flags"
        case (3, 5): return "Invalid attribute length"
        case (3, 6): return "Invalid ORIGIN attribute"
        case (3, 7): return "AS routing loop"
        case (3, 8): return "Invalid NEXT_HOP attribute"
        case (3, 9): return "Optional attribute error"
        case (3, 10): return "Invalid network field"
        case (3, 11): return "Malformed AS_PATH"
        case (5, 1): return "Unexpected message in OpenSent state"
        case (5, 2): return "Unexpected message in OpenConfirm state"
        case (5, 3): return "Unexpected message in Established state"
        case (6, 1): return "Maximum number of prefixes reached"
        case (6, 2): return "Administrative shutdown"
        case (6, 3): return "Peer de-configured"
        case (6, 4): return "Administrative reset"
        case (6, 5): return "Connection rejected"
        case (6, 6): return "Other configuration change"
        case (6, 7): return "Connection collision resolution"
        case (6, 8): return "Out of resources"
        case (6, 9): return "Hard reset"
        case (6, 10): return "BFD session down"
        case (7, 1): return "Invalid message length"
        default: return nil
        }
    }

    /// Human readable, e.g. "Hold timer expired", "Cease: Maximum number of prefixes reached",
    /// `Cease: Administrative shutdown: "maintenance"`.
    public var description: String {
        var s = NotificationMessage.codeName(code)
        if let sub = NotificationMessage.subcodeName(code: code, subcode: subcode) {
            s += ": " + sub
        } else if subcode != 0 {
            s += ": subcode \(subcode)"
        }
        if let text = shutdownCommunication {
            // The peer's words: quotes and backslashes escaped, then every control character, DEL, C1 and
            // bidi override as \xNN / \u{NNNN} (this text reaches logs and `show protocols`).
            var quoted = ""
            for ch in text.unicodeScalars {
                if ch == "\"" || ch == "\\" { quoted += ch.escaped(asASCII: true) } else { quoted.unicodeScalars.append(ch) }
            }
            s += ": \"" + Log.escape(quoted, limit: 1024) + "\""
        }
        return s
    }

    static func decode(body: UnsafeRawBufferPointer) -> NotificationMessage {
        // Length >= 21 was checked by the header validation.
        NotificationMessage(code: body[0], subcode: body[1], data: body.wireBytes(2, body.count))
    }

    func encodeBody(into w: inout WireWriter, maxBody: Int) {
        w.u8(code)
        w.u8(subcode)
        let room = max(0, maxBody - 2)
        if data.count <= room { w.append(contentsOf: data) } else { w.append(contentsOf: data[..<room]) }
    }
}

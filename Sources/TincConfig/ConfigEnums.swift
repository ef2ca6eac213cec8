// Enumerated server settings. Parsing is case-insensitive, as in tinc.

/// `Mode`.
public enum RoutingMode: String, Sendable, Equatable, CaseIterable {
    case router, `switch`, hub
}

/// `Broadcast`: `yes` is an alias of `mst`.
public enum BroadcastMode: String, Sendable, Equatable, CaseIterable {
    case no, mst, direct
}

/// `Forwarding`.
public enum ForwardingMode: String, Sendable, Equatable, CaseIterable {
    case off, `internal`, kernel
}

/// `AddressFamily`.
public enum AddressFamily: String, Sendable, Equatable, CaseIterable {
    case ipv4, ipv6, any
}

/// `DeviceType` values tincd-swift implements. (tinc 1.0 also has raw_socket, multicast,
/// uml and vde; those are rejected with a ConfigError.)
public enum DeviceType: String, Sendable, Equatable, CaseIterable {
    case tun, tap, dummy
}

/// `ProcessPriority` (nice 10 / 0 / -10).
public enum ProcessPriority: String, Sendable, Equatable, CaseIterable {
    case low, normal, high

    public var niceValue: Int32 {
        switch self {
        case .low: return 10
        case .normal: return 0
        case .high: return -10
        }
    }
}

extension ConfigEntry {
    /// Matches the value case-insensitively against `choices` (value -> result).
    func choice<T>(_ choices: [(String, T)], what: String) throws -> T {
        let v = value.lowercased()
        if let hit = choices.first(where: { $0.0 == v }) { return hit.1 }
        let names = choices.map { $0.0 }.joined(separator: ", ")
        throw ConfigError(self, "\"\(value)\" is not a valid \(what) (expected one of: \(names))")
    }
}

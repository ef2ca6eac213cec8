// Values of the address-like variables: Port, Address, BindToAddress, MetricsAddress.
// Nothing here resolves host names; that happens when connecting or binding.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum PortNumber {
    /// A port given as a number 1-65535 or as a service name known to /etc/services
    /// (tinc accepts service names too). Returns the numeric port.
    public static func parse(_ text: String) -> UInt16? {
        if let first = text.utf8.first, first >= 0x30 && first <= 0x39 {
            guard text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text.utf8.count <= 5,
                  let n = Int(text), n >= 1, n <= 65535 else { return nil }
            return UInt16(n)
        }
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        for proto in ["tcp", "udp"] {
            if let ent = getservbyname(text, proto) {
                let port = UInt16(bigEndian: UInt16(truncatingIfNeeded: ent.pointee.s_port))
                return port == 0 ? nil : port
            }
        }
        return nil
    }

    static func parse(_ text: String, in entry: ConfigEntry) throws -> UInt16 {
        guard let p = parse(text) else {
            throw ConfigError(entry, "\"\(text)\" is not a valid port")
        }
        return p
    }
}

/// One `Address = host [port]` line of a host file.
public struct HostAddress: Equatable, Hashable, Sendable {
    public var host: String
    /// The port as a number string, nil when the line gives none (then the host's Port applies).
    public var port: String?
    public var location: ConfigLocation

    public init(host: String, port: String? = nil, location: ConfigLocation) {
        self.host = host
        self.port = port
        self.location = location
    }

    static func parse(_ entry: ConfigEntry) throws -> HostAddress {
        let parts = entry.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count <= 2 else {
            throw ConfigError(entry, "\"\(entry.value)\" is not of the form `host [port]`")
        }
        var port: String?
        if parts.count == 2 {
            port = String(try PortNumber.parse(parts[1], in: entry))
        }
        return HostAddress(host: parts[0], port: port, location: entry.location)
    }
}

/// One `BindToAddress = address [port]` line. `address == nil` means any address (`*`).
public struct BindAddress: Equatable, Hashable, Sendable {
    public var address: String?
    /// Numeric port, nil = our own Port.
    public var port: String?
    public var location: ConfigLocation

    public init(address: String?, port: String? = nil, location: ConfigLocation) {
        self.address = address
        self.port = port
        self.location = location
    }

    static func parse(_ entry: ConfigEntry) throws -> BindAddress {
        let parts = entry.value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count <= 2 else {
            throw ConfigError(entry, "\"\(entry.value)\" is not of the form `address [port]`")
        }
        var port: String?
        if parts.count == 2 {
            port = String(try PortNumber.parse(parts[1], in: entry))
        }
        return BindAddress(address: parts[0] == "*" ? nil : parts[0], port: port, location: entry.location)
    }
}

/// `MetricsAddress = host:port` (tincd-swift extension). IPv6 hosts go in brackets:
/// `[::1]:9100`. `no`, `off` or `none` disable it (the default).
public struct MetricsAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses `host:port` or `[v6]:port`; nil when the text is not of that form.
    public static func parse(_ text: String) -> MetricsAddress? {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            guard after.hasPrefix(":") else { return nil }
            portText = after.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }  // bare IPv6 needs brackets
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" }),
              let port = PortNumber.parse(String(portText)) else { return nil }
        return MetricsAddress(host: String(host), port: port)
    }
}

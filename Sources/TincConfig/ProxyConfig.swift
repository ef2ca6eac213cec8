// The `Proxy` server variable. All tinc 1.0 forms are parsed; tincd-swift implements only
// `none` and `exec` for now (ServerConfig rejects the others with a file:line error).

public enum ProxyConfig: Equatable, Hashable, Sendable {
    case none
    /// `exec COMMAND`: run COMMAND (through /bin/sh) and use its stdin/stdout as the connection.
    case exec(command: String)
    /// `socks4 HOST PORT [USER]`
    case socks4(host: String, port: String, user: String?)
    /// `socks4a HOST PORT [USER]`
    case socks4a(host: String, port: String, user: String?)
    /// `socks5 HOST PORT [USER [PASSWORD]]`
    case socks5(host: String, port: String, user: String?, password: String?)
    /// `http HOST PORT`
    case http(host: String, port: String)

    /// The type keyword (`none`, `exec`, `socks4`, ...).
    public var typeName: String {
        switch self {
        case .none: return "none"
        case .exec: return "exec"
        case .socks4: return "socks4"
        case .socks4a: return "socks4a"
        case .socks5: return "socks5"
        case .http: return "http"
        }
    }

    /// Whether tincd-swift implements this proxy type.
    public var isImplemented: Bool {
        switch self {
        case .none, .exec: return true
        default: return false
        }
    }

    /// Parses a Proxy value. The type is case-insensitive. Like tinc, the first space ends the
    /// type; for host-based types the following words are host, port, user and password (the
    /// password is the rest of the line). Throws a ConfigError located at `entry`.
    public static func parse(_ entry: ConfigEntry) throws -> ProxyConfig {
        let value = entry.value
        let typeEnd = value.firstIndex(where: { $0 == " " || $0 == "\t" }) ?? value.endIndex
        let type = value[..<typeEnd].lowercased()
        let rest = value[typeEnd...].drop(while: { $0 == " " || $0 == "\t" })

        switch type {
        case "none":
            return .none
        case "exec":
            guard !rest.isEmpty else {
                throw ConfigError(entry, "proxy type exec needs a command")
            }
            return .exec(command: String(rest))
        case "socks4", "socks4a", "socks5", "http":
            let words = rest.split(maxSplits: 3, whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count >= 2 else {
                throw ConfigError(entry, "proxy type \(type) needs a host and a port")
            }
            let host = words[0]
            let port = String(try PortNumber.parse(words[1], in: entry))
            let user = words.count > 2 ? words[2] : nil
            let password = words.count > 3 ? words[3] : nil
            switch type {
            // Like tinc, words a type does not use (a socks4 password, http credentials) are ignored.
            case "socks4":
                return .socks4(host: host, port: port, user: user)
            case "socks4a":
                return .socks4a(host: host, port: port, user: user)
            case "socks5":
                return .socks5(host: host, port: port, user: user, password: password)
            default:
                return .http(host: host, port: port)
            }
        default:
            throw ConfigError(entry, "unknown proxy type \"\(value[..<typeEnd])\" (expected none, exec, socks4, socks4a, socks5 or http)")
        }
    }
}

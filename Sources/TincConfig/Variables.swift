// The table of configuration variables: which ones tinc 1.0.36 knows, where they are read,
// whether they repeat, and whether tincd-swift implements them.

public enum VariableScope: Sendable, Equatable {
    /// tinc.conf / conf.d (and our own hosts file, which is merged into the server tree).
    case server
    /// hosts/NAME files (also valid in tinc.conf for our own node).
    case host
}

public enum VariableSupport: Sendable, Equatable {
    case supported
    /// A tinc 1.0 variable that tincd-swift does not implement: using it is an error.
    case unsupported
    /// Our own addition, not in tinc.
    case extensionVariable
}

public struct VariableInfo: Sendable, Equatable {
    /// Canonical spelling.
    public let name: String
    public let scope: VariableScope
    public let multiple: Bool
    public let support: VariableSupport

    init(_ name: String, _ scope: VariableScope, multiple: Bool = false, _ support: VariableSupport = .supported) {
        self.name = name
        self.scope = scope
        self.multiple = multiple
        self.support = support
    }
}

public enum Variables {
    /// Every variable tinc 1.0.36 reads, plus our extensions.
    public static let all: [VariableInfo] = [
        // server variables
        VariableInfo("AddressFamily", .server),
        VariableInfo("BindToAddress", .server, multiple: true),
        VariableInfo("BindToInterface", .server),
        VariableInfo("Broadcast", .server),
        VariableInfo("ConnectTo", .server, multiple: true),
        VariableInfo("DecrementTTL", .server),
        VariableInfo("Device", .server),
        VariableInfo("DeviceType", .server),
        VariableInfo("DirectOnly", .server),
        VariableInfo("Forwarding", .server),
        VariableInfo("GraphDumpFile", .server),
        VariableInfo("Hostnames", .server),
        VariableInfo("IffOneQueue", .server),
        VariableInfo("Interface", .server),
        VariableInfo("KeyExpire", .server),
        VariableInfo("LocalDiscovery", .server),
        VariableInfo("MACExpire", .server),
        VariableInfo("MaxOutputBufferSize", .server),
        VariableInfo("MaxTimeout", .server),
        VariableInfo("MinTimeout", .server),
        VariableInfo("Mode", .server),
        VariableInfo("Name", .server),
        VariableInfo("PingInterval", .server),
        VariableInfo("PingTimeout", .server),
        VariableInfo("PriorityInheritance", .server),
        VariableInfo("PrivateKey", .server),
        VariableInfo("PrivateKeyFile", .server),
        VariableInfo("ProcessPriority", .server),
        VariableInfo("Proxy", .server),
        VariableInfo("ReplayWindow", .server),
        VariableInfo("ScriptsInterpreter", .server),
        VariableInfo("StrictSubnets", .server),
        VariableInfo("TunnelServer", .server),
        VariableInfo("UDPRcvBuf", .server),
        VariableInfo("UDPSndBuf", .server),
        VariableInfo("VDEGroup", .server, .unsupported),
        VariableInfo("VDEPort", .server, .unsupported),
        // our extensions
        VariableInfo("MetricsAddress", .server, .extensionVariable),
        VariableInfo("ControlSocket", .server, .extensionVariable),
        VariableInfo("DeviceOffload", .server, .extensionVariable),
        VariableInfo("DataPlaneThreads", .server, .extensionVariable),
        VariableInfo("MaxNodes", .server, .extensionVariable),
        VariableInfo("MaxEdges", .server, .extensionVariable),
        VariableInfo("MaxSubnets", .server, .extensionVariable),
        VariableInfo("MaxSubnetsPerNode", .server, .extensionVariable),
        VariableInfo("BGPAddress", .host, .extensionVariable),
        VariableInfo("BGPAddress6", .host, .extensionVariable),
        // host variables
        VariableInfo("Address", .host, multiple: true),
        VariableInfo("Cipher", .host),
        VariableInfo("ClampMSS", .host),
        VariableInfo("Compression", .host),
        VariableInfo("Digest", .host),
        VariableInfo("IndirectData", .host),
        VariableInfo("MACLength", .host),
        VariableInfo("PMTU", .host),
        VariableInfo("PMTUDiscovery", .host),
        VariableInfo("Port", .host),
        VariableInfo("PublicKey", .host),
        VariableInfo("PublicKeyFile", .host),
        VariableInfo("Subnet", .host, multiple: true),
        VariableInfo("TCPOnly", .host),
        VariableInfo("Weight", .host),
    ]

    private static let byKey: [String: VariableInfo] = {
        var d: [String: VariableInfo] = [:]
        for v in all { d[v.name.lowercased()] = v }
        return d
    }()

    /// Case-insensitive lookup.
    public static func info(_ name: String) -> VariableInfo? {
        byKey[name.lowercased()]
    }

    /// Variables that exist only in tinc 1.1 (they get a more specific warning).
    public static let tinc11Only: Set<String> = [
        "autoconnect", "broadcastsubnet", "devicestandby", "ed25519privatekeyfile",
        "ed25519publickey", "ed25519publickeyfile", "experimentalprotocol", "fwmark",
        "invitationexpire", "listenaddress", "loglevel", "maxconnectionburst", "mtuinfointerval",
        "sandbox", "scriptsextension", "udpdiscovery", "udpdiscoverykeepaliveinterval",
        "udpdiscoveryinterval", "udpdiscoverytimeout", "udpinfointerval", "upnp",
        "upnpdiscoverwait", "upnprefreshperiod", "localdiscoveryaddress",
    ]

    /// Checks every entry of a tree: unknown names become warnings, tinc variables that we do
    /// not implement become errors (only when `rejectUnsupported`, i.e. for the server tree:
    /// in a peer's hosts file tinc never reads them either). Also warns when a single-valued
    /// variable is set more than once in files (the first one, by tinc's order, wins).
    static func check(_ tree: ConfigTree, rejectUnsupported: Bool, warnings: inout [String]) throws {
        var seen: [String: ConfigEntry] = [:]
        for e in tree.entries {
            guard let info = info(e.variable) else {
                let name = e.variable.isEmpty ? "(empty name)" : e.variable
                if tinc11Only.contains(e.key) {
                    warnings.append("\(e.location): \(name) is a tinc 1.1 variable; ignored by tincd-swift (tinc 1.0 compatible)")
                } else {
                    warnings.append("\(e.location): unknown variable \(name); ignored")
                }
                continue
            }
            if info.support == .unsupported {
                if rejectUnsupported {
                    throw ConfigError(e, "this tinc 1.0 variable is not supported by tincd-swift")
                }
                continue
            }
            if !info.multiple {
                if let first = seen[e.key] {
                    if !e.location.isCommandLine && !first.location.isCommandLine {
                        warnings.append("\(e.location): \(e.variable) is set again; the value from \(first.location) is used")
                    }
                } else {
                    seen[e.key] = e
                }
            }
        }
    }
}

// Server variables (tinc.conf, conf.d/*.conf, our own hosts file, `-o KEY=VALUE`),
// typed and validated, with tinc 1.0.36 defaults.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public struct ServerConfig: Equatable, Sendable {
    public static let defaultDevice = "/dev/net/tun"
    /// 10 x MTU (1518).
    public static let defaultMaxOutputBufferSize = 10 * HostConfig.defaultMTU

    /// Our node name, `[A-Za-z0-9_]+` (after `$VAR` expansion).
    public var name: String
    /// Host variables of our own node (Port, Subnets, Cipher, ...), read from the server tree.
    public var myself: HostConfig

    public var addressFamily: AddressFamily = .any
    /// Empty = listen on all addresses (one socket pair per family).
    public var bindToAddresses: [BindAddress] = []
    public var bindToInterface: String?
    public var broadcast: BroadcastMode = .mst
    /// Node names, in precedence order.
    public var connectTo: [String] = []
    public var decrementTTL: Bool = false
    public var device: String = ServerConfig.defaultDevice
    /// nil = automatic (tun in router mode, tap otherwise); see `effectiveDeviceType`.
    public var deviceType: DeviceType?
    public var directOnly: Bool = false
    public var forwarding: ForwardingMode = .internal
    /// Path, or `|command` to pipe the graph into a command.
    public var graphDumpFile: String?
    public var hostnames: Bool = false
    public var iffOneQueue: Bool = false
    /// Interface name; defaults to the netname when one is given, else nil (kernel-assigned).
    public var interface: String?
    public var keyExpire: Int = 3600
    public var localDiscovery: Bool = false
    public var macExpire: Int = 600
    public var maxOutputBufferSize: Int = ServerConfig.defaultMaxOutputBufferSize
    public var maxTimeout: Int = 900
    public var minTimeout: Int = 0
    public var mode: RoutingMode = .router
    public var pingInterval: Int = 60
    public var pingTimeout: Int = 5
    public var priorityInheritance: Bool = false
    /// Obsolete hex private exponent (needs PublicKey).
    public var privateKey: String?
    /// Default `<confdir>/rsa_key.priv`.
    public var privateKeyFile: String
    public var processPriority: ProcessPriority?
    public var proxy: ProxyConfig = .none
    /// Replay bitmap size in bytes; 0 disables the replay check.
    public var replayWindow: Int = 16
    public var scriptsInterpreter: String?
    /// Effective value: TunnelServer implies StrictSubnets.
    public var strictSubnets: Bool = false
    public var tunnelServer: Bool = false
    /// nil = OS default.
    public var udpRcvBuf: Int?
    public var udpSndBuf: Int?

    // tincd-swift extensions
    /// Bounds on what authenticated peers can make us store (MaxNodes, MaxEdges, MaxSubnets, MaxSubnetsPerNode).
    public var limits = MeshLimits()
    /// Where to serve metrics; nil = off (default).
    public var metricsAddress: MetricsAddress?
    /// Control socket path; nil = the default computed by `Paths`.
    public var controlSocket: String?
    /// tincd-swift extension: TSO super-frames from the TAP device, segmented in userspace (default yes).
    public var deviceOffload: Bool = true
    /// DataPlaneThreads: TX workers, one TAP queue each, and threads that open received packets
    /// (the RX thread and N - 1 helpers); nil: one per online core.
    public var dataPlaneThreads: Int?
    /// The kernel allows at most 256 queues per TUN/TAP device; more threads than that cannot help.
    public static let maxDataPlaneThreads = 64

    /// A config with every default, for a node called `name`.
    public init(name: String, confdir: String = Paths.defaultConfigBase) {
        self.name = name
        self.myself = HostConfig(name: name)
        self.privateKeyFile = confdir + "/rsa_key.priv"
    }

    /// tun when Mode is router, tap otherwise, unless DeviceType says otherwise.
    public var effectiveDeviceType: DeviceType {
        deviceType ?? (mode == .router ? .tun : .tap)
    }

    /// Builds the typed config from a complete server tree (command line, tinc.conf, conf.d,
    /// hosts/<name>). `netname` supplies the Interface default. Warnings are appended.
    public init(name: String, tree: ConfigTree, confdir: String, netname: String?,
                warnings: inout [String]) throws {
        self.init(name: name, confdir: confdir)
        try Variables.check(tree, rejectUnsupported: true, warnings: &warnings)
        myself = try HostConfig(name: name, tree: tree)

        if let e = tree.lookup("AddressFamily") {
            addressFamily = try e.choice([("ipv4", .ipv4), ("ipv6", .ipv6), ("any", AddressFamily.any)],
                                         what: "address family")
        }
        bindToAddresses = try tree.lookupAll("BindToAddress").map(BindAddress.parse)
        bindToInterface = tree.string("BindToInterface")
        if let e = tree.lookup("Broadcast") {
            broadcast = try e.choice([("no", .no), ("mst", .mst), ("yes", .mst), ("direct", BroadcastMode.direct)],
                                     what: "broadcast mode")
        }
        for e in tree.lookupAll("ConnectTo") {
            guard ConfigLoader.isValidNodeName(e.value) else {
                throw ConfigError(e, "\"\(e.value)\" is not a valid node name ([A-Za-z0-9_]+)")
            }
            connectTo.append(e.value)
        }
        if let b = try tree.bool("DecrementTTL") { decrementTTL = b }
        if let d = tree.string("Device") { device = d }
        if let e = tree.lookup("DeviceType") {
            switch e.value.lowercased() {
            case "tun": deviceType = .tun
            case "tap": deviceType = .tap
            case "dummy": deviceType = .dummy
            case "raw_socket", "multicast", "uml", "vde":
                throw ConfigError(e, "device type \"\(e.value)\" is not supported by tincd-swift (supported: tun, tap, dummy)")
            default:
                throw ConfigError(e, "\"\(e.value)\" is not a valid device type (expected one of: tun, tap, dummy)")
            }
        }
        if let b = try tree.bool("DirectOnly") { directOnly = b }
        if let e = tree.lookup("Forwarding") {
            forwarding = try e.choice([("off", .off), ("internal", .internal), ("kernel", ForwardingMode.kernel)],
                                      what: "forwarding mode")
        }
        graphDumpFile = tree.string("GraphDumpFile")
        if let b = try tree.bool("Hostnames") { hostnames = b }
        if let b = try tree.bool("IffOneQueue") { iffOneQueue = b }
        interface = tree.string("Interface") ?? netname
        // Deviation: tinc accepts any integer for KeyExpire, MACExpire and MaxOutputBufferSize;
        // zero or negative values make no sense there, so we reject them.
        if let e = tree.lookup("KeyExpire") { keyExpire = try e.intValue(in: 1...Int(Int32.max)) }
        if let b = try tree.bool("LocalDiscovery") { localDiscovery = b }
        if let e = tree.lookup("MACExpire") { macExpire = try e.intValue(in: 1...Int(Int32.max)) }
        if let e = tree.lookup("MaxOutputBufferSize") {
            maxOutputBufferSize = try e.intValue(in: 1...Int(Int32.max))
        }
        if let e = tree.lookup("MaxTimeout") { maxTimeout = try e.intValue(in: 1...Int(Int32.max)) }
        if let e = tree.lookup("MinTimeout") {
            minTimeout = try e.intValue(in: 0...Int(Int32.max))
            if minTimeout > maxTimeout {
                warnings.append("\(e.location): MinTimeout (\(minTimeout) s) is larger than MaxTimeout (\(maxTimeout) s); using \(maxTimeout)")
                minTimeout = maxTimeout
            }
        }
        if let e = tree.lookup("Mode") {
            mode = try e.choice([("router", .router), ("switch", .switch), ("hub", RoutingMode.hub)],
                                what: "routing mode")
        }
        if let e = tree.lookup("PingInterval") {
            pingInterval = try e.intValue()
            if pingInterval < 1 { pingInterval = 86400 }  // tinc: < 1 means once a day
        }
        if let e = tree.lookup("PingTimeout") { pingTimeout = try e.intValue() }
        if pingTimeout < 1 || pingTimeout > pingInterval {
            if let e = tree.lookup("PingTimeout") {
                warnings.append("\(e.location): PingTimeout \(e.value) is below 1 or above PingInterval; using \(pingInterval)")
            }
            pingTimeout = pingInterval
        }
        if let b = try tree.bool("PriorityInheritance") { priorityInheritance = b }
        if let e = tree.lookup("PrivateKey") {
            try HostConfig.checkHex(e)
            privateKey = e.value
        }
        if let f = tree.string("PrivateKeyFile") { privateKeyFile = f }
        if let e = tree.lookup("ProcessPriority") {
            processPriority = try e.choice([("low", .low), ("normal", .normal), ("high", ProcessPriority.high)],
                                           what: "process priority")
        }
        if let e = tree.lookup("Proxy") {
            let p = try ProxyConfig.parse(e)
            guard p.isImplemented else {
                throw ConfigError(e, "proxy type \(p.typeName) is not supported by tincd-swift yet (supported: none, exec)")
            }
            proxy = p
        }
        if let e = tree.lookup("ReplayWindow") { replayWindow = try e.intValue(in: 0...Int(Int32.max)) }
        scriptsInterpreter = tree.string("ScriptsInterpreter")
        if let b = try tree.bool("StrictSubnets") { strictSubnets = b }
        if let b = try tree.bool("TunnelServer") { tunnelServer = b }
        strictSubnets = strictSubnets || tunnelServer
        if let e = tree.lookup("UDPRcvBuf") { udpRcvBuf = try e.intValue(in: 1...Int(Int32.max)) }
        if let e = tree.lookup("UDPSndBuf") { udpSndBuf = try e.intValue(in: 1...Int(Int32.max)) }

        if let e = tree.lookup("MaxNodes") { limits.maxNodes = try e.intValue(in: 2...10_000_000) }
        if let e = tree.lookup("MaxEdges") { limits.maxEdges = try e.intValue(in: 1...100_000_000) }
        if let e = tree.lookup("MaxSubnets") { limits.maxSubnets = try e.intValue(in: 1...100_000_000) }
        if let e = tree.lookup("MaxSubnetsPerNode") { limits.maxSubnetsPerNode = try e.intValue(in: 1...100_000_000) }

        if let e = tree.lookup("MetricsAddress") {
            switch e.value.lowercased() {
            case "no", "off", "none":
                metricsAddress = nil
            default:
                guard let m = MetricsAddress.parse(e.value) else {
                    throw ConfigError(e, "\"\(e.value)\" is not of the form host:port (IPv6: [addr]:port)")
                }
                metricsAddress = m
            }
        }
        controlSocket = tree.string("ControlSocket")
        if let b = try tree.bool("DeviceOffload") { deviceOffload = b }
        if let e = tree.lookup("DataPlaneThreads") { dataPlaneThreads = try e.intValue(in: 1...ServerConfig.maxDataPlaneThreads) }
    }

    // MARK: Name

    /// Resolves a `Name` value: `$VAR` takes the environment variable VAR with every character
    /// other than ASCII letters and digits turned into `_` (per byte, like tinc); `$HOST` falls
    /// back to gethostname() (first 31 bytes) when HOST is unset. The result must be
    /// `[A-Za-z0-9_]+`.
    public static func resolveName(_ entry: ConfigEntry,
                                   environment: [String: String] = ProcessInfo.processInfo.environment,
                                   hostname: () -> String? = ServerConfig.systemHostname) throws -> String {
        var name = entry.value
        if name.hasPrefix("$") {
            let variable = String(name.dropFirst())
            var raw: String
            if let v = environment[variable] {
                raw = v
            } else if variable == "HOST" {
                guard let h = hostname(), !h.isEmpty else {
                    throw ConfigError(entry, "environment variable HOST is not set and the host name cannot be read")
                }
                raw = String(decoding: Array(h.utf8.prefix(31)), as: UTF8.self)
            } else {
                throw ConfigError(entry, "environment variable \(variable) does not exist")
            }
            // Per byte, like tinc: a multi-byte UTF-8 character becomes several '_'.
            name = String(decoding: raw.utf8.map { ServerConfig.isNameByte($0) ? $0 : UInt8(ascii: "_") },
                          as: UTF8.self)
        }
        guard ConfigLoader.isValidNodeName(name) else {
            throw ConfigError(entry, "\"\(name)\" is not a valid node name ([A-Za-z0-9_]+)")
        }
        return name
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    public static func systemHostname() -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return nil }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}


/// How much of the mesh's gossip a node stores. Every node, edge and subnet comes from a peer that
/// authenticated, but one compromised or buggy node could otherwise announce millions of them and
/// take every node's memory and CPU with it. Past a limit the request is refused with a log line.
public struct MeshLimits: Sendable, Equatable {
    /// Nodes in the graph, ourselves included.
    public var maxNodes = 10_000
    /// Directed edges in the graph.
    public var maxEdges = 200_000
    /// Subnets of all nodes together (in switch mode every learned MAC address is one).
    public var maxSubnets = 500_000
    /// Subnets of any one node.
    public var maxSubnetsPerNode = 50_000

    public init() {}
}

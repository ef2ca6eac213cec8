// bgp.conf model: the subset of BIRD 2.0.12's configuration language that BGPLite understands.
// Addresses are represented as host-length IPPrefix values (/32 or /128).

/// A configuration error located at `file:line:column` (1-based), like BIRD's `bird -p` output.
public struct BGPConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String
    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file; self.line = line; self.column = column; self.message = message
    }
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

public struct BGPConfig {
    public var routerID: UInt32?
    public var protocols: [ProtocolConfig] = []
    /// Named filters (`filter NAME { ... }`).
    public var filters: [String: Filter] = [:]
    /// `define NAME = constant;` values.
    public var defines: [String: FilterValue] = [:]
    /// `log ...;` destinations as written ("syslog", "stderr" or a file name).
    public var logTargets: [String] = []
    /// The source line of each `log` statement (same order as `logTargets`), for refusals that name it.
    public var logLines: [Int] = []
    /// `debug protocols MASK;`: the BIRD debug classes every protocol logs unconditionally (per-protocol
    /// `debug` overrides). Empty: none (BIRD's default).
    public var debugProtocols: Set<String> = []
    /// Global `graceful restart wait N;` if given.
    public var gracefulRestartWait: Int?

    public init() {}

    public static func parse(text: String, fileName: String = "bgp.conf",
                             includeLoader: ((String) throws -> String)? = nil) throws(BGPConfigError) -> BGPConfig {
        var p = ConfigParser(text: text, fileName: fileName, includeLoader: includeLoader)
        return try p.parseConfig()
    }

    /// Reads `path` (and files it includes, relative to its directory) and parses it.
    public static func load(path: String) throws -> BGPConfig {
        let text = try readConfigFile(path)
        return try parse(text: text, fileName: path, includeLoader: { try readConfigFile($0) })
    }

    public var bgpProtocols: [BGPProtocolConfig] {
        protocols.compactMap { if case .bgp(let b) = $0 { return b } else { return nil } }
    }
    public func protocolNamed(_ name: String) -> ProtocolConfig? { protocols.first { $0.name == name } }
}

public struct ConfigFileError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "\(path): cannot read file (errno \(errno))" }
}

public enum ProtocolConfig {
    case device(DeviceProtocolConfig)
    case direct(DirectProtocolConfig)
    case static_(StaticProtocolConfig)
    case kernel(KernelProtocolConfig)
    case bgp(BGPProtocolConfig)
    case bfd(BFDProtocolConfig)

    public var name: String {
        switch self {
        case .device(let p): return p.name
        case .direct(let p): return p.name
        case .static_(let p): return p.name
        case .kernel(let p): return p.name
        case .bgp(let p): return p.name
        case .bfd(let p): return p.name
        }
    }
}

/// Options shared by every protocol (`description`, `disabled`, `debug`).
public struct CommonProtocolOptions {
    public var description: String?
    public var disabled = false
    public var debug = false
    /// `debug MASK;` of this protocol (nil: `debug protocols` applies).
    public var debugClasses: Set<String>?
    public var sourceLine = 0
    public init() {}
}

public struct DeviceProtocolConfig {
    public var name: String
    public var common = CommonProtocolOptions()
    /// Seconds; BIRD default 60.
    public var scanTime = 60
    public var interfaces: [String] = []
}

public struct DirectProtocolConfig {
    public var name: String
    public var common = CommonProtocolOptions()
    public var channels: [ChannelConfig] = []
    /// Interface patterns; a leading "-" marks a negative pattern as in BIRD.
    public var interfaces: [String] = []
    public var checkLink: Bool?
}

public enum StaticRouteKind: Equatable {
    case blackhole, unreachable, prohibit
    case via(IPPrefix)          // host prefix
    case viaInterface(String)
}

public struct StaticRoute {
    public var prefix: IPPrefix
    public var kind: StaticRouteKind
}

public struct StaticProtocolConfig {
    public var name: String
    public var common = CommonProtocolOptions()
    public var family: IPPrefix.Family
    public var routes: [(prefix: IPPrefix, kind: StaticRouteKind)] = []
    public var channel: ChannelConfig
}

public struct KernelProtocolConfig {
    public var name: String
    public var common = CommonProtocolOptions()
    public var channels: [ChannelConfig] = []
    public var learn = false
    public var persist = false
    /// Seconds; BIRD default 60.
    public var scanTime = 60
    public var kernelTable: Int?
    public var gracefulRestart = false
    /// Merge-paths limit (BIRD default limit 16 when `merge paths on`), nil when off.
    public var mergePaths: Int?
}

public struct BFDOptions: Equatable {
    /// Microseconds.
    public var minRxInterval: Int = 10_000
    public var minTxInterval: Int = 100_000
    public var idleTxInterval: Int = 1_000_000
    public var multiplier: Int = 5
    public var passive: Bool = false
    public init() {}
}

public struct BFDNeighbor {
    public var address: IPPrefix
    public var interface: String?
    public var local: IPPrefix?
    public var multihop: Bool
}

public struct BFDProtocolConfig {
    public var name: String
    public var common = CommonProtocolOptions()
    public var interfaces: [(pattern: String, options: BFDOptions)] = []
    public var multihop: BFDOptions?
    public var neighbors: [BFDNeighbor] = []
}

public enum GRMode: Equatable { case off, aware, on }

public enum NextHopSelf: Equatable { case off, on, ibgp, ebgp }

public enum GatewayMode: Equatable { case direct, recursive }

public enum LimitAction: Equatable { case warn, block, restart, disable }

public struct Limit: Equatable {
    public var count: Int
    public var action: LimitAction
}

public enum Policy {
    case all, none, filter(Filter)
    public var isAll: Bool { if case .all = self { return true } else { return false } }
    public var isNone: Bool { if case .none = self { return true } else { return false } }
}

public struct ChannelConfig {
    public var family: IPPrefix.Family
    /// nil = not written in the config. See `effectiveImportPolicy`.
    public var importPolicy: Policy?
    public var exportPolicy: Policy?
    public var importLimit: Limit?
    public var receiveLimit: Limit?
    public var exportLimit: Limit?
    public var nextHopSelf: NextHopSelf?
    public var nextHopAddress: IPPrefix?
    public var nextHopKeep: NextHopSelf?
    public var gateway: GatewayMode?
    public var preference: Int?
    public var table: String
    public var gracefulRestart: Bool?
    public var importKeepFiltered = false

    public init(family: IPPrefix.Family) {
        self.family = family
        self.table = family == .ipv4 ? "master4" : "master6"
    }

    /// Policies when nothing was written, for non-BGP channels (BIRD nest/proto.c channel defaults):
    /// import all, export none.
    public var effectiveImportPolicy: Policy { importPolicy ?? .all }
    public var effectiveExportPolicy: Policy { exportPolicy ?? .none }
}

public struct BGPProtocolConfig {
    public var name: String
    public var isTemplate = false
    public var description: String?
    public var disabled = false
    /// `debug MASK;` (nil: the global `debug protocols`): classes logged whatever the daemon's -d level.
    public var debugClasses: Set<String>?
    public var localAddress: IPPrefix?
    public var localAS: UInt32 = 0
    public var localPort: Int = 179
    public var neighborAddress: IPPrefix?
    public var neighborPort: Int = 179
    public var neighborAS: UInt32 = 0
    /// `neighbor ... internal` / `external` when written.
    public var forcedPeerType: Bool?   // true = internal, false = external
    public var interface: String?
    public var holdTime = 240
    public var minHoldTime: Int?
    /// nil = hold time / 3 (BIRD).
    public var keepaliveTime: Int?
    public var connectRetryTime = 120
    /// `connect delay time`: seconds (at least 1, as BIRD) before the outgoing connection when the
    /// protocol starts or restarts. nil (not written): connect at once on start and 1 s after a
    /// clean close, unlike BIRD's default of 5 s, because the automatic iBGP mesh converges on it.
    public var connectDelayTime: Int?
    public var startupHoldTime = 240
    public var errorWaitTime: (min: Int, max: Int) = (60, 300)
    public var errorForgetTime = 300
    public var password: String?
    public var gracefulRestart: GRMode = .aware
    public var gracefulRestartTime = 120
    public var bfd = false
    public var passive = false
    /// Resolved like BIRD: eBGP 0 (direct), iBGP 64 unless written.
    public var multihop: Int?
    public var multihopExplicit = false
    public var enableRouteRefresh = true
    public var enableAS4 = true
    public var enableExtendedMessages = false
    public var interpretCommunities = true
    public var ttlSecurity = false
    public var defaultLocalPref: UInt32 = 100
    public var defaultMED: UInt32 = 0
    /// nil = not allowed; 0 = `allow local as` (unlimited in BIRD: -1).
    public var allowLocalAS: Int?
    public var rrClient = false
    public var rsClient = false
    public var channels: [ChannelConfig] = []
    public var sourceLine = 0

    public init(name: String) { self.name = name }

    public var isInternal: Bool {
        if let f = forcedPeerType { return f }
        return localAS == neighborAS
    }
    public var effectiveKeepaliveTime: Int { keepaliveTime ?? holdTime / 3 }
    public var effectiveMultihop: Int { multihop ?? (isInternal ? 64 : 0) }
}

extension ChannelConfig {
    /// BGP channel defaults (BIRD 2.0.12 proto/bgp/bgp.c bgp_postconfig): iBGP: import all, export none;
    /// eBGP: both must be explicit (RFC 8212) — the parser rejects eBGP channels without them, so for
    /// a parsed eBGP channel these are always non-nil.
    public func bgpImportPolicy(isInternal: Bool) -> Policy { importPolicy ?? (isInternal ? .all : .none) }
    public func bgpExportPolicy(isInternal: Bool) -> Policy { exportPolicy ?? .none }
}

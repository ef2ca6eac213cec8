/// One typed sample of a node's state, taken on the control loop. Every operator view is rendered
/// from these values: the SIGUSR1/SIGUSR2 log dumps, `ctl` text and `ctl --json` (TincDaemon's
/// Operator/), and /metrics (MeshMetrics). They are plain Sendable values, so a sample may leave
/// the loop thread once taken.
public struct MeshSnapshot: Codable, Sendable, Equatable {
    /// This node's name.
    public var name: String
    public var version: String
    /// Wall-clock seconds since the epoch at daemon start.
    public var startTime: Double
    public var stats: StatsSnapshot
    /// Each list is filled only when asked for (`SnapshotParts`): a large mesh's subnets are not
    /// enumerated for every scrape.
    public var nodes: [NodeSnapshot]
    public var edges: [EdgeSnapshot]
    public var subnets: [SubnetSnapshot]
    public var connections: [ConnectionSnapshot]
    /// nil when no BGP speaker runs in this process (no bgp.conf).
    public var bgp: BGPSnapshot?

    public init(name: String, version: String, startTime: Double, stats: StatsSnapshot = StatsSnapshot(),
                nodes: [NodeSnapshot] = [], edges: [EdgeSnapshot] = [], subnets: [SubnetSnapshot] = [],
                connections: [ConnectionSnapshot] = [], bgp: BGPSnapshot? = nil) {
        self.name = name
        self.version = version
        self.startTime = startTime
        self.stats = stats
        self.nodes = nodes
        self.edges = edges
        self.subnets = subnets
        self.connections = connections
        self.bgp = bgp
    }
}

/// Which lists a `MeshSnapshot` is taken with.
public struct SnapshotParts: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let nodes = SnapshotParts(rawValue: 1)
    public static let edges = SnapshotParts(rawValue: 2)
    public static let subnets = SnapshotParts(rawValue: 4)
    public static let connections = SnapshotParts(rawValue: 8)
    public static let bgp = SnapshotParts(rawValue: 16)
    public static let all: SnapshotParts = [.nodes, .edges, .subnets, .connections, .bgp]
}

/// `dump graph --json`: the nodes and edges the dot graph is drawn from.
public struct GraphSnapshot: Codable, Sendable, Equatable {
    public var nodes: [NodeSnapshot]
    public var edges: [EdgeSnapshot]

    public init(nodes: [NodeSnapshot], edges: [EdgeSnapshot]) {
        self.nodes = nodes
        self.edges = edges
    }
}

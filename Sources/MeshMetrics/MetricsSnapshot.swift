/// What the daemon reports on each scrape. The daemon fills one of these on its control loop from its
/// own state (graph, keys, connections, data-plane totals, BGP status) through a provider closure;
/// this module only turns it into Prometheus series, so it knows nothing about the daemon's types.
public struct MetricsSnapshot {
    /// This node's name (the `node` label of `tincd_info`).
    public var nodeName: String
    public var version: String
    /// Wall-clock seconds since the epoch at daemon start.
    public var startTime: Double

    /// Data-plane totals since start (monotonic; `DataPlaneStats` of the daemon).
    public var deviceInPackets: UInt64 = 0, deviceInBytes: UInt64 = 0
    public var deviceOutPackets: UInt64 = 0, deviceOutBytes: UInt64 = 0
    public var udpInPackets: UInt64 = 0, udpInBytes: UInt64 = 0
    public var udpOutPackets: UInt64 = 0, udpOutBytes: UInt64 = 0
    public var tcpFallbackFrames: UInt64 = 0
    /// Dropped packets by reason; see `DropReason`.
    public var drops: [DropReason: UInt64] = [:]

    /// Authenticated (active) meta connections.
    public var metaConnections: Int = 0
    public var graphNodes: Int = 0
    public var graphReachableNodes: Int = 0
    public var graphEdges: Int = 0
    public var graphSubnets: Int = 0

    /// Every other node the graph knows (ourselves excluded).
    public var peers: [PeerSample] = []

    /// nil when no BGP speaker runs in this process (no bgp.conf).
    public var bgp: BGPSample?

    public init(nodeName: String, version: String, startTime: Double) {
        self.nodeName = nodeName
        self.version = version
        self.startTime = startTime
    }
}

public enum DropReason: String, CaseIterable, Hashable {
    case badMAC = "bad_mac"
    case replay = "replay"
    case tooShort = "too_short"
    case unknownSource = "unknown_source"
    case noKey = "no_key"
    case noRoute = "no_route"
    case sendError = "send_error"
    case compression = "compression"
    /// A bounded queue between the data-plane threads and the control thread was full.
    case queueFull = "queue_full"
    /// Sealing a packet failed (the crypto call returned an error).
    case sealFailed = "seal_failed"
}

public struct PeerSample: Equatable {
    public var name: String
    public var reachable: Bool
    /// A meta connection to this node is up.
    public var directlyConnected: Bool
    /// Hops on the shortest path (nil when unreachable).
    public var distance: Int?
    /// A valid packet key is known (UDP data can flow).
    public var validKey: Bool
    /// Path MTU state (nil before any key/probe state exists for this node).
    public var pmtu: Int?
    public var minMTU: Int?
    public var maxMTU: Int?

    public init(name: String, reachable: Bool, directlyConnected: Bool, distance: Int?, validKey: Bool,
                pmtu: Int?, minMTU: Int?, maxMTU: Int?) {
        self.name = name
        self.reachable = reachable
        self.directlyConnected = directlyConnected
        self.distance = distance
        self.validKey = validKey
        self.pmtu = pmtu
        self.minMTU = minMTU
        self.maxMTU = maxMTU
    }
}

public struct BGPSample {
    public var locRIBRoutes: Int
    public var sessions: [BGPSessionSample]

    public init(locRIBRoutes: Int, sessions: [BGPSessionSample]) {
        self.locRIBRoutes = locRIBRoutes
        self.sessions = sessions
    }
}

public struct BGPSessionSample: Equatable {
    /// Protocol name (`isp`, or the peer node's name for automatic mesh sessions).
    public var name: String
    /// "Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established", "Passive", "Down".
    public var state: String
    public var established: Bool
    /// Wall-clock seconds since the epoch of the last protocol state change.
    public var since: Double
    public var prefixesReceived: Int
    public var prefixesAccepted: Int
    public var prefixesExported: Int
    /// UPDATE counts of the current session object (they restart when a session is re-created).
    public var updatesReceived: Int
    public var updatesSent: Int

    public init(name: String, state: String, established: Bool, since: Double, prefixesReceived: Int,
                prefixesAccepted: Int, prefixesExported: Int, updatesReceived: Int, updatesSent: Int) {
        self.name = name
        self.state = state
        self.established = established
        self.since = since
        self.prefixesReceived = prefixesReceived
        self.prefixesAccepted = prefixesAccepted
        self.prefixesExported = prefixesExported
        self.updatesReceived = updatesReceived
        self.updatesSent = updatesSent
    }

    /// BGP4-MIB bgpPeerState numbering (RFC 4273): idle 1, connect 2, active 3, opensent 4,
    /// openconfirm 5, established 6; 0 for a protocol that is down/disabled.
    public var stateCode: Int {
        switch state.lowercased() {
        case "idle": return 1
        case "connect": return 2
        case "active", "passive": return 3
        case "opensent": return 4
        case "openconfirm": return 5
        case "established": return 6
        default: return 0
        }
    }
}

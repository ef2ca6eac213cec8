/// Data-plane totals since start (monotonic) and the size of the mesh: `ctl stats`, SIGUSR2's
/// device statistics and the tincd_* counters and graph gauges of /metrics.
/// JSON keys are snake_case as `ctl stats` has always printed them.
public struct StatsSnapshot: Codable, Sendable, Equatable {
    public var deviceInPackets: UInt64 = 0, deviceInBytes: UInt64 = 0
    public var deviceOutPackets: UInt64 = 0, deviceOutBytes: UInt64 = 0
    public var udpInPackets: UInt64 = 0, udpInBytes: UInt64 = 0
    public var udpOutPackets: UInt64 = 0, udpOutBytes: UInt64 = 0
    /// Frames sent over a meta connection (TCP) instead of UDP.
    public var tcpFallbackFrames: UInt64 = 0
    public var droppedBadMAC: UInt64 = 0, droppedReplay: UInt64 = 0, droppedShort: UInt64 = 0
    public var droppedUnknownSource: UInt64 = 0, droppedNoKey: UInt64 = 0, droppedNoRoute: UInt64 = 0
    public var droppedSendError: UInt64 = 0, droppedCompression: UInt64 = 0
    /// A bounded queue between threads was full.
    public var droppedQueueFull: UInt64 = 0
    /// Sealing a packet failed (the crypto call returned an error).
    public var droppedSealFailed: UInt64 = 0

    /// Graph sizes (this node included) and authenticated meta connections.
    public var nodes = 0, reachableNodes = 0, edges = 0, subnets = 0, connections = 0
    /// Request lines queued on meta connections since start, own and forwarded (closed connections too).
    public var metaRequestsSent = 0
    /// Gossip refused by MaxNodes / MaxEdges / MaxSubnets / MaxSubnetsPerNode since start.
    public var gossipRefused = 0
    /// Event scripts (host-up, subnet-up, …, GraphDumpFile commands) since start: started, exited
    /// non-zero or killed, killed for running past the timeout, skipped (queue full), cancelled in
    /// up/down pairs (queue full); and waiting now.
    public var scriptsStarted = 0, scriptsFailed = 0, scriptsTimedOut = 0, scriptsSkipped = 0, scriptsCoalesced = 0
    public var scriptsQueued = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case deviceInPackets = "device_in_packets", deviceInBytes = "device_in_bytes"
        case deviceOutPackets = "device_out_packets", deviceOutBytes = "device_out_bytes"
        case udpInPackets = "udp_in_packets", udpInBytes = "udp_in_bytes"
        case udpOutPackets = "udp_out_packets", udpOutBytes = "udp_out_bytes"
        case tcpFallbackFrames = "tcp_fallback_frames"
        case droppedBadMAC = "dropped_bad_mac", droppedReplay = "dropped_replay", droppedShort = "dropped_short"
        case droppedUnknownSource = "dropped_unknown_source", droppedNoKey = "dropped_no_key"
        case droppedNoRoute = "dropped_no_route", droppedSendError = "dropped_send_error"
        case droppedCompression = "dropped_compression", droppedQueueFull = "dropped_queue_full"
        case droppedSealFailed = "dropped_seal_failed"
        case nodes, reachableNodes = "reachable_nodes", edges, subnets, connections
        case metaRequestsSent = "meta_requests_sent"
        case gossipRefused = "gossip_refused"
        case scriptsStarted = "scripts_started", scriptsFailed = "scripts_failed", scriptsTimedOut = "scripts_timed_out"
        case scriptsSkipped = "scripts_skipped", scriptsCoalesced = "scripts_coalesced", scriptsQueued = "scripts_queued"
    }

    /// Script counters with the `result` label /metrics gives them, in a fixed order.
    public var scripts: [(result: String, count: Int)] {
        [("started", scriptsStarted), ("failed", scriptsFailed), ("timed_out", scriptsTimedOut),
         ("skipped", scriptsSkipped), ("coalesced", scriptsCoalesced)]
    }

    /// Drop counters with the `reason` label /metrics gives them, in a fixed order.
    public var drops: [(reason: String, count: UInt64)] {
        [("bad_mac", droppedBadMAC), ("replay", droppedReplay), ("too_short", droppedShort),
         ("unknown_source", droppedUnknownSource), ("no_key", droppedNoKey), ("no_route", droppedNoRoute),
         ("send_error", droppedSendError), ("compression", droppedCompression),
         ("queue_full", droppedQueueFull), ("seal_failed", droppedSealFailed)]
    }
}

/// Control-plane view of a peer's packet keys and path MTU (tinc's node_t fields). The cipher
/// contexts themselves live in the data-plane threads; this keeps what the protocol needs.
public final class NodeKeys {
    public var validKey = false
    public var lastReqKey: Double = 0
    public var hasInboundKey = false
    public var outCipherNID = 0, outDigestNID = 0, outMACLength = 0, outCompression = 0

    // Stale-key healing (see MeshDaemon+Keys.swift, "stale packet keys").
    /// When we last made a fresh inbound key for this node (loop time; 0: never).
    public var inboundKeySetAt: Double = 0
    /// When the current outbound key (from the node's ANS_KEY) was installed (loop time; 0: none).
    public var outboundKeySetAt: Double = 0
    /// When we last sent a fresh key because its packets failed our MAC.
    public var staleKeyAnsweredAt: Double = 0
    /// A probe reply came back since the current outbound key was installed.
    public var outboundKeyConfirmed = false
    /// Seconds of key check run for the current outbound key.
    public var keyCheckRounds = 0
    /// We already asked for a new key because probes under a key stayed unanswered; reset when a
    /// probe reply arrives or the node's reachability changes (so blocked UDP costs one request).
    public var silentKeyRequested = false
    var keyCheckTimer: Int?
    /// UDP liveness (MeshDaemon+Packets.swift): when a probe reply last came by UDP.
    public var lastUDPProbeReply: Double = 0
    var livenessTimer: Int?

    // PMTU discovery state (frame sizes).
    public var mtu = 1518
    public var minMTU = 0
    public var maxMTU = 1518
    public var mtuProbes = 0
    /// Quick rounds done in this discovery (MeshDaemon.fastProbeRounds).
    public var fastProbeRounds = 0
    var probeTimer: Int?

    // Frames that came in over a meta connection (PACKET requests), counted here on the control
    // thread; the UDP ones are counted by the RX worker (PeerCounters).
    public var tcpInPackets: UInt64 = 0, tcpInBytes: UInt64 = 0
    /// EventLoop.now() of the last such frame (0: none).
    public var lastTCPFrameAt: Double = 0

    init() {}

    func countTCPIn(_ bytes: Int, now: Double) {
        tcpInPackets &+= 1
        tcpInBytes &+= UInt64(bytes)
        lastTCPFrameAt = now
    }

    func resetPath() {
        validKey = false
        lastReqKey = 0
        minMTU = 0
        maxMTU = 1518
        mtuProbes = 0
        fastProbeRounds = 0
        outboundKeyConfirmed = false
        keyCheckRounds = 0
        silentKeyRequested = false
    }
}

/// What the frame path did with one node of the mesh, since it joined the graph (`ctl info`,
/// `ctl --json dump nodes`, `ctl top`, the tincd_peer_* series). Counted as tinc 1.1 counts
/// (`tinc top`): *in* are the frames this node handed us (tinc 1.0 packets carry no origin, so a
/// frame relayed by the node counts for the node), *out* the frames whose destination is the node
/// (whichever hop they leave through); bytes are frame bytes, before encryption and compression.
/// For this node itself, in is what its device gave us, out what we wrote to its device.
/// The counters only grow while the node stays in the graph; a node removed and re-added starts
/// again from zero (the metrics show a counter reset).
public struct PeerTraffic: Codable, Sendable, Equatable {
    public var inPackets: UInt64 = 0, inBytes: UInt64 = 0
    public var outPackets: UInt64 = 0, outBytes: UInt64 = 0
    /// The part of in/out that travelled as PACKET requests on a meta connection (TCP).
    public var inTCPPackets: UInt64 = 0, inTCPBytes: UInt64 = 0
    public var outTCPPackets: UInt64 = 0, outTCPBytes: UInt64 = 0
    public var drops = PeerDrops()
    /// Seconds since the last valid packet (UDP or TCP) from the node; nil before any.
    public var lastSeen: Double?
    /// Seconds since the packet key we gave the node (in) and the one it gave us (out) were set;
    /// nil while there is no such key.
    public var inKeyAge: Double?
    public var outKeyAge: Double?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case inPackets = "in_packets", inBytes = "in_bytes", outPackets = "out_packets", outBytes = "out_bytes"
        case inTCPPackets = "in_tcp_packets", inTCPBytes = "in_tcp_bytes"
        case outTCPPackets = "out_tcp_packets", outTCPBytes = "out_tcp_bytes"
        case drops, lastSeen = "last_seen_seconds", inKeyAge = "in_key_age_seconds", outKeyAge = "out_key_age_seconds"
    }

    /// Absent values are written as null, so every object has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inPackets, forKey: .inPackets)
        try c.encode(inBytes, forKey: .inBytes)
        try c.encode(outPackets, forKey: .outPackets)
        try c.encode(outBytes, forKey: .outBytes)
        try c.encode(inTCPPackets, forKey: .inTCPPackets)
        try c.encode(inTCPBytes, forKey: .inTCPBytes)
        try c.encode(outTCPPackets, forKey: .outTCPPackets)
        try c.encode(outTCPBytes, forKey: .outTCPBytes)
        try c.encode(drops, forKey: .drops)
        try c.encode(lastSeen, forKey: .lastSeen)
        try c.encode(inKeyAge, forKey: .inKeyAge)
        try c.encode(outKeyAge, forKey: .outKeyAge)
    }
}

/// Packets of one node the frame path dropped, by reason. Inbound: the node's packets failed our
/// MAC, fell outside the replay window, came while we held no key for the node, did not
/// decompress, or were too short once opened. Outbound (counted against the node the packet was
/// sealed for, i.e. the hop): compression failed, sealing failed, the send failed.
public struct PeerDrops: Codable, Sendable, Equatable {
    public var badMAC: UInt64 = 0, replay: UInt64 = 0, noKey: UInt64 = 0, decompress: UInt64 = 0
    public var tooShort: UInt64 = 0, compress: UInt64 = 0, sealFailed: UInt64 = 0, sendError: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case badMAC = "bad_mac", replay, noKey = "no_key", decompress, tooShort = "too_short", compress
        case sealFailed = "seal_failed", sendError = "send_error"
    }

    /// With the `reason` label /metrics gives them, in a fixed order.
    public var byReason: [(reason: String, count: UInt64)] {
        [("bad_mac", badMAC), ("replay", replay), ("no_key", noKey), ("decompress", decompress),
         ("too_short", tooShort), ("compress", compress), ("seal_failed", sealFailed), ("send_error", sendError)]
    }

    public var total: UInt64 { byReason.reduce(0) { $0 &+ $1.count } }
}

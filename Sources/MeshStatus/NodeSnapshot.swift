/// A node of the mesh graph with what we know of its keys and path MTU (`ctl dump nodes`,
/// `ctl info`, SIGUSR2's node list, tincd_node_* series).
public struct NodeSnapshot: Codable, Sendable, Equatable {
    public var name: String
    public var myself: Bool
    public var reachable: Bool
    /// A meta connection to this node is up.
    public var connected: Bool
    /// UDP address as learned from the mesh (strings as gossiped; tinc does not check them).
    public var address: String?
    public var port: String?
    public var nexthop: String?
    public var via: String?
    /// Hops on the shortest path (nil when unreachable).
    public var distance: Int?
    public var options: UInt32
    /// tinc 1.0's node status word (`NodeStatus` names the bits).
    public var status: UInt32
    /// Subnets as `net2str` prints them, with their weight (`10.0.0.0/24#10`).
    public var subnets: [String]
    /// A valid packet key is known (UDP data can flow).
    public var validkey: Bool
    /// Path MTU state; nil before any key or probe state exists for the node.
    public var pmtu: Int?
    public var minmtu: Int?
    public var maxmtu: Int?
    /// The packet cipher suite the node announced (OpenSSL NIDs; 0 before any key).
    public var cipher: Int
    public var digest: Int
    public var maclength: Int
    public var compression: Int
    /// Frames, bytes, drops, last packet and key ages (PeerTraffic).
    public var traffic: PeerTraffic

    public init(name: String, myself: Bool, reachable: Bool, connected: Bool, address: String?, port: String?,
                nexthop: String?, via: String?, distance: Int?, options: UInt32, status: UInt32, subnets: [String],
                validkey: Bool, pmtu: Int?, minmtu: Int?, maxmtu: Int?, cipher: Int, digest: Int, maclength: Int,
                compression: Int, traffic: PeerTraffic = PeerTraffic()) {
        self.name = name
        self.myself = myself
        self.reachable = reachable
        self.connected = connected
        self.address = address
        self.port = port
        self.nexthop = nexthop
        self.via = via
        self.distance = distance
        self.options = options
        self.status = status
        self.subnets = subnets
        self.validkey = validkey
        self.pmtu = pmtu
        self.minmtu = minmtu
        self.maxmtu = maxmtu
        self.cipher = cipher
        self.digest = digest
        self.maclength = maclength
        self.compression = compression
        self.traffic = traffic
    }

    enum CodingKeys: String, CodingKey {
        case name, myself, reachable, connected, address, port, nexthop, via, distance, options, status, subnets
        case validkey, pmtu, minmtu, maxmtu, cipher, digest, maclength, compression, traffic
    }

    /// Absent values are written as null, so every object has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(myself, forKey: .myself)
        try c.encode(reachable, forKey: .reachable)
        try c.encode(connected, forKey: .connected)
        try c.encode(address, forKey: .address)
        try c.encode(port, forKey: .port)
        try c.encode(nexthop, forKey: .nexthop)
        try c.encode(via, forKey: .via)
        try c.encode(distance, forKey: .distance)
        try c.encode(options, forKey: .options)
        try c.encode(status, forKey: .status)
        try c.encode(subnets, forKey: .subnets)
        try c.encode(validkey, forKey: .validkey)
        try c.encode(pmtu, forKey: .pmtu)
        try c.encode(minmtu, forKey: .minmtu)
        try c.encode(maxmtu, forKey: .maxmtu)
        try c.encode(cipher, forKey: .cipher)
        try c.encode(digest, forKey: .digest)
        try c.encode(maclength, forKey: .maclength)
        try c.encode(compression, forKey: .compression)
        try c.encode(traffic, forKey: .traffic)
    }
}

/// tinc 1.0's node_status_t bits, as SIGUSR2 prints them (`status %04x`).
public struct NodeStatus: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let validKey = NodeStatus(rawValue: 0x02)
    /// Set on every node the last graph walk reached (tinc: visited).
    public static let visited = NodeStatus(rawValue: 0x08)
    public static let reachable = NodeStatus(rawValue: 0x10)
    /// Not directly reachable by UDP: data goes through `via`.
    public static let indirect = NodeStatus(rawValue: 0x20)
}

/// A directed edge of the mesh graph (`ctl dump edges`, SIGUSR2's edge list).
public struct EdgeSnapshot: Codable, Sendable, Equatable {
    public var from: String
    public var to: String
    /// The address and port the edge's owner gossiped (strings as received).
    public var address: String
    public var port: String
    public var options: UInt32
    public var weight: Int
    /// The reverse edge exists too.
    public var bidirectional: Bool
    /// Part of the minimum spanning tree broadcasts follow.
    public var mst: Bool

    public init(from: String, to: String, address: String, port: String, options: UInt32, weight: Int,
                bidirectional: Bool, mst: Bool) {
        self.from = from
        self.to = to
        self.address = address
        self.port = port
        self.options = options
        self.weight = weight
        self.bidirectional = bidirectional
        self.mst = mst
    }
}

/// A subnet and its owner (`ctl dump subnets`, SIGUSR2's subnet list).
public struct SubnetSnapshot: Codable, Sendable, Equatable {
    /// `net2str` form without the weight.
    public var subnet: String
    public var weight: Int
    public var owner: String
    /// The owner is reachable.
    public var reachable: Bool

    public init(subnet: String, weight: Int, owner: String, reachable: Bool) {
        self.subnet = subnet
        self.weight = weight
        self.owner = owner
        self.reachable = reachable
    }
}

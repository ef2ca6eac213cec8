/// The embedded BGP speaker's state: protocols for `show protocols --json` and the
/// tincd_bgp_* series, routes for `show route --json`.
public struct BGPSnapshot: Codable, Sendable, Equatable {
    /// Prefixes in the Loc-RIB.
    public var locRIBRoutes: Int
    public var protocols: [BGPProtocolSnapshot]

    public init(locRIBRoutes: Int, protocols: [BGPProtocolSnapshot]) {
        self.locRIBRoutes = locRIBRoutes
        self.protocols = protocols
    }
}

/// One protocol of bgp.conf (or an automatic mesh session), as a line of `show protocols`.
public struct BGPProtocolSnapshot: Codable, Sendable, Equatable {
    public var name: String
    /// "BGP", "Static", "Kernel", "Device", "Direct", "BFD".
    public var proto: String
    /// The routing table a Static or Kernel protocol feeds ("master4"); "---" for the others.
    public var table: String
    /// BIRD's protocol state: "up", "start", "down".
    public var state: String
    /// BGP: "Established", "Active", "Connect", "OpenSent", "OpenConfirm", "Idle", "Passive"; else "".
    public var bgpState: String
    /// Wall-clock seconds since the epoch of the last state change.
    public var since: Double
    public var established: Bool
    /// Prefixes received (before the import filter), accepted, and advertised (Adj-RIB-Out).
    public var prefixesReceived: Int
    public var prefixesAccepted: Int
    public var prefixesExported: Int
    /// UPDATE counts of the current session object (they restart when a session is re-created).
    public var updatesIn: Int
    public var updatesOut: Int
    public var lastError: String

    public init(name: String, proto: String, table: String, state: String, bgpState: String, since: Double, established: Bool,
                prefixesReceived: Int, prefixesAccepted: Int, prefixesExported: Int, updatesIn: Int, updatesOut: Int,
                lastError: String) {
        self.name = name
        self.proto = proto
        self.table = table
        self.state = state
        self.bgpState = bgpState
        self.since = since
        self.established = established
        self.prefixesReceived = prefixesReceived
        self.prefixesAccepted = prefixesAccepted
        self.prefixesExported = prefixesExported
        self.updatesIn = updatesIn
        self.updatesOut = updatesOut
        self.lastError = lastError
    }

    /// BGP4-MIB bgpPeerState numbering (RFC 4273): idle 1, connect 2, active 3, opensent 4,
    /// openconfirm 5, established 6; 0 for a protocol that is down/disabled.
    public var stateCode: Int {
        switch bgpState.lowercased() {
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

/// `show route`: the tables searched, each with its counts and (unless only counted) its routes.
public struct BGPRouteTables: Codable, Sendable, Equatable {
    public var tables: [BGPRouteTable]
    /// Sums over the tables; birdc prints them when more than one table was counted.
    public var total: BGPRouteCount?

    public init(tables: [BGPRouteTable], total: BGPRouteCount?) {
        self.tables = tables
        self.total = total
    }

    enum CodingKeys: String, CodingKey { case tables, total }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tables, forKey: .tables)
        try c.encode(total, forKey: .total)
    }
}

public struct BGPRouteCount: Codable, Sendable, Equatable {
    /// Routes in the searched prefixes, routes matching the query, and networks with a match.
    public var routes: Int
    public var shown: Int
    public var networks: Int

    public init(routes: Int, shown: Int, networks: Int) {
        self.routes = routes
        self.shown = shown
        self.networks = networks
    }
}

public struct BGPRouteTable: Codable, Sendable, Equatable {
    /// "master4" or "master6".
    public var table: String
    public var count: BGPRouteCount
    /// Empty when only counted.
    public var routes: [BGPRouteSnapshot]

    public init(table: String, count: BGPRouteCount, routes: [BGPRouteSnapshot]) {
        self.table = table
        self.count = count
        self.routes = routes
    }
}

/// One route of the Loc-RIB, as `show route` lists it.
public struct BGPRouteSnapshot: Codable, Sendable, Equatable {
    public var prefix: String
    /// "unicast", "blackhole", "unreachable", "prohibited".
    public var dest: String
    /// The protocol the route came from.
    public var proto: String
    /// Wall-clock seconds since the epoch the route was learned.
    public var since: Double
    /// The selected (best) route for its prefix.
    public var primary: Bool
    public var preference: Int
    /// Kept from a restarting peer (graceful restart).
    public var stale: Bool
    /// The route carries BGP attributes.
    public var bgp: Bool
    /// BGP origin: "i", "e" or "?" as BIRD prints it; nil for non-BGP routes.
    public var origin: String?
    public var originAS: UInt32?
    /// AS numbers along the path (confederation segments left out), nearest first.
    public var asPath: [UInt32]
    public var localPref: UInt32?
    public var med: UInt32?
    public var gateway: String?
    public var interface: String?
    /// The BGP neighbor the route came from, when it is not the gateway.
    public var from: String?

    public init(prefix: String, dest: String, proto: String, since: Double, primary: Bool, preference: Int,
                stale: Bool, bgp: Bool, origin: String?, originAS: UInt32?, asPath: [UInt32], localPref: UInt32?,
                med: UInt32?, gateway: String?, interface: String?, from: String?) {
        self.prefix = prefix
        self.dest = dest
        self.proto = proto
        self.since = since
        self.primary = primary
        self.preference = preference
        self.stale = stale
        self.bgp = bgp
        self.origin = origin
        self.originAS = originAS
        self.asPath = asPath
        self.localPref = localPref
        self.med = med
        self.gateway = gateway
        self.interface = interface
        self.from = from
    }

    enum CodingKeys: String, CodingKey {
        case prefix, dest, proto = "protocol", since, primary, preference, stale, bgp, origin, originAS, asPath
        case localPref, med, gateway, interface, from
    }

    /// Absent values are written as null, so every route has the same keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(prefix, forKey: .prefix)
        try c.encode(dest, forKey: .dest)
        try c.encode(proto, forKey: .proto)
        try c.encode(since, forKey: .since)
        try c.encode(primary, forKey: .primary)
        try c.encode(preference, forKey: .preference)
        try c.encode(stale, forKey: .stale)
        try c.encode(bgp, forKey: .bgp)
        try c.encode(origin, forKey: .origin)
        try c.encode(originAS, forKey: .originAS)
        try c.encode(asPath, forKey: .asPath)
        try c.encode(localPref, forKey: .localPref)
        try c.encode(med, forKey: .med)
        try c.encode(gateway, forKey: .gateway)
        try c.encode(interface, forKey: .interface)
        try c.encode(from, forKey: .from)
    }
}

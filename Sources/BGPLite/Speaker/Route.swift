// Compact routes and shared (interned) attribute sets: a million routes from one peer usually
// share a handful of AttrSet objects, and a route is 16 bytes (attribute reference, source, time).
import MeshIO

/// Where a route came from (BIRD's protocol + rte_src). Index into `BGPSpeaker.sources`.
final class RouteSource {
    let id: UInt32
    let name: String
    let kind: RouteSourceKind
    var preference: UInt32
    /// BGP sources only.
    weak var session: Session?
    var isInternal = false
    var neighborAS: UInt32 = 0
    var routerID: UInt32 = 0
    var neighborAddress: IPPrefix?
    var ifname: String?

    init(id: UInt32, name: String, kind: RouteSourceKind, preference: UInt32) {
        self.id = id
        self.name = name
        self.kind = kind
        self.preference = preference
    }
}

/// An immutable, interned route attribute set (BIRD's rta + BGP eattrs).
final class AttrSet {
    /// BGP path attributes; MP_REACH holds only the next hop (no NLRI), MP_UNREACH is nil.
    let bgp: PathAttributes
    /// Route has BGP attributes (learned from BGP, or set by a filter).
    let isBGP: Bool
    let dest: RouteDest
    /// Gateway (next hop used for forwarding), host prefix.
    let gateway: IPPrefix?
    // Derived, precomputed for the decision process and filters.
    let flatPath: [UInt32]
    let pathLength: Int
    let neighborAS: UInt32
    let originAS: UInt32?
    let hash: Int

    init(bgp: PathAttributes, isBGP: Bool, dest: RouteDest, gateway: IPPrefix?) {
        self.bgp = bgp
        self.isBGP = isBGP
        self.dest = dest
        self.gateway = gateway
        let path = bgp.effectiveASPath
        var flat: [UInt32] = []
        for s in path where !s.isConfederation { flat.append(contentsOf: s.asns) }
        flatPath = flat
        pathLength = ASPath.length(path)
        var first: UInt32 = 0
        if case .sequence(let a)? = path.first(where: { !$0.isConfederation }), let f = a.first { first = f }
        neighborAS = first
        originAS = flat.last
        hash = AttrSet.computeHash(bgp, isBGP, dest, gateway)
    }

    static func computeHash(_ a: PathAttributes, _ isBGP: Bool, _ dest: RouteDest, _ gw: IPPrefix?) -> Int {
        var h = Hasher()
        h.combine(a.origin?.rawValue ?? 255)
        h.combine(a.asPath)
        h.combine(a.as4Path)
        h.combine(a.nextHop)
        h.combine(a.med)
        h.combine(a.localPref)
        h.combine(a.atomicAggregate)
        h.combine(a.aggregator)
        h.combine(a.as4Aggregator)
        h.combine(a.communities)
        if let r = a.mpReach { h.combine(r.afiSafi); h.combine(r.nextHop) }
        h.combine(a.unknown)
        h.combine(isBGP)
        h.combine(dest.rawValue)
        h.combine(gw)
        return h.finalize()
    }

    var localPref: UInt32? { bgp.localPref }
    var med: UInt32? { bgp.med }
    var origin: Origin { bgp.origin ?? .incomplete }
    var communities: [UInt32] { bgp.communities }

    /// BGP next hop as a host prefix (NEXT_HOP, or the global MP_REACH next hop).
    var bgpNextHop: IPPrefix? {
        if let nh = bgp.nextHop { return IPPrefix(ipv4: nh, length: 32) }
        if let r = bgp.mpReach {
            if r.afiSafi.afi == 2 { return r.ipv6NextHops.global }
            if r.nextHop.count == 4 { return IPPrefix(family: .ipv4, bytes: r.nextHop[...], length: 32) }
        }
        return nil
    }
}

/// Key wrapper so attribute sets can be interned in a hash table.
struct AttrKey: Hashable {
    let a: AttrSet
    static func == (l: AttrKey, r: AttrKey) -> Bool {
        l.a === r.a || (l.a.hash == r.a.hash && l.a.isBGP == r.a.isBGP && l.a.dest == r.a.dest
                        && l.a.gateway == r.a.gateway && l.a.bgp == r.a.bgp)
    }
    func hash(into h: inout Hasher) { h.combine(a.hash) }
}

/// The attribute intern table. Entries nobody else references any more are swept when the table doubles.
final class AttrTable {
    private var table = Set<AttrKey>()
    private var sweepAt = 4096

    var count: Int { table.count }

    func intern(_ bgp: PathAttributes, isBGP: Bool = true, dest: RouteDest = .unicast, gateway: IPPrefix?) -> AttrSet {
        intern(AttrSet(bgp: bgp, isBGP: isBGP, dest: dest, gateway: gateway))
    }

    func intern(_ cand: AttrSet) -> AttrSet {
        let key = AttrKey(a: cand)
        if let i = table.firstIndex(of: key) { return table[i].a }
        table.insert(key)
        if table.count >= sweepAt { sweep() }
        return cand
    }

    /// Drops entries referenced only by the table. The retain count an unreferenced entry shows inside
    /// the filter closure is calibrated with a sentinel that only the table holds.
    func sweep() {
        var sentinelBGP = PathAttributes()
        sentinelBGP.med = 0xDEAD_BEEF
        sentinelBGP.communities = [0xFFFF_FFFE, UInt32(truncatingIfNeeded: table.count)]
        table.insert(AttrKey(a: AttrSet(bgp: sentinelBGP, isBGP: true, dest: .unreachable, gateway: nil)))
        let counts = table.map { (key: $0, rc: Int(_getRetainCount($0.a))) }
        var baseline = Int.max
        for c in counts where c.key.a.dest == .unreachable && c.key.a.bgp == sentinelBGP { baseline = c.rc }
        var kept = Set<AttrKey>(minimumCapacity: counts.count)
        for c in counts where c.rc > baseline { kept.insert(c.key) }
        table = kept
        sweepAt = max(4096, table.count * 2)
    }
}

/// One candidate route in the Loc-RIB: 16 bytes.
struct RouteEntry {
    var attrs: AttrSet
    /// Source id; the top bit marks a stale route (graceful restart).
    var srcBits: UInt32
    /// Milliseconds since the speaker's epoch when the route was (re)imported.
    var since: UInt32

    init(attrs: AttrSet, src: UInt32, since: UInt32, stale: Bool = false) {
        self.attrs = attrs
        self.srcBits = src | (stale ? 0x8000_0000 : 0)
        self.since = since
    }

    var src: UInt32 { srcBits & 0x7FFF_FFFF }
    var stale: Bool {
        get { srcBits & 0x8000_0000 != 0 }
        set { srcBits = newValue ? srcBits | 0x8000_0000 : srcBits & 0x7FFF_FFFF }
    }
}

/// Hash-table key for prefixes: same identity as IPPrefix, with a cheap multiply-xorshift hash
/// instead of SipHash over four fields (the Loc-RIB and Adj-RIB-In hash every received prefix).
struct PKey: Hashable {
    let p: IPPrefix
    @inline(__always) init(_ p: IPPrefix) { self.p = p }

    @inline(__always) static func == (a: PKey, b: PKey) -> Bool {
        a.p.hi == b.p.hi && a.p.lo == b.p.lo && a.p.length == b.p.length && a.p.family == b.p.family
    }

    @inline(__always) private func mix(_ seed: UInt64) -> UInt64 {
        var x = p.hi ^ (p.lo &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(p.length) | UInt64(p.family.rawValue) << 8) ^ seed
        x ^= x >> 33
        x = x &* 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        x = x &* 0xc4ce_b9fe_1a85_ec53
        x ^= x >> 33
        return x
    }

    @inline(__always) func hash(into h: inout Hasher) { h.combine(mix(0)) }
    @inline(__always) func _rawHashValue(seed: Int) -> Int { Int(bitPattern: UInt(mix(UInt64(bitPattern: Int64(seed))))) }
}

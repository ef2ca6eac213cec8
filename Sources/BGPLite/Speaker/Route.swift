// Compact routes and shared (interned) attribute sets: a million routes from one peer usually
// share a handful of AttrSet objects, and a route is 16 bytes (attribute reference, source, time).
// An interned set counts the table slots that hold it (Loc-RIB routes, Adj-RIB-Out entries, kept
// filtered routes) in `refs`, and leaves the intern table when the last of them lets go.
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
    /// Selected (best) routes of this source per family (0 = IPv4, 1 = IPv6), kept by the RIB.
    var preferred = [0, 0]

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
    /// Table slots holding this set (AttrTable.retain / release); not Swift's retain count, which
    /// also counts caches and in-flight locals.
    var refs = 0

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

/// The attribute intern table. A set leaves it when its `refs` falls to zero; sets interned but
/// never stored (an UPDATE whose routes the import filter rejected) are swept when the table doubles.
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
        if table.count >= sweepAt { sweep() }   // before inserting: the candidate has no holder yet
        table.insert(key)
        return cand
    }

    /// A table slot now holds `a`.
    @inline(__always) func retain(_ a: AttrSet) { a.refs += 1 }

    /// `count` more table slots hold `a` (a run of routes counted at once).
    @inline(__always) func retain(_ a: AttrSet, count: Int) { if count > 0 { a.refs += count } }

    /// A table slot let go of `a`; the last one takes it out of the intern table.
    @inline(__always) func release(_ a: AttrSet) {
        a.refs -= 1
        if a.refs <= 0 { forget(a) }
    }

    /// Takes `a` out of the table (only that object: an equal set interned later stays).
    private func forget(_ a: AttrSet) {
        guard let i = table.firstIndex(of: AttrKey(a: a)), table[i].a === a else { return }
        table.remove(at: i)
    }

    /// Drops the sets no table slot holds.
    func sweep() {
        table = table.filter { $0.a.refs > 0 }
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

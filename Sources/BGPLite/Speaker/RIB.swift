// Loc-RIB with the RFC 4271 9.1 decision process (plus BIRD's protocol preference first).
// Adj-RIB-In and Adj-RIB-Out live per session (Session.adjIn / Session.adjOut).

/// The candidates for one prefix: `best` is always the selected route, `others` the rest
/// (an empty array costs no allocation, so the common single-peer case is one 24-byte slot).
struct LocEntry {
    var best: RouteEntry
    var others: [RouteEntry]
}

/// A change of the selected route for a prefix.
struct BestChange {
    var prefix: IPPrefix
    var old: RouteEntry?
    var new: RouteEntry?
}

final class RIB {
    var table: [PKey: LocEntry] = [:]
    /// Route sources by id (index).
    var sources: [RouteSource] = []
    /// Default LOCAL_PREF used for comparison when a route carries none.
    var defaultLocalPref: UInt32 = 100

    var count: Int { table.count }

    func addSource(name: String, kind: RouteSourceKind, preference: UInt32) -> RouteSource {
        let s = RouteSource(id: UInt32(sources.count), name: name, kind: kind, preference: preference)
        sources.append(s)
        return s
    }

    /// RFC 4271 9.1.2.2 (BIRD bgp_rte_better order): preference, LOCAL_PREF, AS path length, ORIGIN,
    /// MED (same neighbor AS), eBGP over iBGP, lowest router ID, lowest neighbor address.
    @inline(__always)
    func better(_ a: RouteEntry, _ b: RouteEntry) -> Bool {
        let sa = sources[Int(a.src)], sb = sources[Int(b.src)]
        if sa.preference != sb.preference { return sa.preference > sb.preference }
        if a.stale != b.stale { return !a.stale }
        let aa = a.attrs, ba = b.attrs
        if sa.kind == .bgp && sb.kind == .bgp {
            let lpa = aa.localPref ?? defaultLocalPref, lpb = ba.localPref ?? defaultLocalPref
            if lpa != lpb { return lpa > lpb }
            if aa.pathLength != ba.pathLength { return aa.pathLength < ba.pathLength }
            if aa.origin != ba.origin { return aa.origin.rawValue < ba.origin.rawValue }
            if aa.neighborAS == ba.neighborAS {
                let ma = aa.med ?? 0, mb = ba.med ?? 0
                if ma != mb { return ma < mb }
            }
            if sa.isInternal != sb.isInternal { return !sa.isInternal }
            if sa.routerID != sb.routerID { return sa.routerID < sb.routerID }
            if let na = sa.neighborAddress, let nb = sb.neighborAddress, na != nb { return na < nb }
            return a.src < b.src
        }
        return a.src < b.src
    }

    @inline(__always)
    private func reselect(_ e: inout LocEntry) {
        var bi = -1
        var best = e.best
        for (i, r) in e.others.enumerated() where better(r, best) { best = r; bi = i }
        if bi >= 0 {
            e.others[bi] = e.best
            e.best = best
        }
    }

    /// Adds or replaces the route of `r.src` for `prefix`. Returns the change of the selected route, if any.
    @inline(__always)
    func update(_ prefix: IPPrefix, _ r: RouteEntry) -> BestChange? {
        // One hash lookup: insert a sentinel entry if missing and fill it in place.
        var created = false
        var old = r
        var new = r
        let sentinel = RouteEntry(attrs: r.attrs, src: 0x7FFF_FFFF, since: 0)
        mutate(&table[PKey(prefix), default: LocEntry(best: sentinel, others: [])]) { e in
            if e.best.srcBits == 0x7FFF_FFFF && e.others.isEmpty {
                e.best = r
                created = true
                return
            }
            old = e.best
            if e.best.src == r.src {
                e.best = r
                if !e.others.isEmpty { reselect(&e) }
            } else if let j = e.others.firstIndex(where: { $0.src == r.src }) {
                e.others[j] = r
                if better(r, e.best) { e.others[j] = e.best; e.best = r }
            } else if better(r, e.best) {
                e.others.append(e.best)
                e.best = r
            } else {
                e.others.append(r)
            }
            new = e.best
        }
        if created { return BestChange(prefix: prefix, old: nil, new: r) }
        if old.attrs === new.attrs && old.src == new.src && old.stale == new.stale { return nil }
        return BestChange(prefix: prefix, old: old, new: new)
    }

    /// Removes the route of source `src` for `prefix`.
    @inline(__always)
    func remove(_ prefix: IPPrefix, src: UInt32) -> BestChange? {
        guard let i = table.index(forKey: PKey(prefix)) else { return nil }
        let e0 = table.values[i]
        if e0.best.src == src {
            if e0.others.isEmpty {
                table.remove(at: i)
                return BestChange(prefix: prefix, old: e0.best, new: nil)
            }
            var new = e0.best
            modify(i) { e in
                e.best = e.others.removeLast()
                reselect(&e)
                new = e.best
            }
            return BestChange(prefix: prefix, old: e0.best, new: new)
        }
        if let j = e0.others.firstIndex(where: { $0.src == src }) {
            modify(i) { e in e.others.remove(at: j) }
        }
        return nil
    }

    /// Marks `src`'s route for `prefix` stale (or not) in place; returns the change if selection moved.
    func setStale(_ prefix: IPPrefix, src: UInt32, stale: Bool) -> BestChange? {
        guard let i = table.index(forKey: PKey(prefix)) else { return nil }
        let e0 = table.values[i]
        if e0.best.src == src {
            var r = e0.best
            r.stale = stale
            return update(prefix, r)
        }
        if let j = e0.others.firstIndex(where: { $0.src == src }) {
            var r = e0.others[j]
            r.stale = stale
            return update(prefix, r)
        }
        return nil
    }

    @inline(__always)
    private func modify(_ i: Dictionary<PKey, LocEntry>.Index, _ body: (inout LocEntry) -> Void) {
        body(&table.values[i])
    }

    @inline(__always)
    private func mutate(_ e: inout LocEntry, _ body: (inout LocEntry) -> Void) { body(&e) }

    /// All candidates for `prefix`, best first.
    func candidates(_ prefix: IPPrefix) -> [RouteEntry] {
        guard let e = table[PKey(prefix)] else { return [] }
        return [e.best] + e.others
    }

    /// Longest-prefix match for an address or prefix (`show route for`).
    func longestMatch(_ p: IPPrefix) -> IPPrefix? {
        var len = Int(p.length)
        while len >= 0 {
            let q = IPPrefix(family: p.family, hi: p.hi, lo: p.lo, length: len)
            if table[PKey(q)] != nil { return q }
            len -= 1
        }
        return nil
    }
}

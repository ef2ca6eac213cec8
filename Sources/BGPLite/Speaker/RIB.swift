// The one route table (BIRD's master4/master6) with the RFC 4271 9.1 decision process (plus BIRD's
// protocol preference first). Every source's accepted routes live here and nowhere else: a session's
// Adj-RIB-In after import filtering is its routes in this table (BIRD without `import table`);
// graceful-restart stale routes are the ones with the stale bit. The table holds the attribute
// references it stores in AttrSet.refs, so unused interned sets leave the intern table at once.

/// The candidates for one prefix while the decision process works on them: `best` is the selected
/// route, `others` the rest. Stored apart: `RIB.table` holds `best` (16 bytes a prefix) and
/// `RIB.others` the rest, only for prefixes with more than one candidate.
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
    /// The selected route per prefix.
    private(set) var table = PrefixMap<RouteEntry>()
    /// The other candidates of prefixes that have more than one (several peers announcing it).
    private(set) var others = PrefixMap<[RouteEntry]>()
    /// Route sources by id (index).
    var sources: [RouteSource] = []
    /// Default LOCAL_PREF used for comparison when a route carries none.
    var defaultLocalPref: UInt32 = 100
    /// Where the stored attribute sets are counted (the speaker's intern table).
    let attrTable: AttrTable

    init(attrTable: AttrTable = AttrTable()) {
        self.attrTable = attrTable
    }

    var count: Int { table.count }
    /// Routes (all candidates) per family, 0 = IPv4, 1 = IPv6 (`show route count` without a walk).
    private(set) var routeCount = [0, 0]

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

    /// Adds or replaces the route of `r.src` for `prefix` (one hash lookup). Returns the change of the
    /// selected route, if any.
    @inline(__always)
    @discardableResult
    func update(_ prefix: IPPrefix, _ r: RouteEntry) -> BestChange? {
        var previous: RouteEntry? = nil
        return update(prefix, r, previous: &previous) { _ in true }
    }

    /// As `update`, in the same lookup: `decide` sees the route `r.src` has now for `prefix` (also
    /// returned in `previous`) and says whether to store `r`. The caller's import checks run
    /// there, without a second lookup; `decide` must not touch the table.
    @inline(__always)
    func update(_ prefix: IPPrefix, _ r: RouteEntry, previous: inout RouteEntry?,
                decide: (RouteEntry?) -> Bool) -> BestChange? {
        var stored = false, created = false, added = false
        var oldBest: RouteEntry? = nil, newBest: RouteEntry? = nil
        var replaced: AttrSet? = nil
        table.modify(prefix) { slot in
            guard let cur = slot else {
                guard decide(nil) else { return }
                slot = r
                stored = true; created = true
                return
            }
            // `others` is a different property: changing it while `table`'s slot is open is fine.
            var e = LocEntry(best: cur, others: others.isEmpty ? [] : others[prefix] ?? [])
            let j = e.best.src == r.src ? -1 : e.others.firstIndex { $0.src == r.src }
            let prev = j == -1 ? e.best : j.map { e.others[$0] }
            previous = prev
            guard decide(prev) else { return }
            stored = true
            let hadOthers = !e.others.isEmpty
            if hadOthers { others.removeValue(forKey: prefix) }   // `e.others` is then the only copy
            oldBest = e.best
            if j == -1 {
                replaced = e.best.attrs
                e.best = r
                if hadOthers { reselect(&e) }
            } else if let j {
                replaced = e.others[j].attrs
                e.others[j] = r
                if better(r, e.best) { e.others[j] = e.best; e.best = r }
            } else if better(r, e.best) {
                added = true
                e.others.append(e.best)
                e.best = r
            } else {
                added = true
                e.others.append(r)
            }
            newBest = e.best
            slot = e.best
            if !e.others.isEmpty { others[prefix] = e.others }
        }
        guard stored else { return nil }
        attrTable.retain(r.attrs)
        if let a = replaced { attrTable.release(a) }
        let fi = prefix.family == .ipv4 ? 0 : 1
        if created || added { routeCount[fi] += 1 }
        if created {
            let c = BestChange(prefix: prefix, old: nil, new: r)
            countPreferred(c)
            return c
        }
        guard let o = oldBest, let n = newBest, !(o.attrs === n.attrs && o.srcBits == n.srcBits) else { return nil }
        let c = BestChange(prefix: prefix, old: o, new: n)
        countPreferred(c)
        return c
    }

    /// What `importRun` did, for the session's counters.
    struct RunResult {
        /// The run's route, now selected for every prefix in `selected`.
        var route: RouteEntry
        var accepted = 0
        var ignored = 0
        /// Routes of the source that are new, or were stale and are fresh again.
        var fresh = 0
        var staleRenewed = 0
    }

    /// Imports a run of routes of source `src` with one attribute set (an UPDATE's NLRI, accepted
    /// as they are), exactly as `update(_:_:previous:decide:)` per prefix with a route identical
    /// to the one held (same set, not stale) ignored. Prefixes whose selected route is now this
    /// run's route go to `selected` (a change record each would copy the route and retain its
    /// set per prefix, twice the fan-out's own work); the selected-route changes the general path
    /// makes go to `changes`. Both in prefix order, for the caller to fan out after the run. The table is taken into
    /// a local for the run: per-route work then needs no dynamic exclusivity checks on this class
    /// (a third of the instructions per route when it was done route by route). Prefixes that
    /// have several candidates take the general path.
    func importRun(_ prefixes: [IPPrefix], attrs: AttrSet, src: UInt32, since: UInt32,
                   selected: inout [IPPrefix], changes: inout [BestChange]) -> RunResult {
        let r = RouteEntry(attrs: attrs, src: src, since: since)
        var res = RunResult(route: r)
        var t = PrefixMap<RouteEntry>()
        swap(&t, &table)
        var simple = others.isEmpty
        var created4 = 0, created6 = 0, stored = 0
        enum Outcome { case created, ignored, replaced(RouteEntry), general }
        for p in prefixes {
            let o: Outcome = t.modify(p) { slot in
                guard let cur = slot else { slot = r; return .created }
                guard simple, cur.src == src else { return .general }
                if !cur.stale && cur.attrs === attrs { return .ignored }
                slot = r
                return .replaced(cur)
            }
            switch o {
            case .created:
                if p.family == .ipv4 { created4 += 1 } else { created6 += 1 }
                stored += 1
                res.accepted += 1
                res.fresh += 1
                selected.append(p)
            case .ignored:
                res.ignored += 1
            case .replaced(let cur):
                stored += 1
                res.accepted += 1
                if cur.stale { res.fresh += 1; res.staleRenewed += 1 }
                // Count the stores so far first: `cur.attrs` may be `attrs` (a stale route renewed).
                attrTable.retain(attrs, count: stored)
                stored = 0
                attrTable.release(cur.attrs)
                if !(cur.attrs === attrs && cur.srcBits == r.srcBits) { selected.append(p) }
            case .general:
                attrTable.retain(attrs, count: stored)   // before `update` may release `attrs`
                stored = 0
                swap(&t, &table)
                var previous: RouteEntry? = nil
                let c = update(p, r, previous: &previous) { prev in
                    guard let prev, !prev.stale, prev.attrs === attrs else { return true }
                    return false
                }
                swap(&t, &table)
                simple = others.isEmpty
                if let prev = previous, !prev.stale, prev.attrs === attrs {
                    res.ignored += 1
                    continue
                }
                res.accepted += 1
                if let prev = previous {
                    if prev.stale { res.fresh += 1; res.staleRenewed += 1 }
                } else {
                    res.fresh += 1
                }
                if let c { changes.append(c) }
            }
        }
        swap(&t, &table)
        attrTable.retain(attrs, count: stored)
        routeCount[0] += created4
        routeCount[1] += created6
        if Int(src) < sources.count {
            sources[Int(src)].preferred[0] += created4
            sources[Int(src)].preferred[1] += created6
        }
        return res
    }

    /// Keeps RouteSource.preferred (`show protocols all`'s "preferred") without walking the table.
    @inline(__always)
    private func countPreferred(_ c: BestChange) {
        let fi = c.prefix.family == .ipv4 ? 0 : 1
        if let o = c.old, Int(o.src) < sources.count { sources[Int(o.src)].preferred[fi] -= 1 }
        if let n = c.new, Int(n.src) < sources.count { sources[Int(n.src)].preferred[fi] += 1 }
    }

    /// Removes the route of source `src` for `prefix`.
    @inline(__always)
    @discardableResult
    func remove(_ prefix: IPPrefix, src: UInt32) -> BestChange? {
        var removed: AttrSet? = nil
        var oldBest: RouteEntry? = nil, newBest: RouteEntry? = nil
        table.modify(prefix) { slot in
            guard let cur = slot else { return }
            var rest = others.isEmpty ? [] : others.removeValue(forKey: prefix) ?? []
            if cur.src == src {
                oldBest = cur
                removed = cur.attrs
                guard !rest.isEmpty else { slot = nil; return }
                var e = LocEntry(best: rest.removeLast(), others: rest)
                reselect(&e)
                newBest = e.best
                slot = e.best
                if !e.others.isEmpty { others[prefix] = e.others }
            } else {
                if let j = rest.firstIndex(where: { $0.src == src }) { removed = rest.remove(at: j).attrs }
                if !rest.isEmpty { others[prefix] = rest }
            }
        }
        guard let a = removed else { return nil }
        attrTable.release(a)
        routeCount[prefix.family == .ipv4 ? 0 : 1] -= 1
        guard let o = oldBest else { return nil }
        let c = BestChange(prefix: prefix, old: o, new: newBest)
        countPreferred(c)
        return c
    }

    /// The route of source `src` for `prefix`, if any (stale or not).
    @inline(__always)
    func route(_ prefix: IPPrefix, src: UInt32) -> RouteEntry? {
        guard let b = table[prefix] else { return nil }
        if b.src == src { return b }
        return others.isEmpty ? nil : others[prefix]?.first { $0.src == src }
    }

    /// The prefixes holding a route of `src` (of `family` when given; only stale or only fresh
    /// ones when `stale` is given). A copy, so the caller may change the table while walking it.
    func prefixes(of src: UInt32, family: IPPrefix.Family? = nil, stale: Bool? = nil) -> [IPPrefix] {
        var out: [IPPrefix] = []
        for (p, b) in table where family == nil || p.family == family {
            let r = b.src == src ? b : (others.isEmpty ? nil : others[p]?.first { $0.src == src })
            guard let r else { continue }
            if let want = stale, r.stale != want { continue }
            out.append(p)
        }
        return out
    }

    /// Marks `src`'s route for `prefix` stale (or not) in place; returns the change if selection moved.
    func setStale(_ prefix: IPPrefix, src: UInt32, stale: Bool) -> BestChange? {
        guard var r = route(prefix, src: src) else { return nil }
        r.stale = stale
        return update(prefix, r)
    }

    /// All candidates for `prefix`, best first.
    func candidates(_ prefix: IPPrefix) -> [RouteEntry] {
        guard let b = table[prefix] else { return [] }
        return [b] + (others.isEmpty ? [] : others[prefix] ?? [])
    }

    /// Longest-prefix match for an address or prefix (`show route for`).
    func longestMatch(_ p: IPPrefix) -> IPPrefix? {
        var len = Int(p.length)
        while len >= 0 {
            let q = IPPrefix(family: p.family, hi: p.hi, lo: p.lo, length: len)
            if table[q] != nil { return q }
            len -= 1
        }
        return nil
    }
}

// Policy application: filter contexts, import rules (RFC 8212 defaults, eBGP LOCAL_PREF discard,
// AS-path loop detection) and export rules (split horizon, next hop self/keep, AS prepend, MED/LOCAL_PREF).

extension AttrSet {
    /// The route as a BIRD filter sees it.
    func filterContext(net: IPPrefix, source: RouteSource) -> FilterRouteContext {
        FilterRouteContext(net: net, proto: source.name, source: source.kind,
                           fromAddress: source.kind == .bgp ? source.neighborAddress : nil,
                           gateway: gateway, ifname: source.ifname, preference: source.preference, dest: dest,
                           bgpPath: isBGP ? flatPath : [], bgpLocalPref: bgp.localPref, bgpMED: bgp.med,
                           bgpOrigin: isBGP ? bgp.origin?.rawValue : nil, bgpCommunities: bgp.communities,
                           bgpNextHop: isBGP ? bgpNextHop : nil)
    }
}

/// What a filter changed in a route context.
struct ContextDiff {
    var any = false
    var med = false

    init(_ a: FilterRouteContext, _ b: FilterRouteContext) {
        med = a.bgpMED != b.bgpMED
        any = med || a.bgpPath != b.bgpPath || a.bgpLocalPref != b.bgpLocalPref || a.bgpOrigin != b.bgpOrigin
            || a.bgpCommunities != b.bgpCommunities || a.bgpNextHop != b.bgpNextHop || a.gateway != b.gateway
            || a.dest != b.dest
    }
}

extension AttrTable {
    /// Attributes after a filter modified `ctx` (compared with `original`, made from `base`).
    func apply(_ ctx: FilterRouteContext, original: FilterRouteContext, base: AttrSet) -> AttrSet {
        var a = base.bgp
        var isBGP = base.isBGP
        if ctx.bgpPath != original.bgpPath {
            a.asPath = ctx.bgpPath.isEmpty ? [] : [.sequence(ctx.bgpPath)]
            a.as4Path = nil
            isBGP = true
        }
        if ctx.bgpLocalPref != original.bgpLocalPref { a.localPref = ctx.bgpLocalPref; isBGP = true }
        if ctx.bgpMED != original.bgpMED { a.med = ctx.bgpMED; isBGP = true }
        if ctx.bgpOrigin != original.bgpOrigin { a.origin = ctx.bgpOrigin.flatMap { Origin(rawValue: $0) }; isBGP = true }
        if ctx.bgpCommunities != original.bgpCommunities { a.communities = ctx.bgpCommunities; isBGP = true }
        if ctx.bgpNextHop != original.bgpNextHop, let nh = ctx.bgpNextHop {
            if nh.family == .ipv4 { a.nextHop = nh.ipv4Address } else {
                a.mpReach = MPReach(afiSafi: .ipv6Unicast, nextHop: nh.addressBytes, nlri: [])
            }
            isBGP = true
        }
        let gw = ctx.gateway != original.gateway ? ctx.gateway : base.gateway
        return intern(a, isBGP: isBGP, dest: ctx.dest, gateway: gw)
    }
}

extension Session {
    var localAS: UInt32 { config.localAS }

    /// RFC 8212 through BIRD's channel defaults.
    func importPolicy(_ f: IPPrefix.Family) -> Policy {
        guard let ch = channel(f) else { return .none }
        return ch.bgpImportPolicy(isInternal: isInternal)
    }

    func exportPolicy(_ f: IPPrefix.Family) -> Policy { famExport[f == .ipv4 ? 0 : 1] }

    /// Export decision for the selected route `e` of `prefix`: the attributes to announce, or nil.
    /// A route left without a next hop of its family (see SessionNextHop.swift) is not exported:
    /// it could not be encoded, and the Adj-RIB-Out (and the exported count) holds only what is sent.
    func exportRoute(_ prefix: IPPrefix, _ e: RouteEntry) -> AttrSet? {
        var run = ExportRun(self)
        let out = exportRoute(prefix, e, &run)
        finish(run)
        return out
    }

    /// As `exportRoute(_:_:)`, for one of a run of routes (see ExportRun).
    @inline(__always)
    func exportRoute(_ prefix: IPPrefix, _ e: RouteEntry, _ run: inout ExportRun) -> AttrSet? {
        let fi = prefix.family == .ipv4 ? 0 : 1
        guard let out = exportAttributes(prefix, e, fi, &run) else { return nil }
        if fi == 0 ? out.bgp.nextHop == nil : out.bgp.mpReach == nil { return nil }
        return out
    }

    /// Adds what a run counted to the session (`stats`, the last export cache entry).
    func finish(_ run: ExportRun) {
        if run.rejected > 0 { stats.exportRejected += run.rejected }
        if run.filtered > 0 { stats.exportFiltered += run.filtered }
        if let l = run.last, l.0 !== lastExport?.0 { lastExport = l }
    }

    @inline(__always)
    private func exportAttributes(_ prefix: IPPrefix, _ e: RouteEntry, _ fi: Int, _ run: inout ExportRun) -> AttrSet? {
        let src = run.sources[Int(e.src)]
        if src === source { run.rejected += 1; return nil }          // never back to the sender
        if src.kind == .bgp && src.isInternal && run.isInternal && !run.rrClient { run.rejected += 1; return nil } // iBGP split horizon
        guard run.negotiated[fi] else { return nil }
        let a = e.attrs
        if !a.bgp.communities.isEmpty {
            if a.bgp.communities.contains(PathAttributes.noAdvertise) { run.rejected += 1; return nil }
            if !run.isInternal && (a.bgp.communities.contains(PathAttributes.noExport)
                                   || a.bgp.communities.contains(PathAttributes.noExportSubconfed)) { run.rejected += 1; return nil }
        }
        switch run.policies[fi] {
        case .none:
            run.filtered += 1
            return nil
        case .all:
            if let l = run.last, l.0 === a { return l.1 }   // routes come in runs with one attribute set
            return cachedExport(a, src: src, &run)
        case .filter(let f):
            var ctx = a.filterContext(net: prefix, source: src)
            let orig = ctx
            let (verdict, err) = f.run(&ctx, print: { speaker.filterPrint(self.name, $0) })
            if let err { speaker.log(.warning, "\(name): \(err)") }
            guard verdict == .accept else { run.filtered += 1; return nil }
            let diff = ContextDiff(ctx, orig)
            if !diff.any { return cachedExport(a, src: src, &run) }
            let modified = speaker.attrs.apply(ctx, original: orig, base: a)
            return transformForExport(modified, src: src, medSetByFilter: diff.med)
        }
    }

    func resetExportCache() {
        exportCache = [:]
        lastExport = nil
    }

    private func cachedExport(_ a: AttrSet, src: RouteSource, _ run: inout ExportRun) -> AttrSet {
        if let l = run.last, l.0 === a { return l.1 }
        let key = ObjectIdentifier(a)
        if let c = exportCache[key], c.0 === a { run.last = c; return c.1 }
        let out = transformForExport(a, src: src, medSetByFilter: false)
        exportCache[key] = (a, out)
        run.last = (a, out)
        return out
    }

    /// BIRD bgp_update_attrs: the attributes a route gets on this session.
    func transformForExport(_ a: AttrSet, src: RouteSource, medSetByFilter: Bool) -> AttrSet {
        var p = PathAttributes()
        let fromBGP = a.isBGP
        if fromBGP {
            p = a.bgp
            p.asPath = a.bgp.effectiveASPath
            p.aggregator = a.bgp.effectiveAggregator
            p.as4Path = nil
            p.as4Aggregator = nil
            p.mpUnreach = nil
        }
        if p.origin == nil { p.origin = .igp }
        let nhV4: UInt32? = localNextHop(.ipv4)?.ipv4Address
        let nhV6: [UInt8]? = localNextHop(.ipv6)?.addressBytes
        let chV4 = channel(.ipv4), chV6 = channel(.ipv6)
        func setSelf() {
            p.nextHop = nhV4
            p.mpReach = nhV6.map { MPReach(afiSafi: .ipv6Unicast, nextHop: $0, nlri: []) }
        }
        if isInternal {
            if p.localPref == nil { p.localPref = config.defaultLocalPref }
            let nhs = chV4?.nextHopSelf ?? chV6?.nextHopSelf ?? .off
            let forceSelf = nhs == .on || nhs == .ibgp
            if !fromBGP || src.kind != .bgp || forceSelf || a.bgpNextHop == nil {
                setSelf()
            } else {
                if p.nextHop == nil { p.nextHop = nhV4 }
                if p.mpReach == nil, let v6 = nhV6 { p.mpReach = MPReach(afiSafi: .ipv6Unicast, nextHop: v6, nlri: []) }
            }
        } else {
            // Prepend our AS.
            if case .sequence(let s)? = p.asPath.first, s.count < 255 {
                p.asPath[0] = .sequence([localAS] + s)
            } else {
                p.asPath.insert(.sequence([localAS]), at: 0)
            }
            p.localPref = nil
            if !medSetByFilter { p.med = nil }
            let keep = chV4?.nextHopKeep ?? chV6?.nextHopKeep ?? .off
            if fromBGP && src.kind == .bgp && (keep == .on || keep == .ebgp) && a.bgpNextHop != nil {
                if p.nextHop == nil { p.nextHop = nhV4 }
            } else {
                setSelf()
            }
        }
        return speaker.attrs.intern(p, isBGP: true, dest: .unicast, gateway: nil)
    }
}

/// What the export decision reads of a session per route, taken once for a run of routes (one
/// UPDATE's changes, or a whole table): read from the session route by route, each cost a
/// dynamic exclusivity check and a retain. What the run counts goes back in `Session.finish`.
struct ExportRun {
    let sources: [RouteSource]
    let isInternal: Bool
    let rrClient: Bool
    /// Per family index (0 IPv4, 1 IPv6).
    let negotiated: [Bool]
    let policies: [Policy]
    /// The last attribute set exported and what it became (`Session.lastExport`).
    var last: (AttrSet, AttrSet)?
    var rejected = 0
    var filtered = 0

    init(_ s: Session) {
        sources = s.rib.sources
        isInternal = s.isInternal
        rrClient = s.config.rrClient
        negotiated = s.negotiatedUnicast
        policies = s.famExport
        last = s.lastExport
    }
}

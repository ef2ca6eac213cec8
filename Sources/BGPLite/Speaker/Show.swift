// birdc-like text output: `show protocols [all NAME]`, `show route [for P] [protocol NAME] [count]`.
import Glibc
import MeshIO
import MeshStatus

extension BGPSpeaker {
    static func timeString(_ wall: Double) -> String {
        var t = time_t(wall)
        var tmv = tm()
        localtime_r(&t, &tmv)
        let ms = Int((wall - Double(Int(wall))) * 1000)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let msS = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec)).\(msS)"
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    /// BIRD's `"%-10s %-10s %-10s %-6s %-12s  %s"` (nest/proto.c proto_cmd_show): columns are padded,
    /// never trimmed, so a line ends in blanks when Info is empty or short, as birdc prints it.
    private func protoLine(_ name: String, _ proto: String, _ table: String, _ state: String, _ since: String, _ info: String) -> String {
        "\(BGPSpeaker.pad(name, 10)) \(BGPSpeaker.pad(proto, 10)) \(BGPSpeaker.pad(table, 10)) \(BGPSpeaker.pad(state, 6)) \(BGPSpeaker.pad(since, 12))  \(info)"
    }

    private func protoLine(_ name: String, _ proto: String, _ table: String, _ state: String, _ since: Double, _ info: String) -> String {
        protoLine(name, proto, table, state, BGPSpeaker.timeString(since), info)
    }

    /// bgp_get_status: a protocol that is down shows only its last error; otherwise the BGP state
    /// padded to 14 columns, then the error.
    private func bgpInfo(_ s: Session) -> String {
        if s.protoState == .down { return s.lastError }
        let st = s.established != nil ? "Established" : s.sessionState.description
        return BGPSpeaker.pad(st, 14) + (s.established != nil ? "" : s.lastError)
    }

    /// `show protocols` (all protocols) or `show protocols all NAME` when `name` is given.
    public func showProtocols(all name: String? = nil) -> String {
        showProtocols(name: name, verbose: name != nil)
    }

    /// Whether a protocol of this name exists (BGP session, static, kernel, device, direct, BFD).
    public func hasProtocol(_ name: String) -> Bool {
        sessions.contains { $0.name == name } || config.protocols.contains { $0.name == name }
    }

    /// `show protocols [all] [NAME]` as birdc prints it: a header, one line per protocol and, with
    /// `verbose`, each protocol's details followed by an empty line.
    public func showProtocols(name: String?, verbose: Bool) -> String {
        var lines = [protoLine("Name", "Proto", "Table", "State", "Since", "Info")]
        func bgpLines(_ s: Session) {
            lines.append(protoLine(s.name, "BGP", "---", s.protoState.description, s.since, bgpInfo(s)))
            if verbose { lines += bgpDetails(s); lines.append("") }
        }
        for p in config.protocols {
            if let n = name, p.name != n { continue }
            switch p {
            case .device(let d):
                lines.append(protoLine(d.name, "Device", "---", started ? "up" : "down", startedAt, ""))
                if verbose { lines.append("") }
            case .direct(let d):
                lines.append(protoLine(d.name, "Direct", "---", started ? "up" : "down", startedAt, ""))
                if verbose { lines.append("") }
            case .kernel(let k):
                lines.append(protoLine(k.name, "Kernel", k.channels.first?.table ?? "master4", started ? "up" : "down", startedAt, ""))
                if verbose {
                    lines += channelLines(family: k.channels.first?.family ?? .ipv4, importPolicy: k.channels.first?.effectiveImportPolicy, exportPolicy: k.channels.first?.effectiveExportPolicy, imported: 0, exported: fibInstalled.count, preferred: 0, stats: SessionStats(), established: started)
                    lines.append("")
                }
            case .bfd(let b):
                lines.append(protoLine(b.name, "BFD", "---", started ? "up" : "down", startedAt, ""))
                if verbose { lines.append("") }
            case .static_(let st):
                let so = statics.first { $0.config.name == st.name }
                let up = started && !st.common.disabled && !(so?.disabledByCommand ?? false)
                lines.append(protoLine(st.name, "Static", st.channel.table, up ? "up" : "down", so?.since ?? startedAt, ""))
                if verbose, let so {
                    let pref = so.source.preferred[0] + so.source.preferred[1]
                    var stats = SessionStats()
                    if up {   // each configured route is one import update (BIRD's static_announce_rte)
                        stats.importUpdatesReceived = so.imported.count + so.filtered
                        stats.importUpdatesFiltered = so.filtered
                        stats.importUpdatesAccepted = so.imported.count
                    }
                    lines += channelLines(family: st.family, importPolicy: st.channel.effectiveImportPolicy, exportPolicy: st.channel.effectiveExportPolicy, imported: up ? so.imported.count : 0, exported: 0, preferred: pref, stats: stats, limits: st.channel, defaultPreference: 200, established: up)
                }
                if verbose { lines.append("") }
            case .bgp(let b):
                // In config order, as BIRD lists its protocols; dynamic sessions follow at the end.
                if let s = sessions.first(where: { $0.name == b.name && !$0.dynamic }) { bgpLines(s) }
            }
        }
        for s in sessions where s.dynamic || !config.protocols.contains(where: { $0.name == s.name }) {
            if let n = name, s.name != n { continue }
            bgpLines(s)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// BIRD's bgp_show_afis names.
    private func afiName(_ f: AFISAFI) -> String {
        switch (f.afi, f.safi) {
        case (1, 1): return "ipv4"
        case (2, 1): return "ipv6"
        case (1, 2): return "ipv4-mc"
        case (2, 2): return "ipv6-mc"
        default: return "<\(f.afi)/\(f.safi)>"
        }
    }

    /// bgp_show_capabilities, for the capabilities BGPLite knows.
    private func capabilityLines(_ caps: [Capability]) -> [String] {
        var l: [String] = []
        let mp = caps.compactMap { c -> AFISAFI? in if case .multiprotocol(let f) = c { return f } else { return nil } }
        if !mp.isEmpty { l.append("      Multiprotocol"); l.append("        AF announced: " + mp.map(afiName).joined(separator: " ")) }
        if caps.contains(.routeRefresh) { l.append("      Route refresh") }
        if caps.contains(.extendedMessage) { l.append("      Extended message") }
        for c in caps {
            guard case .gracefulRestart(let g) = c else { continue }
            l.append("      Graceful restart")
            if !g.families.isEmpty {
                l.append("        Restart time: \(g.restartTime)")
                if g.restartState { l.append("        Restart recovery") }
                l.append("        AF supported: " + g.families.map { afiName($0.afiSafi) }.joined(separator: " "))
                let kept = g.families.filter { $0.forwardingPreserved }
                if !kept.isEmpty { l.append("        AF preserved: " + kept.map { afiName($0.afiSafi) }.joined(separator: " ")) }
            }
        }
        if caps.contains(where: { if case .fourOctetAS = $0 { return true } else { return false } }) { l.append("      4-octet AS numbers") }
        for c in caps {
            guard case .addPath(let entries) = c, !entries.isEmpty else { continue }
            l.append("      ADD-PATH")
            let rx = entries.filter { $0.canReceive }, tx = entries.filter { $0.canSend }
            if !rx.isEmpty { l.append("        RX: " + rx.map { afiName($0.afiSafi) }.joined(separator: " ")) }
            if !tx.isEmpty { l.append("        TX: " + tx.map { afiName($0.afiSafi) }.joined(separator: " ")) }
        }
        if caps.contains(.enhancedRouteRefresh) { l.append("      Enhanced refresh") }
        // Long-lived graceful restart (code 71) is not implemented; shown as BIRD shows a peer's.
        for c in caps {
            guard case .unknown(71, let data) = c else { continue }
            l.append("      Long-lived graceful restart")
            var fams: [(AFISAFI, Bool, UInt32)] = []
            var i = 0
            while i + 7 <= data.count {
                let f = AFISAFI(afi: UInt16(data[i]) << 8 | UInt16(data[i + 1]), safi: data[i + 2])
                let t = UInt32(data[i + 4]) << 16 | UInt32(data[i + 5]) << 8 | UInt32(data[i + 6])
                fams.append((f, data[i + 3] & 0x80 != 0, t))
                i += 7
            }
            if !fams.isEmpty {
                l.append("        LL stale time: \(fams.map { $0.2 }.max() ?? 0)")
                let sup = fams.filter { $0.2 > 0 }, kept = fams.filter { $0.1 }
                l.append("        AF supported:" + sup.map { " " + afiName($0.0) }.joined())
                l.append("        AF preserved:" + kept.map { " " + afiName($0.0) }.joined())
            }
        }
        return l
    }

    private func bgpDetails(_ s: Session) -> [String] {
        var l: [String] = []
        if let d = s.config.description { l.append("  Description:    \(d)") }
        l.append("  BGP state:          \(s.sessionState)")
        l.append("    Neighbor address: \(s.config.neighborAddress?.addressString ?? "?")")
        if s.config.neighborPort != 179 { l.append("    Neighbor port:    \(s.config.neighborPort)") }
        l.append("    Neighbor AS:      \(s.config.neighborAS)")
        l.append("    Local AS:         \(s.config.localAS)")
        if s.staleCount > 0 { l.append("    Neighbor graceful restart active") }
        if let c = s.established, let o = s.peerOpen {
            l.append("    Neighbor ID:      \(BGPSpeaker.formatID(o.bgpIdentifier))")
            l.append("    Local capabilities")
            l += capabilityLines(s.buildOpen().capabilities)
            l.append("    Neighbor capabilities")
            l += capabilityLines(o.capabilities)
            l.append("    Session:          \(s.isInternal ? "internal" : "external")\(s.config.effectiveMultihop > 0 ? " multihop" : "")\(s.options.fourOctetAS ? " AS4" : "")")
            l.append("    Source address:   \(s.localAddress?.addressString ?? "?")")
            let now = loop.now
            let hold = c.holdTime > 0 ? max(0, Double(c.holdTime) - (now - c.lastReceived)) : 0
            // The keepalive timer restarts with every message we send (BIRD: bgp_fire_tx).
            let ka = c.keepaliveTime > 0 ? max(0, Double(c.keepaliveTime) - (now - c.lastWriteProgress)) : 0
            l.append("    Hold timer:       \(format3(hold))/\(c.holdTime)")
            l.append("    Keepalive timer:  \(format3(ka))/\(c.keepaliveTime)")
        } else if s.protoState == .start, s.restartTimer != nil {
            l.append("    Error wait:       \(format3(Double(s.startupDelay)))/\(s.startupDelay)")
        }
        if !s.lastError.isEmpty { l.append("    Last error:       \(s.lastError)") }
        let up = s.established != nil
        for ch in s.channels {
            let pref = s.source.preferred[ch.family == .ipv4 ? 0 : 1]
            let imp = s.imported[ch.family == .ipv4 ? 0 : 1]
            let exp = s.adjOut.count(ch.family)
            let filt = ch.importKeepFiltered ? s.keptFiltered.keys.reduce(0) { $0 + ($1.family == ch.family ? 1 : 0) } : nil
            l += channelLines(family: ch.family, importPolicy: ch.bgpImportPolicy(isInternal: s.isInternal),
                              exportPolicy: ch.bgpExportPolicy(isInternal: s.isInternal), imported: imp, exported: exp,
                              preferred: pref, filtered: filt, stats: s.stats, limits: ch, established: up)
            if up, let nh = s.localNextHop(ch.family) { l.append("    BGP Next hop:   \(nh.addressString)") }
        }
        return l
    }

    private func format3(_ v: Double) -> String {
        let ms = Int(v * 1000)
        let frac = ms % 1000
        return "\(ms / 1000).\(frac < 10 ? "00" : frac < 100 ? "0" : "")\(frac)"
    }

    private func policyName(_ p: Policy?) -> String {
        switch p {
        case .none?, nil: return "REJECT"
        case .all?: return "ACCEPT"
        case .filter(let f)?: return f.name
        }
    }

    private func channelLines(family: IPPrefix.Family, importPolicy: Policy?, exportPolicy: Policy?, imported: Int,
                              exported: Int, preferred: Int, filtered: Int? = nil, stats: SessionStats?,
                              limits: ChannelConfig? = nil, defaultPreference: Int = 100, established: Bool = true) -> [String] {
        var l: [String] = []
        l.append("  Channel \(family == .ipv4 ? "ipv4" : "ipv6")")
        l.append("    State:          \(established ? "UP" : "DOWN")")
        l.append("    Table:          \(family == .ipv4 ? "master4" : "master6")")
        l.append("    Preference:     \(limits?.preference ?? defaultPreference)")
        l.append("    Input filter:   \(policyName(importPolicy))")
        l.append("    Output filter:  \(policyName(exportPolicy))")
        // channel_show_limit: "    %-16s%d"
        if let lim = limits?.receiveLimit { l.append("    Receive limit:  \(lim.count)"); l.append("      Action:       \(lim.action)") }
        if let lim = limits?.importLimit { l.append("    Import limit:   \(lim.count)"); l.append("      Action:       \(lim.action)") }
        guard established, let s = stats else { return l }   // no stats for a channel that is down
        if let f = filtered {
            l.append("    Routes:         \(imported) imported, \(f) filtered, \(exported) exported, \(preferred) preferred")
        } else {
            l.append("    Routes:         \(imported) imported, \(exported) exported, \(preferred) preferred")
        }
        func c(_ v: Int) -> String { let t = String(v); return String(repeating: " ", count: max(0, 10 - t.count)) + t }
        l.append("    Route change stats:     received   rejected   filtered    ignored   accepted")
        l.append("      Import updates:     \(c(s.importUpdatesReceived)) \(c(s.importUpdatesRejected)) \(c(s.importUpdatesFiltered)) \(c(s.importUpdatesIgnored)) \(c(s.importUpdatesAccepted))")
        l.append("      Import withdraws:   \(c(s.importWithdrawsReceived)) \(c(0))        --- \(c(s.importWithdrawsIgnored)) \(c(s.importWithdrawsAccepted))")
        l.append("      Export updates:     \(c(s.exportUpdates + s.exportFiltered + s.exportRejected)) \(c(s.exportRejected)) \(c(s.exportFiltered))        --- \(c(s.exportUpdates))")
        l.append("      Export withdraws:   \(c(s.exportWithdraws))        ---        ---        --- \(c(s.exportWithdraws))")
        return l
    }

    // MARK: show route

    private func destName(_ d: RouteDest) -> String {
        switch d {
        case .unicast: return "unicast"
        case .blackhole: return "blackhole"
        case .unreachable: return "unreachable"
        case .prohibit: return "prohibited"
        }
    }

    /// One Loc-RIB route as the snapshot `show route` (text and JSON) is made of.
    func routeSnapshot(_ p: IPPrefix, _ e: RouteEntry, primary: Bool) -> BGPRouteSnapshot {
        let src = rib.sources[Int(e.src)]
        let a = e.attrs
        var from: String?
        if src.kind == .bgp, let n = src.neighborAddress, n != a.gateway { from = n.addressString }
        return BGPRouteSnapshot(prefix: p.description, dest: destName(a.dest), proto: src.name, since: wallTime(ms: e.since),
                                primary: primary, preference: Int(src.preference), stale: e.stale, bgp: a.isBGP,
                                origin: a.isBGP ? a.bgp.origin.map { ["i", "e", "?"][Int($0.rawValue)] } : nil,
                                originAS: a.isBGP ? a.originAS : nil, asPath: a.isBGP ? a.flatPath : [],
                                localPref: a.isBGP ? a.localPref : nil, med: a.isBGP ? a.med : nil,
                                gateway: a.dest == .unicast ? a.gateway?.addressString : nil,
                                interface: a.dest == .unicast && a.gateway != nil ? src.ifname : nil, from: from)
    }

    /// birdc's lines for one route; `first`: the first line shown for its prefix carries the prefix.
    /// bgp_get_route_info: " (PREF" then "s" when stale, then ") [ASnnnO]".
    static func routeLines(_ r: BGPRouteSnapshot, first: Bool) -> [String] {
        var info = " (\(r.preference)\(r.stale ? "s" : ""))"
        if r.bgp { info += " [\(r.originAS.map { "AS\($0)" } ?? "")\(r.origin ?? "")]" }
        let net = first ? r.prefix : ""
        var lines = ["\(BGPSpeaker.pad(net, 20)) \(r.dest) [\(r.proto) \(BGPSpeaker.timeString(r.since))\(r.from.map { " from \($0)" } ?? "")]\(r.primary ? " *" : "")\(info)"]
        if let gw = r.gateway { lines.append("\tvia \(gw)\(r.interface.map { " on \($0)" } ?? "")") }
        return lines
    }

    /// `show route all`: rta_show's "Type:" line and the BGP attributes in type-code order (ea_show).
    func attributeLines(_ e: RouteEntry) -> [String] {
        let src = rib.sources[Int(e.src)]
        let a = e.attrs
        var l = ["\tType: \(src.kind == .bgp ? "BGP" : "static") univ"]
        guard a.isBGP else { return l }
        let b = a.bgp
        if let o = b.origin { l.append("\tBGP.origin: \(["IGP", "EGP", "Incomplete"][Int(o.rawValue)])") }
        let path = b.effectiveASPath.map { seg -> String in
            let asns = seg.asns.map(String.init).joined(separator: " ")
            switch seg {   // as_path_format
            case .sequence: return asns
            case .set: return "{\(asns)}"
            case .confedSequence: return "(\(asns))"
            case .confedSet: return "[\(asns)]"
            }
        }.filter { !$0.isEmpty }
        l.append("\tBGP.as_path: \(path.joined(separator: " "))")
        if let nh = b.nextHop {
            l.append("\tBGP.next_hop: \(BGPSpeaker.formatID(nh))")
        } else if let mp = b.mpReach {
            let (g, ll) = mp.ipv6NextHops
            if let g { l.append("\tBGP.next_hop: \(g.addressString)\(ll.map { " " + $0.addressString } ?? "")") }
        }
        if let m = b.med { l.append("\tBGP.med: \(m)") }
        // BIRD gives routes from eBGP peers its default local preference (100) on import.
        if let lp = b.localPref ?? (src.kind == .bgp ? 100 : nil) { l.append("\tBGP.local_pref: \(lp)") }
        if b.atomicAggregate { l.append("\tBGP.atomic_aggr: ") }
        if let ag = b.aggregator { l.append("\tBGP.aggregator: \(BGPSpeaker.formatID(ag.address)) AS\(ag.as)") }
        if !b.communities.isEmpty {
            l.append("\tBGP.community: " + b.communities.map { "(\($0 >> 16),\($0 & 0xffff))" }.joined(separator: " "))
        }
        return l
    }

    /// What `show route` was asked for (BIRD's rt_show_data, for the options BGPLite offers).
    public struct RouteQuery: Sendable {
        public var target: IPPrefix?
        /// `for ADDR`: the longest match; otherwise `show route PREFIX` finds the exact network.
        public var longestMatch = true
        public var proto: String?
        /// `export P`: the best routes exported to P (its Adj-RIB-Out holds them).
        public var export: String?
        /// `filtered`: the routes P's import filter rejected (kept with `import keep filtered`).
        public var filtered = false
        /// `all`: attributes too.
        public var verbose = false
        public var countOnly = false
        public init() {}
    }

    private struct ShownTable {
        var name: String
        var count = BGPRouteCount(routes: 0, shown: 0, networks: 0)
        var routes: [(IPPrefix, RouteEntry, Bool)] = []
    }

    /// The families of the protocol `name` (its channels' tables), nil when no such protocol.
    private func families(ofProtocol name: String) -> [IPPrefix.Family]? {
        if let s = sessions.first(where: { $0.name == name }) { return s.channels.map { $0.family } }
        for p in config.protocols where p.name == name {
            switch p {
            case .static_(let st): return [st.family]
            case .kernel(let k): return k.channels.map { $0.family }
            default: return []
            }
        }
        if meshSources[name] != nil { return [.ipv4, .ipv6] }
        return nil
    }

    /// rt_show: the tables asked for (both by default, those of the protocol given), each with its
    /// counters as BIRD keeps them: routes and networks walked, routes shown.
    private func selectRoutes(_ q: RouteQuery) -> [ShownTable] {
        var fams: [IPPrefix.Family] = [.ipv4, .ipv6]
        if let pn = q.export ?? q.proto, let f = families(ofProtocol: pn) { fams = [.ipv4, .ipv6].filter { f.contains($0) } }
        if let t = q.target { fams = fams.filter { $0 == t.family } }
        let srcID: UInt32? = q.proto.flatMap { pn in rib.sources.firstIndex { $0.name == pn }.map { UInt32($0) } }
        let exportTo = q.export.flatMap { n in sessions.first { $0.name == n } }
        var filteredRoutes: [IPPrefix: [RouteEntry]] = [:]
        if q.filtered {
            for s in sessions where q.proto == nil || s.name == q.proto {
                for (p, f) in s.keptFiltered { filteredRoutes[p, default: []].append(RouteEntry(attrs: f.attrs, src: s.source.id, since: f.since)) }
            }
        }
        var out: [ShownTable] = []
        for fam in fams {
            var t = ShownTable(name: fam == .ipv4 ? "master4" : "master6")
            var prefixes: [IPPrefix]
            if let target = q.target {
                let hit: IPPrefix?
                if q.filtered {
                    hit = q.longestMatch ? (0...Int(target.length)).reversed().lazy.map { IPPrefix(family: target.family, hi: target.hi, lo: target.lo, length: $0) }.first { filteredRoutes[$0] != nil }
                        : (filteredRoutes[target] != nil ? target : nil)
                } else {
                    hit = q.longestMatch ? rib.longestMatch(target) : (rib.table[target] != nil ? target : nil)
                }
                prefixes = hit.map { [$0] } ?? []
            } else if q.filtered {
                prefixes = filteredRoutes.keys.filter { $0.family == fam }
            } else if q.countOnly && q.proto == nil && q.export == nil {
                // Every route counts: the RIB's counters, no walk (the status file asks this of a
                // million-route table every 0.2 s while routes arrive).
                let n = rib.routeCount[fam == .ipv4 ? 0 : 1]
                t.count = BGPRouteCount(routes: n, shown: n, networks: rib.table.count(fam))
                out.append(t)
                continue
            } else {
                prefixes = rib.table.keys.filter { $0.family == fam }
            }
            if !q.countOnly { prefixes.sort() }
            for p in prefixes {
                var all: [RouteEntry]
                if q.filtered {
                    all = filteredRoutes[p] ?? []
                } else {
                    all = rib.candidates(p)
                }
                guard !all.isEmpty else { continue }
                t.count.routes += all.count
                t.count.networks += 1
                // A filtered route is the network's first only when no valid route exists.
                let primaryPossible = !q.filtered || rib.table[p] == nil
                for (i, r) in all.enumerated() {
                    // Export: BGP sends only the best route (RA_OPTIMAL), if the session exported it.
                    if q.export != nil {
                        guard i == 0, let s = exportTo, s.adjOut[p] != nil else { break }
                    }
                    if let pn = q.proto, q.filtered ? rib.sources[Int(r.src)].name != pn : r.src != srcID { continue }
                    t.count.shown += 1
                    if !q.countOnly { t.routes.append((p, r, i == 0 && primaryPossible)) }
                }
            }
            out.append(t)
        }
        return out
    }

    /// `show route [for P] [protocol NAME] [count]` as data; `showRoute` prints it as birdc does and
    /// the control socket's `--json` encodes it.
    public func routeTables(for target: IPPrefix? = nil, protocol proto: String? = nil, countOnly: Bool = false) -> BGPRouteTables {
        var q = RouteQuery()
        q.target = target; q.proto = proto; q.countOnly = countOnly
        return routeTables(q)
    }

    public func routeTables(_ q: RouteQuery) -> BGPRouteTables {
        let shown = selectRoutes(q)
        var total = BGPRouteCount(routes: 0, shown: 0, networks: 0)
        for t in shown { total.routes += t.count.routes; total.shown += t.count.shown; total.networks += t.count.networks }
        return BGPRouteTables(tables: shown.map { t in BGPRouteTable(table: t.name, count: t.count, routes: t.routes.map { routeSnapshot($0.0, $0.1, primary: $0.2) }) },
                              total: shown.count > 1 ? total : nil)
    }

    /// `show route [for P] [protocol NAME] [count]` in birdc's words.
    public func showRoute(for target: IPPrefix? = nil, protocol proto: String? = nil, countOnly: Bool = false) -> String {
        var q = RouteQuery()
        q.target = target; q.proto = proto; q.countOnly = countOnly
        return showRoute(q)
    }

    /// rt_show_cont / rt_show_table: "Table X:" before a table's first route, an empty line between
    /// tables; with `count` one line per table and a total when more than one table was searched;
    /// "Network not found" when a `for`/prefix query matched nothing.
    public func showRoute(_ q: RouteQuery) -> String {
        let shown = selectRoutes(q)
        var out: [String] = []
        if q.countOnly {
            var total = BGPRouteCount(routes: 0, shown: 0, networks: 0)
            for t in shown {
                out.append("\(t.count.shown) of \(t.count.routes) routes for \(t.count.networks) networks in table \(t.name)")
                total.routes += t.count.routes; total.shown += t.count.shown; total.networks += t.count.networks
            }
            if shown.count > 1 { out.append("Total: \(total.shown) of \(total.routes) routes for \(total.networks) networks in \(shown.count) tables") }
            return out.map { $0 + "\n" }.joined()
        }
        var anyTable = false
        for t in shown where !t.routes.isEmpty {
            if anyTable { out.append("") }
            anyTable = true
            out.append("Table \(t.name):")
            var previous: IPPrefix?
            for (p, e, primary) in t.routes {
                out += BGPSpeaker.routeLines(routeSnapshot(p, e, primary: primary), first: p != previous)
                if q.verbose { out += attributeLines(e) }
                previous = p
            }
        }
        if q.target != nil && shown.allSatisfy({ $0.count.routes == 0 }) { return "Network not found\n" }
        return out.map { $0 + "\n" }.joined()
    }
}

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

    private func protoLine(_ name: String, _ proto: String, _ table: String, _ state: String, _ since: Double, _ info: String) -> String {
        let line = "\(BGPSpeaker.pad(name, 10)) \(BGPSpeaker.pad(proto, 10)) \(BGPSpeaker.pad(table, 10)) \(BGPSpeaker.pad(state, 6)) \(BGPSpeaker.pad(BGPSpeaker.timeString(since), 12))  \(info)"
        var s = Substring(line)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    /// The Info column: a BGP session's state, and its last error while not established.
    private static func info(_ p: BGPProtocolSnapshot) -> String {
        guard p.proto == "BGP" else { return "" }
        if p.established { return "Established" }
        if p.lastError.isEmpty { return p.bgpState }
        return BGPSpeaker.pad(p.bgpState, 14) + p.lastError
    }

    /// `show protocols` (all protocols) or `show protocols all NAME` when `name` is given: one line
    /// per protocol from `protocolStatus()`, with NAME's channel and session detail below it.
    public func showProtocols(all name: String? = nil) -> String {
        var lines = [protoLine("Name", "Proto", "Table", "State", 0, "Info").replacingSince()]
        for p in protocolStatus() {
            if let n = name, p.name != n { continue }
            lines.append(protoLine(p.name, p.proto, p.table, p.state, p.since, BGPSpeaker.info(p)))
            if name != nil { lines += details(p.name) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `show protocols all NAME`'s lines under the protocol's summary line (read from the speaker:
    /// channel and capability detail is not part of the snapshot).
    private func details(_ name: String) -> [String] {
        if let s = sessions.first(where: { $0.name == name }) { return bgpDetails(s) }
        for p in config.protocols {
            switch p {
            case .kernel(let k) where k.name == name:
                return channelLines(family: k.channels.first?.family ?? .ipv4, importPolicy: k.channels.first?.effectiveImportPolicy, exportPolicy: k.channels.first?.effectiveExportPolicy, imported: 0, exported: fibInstalled.count, preferred: 0, stats: nil)
            case .static_(let st) where st.name == name:
                guard let so = statics.first(where: { $0.config.name == st.name }) else { return [] }
                let pref = rib.table.reduce(0) { $0 + ($1.value.best.src == so.source.id ? 1 : 0) }
                return channelLines(family: st.family, importPolicy: st.channel.effectiveImportPolicy, exportPolicy: st.channel.effectiveExportPolicy, imported: so.imported.count, exported: 0, preferred: pref, stats: nil)
            default:
                continue
            }
        }
        return []
    }

    private func bgpDetails(_ s: Session) -> [String] {
        var l: [String] = []
        if let d = s.config.description { l.append("  Description:    \(d)") }
        l.append("  BGP state:          \(s.sessionState)")
        l.append("    Neighbor address: \(s.config.neighborAddress?.addressString ?? "?")")
        l.append("    Neighbor AS:      \(s.config.neighborAS)")
        l.append("    Local AS:         \(s.config.localAS)")
        if let c = s.established, let o = s.peerOpen {
            l.append("    Neighbor ID:      \(BGPSpeaker.formatID(o.bgpIdentifier))")
            var caps: [String] = []
            if o.fourOctetASCapability != nil { caps.append("AS4") }
            if o.supportsRouteRefresh { caps.append("route-refresh") }
            if o.supportsEnhancedRouteRefresh { caps.append("enhanced-refresh") }
            if let g = o.gracefulRestart { caps.append("graceful-restart(\(g.restartTime)s\(g.restartState ? ",R" : ""))") }
            if o.supportsExtendedMessages { caps.append("extended-messages") }
            l.append("    Neighbor caps:    \(caps.joined(separator: " "))")
            l.append("    Session:          \(s.isInternal ? "internal" : "external")\(s.config.multihop ?? 0 > 0 && !s.isInternal ? " multihop" : "")\(s.options.fourOctetAS ? " AS4" : "")")
            l.append("    Source address:   \(s.localAddress?.addressString ?? "?")")
            let now = loop.now
            let hold = c.holdTime > 0 ? String(format3(max(0, Double(c.holdTime) - (now - c.lastReceived)))) + "/\(c.holdTime)" : "0"
            l.append("    Hold timer:       \(hold)")
            l.append("    Keepalive timer:  \(c.keepaliveTime)")
        } else {
            if !s.lastError.isEmpty { l.append("    Last error:       \(s.lastError)") }
            if s.restartTimer != nil { l.append("    Error wait:       \(s.startupDelay) s") }
        }
        if !s.stale.isEmpty { l.append("    Stale routes:     \(s.stale.count) (graceful restart)") }
        for ch in s.channels {
            let pref = rib.table.reduce(0) { $0 + ($1.value.best.src == s.source.id && $1.key.p.family == ch.family ? 1 : 0) }
            let imp = s.adjIn.keys.reduce(0) { $0 + ($1.p.family == ch.family ? 1 : 0) }
            let exp = s.adjOut.keys.reduce(0) { $0 + ($1.family == ch.family ? 1 : 0) }
            l += channelLines(family: ch.family, importPolicy: ch.bgpImportPolicy(isInternal: s.isInternal),
                              exportPolicy: ch.bgpExportPolicy(isInternal: s.isInternal), imported: imp, exported: exp,
                              preferred: pref, stats: s.stats, limits: ch, established: s.established != nil)
            if s.established != nil, let nh = s.localNextHop(ch.family) { l.append("    BGP Next hop:   \(nh.addressString)") }
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
                              exported: Int, preferred: Int, stats: SessionStats?, limits: ChannelConfig? = nil,
                              established: Bool = true) -> [String] {
        var l: [String] = []
        l.append("  Channel \(family == .ipv4 ? "ipv4" : "ipv6")")
        l.append("    State:          \(established ? "UP" : "DOWN")")
        l.append("    Table:          \(family == .ipv4 ? "master4" : "master6")")
        l.append("    Preference:     \(limits?.preference ?? 100)")
        l.append("    Input filter:   \(policyName(importPolicy))")
        l.append("    Output filter:  \(policyName(exportPolicy))")
        if let lim = limits?.receiveLimit { l.append("    Receive limit:  \(lim.count)\n      Action:       \(lim.action)") }
        if let lim = limits?.importLimit { l.append("    Import limit:   \(lim.count)\n      Action:       \(lim.action)") }
        l.append("    Routes:         \(imported) imported, \(exported) exported, \(preferred) preferred")
        if let s = stats {
            func c(_ v: Int) -> String { let t = String(v); return String(repeating: " ", count: max(0, 10 - t.count)) + t }
            l.append("    Route change stats:     received   rejected   filtered    ignored   accepted")
            l.append("      Import updates:     \(c(s.importUpdatesReceived)) \(c(s.importUpdatesRejected)) \(c(s.importUpdatesFiltered)) \(c(s.importUpdatesIgnored)) \(c(s.importUpdatesAccepted))")
            l.append("      Import withdraws:   \(c(s.importWithdrawsReceived)) \(c(0))        --- \(c(0)) \(c(s.importWithdrawsAccepted))")
            l.append("      Export updates:     \(c(s.exportUpdates + s.exportFiltered)) \(c(0)) \(c(s.exportFiltered))        --- \(c(s.exportUpdates))")
            l.append("      Export withdraws:   \(c(s.exportWithdraws))        ---        ---        --- \(c(s.exportWithdraws))")
        }
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
    static func routeLines(_ r: BGPRouteSnapshot, first: Bool) -> [String] {
        var info = " (\(r.preference)\(r.stale ? " s" : ""))"
        if r.bgp { info += " [\(r.originAS.map { "AS\($0)" } ?? "")\(r.origin ?? "")]" }
        let net = first ? r.prefix : ""
        var lines = ["\(BGPSpeaker.pad(net, 20)) \(r.dest) [\(r.proto) \(BGPSpeaker.timeString(r.since))\(r.from.map { " from \($0)" } ?? "")]\(r.primary ? " *" : "")\(info)"]
        if let gw = r.gateway { lines.append("\tvia \(gw)\(r.interface.map { " on \($0)" } ?? "")") }
        return lines
    }

    /// `show route [protocol NAME] count` in one pass over the table without building arrays:
    /// status files and health checks ask for this often while a full table arrives.
    private func countRoutes(protocol proto: String?) -> BGPRouteTables {
        var routes = [0, 0], shown = [0, 0], nets = [0, 0]
        let srcID: UInt32? = proto.flatMap { pn in rib.sources.firstIndex { $0.name == pn }.map { UInt32($0) } }
        for (k, e) in rib.table {
            let f = k.p.family == .ipv4 ? 0 : 1
            routes[f] += 1 + e.others.count
            if proto == nil {
                shown[f] += 1 + e.others.count
                nets[f] += 1
            } else if let id = srcID {
                var n = e.best.src == id ? 1 : 0
                for r in e.others where r.src == id { n += 1 }
                shown[f] += n
                if n > 0 { nets[f] += 1 }
            }
        }
        var tables = [BGPRouteTable(table: "master4", count: BGPRouteCount(routes: routes[0], shown: shown[0], networks: nets[0]), routes: [])]
        if routes[1] > 0 {
            tables.append(BGPRouteTable(table: "master6", count: BGPRouteCount(routes: routes[1], shown: shown[1], networks: nets[1]), routes: []))
        }
        return BGPRouteTables(tables: tables, total: nil)
    }

    /// `show route [for P] [protocol NAME] [count]` as data; `showRoute` prints it as birdc does and
    /// the control socket's `--json` encodes it.
    public func routeTables(for target: IPPrefix? = nil, protocol proto: String? = nil, countOnly: Bool = false) -> BGPRouteTables {
        if countOnly && target == nil { return countRoutes(protocol: proto) }
        var tables: [BGPRouteTable] = []
        var total = BGPRouteCount(routes: 0, shown: 0, networks: 0)
        for fam in [IPPrefix.Family.ipv4, .ipv6] {
            var prefixes: [IPPrefix]
            if let t = target {
                guard t.family == fam else { continue }
                prefixes = rib.longestMatch(t).map { [$0] } ?? []
            } else {
                prefixes = rib.table.keys.lazy.map { $0.p }.filter { $0.family == fam }
            }
            if prefixes.isEmpty && (target != nil || rib.table.isEmpty || fam == .ipv6) { continue }
            var tRoutes = 0, tShown = 0, tNets = 0
            var entries: [BGPRouteSnapshot] = []
            if !countOnly { prefixes.sort() }
            for p in prefixes {
                guard let e = rib.table[PKey(p)] else { continue }
                let all = [e.best] + e.others
                tRoutes += all.count
                var any = false
                for (i, r) in all.enumerated() {
                    if let pn = proto, rib.sources[Int(r.src)].name != pn { continue }
                    tShown += 1
                    any = true
                    if !countOnly { entries.append(routeSnapshot(p, r, primary: i == 0)) }
                }
                if any { tNets += 1 }
            }
            tables.append(BGPRouteTable(table: "master\(fam == .ipv4 ? 4 : 6)",
                                        count: BGPRouteCount(routes: tRoutes, shown: tShown, networks: tNets), routes: entries))
            total.routes += tRoutes; total.shown += tShown; total.networks += tNets
        }
        if countOnly && tables.isEmpty {
            tables.append(BGPRouteTable(table: "master4", count: BGPRouteCount(routes: 0, shown: 0, networks: 0), routes: []))
        }
        return BGPRouteTables(tables: tables, total: tables.count > 1 ? total : nil)
    }

    /// `show route [for P] [protocol NAME] [count]` in birdc's words.
    public func showRoute(for target: IPPrefix? = nil, protocol proto: String? = nil, countOnly: Bool = false) -> String {
        let t = routeTables(for: target, protocol: proto, countOnly: countOnly)
        var out: [String] = []
        for table in t.tables {
            if countOnly {
                let c = table.count
                out.append("\(c.shown) of \(c.routes) routes for \(c.networks) networks in table \(table.table)")
                continue
            }
            guard !table.routes.isEmpty else { continue }
            out.append("Table \(table.table):")
            var previous: String?
            for r in table.routes {
                out += BGPSpeaker.routeLines(r, first: r.prefix != previous)
                previous = r.prefix
            }
            out.append("")
        }
        if countOnly, let c = t.total {
            out.append("Total: \(c.shown) of \(c.routes) routes for \(c.networks) networks in \(t.tables.count) tables")
        }
        return out.joined(separator: "\n") + (out.isEmpty ? "" : "\n")
    }
}

private extension String {
    /// The header line shows "Since" instead of a time.
    func replacingSince() -> String {
        // protoLine formats a time for the header; rebuild it with the literal column title.
        let parts = self.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 6 else { return self }
        return "\(BGPSpeaker.pad("Name", 10)) \(BGPSpeaker.pad("Proto", 10)) \(BGPSpeaker.pad("Table", 10)) \(BGPSpeaker.pad("State", 6)) \(BGPSpeaker.pad("Since", 12))  Info"
    }
}

// Route refresh (RFC 2918) and enhanced route refresh (RFC 7313): a request is answered by
// re-sending the Adj-RIB-Out (framed by BoRR/EoRR when both sides support RFC 7313); as a
// receiver, routes not re-announced between the peer's BoRR and EoRR are withdrawn.

extension Session {
    var enhancedRefresh: Bool {
        config.enableRouteRefresh && (peerOpen?.supportsEnhancedRouteRefresh ?? false)
    }

    func handleRouteRefresh(_ r: RouteRefreshMessage) {
        let f = r.afiSafi
        switch r.subtype {
        case RouteRefreshMessage.normal:
            guard negotiatedFamilies.contains(f), config.enableRouteRefresh else {
                log(.info, "Route refresh for unsupported \(f) ignored", level: 1)
                return
            }
            log(.info, "Route refresh request for \(f) received", level: 1)
            if !pendingRefresh.contains(f) { pendingRefresh.append(f) }
            speaker.scheduleFlush(self)
        case RouteRefreshMessage.beginningOfRouteRefresh:
            guard let fam = f.prefixFamily else { return }
            refreshStale[f] = Set(speaker.rib.prefixes(of: source.id, family: fam, stale: false))
            log(.info, "BoRR received for \(f)", level: 1)
        case RouteRefreshMessage.endOfRouteRefresh:
            log(.info, "EoRR received for \(f)", level: 1)
            if let left = refreshStale.removeValue(forKey: f), let fam = f.prefixFamily {
                for p in left {
                    guard let r = speaker.rib.route(p, src: source.id), !r.stale else { continue }
                    imported[fam == .ipv4 ? 0 : 1] -= 1
                    if let ch = speaker.rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
                }
            }
        default:
            break // reserved subtypes are ignored (RFC 7313 5)
        }
    }

    @inline(__always)
    func markRefreshed(_ p: IPPrefix) {
        let f: AFISAFI = p.family == .ipv4 ? .ipv4Unicast : .ipv6Unicast
        if refreshStale[f] != nil { refreshStale[f]!.remove(p) }
    }

    /// The Adj-RIB-Out of one family, encoded (used to answer a refresh).
    func encodeAdjRIBOut(_ f: AFISAFI) -> [[UInt8]] {
        guard let fam = f.prefixFamily else { return [] }
        var groups: [ObjectIdentifier: (AttrSet, [IPPrefix])] = [:]
        for (p, a) in adjOut where p.family == fam {
            groups[ObjectIdentifier(a), default: (a, [])].1.append(p)
        }
        var out: [[UInt8]] = []
        for (_, g) in groups {
            out += UpdateMessage.packUpdates(attributes: g.0.bgp, prefixes: g.1.sorted(), options: options)
        }
        return out
    }
}

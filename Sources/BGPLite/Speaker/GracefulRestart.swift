// Graceful restart (RFC 4724), helper side: a restarting peer's routes stay (marked stale) for its
// restart time; its End-of-RIB (or the timer) flushes what it did not re-announce. We send
// End-of-RIB after the initial table (see BGPSpeaker.exportInitial) and can advertise the R bit.
import MeshIO

extension Session {
    /// The session went down with graceful restart: its routes of the restarting families stay in
    /// the Loc-RIB with the stale bit (the routes of other families go now).
    func beginStale(restartTime: Int, families: [AFISAFI]) {
        let famSet = Set(families.compactMap { $0.prefixFamily })
        var kept = 0
        for p in speaker.rib.prefixes(of: source.id, stale: false) {
            if famSet.contains(p.family) {
                staleRoutes[p.family == .ipv4 ? 0 : 1] += 1
                kept += 1
                if let ch = speaker.rib.setStale(p, src: source.id, stale: true) { speaker.bestChanged(ch) }
            } else if let ch = speaker.rib.remove(p, src: source.id) {
                speaker.bestChanged(ch)
            }
        }
        imported = [0, 0]
        log(.notice, "Neighbor graceful restart detected: keeping \(kept) routes as stale for up to \(restartTime) s")
        loop.cancel(staleTimer)
        staleTimer = loop.schedule(after: Double(restartTime)) { [weak self] in
            guard let self else { return }
            self.staleTimer = nil
            if self.staleCount > 0 {
                self.log(.notice, "Graceful restart timer expired: flushing \(self.staleCount) stale routes")
            }
            self.flushStale()
        }
    }

    /// Drops every stale route (timer expiry, stop, or a peer that came back without GR).
    func flushStale(family: IPPrefix.Family? = nil) {
        if family == nil { loop.cancel(staleTimer); staleTimer = nil }
        guard staleCount > 0 else { return }
        for p in speaker.rib.prefixes(of: source.id, family: family, stale: true) {
            staleRoutes[p.family == .ipv4 ? 0 : 1] -= 1
            if let ch = speaker.rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
        }
        if staleCount == 0 { loop.cancel(staleTimer); staleTimer = nil }
    }

    /// A stale route for `p` the peer withdrew or that our import filter now rejects.
    @inline(__always)
    func dropStale(_ p: IPPrefix) {
        guard staleCount > 0, let r = speaker.rib.route(p, src: source.id), r.stale else { return }
        staleRoutes[p.family == .ipv4 ? 0 : 1] -= 1
        if let ch = speaker.rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
    }

    func handleEndOfRIB(_ f: AFISAFI) {
        log(.info, "End-of-RIB received for \(f)", level: 1)
        if let fam = f.prefixFamily, staleCount > 0 {
            let n = staleRoutes[fam == .ipv4 ? 0 : 1]
            if n > 0 { log(.notice, "End-of-RIB for \(f): flushing \(n) stale routes not re-announced") }
            flushStale(family: fam)
        }
    }
}

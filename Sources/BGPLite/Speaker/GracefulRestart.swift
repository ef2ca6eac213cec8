// Graceful restart (RFC 4724), helper side: a restarting peer's routes stay (marked stale) for its
// restart time; its End-of-RIB (or the timer) flushes what it did not re-announce. We send
// End-of-RIB after the initial table (see BGPSpeaker.exportInitial) and can advertise the R bit.
import MeshIO

extension Session {
    func beginStale(restartTime: Int, families: [AFISAFI]) {
        let famSet = Set(families.compactMap { $0.prefixFamily })
        var kept = 0
        for (k, a) in adjIn {
            let p = k.p
            if famSet.contains(p.family) {
                stale[p] = a
                kept += 1
                if let ch = speaker.rib.setStale(p, src: source.id, stale: true) { speaker.bestChanged(ch) }
            } else if let ch = speaker.rib.remove(p, src: source.id) {
                speaker.bestChanged(ch)
            }
        }
        adjIn = [:]
        log(.notice, "Neighbor graceful restart detected: keeping \(kept) routes as stale for up to \(restartTime) s")
        loop.cancel(staleTimer)
        staleTimer = loop.schedule(after: Double(restartTime)) { [weak self] in
            guard let self else { return }
            self.staleTimer = nil
            if !self.stale.isEmpty {
                self.log(.notice, "Graceful restart timer expired: flushing \(self.stale.count) stale routes")
            }
            self.flushStale()
        }
    }

    /// Drops every stale route (timer expiry, stop, or a peer that came back without GR).
    func flushStale(family: IPPrefix.Family? = nil) {
        if family == nil { loop.cancel(staleTimer); staleTimer = nil }
        guard !stale.isEmpty else { return }
        let victims = family == nil ? Array(stale.keys) : stale.keys.filter { $0.family == family }
        for p in victims {
            stale.removeValue(forKey: p)
            if let ch = speaker.rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
        }
        if stale.isEmpty { loop.cancel(staleTimer); staleTimer = nil }
    }

    @inline(__always)
    func dropStale(_ p: IPPrefix) {
        guard !stale.isEmpty, stale.removeValue(forKey: p) != nil else { return }
        if let ch = speaker.rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
    }

    func handleEndOfRIB(_ f: AFISAFI) {
        log(.info, "End-of-RIB received for \(f)", level: 1)
        if let fam = f.prefixFamily, !stale.isEmpty {
            let n = stale.keys.filter { $0.family == fam }.count
            if n > 0 { log(.notice, "End-of-RIB for \(f): flushing \(n) stale routes not re-announced") }
            flushStale(family: fam)
        }
    }
}

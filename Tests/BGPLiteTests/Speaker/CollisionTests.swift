// Connection collision resolution (RFC 4271 6.8), checked in every interleaving: two speakers on
// virtual clocks, every TCP connection made of two socketpairs whose far ends the test holds, so the
// test decides when a connect completes, when the peer accepts, when each BGP message, EOF or loss
// reaches the other side and when timers fire. A depth-first search over those choices (states
// merged by an abstract signature, reached again by replaying the event path) checks that both ends
// are Established on the same connection within 1 s of virtual time, with no session going down,
// and that nothing changes during the following 30 s.
import XCTest
import Foundation
import Glibc
import MeshIO
@testable import BGPLite

private enum SimEvent: Hashable, CustomStringConvertible {
    case timers(Int)              // run the due timers of speaker i
    case connected(Int)           // link: the initiator's connect completes
    case accept(Int)              // link: the other speaker accepts it
    case deliver(Int, Int)        // link, direction (0: initiator -> acceptor): the next queued message
    case eof(Int, Int)            // link, direction: the writer's FIN
    case lose(Int, Int)           // link, direction: the writer closed with unread input: a RST drops what is queued
    case advance                  // nothing else can happen: the clock moves to the next timer
    case action(String)           // scenario step (restart, ...)

    var link: Int? {
        switch self {
        case .connected(let l), .accept(let l), .deliver(let l, _), .eof(let l, _), .lose(let l, _): return l
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .timers(let i): return "timers(\(i == 0 ? "A" : "B"))"
        case .connected(let l): return "connected(L\(l))"
        case .accept(let l): return "accept(L\(l))"
        case .deliver(let l, let d): return "deliver(L\(l)\(d == 0 ? ">" : "<"))"
        case .eof(let l, let d): return "eof(L\(l)\(d == 0 ? ">" : "<"))"
        case .lose(let l, let d): return "lose(L\(l)\(d == 0 ? ">" : "<"))"
        case .advance: return "advance"
        case .action(let a): return a
        }
    }
}

private struct SimSide {
    var speaker: Int
    var fd: Int32
    var relay: Int32
    var inode: UInt = 0
    var eofSeen = false       // the speaker shut down its write side (relay reads EOF)
}

private final class SimLink {
    let id: Int
    var side: [SimSide]
    var connected = false
    var accepted = false
    var queue: [[[UInt8]]] = [[], []]
    var partial: [[UInt8]] = [[], []]
    var eofDelivered = [false, false]
    var lost = [false, false]
    init(id: Int, side: [SimSide]) { self.id = id; self.side = side }
}

private final class CollisionSim {
    var t: Double = 0
    var loops: [EventLoop] = []
    var speakers: [BGPSpeaker] = []
    var links: [SimLink] = []
    var transcript: [String] = []
    var ups = [0, 0], downs = [0, 0]
    let configs: [String]

    let parsed: [BGPConfig]

    convenience init(configs: [String]) throws {
        try self.init(configs: configs, parsed: configs.map { try BGPConfig.parse(text: $0) })
    }

    init(configs: [String], parsed: [BGPConfig]) throws {
        self.configs = configs
        self.parsed = parsed
        for i in 0..<2 {
            let loop = try EventLoop()
            loop.clock = { [unowned self] in self.t }
            loops.append(loop)
            let sp = try BGPSpeaker(config: parsed[i], loop: loop)
            attach(sp, i)
            speakers.append(sp)
        }
    }

    func attach(_ sp: BGPSpeaker, _ i: Int) {
        let tag = i == 0 ? "A" : "B"
        sp.quiet = true
        sp.onEvent = { [unowned self] m in
            self.transcript.append(String(format: "%7.3f ", self.t) + "\(tag): \(m)")
            if m.contains("BGP session established") { self.ups[i] += 1 }
            if m.contains("BGP session down") { self.downs[i] += 1 }
        }
        sp.connectHook = { [unowned self] _, _ in try self.newLink(from: i) }
    }

    /// A fresh speaker i (the old one stopped: its connections close as in a process restart).
    var retired: [BGPSpeaker] = []

    func restartSpeaker(_ i: Int) throws {
        speakers[i].stop(notification: .cease(.administrativeReset))
        retired.append(speakers[i])
        let sp = try BGPSpeaker(config: parsed[i], loop: loops[i])
        attach(sp, i)
        speakers[i] = sp
    }

    var session: [Session] { speakers.map { $0.sessions[0] } }

    static func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw BGPSpeakerError("socketpair failed: errno \(errno)")
        }
        return (fds[0], fds[1])
    }

    static func inode(_ fd: Int32) -> UInt? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        return UInt(st.st_ino)
    }

    func newLink(from i: Int) throws -> Int32 {
        let (a, ar) = try CollisionSim.pair()
        let (b, br) = try CollisionSim.pair()
        var s0 = SimSide(speaker: i, fd: a, relay: ar)
        var s1 = SimSide(speaker: 1 - i, fd: b, relay: br)
        s0.inode = CollisionSim.inode(a) ?? 0
        s1.inode = CollisionSim.inode(b) ?? 0
        links.append(SimLink(id: links.count, side: [s0, s1]))
        return a
    }

    /// The speaker's end of a link side is still its open socket (not closed, number not reused).
    func alive(_ s: SimSide) -> Bool { CollisionSim.inode(s.fd) == s.inode }

    /// Whether the speaker's end can get input (connected / accepted, still open).
    func ready(_ l: SimLink, _ side: Int) -> Bool {
        (side == 0 ? l.connected : l.accepted) && alive(l.side[side])
    }

    /// Moves what each speaker wrote into the link queues (one entry per BGP message).
    func collect() {
        var buf = [UInt8](repeating: 0, count: 65536)
        for l in links {
            for d in 0..<2 where !l.side[d].eofSeen {
                while true {
                    let n = buf.withUnsafeMutableBytes { recv(l.side[d].relay, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
                    if n > 0 { l.partial[d].append(contentsOf: buf[0..<n]); continue }
                    if n == 0 { l.side[d].eofSeen = true }
                    break
                }
                while l.partial[d].count >= 19 {
                    let len = Int(l.partial[d][16]) << 8 | Int(l.partial[d][17])
                    guard len >= 19, l.partial[d].count >= len else { break }
                    l.queue[d].append(Array(l.partial[d][0..<len]))
                    l.partial[d].removeFirst(len)
                }
            }
            // Output to a closed socket goes nowhere.
            for d in 0..<2 where !l.queue[d].isEmpty && !alive(l.side[1 - d]) && (d == 1 ? l.connected : l.accepted) {
                l.queue[d] = []
            }
        }
    }

    func networkEvents() -> [SimEvent] {
        var out: [SimEvent] = []
        for l in links {
            if !l.connected && alive(l.side[0]) { out.append(.connected(l.id)) }
            if !l.accepted { out.append(.accept(l.id)) }
            for d in 0..<2 {
                let dest = 1 - d
                guard ready(l, dest) else { continue }
                if !l.queue[d].isEmpty {
                    out.append(.deliver(l.id, d))
                    if l.side[d].eofSeen && !l.lost[d] && l.queue[d].contains(where: { $0[18] == 3 }) { out.append(.lose(l.id, d)) }
                } else if l.side[d].eofSeen && !l.eofDelivered[d] {
                    out.append(.eof(l.id, d))
                }
            }
        }
        return out
    }

    /// Links of speakers that were stopped by a scenario action: their traffic only reaches closed
    /// connections, so it is delivered in one fixed order instead of in every order.
    var autoLinks = Set<Int>()

    func enabled() -> [SimEvent] {
        var out = networkEvents()
        if let forced = out.first(where: { autoLinks.contains($0.link ?? -1) }) { return [forced] }
        for i in 0..<2 { if let n = loops[i].nextTimerDeadline, n <= t { out.append(.timers(i)) } }
        if out.isEmpty { out.append(.advance) }
        return out
    }

    func apply(_ e: SimEvent) throws {
        switch e {
        case .timers(let i):
            loops[i].runTimersDue()
        case .advance:
            let next = loops.compactMap { $0.nextTimerDeadline }.min() ?? (t + 1)
            t = max(t, next)
        case .connected(let lid):
            let l = links[lid]
            l.connected = true
            loops[l.side[0].speaker].dispatch(l.side[0].fd, .writable)
        case .accept(let lid):
            let l = links[lid]
            l.accepted = true
            let s = l.side[1]
            let remote = SocketAddress(numericHost: "127.0.0.\(l.side[0].speaker + 1)", port: UInt16(40000 + lid))!
            speakers[s.speaker].sessions[0].acceptIncoming(fd: s.fd, remote: remote)
        case .deliver(let lid, let d):
            let l = links[lid]
            let m = l.queue[d].removeFirst()
            let dest = l.side[1 - d]
            _ = m.withUnsafeBytes { send(dest.relay, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            loops[dest.speaker].dispatch(dest.fd, .readable)
        case .eof(let lid, let d), .lose(let lid, let d):
            let l = links[lid]
            if case .lose = e { l.queue[d] = []; l.lost[d] = true }
            l.eofDelivered[d] = true
            let dest = l.side[1 - d]
            shutdown(dest.relay, Int32(SHUT_WR))
            loops[dest.speaker].dispatch(dest.fd, .readable)
        case .action(let a):
            if a.contains("both") { autoLinks = Set(links.map(\.id)) }
            if a == "start A" { speakers[0].start() }
            else if a == "start B" { speakers[1].start() }
            else if a == "restart both" { try restartSpeaker(0); try restartSpeaker(1); speakers[0].start(); speakers[1].start() }
            else if a == "reset both" {
                for s in session { s.stop(notification: .cease(.administrativeReset), reason: "Reset"); s.start() }
            }
        }
        collect()
    }

    /// Both sessions Established, on the two ends of one link.
    func sameLinkEstablished() -> Int? {
        guard let ca = session[0].established, let cb = session[1].established else { return nil }
        for l in links {
            for d in 0..<2 where l.side[d].speaker == 0 && l.side[d].fd == ca.fd && alive(l.side[d]) {
                if l.side[1 - d].fd == cb.fd && alive(l.side[1 - d]) { return l.id }
            }
        }
        return nil
    }

    func signature() -> String {
        var s = String(format: "t%.3f|", t)
        for i in 0..<2 {
            let se = session[i]
            s += "\(se.state.rawValue)\(se.protoState)\(ups[i])\(downs[i])"
            for c in se.conns { s += "[\(linkOf(c.fd, speaker: i)):\(c.state.rawValue)\(c.held ? "h" : "")\(c.closed ? "x" : "")]" }
            if let n = loops[i].nextTimerDeadline { s += String(format: "n%.3f", n - t) }
            s += "|"
        }
        for l in links {
            s += "L\(l.id)\(l.connected ? 1 : 0)\(l.accepted ? 1 : 0)"
            for d in 0..<2 {
                s += "\(alive(l.side[d]) ? "o" : "c")\(loops[l.side[d].speaker].isRegistered(l.side[d].fd) ? "r" : "")\(l.side[d].eofSeen ? "e" : "")\(l.eofDelivered[d] ? "E" : "")\(l.lost[d] ? "l" : "")"
                s += l.queue[d].map { String($0[18]) }.joined()
                s += ","
            }
        }
        return s
    }

    func linkOf(_ fd: Int32, speaker: Int) -> String {
        for l in links { for d in 0..<2 where l.side[d].speaker == speaker && l.side[d].fd == fd && alive(l.side[d]) { return "\(l.id)\(d)" } }
        return "?"
    }

    /// Runs the simple schedule (everything delivered in order, timers on time) until `until`.
    func runFIFO(until: Double) throws {
        var steps = 0
        while t <= until && steps < 100_000 {
            steps += 1
            let ev = enabled()
            guard let e = ev.first(where: { if case .advance = $0 { return false }; return true }) else {
                let next = loops.compactMap { $0.nextTimerDeadline }.min() ?? (until + 1)
                if next > until { t = until; return }
                try apply(.advance)
                continue
            }
            try apply(e)
        }
    }

    private var closedSim = false

    func close() {
        if closedSim { return }
        closedSim = true
        for sp in speakers { sp.stop() }
        for l in links {
            for s in l.side { Glibc.close(s.relay) }
            if !l.accepted { Glibc.close(l.side[1].fd) }
        }
        // Lingering sockets of stopped speakers: their timers hold them; flush by running time forward.
        t += 10
        for loop in loops { loop.runTimersDue() }
    }
}

final class CollisionTests: XCTestCase {
    func config(id: String, localAS: Int, peerAS: Int, me: Int) -> String {
        """
        router id \(id);
        protocol bgp peer {
            local 127.0.0.\(me + 1) as \(localAS);
            neighbor 127.0.0.\(2 - me) as \(peerAS);
            hold time 9;
            connect retry time 5;
            error wait time 1, 2;
            ipv4 { import all; export all; };
        }
        """
    }

    struct Outcome { var states = 0; var paths = 0; var failures: [String] = [] }

    /// Explores every interleaving after `prefix` (scenario actions and fixed events); success is
    /// both sides Established on one link by `deadline` (virtual seconds), nothing left in flight,
    /// no session down (`allowedDowns` per side for scenarios that take a session down on purpose).
    private func explore(_ configs: [String], prefix: [SimEvent], deadline: Double, allowedDowns: Int = 0,
                         expectUps: Int = 1, maxStates: Int = 100_000) throws -> Outcome {
        var out = Outcome()
        var seen = Set<String>()
        let parsed = try configs.map { try BGPConfig.parse(text: $0) }
        func replay(_ path: [SimEvent]) throws -> CollisionSim {
            let sim = try CollisionSim(configs: configs, parsed: parsed)
            for e in path { try sim.apply(e) }
            return sim
        }
        // Depth-first; a state's last successor continues on the same simulation, the others replay.
        func visit(_ sim: CollisionSim, _ path: [SimEvent]) throws {
            var keep = false
            defer { if !keep { sim.close() } }
            guard out.failures.count < 3, out.states <= maxStates else { return }
            if !seen.insert(sim.signature()).inserted { return }
            out.states += 1
            if out.states > maxStates { out.failures.append("state space larger than \(maxStates)"); return }
            if sim.downs[0] > allowedDowns || sim.downs[1] > allowedDowns {
                out.failures.append(failure("a session went down", path, sim))
                return
            }
            let net = sim.networkEvents()
            let due = (0..<2).contains { sim.loops[$0].nextTimerDeadline.map { $0 <= sim.t } ?? false }
            if net.isEmpty && !due, let link = sim.sameLinkEstablished(), sim.ups == [expectUps, expectUps] {
                out.paths += 1
                // Stable afterwards: 30 s of keepalives, nothing changes.
                try sim.runFIFO(until: sim.t + 30)
                if sim.sameLinkEstablished() != link || sim.ups != [expectUps, expectUps] || sim.downs.contains(where: { $0 > allowedDowns }) {
                    out.failures.append(failure("changed after converging", path, sim))
                }
                return
            }
            if sim.t > deadline {
                out.failures.append(failure("not Established on one connection by \(deadline) s", path, sim))
                return
            }
            let evs = sim.enabled()
            for (k, e) in evs.enumerated() {
                let next: CollisionSim
                if k == evs.count - 1 { next = sim; keep = true } else { next = try replay(path) }
                try next.apply(e)
                try visit(next, path + [e])
            }
        }
        try visit(try replay(prefix), prefix)
        return out
    }

    private func failure(_ what: String, _ path: [SimEvent], _ sim: CollisionSim) -> String {
        let a = sim.session[0], b = sim.session[1]
        return "\(what) at t=\(sim.t): A \(a.state) B \(b.state), ups \(sim.ups) downs \(sim.downs)\n"
            + "path: \(path.map(\.description).joined(separator: " "))\n"
            + sim.transcript.suffix(60).joined(separator: "\n")
    }

    private func check(_ name: String, _ configs: [String], prefix: [SimEvent], deadline: Double = 1.0,
                       allowedDowns: Int = 0, expectUps: Int = 1) throws {
        let o = try explore(configs, prefix: prefix, deadline: deadline, allowedDowns: allowedDowns, expectUps: expectUps)
        print("\(name): \(o.states) states, \(o.paths) converged end states, \(o.failures.count) failures")
        XCTAssertTrue(o.failures.isEmpty, "\(name):\n" + o.failures.joined(separator: "\n\n"))
        XCTAssertGreaterThan(o.paths, 0, "\(name): no interleaving converged")
    }

    private var ibgp: [String] {
        [config(id: "10.0.0.1", localAS: 65000, peerAS: 65000, me: 0), config(id: "10.0.0.2", localAS: 65000, peerAS: 65000, me: 1)]
    }

    /// Both start at the same moment and connect to each other at once (the iBGP mesh cold start).
    func testSimultaneousStartEveryInterleaving() throws {
        try check("iBGP, A lower id", ibgp, prefix: [.action("start A"), .action("start B")])
    }

    /// Identifiers compared as unsigned 32-bit numbers: 192.0.2.1 (top bit set) beats 10.0.0.9.
    func testHighBitIdentifierEveryInterleaving() throws {
        let c = [config(id: "192.0.2.1", localAS: 65001, peerAS: 65002, me: 0), config(id: "10.0.0.9", localAS: 65002, peerAS: 65001, me: 1)]
        try check("eBGP, high-bit id", c, prefix: [.action("start A"), .action("start B")])
    }

    /// RFC 6286: equal identifiers (eBGP) -> the higher AS is dominant. (The interleavings with A
    /// dominant are explored by the high-bit test; here the dominance itself is checked.)
    func testEqualIdentifiersHigherASWins() throws {
        let c = [config(id: "10.0.0.5", localAS: 65010, peerAS: 65002, me: 0), config(id: "10.0.0.5", localAS: 65002, peerAS: 65010, me: 1)]
        let sim = try CollisionSim(configs: c)
        defer { sim.close() }
        try sim.apply(.action("start A"))
        try sim.apply(.action("start B"))
        // Both connect, both handshakes complete and both OPENs are sent before any is read.
        try sim.apply(.timers(0)); try sim.apply(.timers(1))
        try sim.apply(.connected(0)); try sim.apply(.connected(1))
        try sim.apply(.accept(0)); try sim.apply(.accept(1))
        try sim.runFIFO(until: 1)
        let link = try XCTUnwrap(sim.sameLinkEstablished(), sim.transcript.joined(separator: "\n"))
        XCTAssertEqual(sim.links[link].side[0].speaker, 0, "the connection initiated by AS 65010 should survive\n" + sim.transcript.joined(separator: "\n"))
        XCTAssertEqual(sim.ups, [1, 1])
        XCTAssertEqual(sim.downs, [0, 0])
        let o = OpenMessage(myAS: 65002, holdTime: 90, bgpIdentifier: 0x0A00_0005, capabilities: [])
        XCTAssertTrue(sim.session[0].weAreDominant(over: o))
        XCTAssertFalse(sim.session[1].weAreDominant(over: OpenMessage(myAS: 65010, holdTime: 90, bgpIdentifier: 0x0A00_0005, capabilities: [])))
        // Unsigned: 192.0.2.1 > 10.0.0.9 although its top bit is set.
        let hi = OpenMessage(myAS: 65002, holdTime: 90, bgpIdentifier: 0xC000_0201, capabilities: [])
        XCTAssertFalse(sim.session[0].weAreDominant(over: hi))
    }

    /// One side starts a little later (its connection attempt crosses the other's in flight).
    func testStaggeredStartEveryInterleaving() throws {
        try check("iBGP, B after A's connect", ibgp, prefix: [.action("start A"), .timers(0), .action("start B")])
    }

    /// Both daemons restart at once while Established: old connections close with NOTIFICATIONs
    /// still in flight, new ones cross.
    func testBothRestartAtOnceEveryInterleaving() throws {
        // Reach Established first with the in-order schedule, then restart both and explore.
        let probe = try CollisionSim(configs: ibgp)
        var prefix: [SimEvent] = [.action("start A"), .action("start B")]
        for e in prefix { try probe.apply(e) }
        var steps = 0
        while probe.sameLinkEstablished() == nil && steps < 1000 {
            steps += 1
            let e = probe.enabled().first!
            try probe.apply(e)
            prefix.append(e)
        }
        XCTAssertNotNil(probe.sameLinkEstablished())
        probe.close()
        prefix.append(.action("restart both"))
        // The new speakers are new processes: their first session is counted from the restart on,
        // so the old ones' ups (1) plus the new ones' (1) and the old sessions' stop (down 1).
        try check("both restart", ibgp, prefix: prefix, deadline: 1.0 + probeTime(prefix), allowedDowns: 1, expectUps: 2)
    }

    /// Both sessions reset at the same moment (e.g. `restart` on both sides).
    func testBothResetAtOnceEveryInterleaving() throws {
        let probe = try CollisionSim(configs: ibgp)
        var prefix: [SimEvent] = [.action("start A"), .action("start B")]
        for e in prefix { try probe.apply(e) }
        var steps = 0
        while probe.sameLinkEstablished() == nil && steps < 1000 {
            steps += 1
            let e = probe.enabled().first!
            try probe.apply(e)
            prefix.append(e)
        }
        probe.close()
        prefix.append(.action("reset both"))
        try check("both reset", ibgp, prefix: prefix, deadline: 1.0 + probeTime(prefix), allowedDowns: 1, expectUps: 2)
    }

    private func probeTime(_ prefix: [SimEvent]) throws -> Double {
        let sim = try CollisionSim(configs: ibgp)
        defer { sim.close() }
        for e in prefix { try sim.apply(e) }
        return sim.t
    }
}

// In-process daemon harness shared by test targets (and fuzz drivers): a MeshDaemon without
// device, listeners or threads, whose meta connections are socketpairs the harness holds the
// other end of. No root needed.
//
// It reaches into TincDaemon's internals, which only a build with testability has (every debug
// build); a release build compiles this target empty. Its public API uses public types only
// (connections are named by id); a test target that imports TincDaemon with @testable gets the
// MetaConnection for an id from `daemon.conns.all[id]`.
#if DEBUG || FUZZ_BUILD
import Glibc
import MeshIO
import MeshRouting
import TincConfig
@testable import TincDaemon

public final class DaemonHarness {
    public let daemon: MeshDaemon
    /// The test's ends of the connections' socketpairs.
    public private(set) var peerEnds: [Int32] = []

    public init(name: String = "self", limits: MeshLimits = MeshLimits()) throws {
        var s = DaemonSettings(name: name, confDir: "/nonexistent-tincd-swift-test")
        s.limits = limits
        daemon = try MeshDaemon(settings: s, loadPeer: { PeerSettings(name: $0) })
        // Scripts run to their end before the call returns, so tests see their effects at once.
        daemon.scripts = ScriptRunner(confDir: "/nonexistent-tincd-swift-test", interpreter: nil, baseEnvironment: [:])
    }

    deinit {
        for c in Array(daemon.conns.all.values) { daemon.terminate(c, report: false) }
        for fd in peerEnds { Glibc.close(fd) }
    }

    /// A nonblocking AF_UNIX stream pair: (daemon's end, test's end); nil if the system refuses.
    public func socketPair() -> (daemon: Int32, peer: Int32)? {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0 else { return nil }
        return (fds[0], fds[1])
    }

    /// A new authenticated connection from `peer`, activated as `ack_h` would; returns its id
    /// (nil if no socketpair could be made).
    @discardableResult
    public func connectPeer(_ peer: String, host: String = "192.0.2.1") -> Int? {
        guard let pair = socketPair() else { return nil }
        peerEnds.append(pair.peer)
        let addr = SocketAddress(numericHost: host, port: UInt16(1000 + peerEnds.count % 60000)) ?? SocketAddress()
        let c = daemon.makeConnection(fd: pair.daemon, address: addr, outgoing: nil, connecting: false)
        c.name = peer
        c.peerSettings = PeerSettings(name: peer)
        daemon.activate(c, peer: peer, port: "655", weight: 10, options: 0)
        return c.id
    }

    /// One request line from connection `id`, then any deferred graph run, then the replies drained.
    public func feed(_ line: String, connection id: Int) {
        guard let c = daemon.conns.all[id], c.state != .closed else { return }
        daemon.handleLine(line, from: c)
        daemon.runPendingGraph()
        drain()
    }

    /// Closes connection `id` as a dead socket or a protocol error would (tinc's terminate_connection).
    public func close(connection id: Int, report: Bool) {
        guard let c = daemon.conns.all[id] else { return }
        daemon.terminate(c, report: report)
        drain()
    }

    /// SIGWINCH: forget unreachable nodes.
    public func purge() {
        daemon.purge()
        drain()
    }

    /// Reads and discards what the daemon sent, so its queues do not grow without bound.
    public func drain() {
        for fd in peerEnds {
            while drainBuffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
        }
    }
    /// One buffer for every drain: a fresh 64 KiB per call was most of the gossip fuzz target's time
    /// (zeroing and page faults, 400 steps per input).
    private var drainBuffer = [UInt8](repeating: 0, count: 65536)

    /// Structural invariants of the graph and the connection tables; returns what is broken.
    public func violations() -> [String] {
        var out: [String] = []
        let g = daemon.graph
        var edgeTotal = 0
        var subnetTotal = 0
        for n in g.nodesByName {
            if !n.attached { out.append("detached node \(n.name) still listed") }
            if g.node(named: n.name) !== n { out.append("name index wrong for \(n.name)") }
            if g.node(id: n.id) !== n { out.append("id index wrong for \(n.name)") }
            subnetTotal += n.subnets.count
            for e in n.edges {
                edgeTotal += 1
                if e.from !== n { out.append("edge \(e.from.name)->\(e.to.name) listed under \(n.name)") }
                if !e.to.attached || g.node(named: e.to.name) !== e.to { out.append("edge to removed node \(e.to.name)") }
                if g.edge(from: e.from, to: e.to) !== e { out.append("edge index wrong for \(e.from.name)->\(e.to.name)") }
                if let r = e.reverse, r.reverse !== e || r.from !== e.to || r.to !== e.from {
                    out.append("reverse link wrong for \(e.from.name)->\(e.to.name)")
                }
            }
        }
        if edgeTotal != g.edgeCount { out.append("edge count \(g.edgeCount) != listed \(edgeTotal)") }
        if subnetTotal != g.subnetCount { out.append("subnet count \(g.subnetCount) != listed \(subnetTotal)") }
        if !g.myself.reachable { out.append("myself unreachable") }
        let l = daemon.settings.limits
        if g.nodeCount > l.maxNodes { out.append("nodes \(g.nodeCount) > MaxNodes \(l.maxNodes)") }
        if g.edgeCount > l.maxEdges + daemon.conns.all.count {
            out.append("edges \(g.edgeCount) > MaxEdges \(l.maxEdges)")
        }
        for (name, c) in daemon.conns.activeByName {
            if !c.isActive { out.append("activeByName[\(name)] not active") }
            if daemon.conns.all[c.id] !== c { out.append("activeByName[\(name)] not in connections") }
            if let e = c.edge, g.edge(from: e.from, to: e.to) !== e { out.append("connection \(name) holds a removed edge") }
            if c.node?.attached == false { out.append("connection \(name) holds a removed node") }
        }
        for c in daemon.conns.all.values where c.isActive {
            guard let e = c.edge else { out.append("active connection \(c.label) without edge"); continue }
            if e.from !== g.myself { out.append("our edge for \(c.label) is not from us") }
        }
        return out
    }
}
#endif

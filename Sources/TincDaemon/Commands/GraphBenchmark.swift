import Glibc
import MeshIO
import MeshRouting

/// `tincd-swift bench-graph [--nodes=1000] [--chords=1] [--rounds=200] [--seed=1]`: what one edge change
/// costs a node of a large mesh. A graph of `nodes` nodes (a ring plus `chords` random extra connections
/// per node, both directions of every connection, random weights, every fifth node IndirectData, one
/// IPv4 /32 and one MAC subnet per node) is built once; then, `rounds` times, one connection (both
/// edges) is removed and later added back, and each change is followed by exactly what the daemon's
/// runGraph does before the data plane sees it: `MeshGraph.run()` (shortest paths + reachability +
/// subnet reachability + broadcast tree), `mstNeighbors()` and a new `ForwardingTable`.
///
/// It also prints the gossip a restart of one node causes under tinc 1.0's flooding on this graph
/// (counted by flooding the connection graph, not measured on a live mesh: `make scale` measures that).
public enum GraphBenchmark {
    public static func main(_ args: [String]) -> Int32 {
        var nodes = 1000, chords = 1, rounds = 200
        var seed: UInt64 = 1
        for a in args {
            let kv = a.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, let v = Int(kv[1]), v >= 0 else {
                writeStandardError("bench-graph: bad argument \(a) (--nodes=N --chords=N --rounds=N --seed=N)\n")
                return 1
            }
            switch kv[0] {
            case "--nodes": nodes = v
            case "--chords": chords = v
            case "--rounds": rounds = v
            case "--seed": seed = UInt64(v)
            default: writeStandardError("bench-graph: unknown argument \(a)\n"); return 1
            }
        }
        guard (3...100_000).contains(nodes), chords <= 16, (1...100_000).contains(rounds) else {
            writeStandardError("bench-graph: --nodes 3...100000, --chords 0...16, --rounds 1...100000\n")
            return 1
        }
        var rng = SplitMix64(seed: seed)
        let t0 = EventLoop.now()
        let (g, links) = build(nodes: nodes, chords: chords, rng: &rng)
        let built = EventLoop.now() - t0
        var settings = DaemonSettings(name: g.myself.name, confDir: "/nonexistent")
        settings.mode = .router
        // Thread CPU time as well as the wall clock: on a shared machine the wall clock mostly measures
        // how long the scheduler kept us off the CPU; the CPU time is the work itself.
        func recompute() -> (graph: Double, table: Double, wall: Double) {
            let w = EventLoop.now()
            let a = threadCPUTime()
            g.run()
            let mst = g.mstNeighbors()
            let b = threadCPUTime()
            let t = ForwardingTable(graph: g, settings: settings, mstNeighbors: mst, pmtu: { _ in (0, 1518) },
                                    udpAddress: { _ in nil })
            let c = threadCPUTime()
            // keep the table alive until the clock is read
            if t.routes.count < nodes { writeStandardError("bench-graph: table has \(t.routes.count) routes\n") }
            return (b - a, c - b, EventLoop.now() - w)
        }
        _ = recompute()
        let reachableAtStart = g.nodesByName.filter { $0.reachable }.count

        var graphTimes: [Double] = [], tableTimes: [Double] = [], totals: [Double] = [], walls: [Double] = []
        for _ in 0..<rounds {
            let (x, y, w) = links[Int(rng.next() % UInt64(links.count))]
            let a = g.nodesByName[x], b = g.nodesByName[y]
            for step in 0..<2 {
                if step == 0 {
                    if let e = g.edge(from: a, to: b) { g.removeEdge(e) }
                    if let e = g.edge(from: b, to: a) { g.removeEdge(e) }
                } else {
                    g.addEdge(from: a, to: b, address: address(y), port: "655", options: options(y), weight: w)
                    g.addEdge(from: b, to: a, address: address(x), port: "655", options: options(x), weight: w)
                }
                let (gt, tt, wt) = recompute()
                graphTimes.append(gt); tableTimes.append(tt); totals.append(gt + tt); walls.append(wt)
            }
        }
        let reachableAtEnd = g.nodesByName.filter { $0.reachable }.count
        let flood = restartGossip(nodes: nodes, links: links)

        func ms(_ v: Double) -> String { formatFixed(v * 1000, 3) }
        print("bench-graph: \(nodes) nodes, \(links.count) connections (\(g.edgeCount) edges), \(g.subnetCount) subnets, built in \(ms(built)) ms; \(reachableAtStart) reachable")
        print("  one edge change (a connection removed or added back), \(totals.count) recomputes, thread CPU time:")
        print("    shortest paths + MST (MeshGraph.run + mstNeighbors): median \(ms(percentile(graphTimes, 0.5))) ms, p90 \(ms(percentile(graphTimes, 0.9))) ms, max \(ms(percentile(graphTimes, 1))) ms")
        print("    forwarding table for the data plane:                 median \(ms(percentile(tableTimes, 0.5))) ms, p90 \(ms(percentile(tableTimes, 0.9))) ms, max \(ms(percentile(tableTimes, 1))) ms")
        print("    total per recompute:                                 median \(ms(percentile(totals, 0.5))) ms, p90 \(ms(percentile(totals, 0.9))) ms, max \(ms(percentile(totals, 1))) ms")
        print("    total per recompute, wall clock:                     median \(ms(percentile(walls, 0.5))) ms, p90 \(ms(percentile(walls, 0.9))) ms, max \(ms(percentile(walls, 1))) ms (load \(loadAverage()))")
        print("  reachable at the end: \(reachableAtEnd) of \(nodes)")
        print("  gossip for one restart of a node of degree \(flood.degree) under tinc 1.0 flooding (model, counted on this graph):")
        print("    one flooded request = \(flood.perBroadcast) messages (every node forwards to all its other connections)")
        print("    \(flood.broadcasts) flooded requests (DEL_EDGE x2 per lost connection, ADD_EDGE x2 per new one, its subnets)")
        print("    + \(flood.sendEverything) lines of send-everything on its new connections: \(flood.total) messages, \(formatFixed(Double(flood.total) / Double(nodes), 1)) per node")
        return reachableAtEnd == nodes ? 0 : 1
    }

    /// Ring + random chords: every node has at least two connections, so the graph stays connected
    /// when any one connection is removed. Node 0 is ourselves. Returns the connections (a, b, weight).
    static func build(nodes: Int, chords: Int, rng: inout SplitMix64) -> (MeshGraph, [(Int, Int, Int)]) {
        let g = MeshGraph(myName: name(0))
        var all: [Node] = [g.myself]
        for i in 1..<nodes { all.append(g.lookupOrCreateNode(named: name(i))) }
        // nodesByName is name-ordered and names are zero-padded, so all[i] == nodesByName[i]
        var links: [(Int, Int, Int)] = []
        var seen = Set<Int>()
        func link(_ a: Int, _ b: Int) {
            guard a != b, seen.insert(min(a, b) * nodes + max(a, b)).inserted else { return }
            links.append((a, b, 10 + Int(rng.next() % 190)))
        }
        for i in 0..<nodes {
            link(i, (i + 1) % nodes)
            for _ in 0..<chords { link(i, Int(rng.next() % UInt64(nodes))) }
        }
        for (a, b, w) in links {
            g.addEdge(from: all[a], to: all[b], address: address(b), port: "655", options: options(b), weight: w)
            g.addEdge(from: all[b], to: all[a], address: address(a), port: "655", options: options(a), weight: w)
        }
        for i in 0..<nodes {
            _ = g.addSubnet(Subnet(ipv4: [10, 200, UInt8(i >> 8 & 0xff), UInt8(i & 0xff)]), owner: all[i])
            _ = g.addSubnet(Subnet(mac: [2, 0, 0, 0, UInt8(i >> 8 & 0xff), UInt8(i & 0xff)]), owner: all[i])
        }
        return (g, links)
    }

    /// tinc 1.0's flooding: a broadcast reaches every node; each forwards it once to every connection but
    /// the one it came on (duplicates arriving over other paths are dropped, but were sent). A restart of
    /// the highest-degree node: each of its connections is lost (2 DEL_EDGE flooded) and comes back
    /// (2 ADD_EDGE flooded, plus its two subnets once), and each new connection carries send-everything
    /// both ways (the peer's whole graph: every edge and subnet; ours: our edges and subnets).
    static func restartGossip(nodes: Int, links: [(Int, Int, Int)]) -> (degree: Int, perBroadcast: Int, broadcasts: Int, sendEverything: Int, total: Int) {
        var degree = [Int](repeating: 0, count: nodes)
        for (a, b, _) in links { degree[a] += 1; degree[b] += 1 }
        let maxDegree = degree.max() ?? 0
        // origin sends to all its connections, every other node to all but one
        let perBroadcast = degree.reduce(0, +) - (nodes - 1)
        let broadcasts = maxDegree * 4 + 2
        let edges = links.count * 2, subnets = nodes * 2
        let sendEverything = maxDegree * (edges + subnets + maxDegree * 2 + 2)
        let total = broadcasts * perBroadcast + sendEverything
        return (maxDegree, perBroadcast, broadcasts, sendEverything, total)
    }

    static func threadCPUTime() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The 1-minute load average, so a reader can tell a quiet run from a busy one.
    static func loadAverage() -> String {
        var l = [Double](repeating: 0, count: 3)
        return getloadavg(&l, 3) > 0 ? formatFixed(l[0], 2) : "?"
    }

    static func name(_ i: Int) -> String {
        let s = String(i)
        return "n" + String(repeating: "0", count: max(0, 5 - s.count)) + s
    }
    static func address(_ i: Int) -> String { "172.16.\(i >> 8 & 0xff).\(i & 0xff)" }
    static func options(_ i: Int) -> UInt32 { i % 5 == 4 ? MeshOption.indirectData : 0 }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s[min(s.count - 1, Int(Double(s.count - 1) * p))]
    }

    static func formatFixed(_ v: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (v * scale).rounded() / scale
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
        }
        return s
    }
}

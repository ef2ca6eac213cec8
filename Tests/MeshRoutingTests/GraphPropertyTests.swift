import XCTest
@testable import MeshRouting

/// Random graphs checked against brute-force computations written independently of the library.
final class GraphPropertyTests: XCTestCase {
    private let indirectBit = MeshOption.indirectData

    /// How often the interesting cases came up, so the random test cannot silently go trivial.
    private struct Coverage {
        var unreachable = 0, indirect = 0, upgradedLater = 0, viaElsewhere = 0, startNotMyself = 0, oneWayEdges = 0
    }
    private var coverage = Coverage()

    func testRandomGraphsAgainstBruteForce() {
        var rng = SplitMix64(seed: 0x7469_6E63_2D31_3036)
        var checked = 0
        for round in 0..<320 {
            // Half small graphs (many corner cases), half up to 200 nodes.
            let count = rng.chance(0.5) ? 1 + rng.next(upTo: 40) : 1 + rng.next(upTo: 200)
            let g = makeRandomGraph(nodeCount: count, rng: &rng)
            var before = Dictionary(uniqueKeysWithValues: g.nodesByName.map { ($0.name, $0.reachable) })
            var changes = g.run()
            checkChanges(changes, before: before, graph: g, context: "round \(round) initial")
            check(g, context: "round \(round) initial")
            checked += 1

            // Mutate and re-run: the changes reported must be exactly the reachability flips.
            for step in 0..<2 {
                before = Dictionary(uniqueKeysWithValues: g.nodesByName.map { ($0.name, $0.reachable) })
                mutate(g, rng: &rng)
                before = before.filter { g.node(named: $0.key) != nil }
                changes = g.run()
                checkChanges(changes, before: before, graph: g, context: "round \(round) step \(step)")
                check(g, context: "round \(round) step \(step)")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 960)
        XCTAssertGreaterThan(coverage.unreachable, 100)
        XCTAssertGreaterThan(coverage.indirect, 100)
        XCTAssertGreaterThan(coverage.upgradedLater, 10, "indirect-to-direct upgrades")
        XCTAssertGreaterThan(coverage.viaElsewhere, 100)
        XCTAssertGreaterThan(coverage.startNotMyself, 100)
        XCTAssertGreaterThan(coverage.oneWayEdges, 100)
    }

    // MARK: Generation

    private func makeRandomGraph(nodeCount: Int, rng: inout SplitMix64) -> MeshGraph {
        var names = (0..<nodeCount).map { i -> String in
            let digits = String(i)
            return "n" + String(repeating: "0", count: 3 - digits.count) + digits
        }
        for i in stride(from: names.count - 1, to: 0, by: -1) { names.swapAt(i, rng.next(upTo: i + 1)) }
        let g = MeshGraph(myName: names[0])
        let nodes = [g.myself] + names.dropFirst().map { g.lookupOrCreateNode(named: $0) }
        guard nodeCount > 1 else { return g }

        let averageDegree = 1 + rng.next(upTo: 4)
        let indirectChance = Double(rng.next(upTo: 4)) * 0.1
        let pairs = nodeCount * averageDegree / 2 + rng.next(upTo: 3)
        for _ in 0..<pairs {
            addRandomLink(g, nodes: nodes, indirectChance: indirectChance, rng: &rng)
        }
        return g
    }

    private func addRandomLink(_ g: MeshGraph, nodes: [Node], indirectChance: Double, rng: inout SplitMix64) {
        let a = nodes[rng.next(upTo: nodes.count)]
        let b = nodes[rng.next(upTo: nodes.count)]
        guard a !== b, g.edge(from: a, to: b) == nil else { return }
        func options() -> UInt32 {
            (rng.chance(indirectChance) ? indirectBit : 0) | (rng.chance(0.5) ? MeshOption.pmtuDiscovery : 0)
        }
        // Few distinct weights, so ties and the name tie-breaks matter.
        let weight = 1 + rng.next(upTo: 8)
        g.addEdge(from: a, to: b, address: "10.0.\(a.id % 250).\(b.id % 250)", port: "655",
                  options: options(), weight: weight)
        // Sometimes the other side has not (yet) confirmed the link.
        if rng.chance(0.85), g.edge(from: b, to: a) == nil {
            let back = rng.chance(0.7) ? weight : 1 + rng.next(upTo: 8)
            g.addEdge(from: b, to: a, address: "10.1.\(b.id % 250).\(a.id % 250)", port: "655",
                      options: options(), weight: back)
        }
    }

    private func mutate(_ g: MeshGraph, rng: inout SplitMix64) {
        for e in g.edgesByWeight where rng.chance(0.15) { g.removeEdge(e) }
        for e in g.edgesByWeight where rng.chance(0.05) { e.weight = 1 + rng.next(upTo: 8) }
        let nodes = g.nodesByName
        if nodes.count > 2, rng.chance(0.3) {
            let victim = nodes[rng.next(upTo: nodes.count)]
            if victim !== g.myself { g.removeNode(victim) }
        }
        let remaining = g.nodesByName
        for _ in 0..<(remaining.count / 5 + 1) {
            addRandomLink(g, nodes: remaining, indirectChance: 0.15, rng: &rng)
        }
    }

    // MARK: Checks

    private func checkChanges(_ changes: [ReachabilityChange], before: [String: Bool], graph g: MeshGraph, context: String) {
        let expected = g.nodesByName.filter { before[$0.name, default: false] != $0.reachable }
        XCTAssertEqual(changes.map { $0.node.name }, expected.map { $0.name }, context)
        for c in changes {
            XCTAssertEqual(c.becameReachable, c.node.reachable, context)
            if !c.becameReachable {
                XCTAssertNil(c.node.udpAddress, context)
                XCTAssertEqual(c.node.options, 0, context)
            }
        }
    }

    private func check(_ g: MeshGraph, context: String) {
        let nodes = g.nodesByName
        let edges = g.edgesByWeight
        let capacity = g.nodeIDCapacity
        let me = g.myself

        // Weight order is tinc's edge_weight_compare (names are ASCII, so String order is strcmp order).
        for (x, y) in zip(edges, edges.dropFirst()) {
            XCTAssertTrue((x.weight, x.from.name, x.to.name) < (y.weight, y.from.name, y.to.name), context)
        }

        // Brute force over links confirmed in both directions.
        var usable: [(Int, Int)] = []
        var usableDirect: [(Int, Int)] = []
        for n in nodes {
            for e in n.edges where g.edge(from: e.to, to: e.from) != nil {
                usable.append((e.from.id, e.to.id))
                if e.options & indirectBit == 0 { usableDirect.append((e.from.id, e.to.id)) }
            }
        }
        let dist = hopDistances(from: me.id, over: usable, capacity: capacity)
        let directDist = hopDistances(from: me.id, over: usableDirect, capacity: capacity)
        var distFromNexthop: [Int: [Int]] = [:]

        for n in nodes {
            let ctx = "\(context) node \(n.name)"
            let reachable = dist[n.id] != Int.max
            // (a) reachability
            XCTAssertEqual(n.reachable, reachable, ctx)
            guard reachable else {
                coverage.unreachable += 1
                XCTAssertNil(n.nexthop, ctx)
                XCTAssertNil(n.via, ctx)
                XCTAssertNil(n.distance, ctx)
                XCTAssertNil(n.udpAddress, ctx)
                XCTAssertEqual(n.options, 0, ctx)
                continue
            }
            // (b) BFS hop distance and nexthop on a shortest path
            XCTAssertEqual(n.distance, dist[n.id], ctx)
            // Direct exactly when some confirmed path from us avoids IndirectData edges.
            XCTAssertEqual(n.indirect, directDist[n.id] == Int.max, ctx)
            if n === me {
                XCTAssertTrue(n.nexthop === me && n.via === me && n.prevEdge == nil, ctx)
                continue
            }
            guard let h = n.nexthop, let via = n.via, let pe = n.prevEdge else {
                XCTFail("missing routing fields: \(ctx)")
                continue
            }
            XCTAssertEqual(dist[h.id], 1, ctx)
            XCTAssertNotNil(g.edge(from: me, to: h)?.reverse, ctx)
            if distFromNexthop[h.id] == nil {
                distFromNexthop[h.id] = hopDistances(from: h.id, over: usable, capacity: capacity)
            }
            XCTAssertEqual(distFromNexthop[h.id]![n.id], dist[n.id] - 1, ctx)
            // via: the node itself when direct, otherwise a direct node (or us) on the way.
            if n.indirect {
                XCTAssertTrue(via === me || (via.reachable && !via.indirect), ctx)
            } else {
                XCTAssertTrue(via === n, ctx)
            }
            XCTAssertTrue(pe.to === n && pe.reverse != nil && pe.from.reachable, ctx)
            XCTAssertEqual(n.options, pe.options, ctx)
            if n.indirect { coverage.indirect += 1 }
            if !(via === n || via === me) { coverage.viaElsewhere += 1 }
            // The final prevEdge is not on a shortest path only when a later visit upgraded the node.
            if pe.from.distance! + 1 != n.distance! { coverage.upgradedLater += 1 }
            XCTAssertNotNil(n.udpAddress, ctx)
        }

        checkMST(g, usable: usable, context: context)
    }

    private func checkMST(_ g: MeshGraph, usable: [(Int, Int)], context: String) {
        let edges = g.edgesByWeight
        let capacity = g.nodeIDCapacity
        let reachableIDs = Set(g.nodesByName.filter { $0.reachable }.map { $0.id })

        coverage.oneWayEdges += edges.filter { $0.reverse == nil }.count
        if let s = edges.first(where: { $0.from.reachable }), s.from !== g.myself { coverage.startNotMyself += 1 }
        for e in edges where e.inMST {
            XCTAssertTrue(e.reverse?.inMST == true, "MST flags on both directions: \(context)")
        }
        // Undirected links in the tree, each with its lighter direction's weight.
        let treeLinks = edges.filter { $0.inMST && $0.from.id < $0.to.id }
        let treeWeight = treeLinks.reduce(0) { $0 + min($1.weight, $1.reverse!.weight) }

        guard let start = edges.first(where: { $0.from.reachable })?.from else {
            XCTAssertTrue(treeLinks.isEmpty, context)
            return
        }
        // tinc's start is reachable, so the component it grows in is exactly our reachable set.
        let fromStart = hopDistances(from: start.id, over: usable, capacity: capacity)
        let startComponent = Set((0..<capacity).filter { fromStart[$0] != Int.max })
        XCTAssertEqual(startComponent, reachableIDs, context)

        // (c) a spanning tree of that component: n-1 links, all inside, connecting everything.
        XCTAssertEqual(treeLinks.count, reachableIDs.count - 1, context)
        var parent = Array(0..<capacity)
        func root(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
            return x
        }
        for e in treeLinks {
            XCTAssertTrue(reachableIDs.contains(e.from.id) && reachableIDs.contains(e.to.id), context)
            parent[root(e.from.id)] = root(e.to.id)
        }
        XCTAssertEqual(Set(reachableIDs.map(root)).count, 1, context)
        XCTAssertEqual(treeWeight, primWeight(g, nodes: reachableIDs), context)

        // Literal replay of the documented restart-from-lightest loop (O(E*N)), on smaller graphs.
        if g.nodeCount <= 80 {
            let expected = restartingKruskalReference(edges)
            let actual = Set(edges.filter { $0.inMST }.map(ObjectIdentifier.init))
            XCTAssertEqual(actual, expected, context)
        }
    }

    /// Hop counts by repeated relaxation (Bellman-Ford style) over directed pairs.
    private func hopDistances(from source: Int, over arcs: [(Int, Int)], capacity: Int) -> [Int] {
        var d = [Int](repeating: .max, count: capacity)
        d[source] = 0
        var changed = true
        while changed {
            changed = false
            for (u, v) in arcs where d[u] != .max && d[u] + 1 < d[v] {
                d[v] = d[u] + 1
                changed = true
            }
        }
        return d
    }

    /// Plain O(V^2) Prim over the given nodes; a link weighs as its lighter direction.
    private func primWeight(_ g: MeshGraph, nodes: Set<Int>) -> Int {
        guard let first = nodes.first else { return 0 }
        var inTree: Set<Int> = [first]
        var total = 0
        while inTree.count < nodes.count {
            var best: Int?
            var bestNode: Int?
            for u in inTree {
                for e in g.node(id: u)!.edges {
                    guard let r = e.reverse, !inTree.contains(e.to.id) else { continue }
                    let w = min(e.weight, r.weight)
                    if best == nil || w < best! { best = w; bestNode = e.to.id }
                }
            }
            guard let w = best, let v = bestNode else { XCTFail("component not connected"); return -1 }
            total += w
            inTree.insert(v)
        }
        return total
    }

    /// tinc 1.0.36 mst_kruskal as described in the reference sheet §6.1, step by step.
    private func restartingKruskalReference(_ edges: [Edge]) -> Set<ObjectIdentifier> {
        var flagged = Set<ObjectIdentifier>()
        guard let start = edges.first(where: { $0.from.reachable }) else { return flagged }
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(start.from)]
        var skipped = false
        var i = 0
        while i < edges.count {
            let e = edges[i]
            i += 1
            guard let r = e.reverse,
                  visited.contains(ObjectIdentifier(e.from)) != visited.contains(ObjectIdentifier(e.to)) else {
                skipped = true
                continue
            }
            visited.insert(ObjectIdentifier(e.from))
            visited.insert(ObjectIdentifier(e.to))
            flagged.insert(ObjectIdentifier(e))
            flagged.insert(ObjectIdentifier(r))
            if skipped {
                skipped = false
                i = 0
            }
        }
        return flagged
    }
}

import XCTest
@testable import MeshRouting

final class GraphTests: XCTestCase {
    private let indirect = MeshOption.indirectData

    func testDirectChain() {
        // m - b - c - d, all links two-way and direct.
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let (b, c, d) = (g.lookupOrCreateNode(named: "b"), g.lookupOrCreateNode(named: "c"), g.lookupOrCreateNode(named: "d"))
        g.link(m, b)
        g.link(b, c)
        g.link(c, d)
        let changes = g.run()
        XCTAssertEqual(changes.map { $0.node.name }, ["b", "c", "d"])
        XCTAssertTrue(changes.allSatisfy { $0.becameReachable })
        XCTAssertTrue(m.reachable)
        XCTAssertTrue(m.nexthop === m && m.via === m && m.prevEdge == nil)
        for (n, hops) in [(b, 1), (c, 2), (d, 3)] {
            XCTAssertTrue(n.reachable, n.name)
            XCTAssertFalse(n.indirect, n.name)
            XCTAssertTrue(n.nexthop === b, n.name)
            XCTAssertTrue(n.via === n, "direct nodes get UDP data themselves: \(n.name)")
            XCTAssertEqual(n.distance, hops)
        }
        XCTAssertTrue(c.prevEdge === g.edge(from: b, to: c))
        XCTAssertTrue(d.prevEdge === g.edge(from: c, to: d))
        XCTAssertTrue(g.run().isEmpty, "nothing changes on a second run")
    }

    func testIndirectDataStopsViaAtLastDirectNode() {
        // m - b -(INDIRECT on b->c)- c - d: c and d are indirect, UDP for them goes to b.
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let n = g.nodes("b", "c", "d")
        let (b, c, d) = (n[0], n[1], n[2])
        g.link(m, b)
        g.addEdge(from: b, to: c, address: "192.0.2.3", port: "655", options: indirect, weight: 10)
        g.addEdge(from: c, to: b, address: "192.0.2.2", port: "655", options: 0, weight: 10)
        g.link(c, d)
        g.run()
        XCTAssertFalse(b.indirect)
        XCTAssertTrue(b.via === b)
        XCTAssertTrue(c.indirect)
        XCTAssertTrue(c.via === b)
        XCTAssertEqual(c.options, indirect, "options come from the edge SSSP used")
        XCTAssertTrue(d.indirect, "indirect is inherited along the path")
        XCTAssertTrue(d.via === b)
        XCTAssertEqual(d.options, 0)
        XCTAssertTrue(d.nexthop === b)
    }

    func testIndirectFirstHopMeansViaMyself() {
        // Our own edge to b carries IndirectData: UDP to b goes through its nexthop (via === myself).
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let b = g.lookupOrCreateNode(named: "b")
        let c = g.lookupOrCreateNode(named: "c")
        g.addEdge(from: m, to: b, address: "192.0.2.2", port: "655", options: indirect, weight: 1)
        g.addEdge(from: b, to: m, address: "192.0.2.1", port: "655", options: 0, weight: 1)
        g.link(b, c)
        g.run()
        XCTAssertTrue(b.indirect)
        XCTAssertTrue(b.via === m)
        XCTAssertTrue(b.nexthop === b)
        XCTAssertTrue(c.indirect)
        XCTAssertTrue(c.via === m)
        XCTAssertTrue(c.nexthop === b)
    }

    func testSecondVisitUpgradesIndirectToDirect() {
        // m->x is INDIRECT, m-y and y-x are direct. BFS first reaches x indirectly from m (x sorts
        // before y), then y's direct edge upgrades it: direct, via x, prevEdge y->x, but nexthop and
        // distance keep their first-visit values.
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let x = g.lookupOrCreateNode(named: "x")
        let y = g.lookupOrCreateNode(named: "y")
        let z = g.lookupOrCreateNode(named: "z")
        g.addEdge(from: m, to: x, address: "192.0.2.10", port: "655", options: indirect, weight: 1)
        g.addEdge(from: x, to: m, address: "192.0.2.1", port: "655", options: 0, weight: 1)
        g.link(m, y)
        g.link(y, x)
        g.link(x, z)
        g.run()
        XCTAssertFalse(x.indirect)
        XCTAssertTrue(x.via === x)
        XCTAssertTrue(x.prevEdge === g.edge(from: y, to: x))
        XCTAssertTrue(x.nexthop === x)
        XCTAssertEqual(x.distance, 1)
        XCTAssertEqual(x.options, 0)
        // z was first reached from x while x was still indirect, then upgraded when x was re-queued.
        XCTAssertFalse(z.indirect)
        XCTAssertTrue(z.via === z)
        XCTAssertTrue(z.nexthop === x)
        XCTAssertEqual(z.distance, 2)
    }

    func testIndirectSecondPathDoesNotOverride() {
        // b is direct via m-b; the INDIRECT path through c must not change it.
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let n = g.nodes("b", "c")
        g.link(m, n[1])
        g.link(m, n[0])
        g.addEdge(from: n[1], to: n[0], address: "192.0.2.2", port: "655", options: indirect, weight: 1)
        g.addEdge(from: n[0], to: n[1], address: "192.0.2.3", port: "655", options: indirect, weight: 1)
        g.run()
        XCTAssertFalse(n[0].indirect)
        XCTAssertTrue(n[0].prevEdge === g.edge(from: m, to: n[0]))
    }

    func testMissingReverseEdgeIsUnused() {
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let b = g.lookupOrCreateNode(named: "b")
        let c = g.lookupOrCreateNode(named: "c")
        g.addEdge(from: m, to: b, address: "192.0.2.2", port: "655", options: 0, weight: 1)
        XCTAssertTrue(g.run().isEmpty)
        XCTAssertFalse(b.reachable)
        XCTAssertNil(b.nexthop)
        XCTAssertNil(b.udpAddress)

        let back = g.addEdge(from: b, to: m, address: "192.0.2.1", port: "655", options: 0, weight: 1)
        XCTAssertTrue(back.reverse === g.edge(from: m, to: b))
        XCTAssertTrue(g.edge(from: m, to: b)?.reverse === back)
        // c announces an edge to b, but b never confirms it.
        g.link(m, c)
        g.addEdge(from: c, to: b, address: "192.0.2.2", port: "655", options: 0, weight: 1)
        let up = g.run()
        XCTAssertEqual(up.map { $0.node.name }, ["b", "c"])
        XCTAssertTrue(b.prevEdge === g.edge(from: m, to: b))
        XCTAssertEqual(b.udpAddress?.host, "192.0.2.2")
        XCTAssertEqual(up[0].udpAddress?.host, "192.0.2.2")

        g.removeEdge(back)
        XCTAssertNil(g.edge(from: m, to: b)?.reverse)
        let down = g.run()
        XCTAssertEqual(down.map { $0.node.name }, ["b"])
        XCTAssertFalse(down[0].becameReachable)
        XCTAssertEqual(down[0].udpAddress?.host, "192.0.2.2", "address at the time it went down, for scripts")
        XCTAssertFalse(b.reachable)
        XCTAssertNil(b.udpAddress, "cleared when unreachable")
        XCTAssertEqual(b.options, 0)
        XCTAssertEqual(g.unreachableNodes().map { $0.name }, ["b"])
    }

    func testUDPAddressTakenFromEdgeOnlyWhenUnset() {
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let n = g.nodes("b", "c", "d")
        g.link(m, n[0], address: "192.0.2.2", port: "7000")
        n[1].udpAddress = ("198.51.100.7", "655")
        g.link(m, n[1], address: "192.0.2.3")
        // tinc keeps non-numeric addresses as "unknown" and never uses them for UDP.
        g.link(m, n[2], address: "host.example", port: "655")
        g.run()
        XCTAssertEqual(n[0].udpAddress?.host, "192.0.2.2")
        XCTAssertEqual(n[0].udpAddress?.port, "7000")
        XCTAssertEqual(n[1].udpAddress?.host, "198.51.100.7", "a known address is kept")
        XCTAssertNil(n[2].udpAddress)
        XCTAssertTrue(n[2].reachable)
        // IPv6 edge addresses are numeric too; the cache follows address changes.
        g.edge(from: m, to: n[2])!.address = "2001:db8::2"
        g.run()
        XCTAssertEqual(n[2].udpAddress?.host, "2001:db8::2")
    }

    func testEdgeOrdersAndReplacement() {
        let g = MeshGraph(myName: "m")
        let n = g.nodes("c", "a", "b")
        g.addEdge(from: g.myself, to: n[0], address: "192.0.2.1", port: "655", options: 0, weight: 5)
        g.addEdge(from: g.myself, to: n[1], address: "192.0.2.1", port: "655", options: 0, weight: 5)
        g.addEdge(from: n[2], to: n[1], address: "192.0.2.1", port: "655", options: 0, weight: 5)
        g.addEdge(from: g.myself, to: n[2], address: "192.0.2.1", port: "655", options: 0, weight: 1)
        XCTAssertEqual(g.myself.edges.map { $0.to.name }, ["a", "b", "c"])
        XCTAssertEqual(g.edgesByWeight.map { $0.description }, ["m->b", "b->a", "m->a", "m->c"])
        XCTAssertEqual(g.nodesByName.map { $0.name }, ["a", "b", "c", "m"])
        // Changing a weight in place keeps the weight order valid.
        g.edge(from: g.myself, to: n[0])!.weight = 0
        XCTAssertEqual(g.edgesByWeight.map { $0.description }, ["m->c", "m->b", "b->a", "m->a"])
        // Re-adding an existing edge replaces it.
        let e = g.addEdge(from: g.myself, to: n[1], address: "192.0.2.9", port: "1", options: 4, weight: 3)
        XCTAssertEqual(g.edgeCount, 4)
        XCTAssertTrue(g.edge(from: g.myself, to: n[1]) === e)
        XCTAssertEqual(e.options, 4)
        XCTAssertEqual(g.edgesByWeight.map { $0.description }, ["m->c", "m->b", "m->a", "b->a"])
    }

    func testNodeIDsAreDenseAndReused() {
        let g = MeshGraph(myName: "m")
        XCTAssertEqual(g.myself.id, 0)
        let n = g.nodes("a", "b", "c")
        XCTAssertEqual(n.map { $0.id }, [1, 2, 3])
        XCTAssertTrue(g.lookupOrCreateNode(named: "b") === n[1])
        g.link(g.myself, n[0])
        g.link(n[0], n[1])
        g.addEdge(from: n[2], to: n[1], address: "x", port: "655", options: 0, weight: 1)
        g.addSubnet(Subnet(parsing: "10.0.0.0/8")!, owner: n[1])
        g.run()
        g.removeNode(n[1])
        XCTAssertNil(g.node(named: "b"))
        XCTAssertNil(g.node(id: 2))
        XCTAssertNil(g.edge(from: n[0], to: n[1]))
        XCTAssertNil(g.edge(from: n[2], to: n[1]), "incoming edges go too")
        XCTAssertEqual(g.edgeCount, 2)
        XCTAssertNil(g.lookup(ipv4: [10, 0, 0, 1]))
        XCTAssertEqual(g.nodeIDCapacity, 4)
        XCTAssertEqual(g.lookupOrCreateNode(named: "z").id, 2, "freed id reused")
        XCTAssertEqual(g.lookupOrCreateNode(named: "y").id, 4)
        XCTAssertTrue(g.node(id: 4)?.name == "y")
    }

    func testGraphIsFreed() {
        weak var weakNode: Node?
        weak var weakGraph: MeshGraph?
        do {
            let g = MeshGraph(myName: "m")
            let n = g.nodes("a", "b")
            g.link(g.myself, n[0])
            g.link(n[0], n[1])
            g.run()
            weakNode = n[1]
            weakGraph = g
        }
        XCTAssertNil(weakGraph)
        XCTAssertNil(weakNode)
    }

    // MARK: Broadcast tree

    func testMSTPicksLightestLinks() {
        // Triangle m-a (1), a-b (2), m-b (3): the tree is m-a, a-b.
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let n = g.nodes("a", "b")
        g.link(m, n[0], weight: 1)
        g.link(n[0], n[1], weight: 2)
        let (mb, bm) = g.link(m, n[1], weight: 3)
        g.run()
        XCTAssertTrue(g.edge(from: m, to: n[0])!.inMST && g.edge(from: n[0], to: m)!.inMST)
        XCTAssertTrue(g.edge(from: n[0], to: n[1])!.inMST && g.edge(from: n[1], to: n[0])!.inMST)
        XCTAssertFalse(mb.inMST || bm.inMST)
        XCTAssertEqual(g.mstNeighbors(), ["a"])
        // Asymmetric weights: a link counts with its lighter direction.
        bm.weight = 0
        g.run()
        XCTAssertTrue(mb.inMST && bm.inMST)
        XCTAssertEqual(g.mstNeighbors(), ["a", "b"])
    }

    func testMSTRestartsFromLightestEdge() {
        // Weight order: a-b (1), m-c (5), m-a (10). tinc starts at a (from-node of the lightest
        // edge), adds a-b, skips m-c (neither end visited), adds m-a, and only because it skipped
        // something restarts and then picks up m-c.
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let n = g.nodes("a", "b", "c")
        g.link(n[0], n[1], weight: 1)
        g.link(m, n[2], weight: 5)
        g.link(m, n[0], weight: 10)
        g.run()
        XCTAssertTrue(g.edgesByWeight.allSatisfy { $0.inMST })
        XCTAssertEqual(g.mstNeighbors(), ["a", "c"])
    }

    func testMSTIgnoresOtherComponentsAndOneWayEdges() {
        let g = MeshGraph(myName: "m")
        let m = g.myself
        let n = g.nodes("a", "p", "q", "z")
        g.link(m, n[0], weight: 5)
        g.link(n[1], n[2], weight: 1)   // lightest link, but not reachable from us
        let oneWay = g.addEdge(from: m, to: n[3], address: "192.0.2.9", port: "655", options: 0, weight: 0)
        g.run()
        XCTAssertTrue(g.edge(from: m, to: n[0])!.inMST)
        XCTAssertFalse(g.edge(from: n[1], to: n[2])!.inMST)
        XCTAssertFalse(oneWay.inMST)
        XCTAssertEqual(g.mstNeighbors(), ["a"])
        // Without any two-way link from a reachable node there is no tree at all.
        g.removeEdge(g.edge(from: n[0], to: m)!)
        g.run()
        XCTAssertTrue(g.edgesByWeight.allSatisfy { !$0.inMST })
        XCTAssertEqual(g.mstNeighbors(), [])
    }
}

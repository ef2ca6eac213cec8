import XCTest
@testable import MeshRouting

final class SubnetLookupTests: XCTestCase {
    /// myself "a" linked to b, c, d: all reachable after run().
    private func makeGraph() -> (MeshGraph, a: Node, b: Node, c: Node, d: Node) {
        let g = MeshGraph(myName: "a")
        let n = g.nodes("b", "c", "d")
        for x in n { g.link(g.myself, x) }
        g.run()
        return (g, g.myself, n[0], n[1], n[2])
    }

    private func add(_ g: MeshGraph, _ s: String, _ owner: Node) {
        XCTAssertTrue(g.addSubnet(Subnet(parsing: s)!, owner: owner), s)
    }

    private func owner4(_ g: MeshGraph, _ a: [UInt8]) -> String? { g.lookup(ipv4: a)?.1.name }

    func testLookupBeforeAnyRun() {
        // Myself is reachable from the start; other nodes are not until run() says so.
        let g = MeshGraph(myName: "m")
        let b = g.lookupOrCreateNode(named: "b")
        add(g, "10.0.0.0/8", g.myself)
        add(g, "10.1.0.0/16", b)
        XCTAssertEqual(owner4(g, [10, 1, 0, 1]), "m")
        g.link(g.myself, b)
        XCTAssertEqual(owner4(g, [10, 1, 0, 1]), "m", "edges alone change nothing before run()")
        g.run()
        XCTAssertEqual(owner4(g, [10, 1, 0, 1]), "b")
        var header = [UInt8](repeating: 0, count: 20)
        header.replaceSubrange(16..<20, with: [10, 1, 0, 1])
        header.withUnsafeBytes { XCTAssertTrue(g.lookupOwner(ipv4: $0.baseAddress! + 16) === b) }
    }

    func testLongestPrefixWins() {
        let (g, a, b, c, _) = makeGraph()
        add(g, "10.0.0.0/8", a)
        add(g, "10.1.0.0/16", b)
        add(g, "10.1.2.0/24", c)
        add(g, "0.0.0.0/0", a)
        XCTAssertEqual(owner4(g, [10, 1, 2, 3]), "c")
        XCTAssertEqual(owner4(g, [10, 1, 3, 3]), "b")
        XCTAssertEqual(owner4(g, [10, 2, 0, 0]), "a")
        XCTAssertEqual(g.lookup(ipv4: [10, 2, 0, 0])?.0.description, "10.0.0.0/8#10")
        XCTAssertEqual(g.lookup(ipv4: [11, 0, 0, 1])?.0.description, "0.0.0.0/0#10")
        XCTAssertEqual(g.lookup(ipv4: 0x0A01_0203)?.1.name, "c")
        XCTAssertTrue(g.removeSubnet(Subnet(parsing: "0.0.0.0/0")!, owner: a))
        XCTAssertNil(g.lookup(ipv4: [11, 0, 0, 1]))
        XCTAssertNil(g.lookup(ipv4: [1, 2, 3]), "wrong length")
    }

    func testWeightThenOwnerName() {
        let (g, _, b, c, d) = makeGraph()
        add(g, "10.0.0.0/24#10", d)
        add(g, "10.0.0.0/24#10", c)
        XCTAssertEqual(owner4(g, [10, 0, 0, 1]), "c", "equal weight: owner name order")
        add(g, "10.0.0.0/24#5", b)
        XCTAssertEqual(owner4(g, [10, 0, 0, 1]), "b", "lower weight preferred")
        // A longer prefix beats any weight.
        add(g, "10.0.0.1/32#1000", d)
        XCTAssertEqual(owner4(g, [10, 0, 0, 1]), "d")
        XCTAssertEqual(owner4(g, [10, 0, 0, 2]), "b")
    }

    func testUnreachableOwnerFallback() {
        let (g, _, b, c, d) = makeGraph()
        add(g, "10.0.0.0/24#1", b)
        add(g, "10.0.0.0/16#5", c)
        add(g, "10.0.0.0/16#7", d)
        XCTAssertEqual(owner4(g, [10, 0, 0, 9]), "b")
        // Cut b off: the next candidate in order with a reachable owner wins.
        g.removeEdge(g.edge(from: b, to: g.myself)!)
        g.run()
        XCTAssertFalse(b.reachable)
        XCTAssertEqual(owner4(g, [10, 0, 0, 9]), "c")
        // No reachable owner at all: the last match seen (shortest prefix, heaviest) is returned.
        for x in [c, d] { g.removeEdge(g.edge(from: x, to: g.myself)!) }
        g.run()
        let r = g.lookup(ipv4: [10, 0, 0, 9])
        XCTAssertEqual(r?.1.name, "d")
        XCTAssertEqual(r?.0.description, "10.0.0.0/16#7")
        XCTAssertEqual(r?.1.reachable, false)
        XCTAssertEqual(owner4(g, [10, 0, 1, 9]), "d")
        // Reachable again: the cache must not hold on to the old answer.
        g.link(g.myself, b)
        g.run()
        XCTAssertEqual(owner4(g, [10, 0, 0, 9]), "b")
    }

    func testSubnetChangesInvalidateCache() {
        let (g, _, b, c, _) = makeGraph()
        add(g, "10.0.0.0/8", b)
        XCTAssertEqual(owner4(g, [10, 9, 9, 9]), "b")
        XCTAssertEqual(owner4(g, [10, 9, 9, 9]), "b")
        add(g, "10.9.0.0/16", c)
        XCTAssertEqual(owner4(g, [10, 9, 9, 9]), "c")
        XCTAssertTrue(g.removeSubnet(Subnet(parsing: "10.9.0.0/16")!, owner: c))
        XCTAssertEqual(owner4(g, [10, 9, 9, 9]), "b")
        XCTAssertFalse(g.removeSubnet(Subnet(parsing: "10.9.0.0/16")!, owner: c))
    }

    func testHostBitsInNetworkSubnets() {
        // Subnets from the network are not masked: 10.0.0.1/24 still matches the whole /24, and two
        // such entries at the same prefix are tried in address order.
        let (g, _, b, c, _) = makeGraph()
        add(g, "10.0.0.7/24", c)
        add(g, "10.0.0.1/24", b)
        XCTAssertEqual(owner4(g, [10, 0, 0, 200]), "b")
        g.removeEdge(g.edge(from: b, to: g.myself)!)
        g.run()
        XCTAssertEqual(owner4(g, [10, 0, 0, 200]), "c")
    }

    func testIPv6Lookup() {
        let (g, a, b, c, _) = makeGraph()
        add(g, "fd00::/16", a)
        add(g, "fd00:1::/32", b)
        add(g, "fd00:1::5", c)
        func addr(_ s: String) -> [UInt8] {
            guard case .ipv6(let bytes, _) = Subnet(parsing: s)!.address else { fatalError() }
            return bytes
        }
        XCTAssertEqual(g.lookup(ipv6: addr("fd00:1::5"))?.1.name, "c")
        XCTAssertEqual(g.lookup(ipv6: addr("fd00:1::6"))?.1.name, "b")
        XCTAssertEqual(g.lookup(ipv6: addr("fd00:2::6"))?.1.name, "a")
        XCTAssertNil(g.lookup(ipv6: addr("fe80::1")))
        // Straight from an IPv6 header: destination at offset 24, deliberately unaligned buffer.
        var packet = [UInt8](repeating: 0, count: 41)
        packet.replaceSubrange(25..<41, with: addr("fd00:1::5"))
        packet.withUnsafeBytes {
            XCTAssertEqual(g.lookup(ipv6: $0.baseAddress! + 25)?.1.name, "c")
            XCTAssertTrue(g.lookupOwner(ipv6: $0.baseAddress! + 25) === c)
        }
    }

    func testMACLookup() {
        let (g, a, b, c, _) = makeGraph()
        add(g, "2:0:0:0:0:1#10", b)
        add(g, "2:0:0:0:0:1#5", c)
        add(g, "2:0:0:0:0:2", a)
        XCTAssertEqual(g.lookup(mac: [2, 0, 0, 0, 0, 1])?.1.name, "c")
        XCTAssertEqual(g.lookup(mac: [2, 0, 0, 0, 0, 2])?.1.name, "a")
        XCTAssertNil(g.lookup(mac: [2, 0, 0, 0, 0, 3]))
        XCTAssertEqual(g.lookup(mac: [2, 0, 0, 0, 0, 1], owner: b)?.0.description, "2:0:0:0:0:1#10")
        XCTAssertNil(g.lookup(mac: [2, 0, 0, 0, 0, 2], owner: b))
        let frame: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]
        frame.withUnsafeBytes { raw in
            XCTAssertEqual(g.lookup(mac: raw.baseAddress!)?.1.name, "a")
            XCTAssertEqual(g.lookup(mac: raw.baseAddress! + 6)?.1.name, "c")
            XCTAssertTrue(g.lookupOwner(mac: raw.baseAddress! + 6) === c)
        }
        g.removeEdge(g.edge(from: c, to: a)!)
        g.run()
        XCTAssertEqual(g.lookup(mac: [2, 0, 0, 0, 0, 1])?.1.name, "b")
    }

    func testBookkeepingAndGlobalOrder() {
        let (g, a, b, c, _) = makeGraph()
        let s = Subnet(parsing: "10.0.0.0/8")!
        XCTAssertTrue(g.addSubnet(s, owner: b))
        XCTAssertFalse(g.addSubnet(s, owner: b), "duplicate")
        XCTAssertTrue(g.hasSubnet(s, owner: b))
        XCTAssertFalse(g.hasSubnet(s, owner: c))
        XCTAssertFalse(g.hasSubnet(Subnet(parsing: "10.0.0.0/8#11")!, owner: b), "weight is part of identity")
        for t in ["fd00::/64", "10.0.0.0/8", "2:0:0:0:0:1", "10.0.0.1", "10.0.0.0/8#3"] { add(g, t, c) }
        add(g, "10.0.0.0/8", a)
        XCTAssertEqual(c.subnets.map(\.description),
                       ["2:0:0:0:0:1#10", "10.0.0.1/32#10", "10.0.0.0/8#3", "10.0.0.0/8#10", "fd00:0:0:0:0:0:0:0/64#10"])
        XCTAssertEqual(g.allSubnets().map { "\($0.0) \($0.1.name)" }, [
            "2:0:0:0:0:1#10 c", "10.0.0.1/32#10 c", "10.0.0.0/8#3 c",
            "10.0.0.0/8#10 a", "10.0.0.0/8#10 b", "10.0.0.0/8#10 c", "fd00:0:0:0:0:0:0:0/64#10 c",
        ])
        XCTAssertEqual(g.subnetCount, 7)
        g.removeNode(c)
        XCTAssertEqual(g.subnetCount, 2)
        XCTAssertEqual(owner4(g, [10, 0, 0, 1]), "a")
    }

    /// Randomised cross-check of the indexed lookup against a literal walk of the sorted list.
    func testLookupMatchesLinearWalk() {
        var rng = SplitMix64(seed: 7)
        let g = MeshGraph(myName: "m")
        let owners = (0..<8).map { g.lookupOrCreateNode(named: "o\($0)") }
        for (i, o) in owners.enumerated() where i % 3 != 0 { g.link(g.myself, o) }
        g.run()
        for _ in 0..<400 {
            let owner = owners[rng.next(upTo: owners.count)]
            // Small address space so that prefixes overlap a lot.
            let bytes: [UInt8] = [10, UInt8(rng.next(upTo: 4)), UInt8(rng.next(upTo: 4)), UInt8(rng.next(upTo: 4))]
            g.addSubnet(Subnet(ipv4: bytes, prefix: 8 + rng.next(upTo: 25), weight: rng.next(upTo: 4)), owner: owner)
            var v6 = [UInt8](repeating: 0, count: 16)
            v6[0] = 0xfd; v6[15] = UInt8(rng.next(upTo: 4)); v6[8] = UInt8(rng.next(upTo: 2) * 0x80)
            g.addSubnet(Subnet(ipv6: v6, prefix: 16 + rng.next(upTo: 113), weight: rng.next(upTo: 4)), owner: owner)
        }
        let all = g.allSubnets()
        func expected(_ matches: (Subnet) -> Bool) -> String? {
            var last: (Subnet, Node)?
            for entry in all where matches(entry.0) {
                if entry.1.reachable { return "\(entry.0) \(entry.1.name)" }
                last = entry
            }
            return last.map { "\($0.0) \($0.1.name)" }
        }
        for _ in 0..<2000 {
            let a: [UInt8] = [10, UInt8(rng.next(upTo: 5)), UInt8(rng.next(upTo: 5)), UInt8(rng.next(upTo: 5))]
            XCTAssertEqual(g.lookup(ipv4: a).map { "\($0.0) \($0.1.name)" }, expected { $0.contains(ipv4: a) })
            var v6 = [UInt8](repeating: 0, count: 16)
            v6[0] = 0xfd; v6[15] = UInt8(rng.next(upTo: 5)); v6[8] = UInt8(rng.next(upTo: 256))
            XCTAssertEqual(g.lookup(ipv6: v6).map { "\($0.0) \($0.1.name)" }, expected { $0.contains(ipv6: v6) })
        }
    }
}

import XCTest
import MeshIO
@testable import BGPLite

final class DecisionAndPolicyTests: XCTestCase {
    let p = IPPrefix("192.0.2.0/24")!

    func bgpSource(_ rib: RIB, _ name: String, isInternal: Bool = false, routerID: UInt32 = 1, addr: String = "10.0.0.1") -> RouteSource {
        let s = rib.addSource(name: name, kind: .bgp, preference: 100)
        s.isInternal = isInternal
        s.routerID = routerID
        s.neighborAddress = IPPrefix(addr)
        return s
    }

    func attrs(_ t: AttrTable, path: [UInt32], lp: UInt32? = nil, med: UInt32? = nil, origin: Origin = .igp) -> AttrSet {
        t.intern(PathAttributes(origin: origin, asPath: [.sequence(path)], nextHop: 0x0A000001, med: med, localPref: lp), gateway: nil)
    }

    func best(_ rib: RIB, _ a: (RouteSource, AttrSet), _ b: (RouteSource, AttrSet)) -> String {
        _ = rib.update(p, RouteEntry(attrs: a.1, src: a.0.id, since: 0))
        _ = rib.update(p, RouteEntry(attrs: b.1, src: b.0.id, since: 0))
        let winner = rib.sources[Int(rib.table[p]!.src)].name
        // Order independence.
        let rib2 = RIB(); rib2.sources = rib.sources
        _ = rib2.update(p, RouteEntry(attrs: b.1, src: b.0.id, since: 0))
        _ = rib2.update(p, RouteEntry(attrs: a.1, src: a.0.id, since: 0))
        XCTAssertEqual(rib2.sources[Int(rib2.table[p]!.src)].name, winner)
        return winner
    }

    /// `RIB.importRun` (a whole UPDATE at once) ends where importing its prefixes one by one with
    /// `update` ends: same table, candidates, counts, attribute references and best changes, for
    /// prefixes that are new, held by the same source (identical, changed, stale) and held by
    /// several sources (the general path), also when one set replaces itself on a stale route.
    func testImportRunMatchesRouteByRoute() {
        func build() -> (RIB, AttrSet, AttrSet, [IPPrefix]) {
            let t = AttrTable()
            let rib = RIB(attrTable: t)
            let x = bgpSource(rib, "x"), y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
            let old = attrs(t, path: [1, 2]), new = attrs(t, path: [1])
            let ps = (0..<40).map { IPPrefix(ipv4: 0x0A00_0000 | UInt32($0) << 8, length: 24) }
                + [IPPrefix("2001:db8::/48")!, IPPrefix("2001:db8::1/128")!]
            for (i, p) in ps.enumerated() {
                switch i % 5 {
                case 0: break                                                                  // new
                case 1: rib.update(p, RouteEntry(attrs: new, src: x.id, since: 1))              // identical
                case 2: rib.update(p, RouteEntry(attrs: old, src: x.id, since: 1))              // changed
                case 3: rib.update(p, RouteEntry(attrs: new, src: x.id, since: 1, stale: true)) // stale, same set
                default:                                                                       // two sources
                    rib.update(p, RouteEntry(attrs: old, src: y.id, since: 1))
                    if i % 10 == 4 { rib.update(p, RouteEntry(attrs: old, src: x.id, since: 1)) }
                }
            }
            return (rib, old, new, ps)
        }
        let (a, oldA, newA, ps) = build()
        var selectedA: [IPPrefix] = [], changesA: [BestChange] = []
        let res = a.importRun(ps, attrs: newA, src: 0, since: 5, selected: &selectedA, changes: &changesA)

        let (b, oldB, newB, _) = build()
        var changesB: [BestChange] = []
        var accepted = 0, ignored = 0, fresh = 0, renewed = 0
        for p in ps {
            var previous: RouteEntry? = nil
            let c = b.update(p, RouteEntry(attrs: newB, src: 0, since: 5), previous: &previous) { prev in
                guard let prev, !prev.stale, prev.attrs === newB else { return true }
                return false
            }
            if let prev = previous, !prev.stale, prev.attrs === newB { ignored += 1; continue }
            accepted += 1
            if let prev = previous {
                if prev.stale { fresh += 1; renewed += 1 }
            } else {
                fresh += 1
            }
            if let c { changesB.append(c) }
        }
        XCTAssertEqual(res.accepted, accepted)
        XCTAssertEqual(res.ignored, ignored)
        XCTAssertEqual(res.fresh, fresh)
        XCTAssertEqual(res.staleRenewed, renewed)
        XCTAssertEqual(renewed, 8)
        func describe(_ rib: RIB, _ old: AttrSet, _ new: AttrSet) -> [String] {
            func name(_ e: RouteEntry) -> String {
                "\(e.src)\(e.stale ? "s" : "")\(e.attrs === new ? "n" : e.attrs === old ? "o" : "?")@\(e.since)"
            }
            return ps.map { p in "\(p) " + rib.candidates(p).map(name).joined(separator: ",") }
                + ["count \(rib.routeCount) preferred \(rib.sources.map { $0.preferred })",
                   "refs old \(old.refs) new \(new.refs) interned \(rib.attrTable.count)"]
        }
        XCTAssertEqual(describe(a, oldA, newA), describe(b, oldB, newB))
        // What the fan-out sees: per changed prefix, its new selected route. The run reports the
        // prefixes that selected its own route apart from the general path's changes.
        func describe(_ cs: [BestChange], _ new: AttrSet) -> [String] {
            cs.map { "\($0.prefix) -> \($0.new.map { "\($0.src)\($0.stale)\($0.attrs === new)@\($0.since)" } ?? "-")" }
        }
        XCTAssertEqual(res.route.attrs === newA && res.route.src == 0 && res.route.since == 5 && !res.route.stale, true)
        let runChanges = selectedA.map { BestChange(prefix: $0, old: nil, new: res.route) } + changesA
        XCTAssertEqual(describe(runChanges, newA).sorted(), describe(changesB, newB).sorted())
        XCTAssertEqual(Set(selectedA).intersection(changesA.map(\.prefix)), [], "a prefix reported twice")
        XCTAssertFalse(selectedA.isEmpty)
        XCTAssertFalse(changesA.isEmpty)
    }

    func testDecisionSteps() {
        let t = AttrTable()
        var rib = RIB()
        var x = bgpSource(rib, "x"), y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        // 1. highest LOCAL_PREF
        XCTAssertEqual(best(rib, (x, attrs(t, path: [1, 2, 3], lp: 200)), (y, attrs(t, path: [1], lp: 100))), "x")
        // 2. shortest AS path
        rib = RIB(); x = bgpSource(rib, "x"); y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [1, 2, 3])), (y, attrs(t, path: [1, 2]))), "y")
        // 3. lowest ORIGIN
        rib = RIB(); x = bgpSource(rib, "x"); y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [1], origin: .incomplete)), (y, attrs(t, path: [2], origin: .egp))), "y")
        // 4. lowest MED, same neighbor AS only
        rib = RIB(); x = bgpSource(rib, "x"); y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [7, 1], med: 50)), (y, attrs(t, path: [7, 2], med: 10))), "y")
        rib = RIB(); x = bgpSource(rib, "x"); y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [8, 1], med: 50)), (y, attrs(t, path: [7, 2], med: 10))), "x", "MED ignored across neighbor ASes; router ID decides")
        // 5. eBGP over iBGP
        rib = RIB(); x = bgpSource(rib, "x", isInternal: true); y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [1])), (y, attrs(t, path: [2]))), "y")
        // 6. lowest router ID
        rib = RIB(); x = bgpSource(rib, "x", routerID: 9); y = bgpSource(rib, "y", routerID: 3, addr: "10.0.0.2")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [1])), (y, attrs(t, path: [2]))), "y")
        // 7. lowest neighbor address
        rib = RIB(); x = bgpSource(rib, "x", routerID: 5, addr: "10.0.0.9"); y = bgpSource(rib, "y", routerID: 5, addr: "10.0.0.3")
        XCTAssertEqual(best(rib, (x, attrs(t, path: [1])), (y, attrs(t, path: [2]))), "y")
        // Protocol preference first: static (200) beats BGP.
        rib = RIB(); x = bgpSource(rib, "x")
        let st = rib.addSource(name: "static1", kind: .static_, preference: 200)
        XCTAssertEqual(best(rib, (x, attrs(t, path: [], lp: 1000)), (st, t.intern(PathAttributes(), isBGP: false, dest: .blackhole, gateway: nil))), "static1")
    }

    func testWithdrawReselectsNextBest() {
        let t = AttrTable(), rib = RIB()
        let x = bgpSource(rib, "x"), y = bgpSource(rib, "y", routerID: 2, addr: "10.0.0.2")
        XCTAssertNotNil(rib.update(p, RouteEntry(attrs: attrs(t, path: [1]), src: x.id, since: 0)))
        XCTAssertNil(rib.update(p, RouteEntry(attrs: attrs(t, path: [1, 2]), src: y.id, since: 0)), "worse route does not change the best")
        XCTAssertEqual(rib.candidates(p).map { $0.src }, [x.id, y.id])
        XCTAssertEqual(rib.route(p, src: y.id)?.attrs.pathLength, 2)
        XCTAssertEqual(rib.routeCount, [2, 0])
        // A better route from y replaces y's own candidate and becomes the best.
        XCTAssertEqual(rib.update(p, RouteEntry(attrs: attrs(t, path: []), src: y.id, since: 0))?.new?.src, y.id)
        XCTAssertEqual(rib.candidates(p).map { $0.src }, [y.id, x.id])
        XCTAssertEqual(rib.routeCount, [2, 0])
        XCTAssertNil(rib.remove(p, src: x.id), "removing a candidate that is not the best changes nothing")
        XCTAssertEqual(rib.candidates(p).map { $0.src }, [y.id])
        XCTAssertNil(rib.update(p, RouteEntry(attrs: attrs(t, path: [1, 2, 3]), src: x.id, since: 0)))
        XCTAssertEqual(rib.update(p, RouteEntry(attrs: attrs(t, path: [1, 2, 3, 4]), src: y.id, since: 0))?.new?.src, x.id,
                       "y's route got worse than x's: x is selected")
        let ch = rib.remove(p, src: x.id)
        XCTAssertEqual(ch?.new?.src, y.id)
        XCTAssertEqual(rib.remove(p, src: y.id)?.new == nil, true)
        XCTAssertEqual(rib.count, 0)
        XCTAssertTrue(rib.others.isEmpty, "no candidates left behind")
        XCTAssertEqual(rib.routeCount, [0, 0])
    }

    func testInterningSharesAndSweeps() {
        let t = AttrTable()
        let a = attrs(t, path: [1, 2])
        let b = attrs(t, path: [1, 2])
        XCTAssertTrue(a === b)
        // A route in the table holds `a`: its reference is counted, so it survives a sweep.
        let rib = RIB(attrTable: t)
        let src = rib.addSource(name: "x", kind: .bgp, preference: 100)
        let p = IPPrefix("10.0.0.0/24")!
        rib.update(p, RouteEntry(attrs: a, src: src.id, since: 0))
        XCTAssertEqual(a.refs, 1)
        for i in 0..<5000 { _ = attrs(t, path: [UInt32(i)]) } // held by no route: swept on growth
        XCTAssertLessThan(t.count, 5000)
        XCTAssertTrue(attrs(t, path: [1, 2]) === a, "entries held by a route survive a sweep")
        // The route goes: the last reference is released and the set leaves the table at once.
        rib.remove(p, src: src.id)
        XCTAssertEqual(a.refs, 0)
        XCTAssertFalse(attrs(t, path: [1, 2]) === a, "an unreferenced set was left in the table")
        // Replacing a route releases the old set and counts the new one.
        let c = attrs(t, path: [7])
        let d = attrs(t, path: [8])
        rib.update(p, RouteEntry(attrs: c, src: src.id, since: 0))
        rib.update(p, RouteEntry(attrs: d, src: src.id, since: 0))
        XCTAssertEqual(c.refs, 0)
        XCTAssertEqual(d.refs, 1)
        XCTAssertEqual(rib.routeCount, [1, 0])
        XCTAssertEqual(src.preferred, [1, 0])
    }

    // MARK: Policy with a real speaker (no network)

    func speakerWith(_ text: String) throws -> BGPSpeaker {
        try BGPSpeaker(config: BGPConfig.parse(text: text), loop: EventLoop())
    }

    func testRFC8212DefaultDenyForEBGPWithoutPolicies() throws {
        let s = try speakerWith("router id 1.1.1.1;\nprotocol device {}")
        var c = BGPProtocolConfig(name: "e")
        c.localAS = 65000; c.neighborAS = 65001; c.neighborAddress = IPPrefix("10.0.0.2")
        c.channels = [ChannelConfig(family: .ipv4)]
        let src = s.rib.addSource(name: "e", kind: .bgp, preference: 100)
        let sess = Session(speaker: s, config: c, source: src, dynamic: false)
        XCTAssertTrue(sess.importPolicy(.ipv4).isNone)
        XCTAssertTrue(sess.exportPolicy(.ipv4).isNone)
        var ci = c; ci.neighborAS = 65000
        let ibgp = Session(speaker: s, config: ci, source: s.rib.addSource(name: "i", kind: .bgp, preference: 100), dynamic: false)
        XCTAssertTrue(ibgp.importPolicy(.ipv4).isAll, "BIRD iBGP default: import all")
        XCTAssertTrue(ibgp.exportPolicy(.ipv4).isNone, "BIRD iBGP default: export none")
    }

    func testExportRulesSplitHorizonNextHopAndPrepend() throws {
        let s = try speakerWith("""
        router id 1.1.1.1;
        protocol bgp ibgp1 { local 10.0.0.1 as 65000; neighbor 10.0.0.2 as 65000; ipv4 { import all; export all; }; }
        protocol bgp ibgp2 { local 10.0.0.1 as 65000; neighbor 10.0.0.3 as 65000; ipv4 { import all; export all; next hop self; }; }
        protocol bgp ext { local 10.0.0.1 as 65000; neighbor 10.0.0.4 as 65001; ipv4 { import all; export all; }; }
        """)
        // As when the sessions come up: the next hops follow from the source address.
        for sess in s.sessions { sess.negotiatedFamilies = [.ipv4Unicast]; sess.localAddress = IPPrefix("10.0.0.1"); sess.resolveNextHops() }
        let i1 = s.session("ibgp1"), i2 = s.session("ibgp2"), ext = s.session("ext")
        i1.source.isInternal = true
        let fromIBGP = s.attrs.intern(PathAttributes(origin: .igp, asPath: [.sequence([65009])], nextHop: 0x0A000063, localPref: 150),
                                      gateway: IPPrefix("10.0.0.99"))
        let e = RouteEntry(attrs: fromIBGP, src: i1.source.id, since: 0)
        // iBGP-learned route never goes to another iBGP peer (full mesh, no RR).
        XCTAssertNil(i2.exportRoute(p, e))
        XCTAssertNil(i1.exportRoute(p, e), "never back to the sender")
        // To eBGP: own AS prepended, next hop self, LOCAL_PREF removed.
        let out = try XCTUnwrap(ext.exportRoute(p, e))
        XCTAssertEqual(out.bgp.asPath, [.sequence([65000, 65009])])
        XCTAssertEqual(out.bgp.nextHop, 0x0A000001)
        XCTAssertNil(out.bgp.localPref)
        // eBGP-learned route to iBGP: next hop kept (unless next hop self), LOCAL_PREF set, no prepend.
        let fromExt = s.attrs.intern(PathAttributes(origin: .igp, asPath: [.sequence([65001])], nextHop: 0x0A000004), gateway: IPPrefix("10.0.0.4"))
        let e2 = RouteEntry(attrs: fromExt, src: ext.source.id, since: 0)
        let toI1 = try XCTUnwrap(i1.exportRoute(p, e2))
        XCTAssertEqual(toI1.bgp.nextHop, 0x0A000004)
        XCTAssertEqual(toI1.bgp.localPref, 100)
        XCTAssertEqual(toI1.bgp.asPath, [.sequence([65001])])
        let toI2 = try XCTUnwrap(i2.exportRoute(p, e2))
        XCTAssertEqual(toI2.bgp.nextHop, 0x0A000001, "next hop self")
        // NO_EXPORT stays inside the AS.
        let noExp = s.attrs.intern(PathAttributes(origin: .igp, asPath: [.sequence([65001])], nextHop: 0x0A000004,
                                                  communities: [PathAttributes.noExport]), gateway: nil)
        XCTAssertNil(ext.exportRoute(p, RouteEntry(attrs: noExp, src: i1.source.id, since: 0)))
    }

    func testStaticRoutesAndShowFormats() throws {
        let s = try speakerWith("""
        router id 1.1.1.1;
        protocol static static1 { ipv4; route 192.0.2.0/24 blackhole; route 198.51.100.0/24 via 10.0.0.9; }
        """)
        s.start()
        XCTAssertEqual(s.locRIBCount, 2)
        let r = s.showRoute()
        XCTAssertTrue(r.contains("Table master4:"))
        XCTAssertTrue(r.contains("192.0.2.0/24         blackhole [static1 "), r)
        XCTAssertTrue(r.contains("] * (200)"), r)
        XCTAssertTrue(r.contains("\tvia 10.0.0.9"), r)
        // BIRD 2 counts both default tables (master6 exists even when empty) and prints the total.
        XCTAssertEqual(s.showRoute(countOnly: true), "2 of 2 routes for 2 networks in table master4\n"
                       + "0 of 0 routes for 0 networks in table master6\nTotal: 2 of 2 routes for 2 networks in 2 tables\n")
        XCTAssertTrue(s.showRoute(for: IPPrefix("192.0.2.77")!).contains("192.0.2.0/24"))
        XCTAssertTrue(s.showRoute(protocol: "nope").isEmpty)
        XCTAssertTrue(s.showProtocols().hasPrefix("Name       Proto      Table      State  Since         Info\n"), s.showProtocols())
        XCTAssertTrue(s.showProtocols().contains("static1    Static     master4    up"))
        s.originate(IPPrefix("10.99.0.0/24")!)
        XCTAssertTrue(s.showRoute(protocol: "mesh").contains("10.99.0.0/24"))
        s.withdrawOrigin(IPPrefix("10.99.0.0/24")!)
        XCTAssertEqual(s.locRIBCount, 2)
        s.stop()
    }

    func testDynamicPeerFromTemplate() throws {
        let text = """
        router id 1.1.1.1;
        protocol device {}
        template bgp meshpeer { local as 65000; ipv4 { import all; export all; next hop self; }; hold time 90; }
        """
        let c = try BGPConfig.parse(text: text)
        var p = ConfigParser(text: text, fileName: "bgp.conf", includeLoader: nil)
        _ = try p.parseConfig()
        let s = try BGPSpeaker(config: c, loop: EventLoop())
        s.templates = p.bgpTemplates
        s.addDynamicPeer(name: "peer7", neighbor: IPPrefix("10.0.0.7")!, neighborAS: 65000, localAddress: nil, template: "meshpeer")
        let sess = s.session("peer7")
        XCTAssertTrue(sess.isInternal)
        XCTAssertEqual(sess.config.holdTime, 90)
        XCTAssertTrue(sess.exportPolicy(.ipv4).isAll)
        s.removeDynamicPeer(name: "peer7")
        XCTAssertTrue(s.sessions.isEmpty)
    }
}

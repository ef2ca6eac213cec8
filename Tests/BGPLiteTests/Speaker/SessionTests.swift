import XCTest
import MeshIO
@testable import BGPLite

final class SessionTests: XCTestCase {
    var port = testPortBase

    override func setUp() {
        super.setUp()
        port = testPortBase + Int.random(in: 0..<40) * 2
    }

    /// A (65000, 127.0.0.1) and B (65001, 127.0.0.2), both actively connecting: exercises collision resolution.
    func pair(aChannel: String = "import all; export all;", bChannel: String = "import all; export all;",
              aStatics: [String] = ["10.1.0.0/24"], bStatics: [String] = ["10.2.0.0/24"],
              aAS: Int = 65000, bAS: Int = 65001, aExtra: String = "", bExtra: String = "") throws -> (EventLoop, BGPSpeaker, BGPSpeaker) {
        let loop = try EventLoop()
        let a = try makeSpeaker(loopbackBGP(name: "b", localIP: "127.0.0.1", localAS: aAS, localPort: port, peerIP: "127.0.0.2",
                                            peerAS: bAS, peerPort: port + 1, routerID: "1.1.1.1", channel: aChannel, extra: aExtra,
                                            statics: aStatics), loop: loop)
        let b = try makeSpeaker(loopbackBGP(name: "a", localIP: "127.0.0.2", localAS: bAS, localPort: port + 1, peerIP: "127.0.0.1",
                                            peerAS: aAS, peerPort: port, routerID: "2.2.2.2", channel: bChannel, extra: bExtra,
                                            statics: bStatics), loop: loop)
        return (loop, a, b)
    }

    func testEBGPSessionEstablishesAndExchangesRoutes() throws {
        let (loop, a, b) = try pair()
        a.start(); b.start()
        let t0 = EventLoop.now()
        XCTAssertTrue(runLoop(loop, timeout: 5) { a.session("b").established != nil && b.session("a").established != nil })
        XCTAssertLessThan(EventLoop.now() - t0, 2)
        XCTAssertTrue(runLoop(loop, timeout: 3) { a.routeLines(proto: "b").count == 1 && b.routeLines(proto: "a").count == 1 })
        // eBGP export: our AS prepended, next hop self.
        let r = b.routeLines(proto: "a").first ?? ""
        XCTAssertTrue(r.hasPrefix("10.1.0.0/24") && r.contains("[AS65000i]"), r)
        XCTAssertTrue(b.showRoute().contains("via 127.0.0.1"), b.showRoute())
        // Collision resolution leaves exactly one connection per side.
        XCTAssertEqual(a.session("b").conns.count, 1)
        XCTAssertEqual(b.session("a").conns.count, 1)
        XCTAssertEqual(a.session("b").holdTimeNegotiated, 240)
        XCTAssertEqual(a.session("b").keepaliveNegotiated, 80)
        XCTAssertTrue(a.showProtocols().contains("Established"))
        XCTAssertTrue(a.showProtocols(all: "b").contains("Routes:         1 imported, 1 exported, 1 preferred"), a.showProtocols(all: "b"))
        let st = a.protocolStatus().first { $0.name == "b" }!
        XCTAssertTrue(st.established)
        XCTAssertEqual(st.prefixesAccepted, 1)
        // Withdraw on stop: B's static goes away from A when B shuts down.
        b.stop()
        XCTAssertTrue(runLoop(loop, timeout: 3) { a.routeLines(proto: "b").isEmpty })
        XCTAssertTrue(a.session("b").lastError.contains("Administrative shutdown"), a.session("b").lastError)
        a.stop()
    }

    func testHoldTimeNegotiationMinAndKeepaliveThird() throws {
        let (loop, a, b) = try pair(aExtra: "hold time 30;", bExtra: "hold time 90; keepalive time 5;")
        a.start(); b.start()
        XCTAssertTrue(runLoop(loop, timeout: 5) { a.session("b").established != nil && b.session("a").established != nil })
        XCTAssertEqual(a.session("b").holdTimeNegotiated, 30)
        XCTAssertEqual(a.session("b").keepaliveNegotiated, 10)
        XCTAssertEqual(b.session("a").holdTimeNegotiated, 30)
        XCTAssertEqual(b.session("a").keepaliveNegotiated, 5)
        a.stop(); b.stop()
    }

    func testBadPeerASIsRejected() throws {
        let (loop, a, b) = try pair(bExtra: "")
        // A expects AS 65009 from B.
        let loop2 = loop
        let a2 = try makeSpeaker(loopbackBGP(name: "b", localIP: "127.0.0.1", localAS: 65000, localPort: port + 10, peerIP: "127.0.0.2",
                                             peerAS: 65009, peerPort: port + 11, routerID: "1.1.1.1"), loop: loop2)
        let b2 = try makeSpeaker(loopbackBGP(name: "a", localIP: "127.0.0.2", localAS: 65001, localPort: port + 11, peerIP: "127.0.0.1",
                                             peerAS: 65000, peerPort: port + 10, routerID: "2.2.2.2"), loop: loop2)
        _ = (a, b)
        a2.start(); b2.start()
        XCTAssertTrue(runLoop(loop, timeout: 3) { b2.session("a").lastError.contains("Bad peer AS") })
        XCTAssertNil(a2.session("b").established)
        a2.stop(); b2.stop()
    }

    func testImportLimitBlockKeepsSessionAndDropsExcess() throws {
        let statics = (1...5).map { "10.9.\($0).0/24" }
        let (loop, a, b) = try pair(aChannel: "import all; export all; import limit 3 action block;", aStatics: [], bStatics: statics)
        a.start(); b.start()
        XCTAssertTrue(runLoop(loop, timeout: 5) { a.routeLines(proto: "b").count == 3 })
        spin(loop, 0.3)
        XCTAssertEqual(a.routeLines(proto: "b").count, 3)
        XCTAssertNotNil(a.session("b").established)
        a.stop(); b.stop()
    }

    /// Five routes against `import limit 3 action restart`: Cease/maximum prefixes, routes gone,
    /// reconnect after the error wait (virtual time), and the wait doubles when it trips again.
    func testImportLimitRestartSendsCeaseAndReconnects() throws {
        let p = try VirtualPeer(VirtualPeer.config("error wait time 1, 2;", channel: "import all; export all; import limit 3 action restart;"))
        for (round, wait) in [(1, 1), (2, 2)] {
            p.establish()
            p.sendRaw(bgpMessage(type: 2, body: updateBody(attrs: mandatory4, nlri: fiveSlash24)))
            XCTAssertEqual(p.notifications.map { "\($0.code)/\($0.subcode)" }, ["6/1"], "round \(round)")
            XCTAssertNil(p.session.established)
            XCTAssertTrue(p.speaker.routeLines(proto: "peer").isEmpty)
            XCTAssertEqual(p.session.startupDelay, wait)
            XCTAssertTrue(p.session.lastError.contains("Route import limit exceeded"), p.session.lastError)
        }
        XCTAssertEqual(p.connectAttempts.count, 2)
        XCTAssertEqual(p.connectAttempts[1] - p.connectAttempts[0], 1, accuracy: 1e-6, "reconnected after the 1 s error wait\n" + p.log.joined(separator: "\n"))
    }

    func testImportLimitDisable() throws {
        let p = try VirtualPeer(VirtualPeer.config("error wait time 1, 2;", channel: "import all; export all; import limit 3 action disable;"))
        p.establish()
        p.sendRaw(bgpMessage(type: 2, body: updateBody(attrs: mandatory4, nlri: fiveSlash24)))
        XCTAssertEqual(p.notifications.map { "\($0.code)/\($0.subcode)" }, ["6/1"])
        XCTAssertTrue(p.session.disabled)
        p.advance(600)
        XCTAssertNil(p.session.established)
        XCTAssertEqual(p.connectAttempts.count, 1, "a disabled protocol does not reconnect")
        XCTAssertEqual(p.session.protoState, .down)
        XCTAssertEqual(p.session.sessionState, .down)
    }

    func testFiltersAndPrint() throws {
        var printed: [String] = []
        let loop = try EventLoop()
        let a = try makeSpeaker("""
        router id 1.1.1.1;
        filter imp { if net ~ [10.2.1.0/24] then { print "Importing: ", net; accept; } reject; }
        protocol bgp b {
            local 127.0.0.1 port \(port) as 65000;
            neighbor 127.0.0.2 port \(port + 1) as 65001;
            ipv4 { import filter imp; export none; };
        }
        """, loop: loop)
        a.onEvent = { printed.append($0) }
        let b = try makeSpeaker(loopbackBGP(name: "a", localIP: "127.0.0.2", localAS: 65001, localPort: port + 1, peerIP: "127.0.0.1",
                                            peerAS: 65000, peerPort: port, routerID: "2.2.2.2",
                                            statics: ["10.2.1.0/24", "10.2.2.0/24", "10.2.3.0/24"]), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(runLoop(loop, timeout: 5) { a.routeLines(proto: "b").count == 1 })
        spin(loop, 0.2)
        XCTAssertEqual(a.routeLines(proto: "b").count, 1)
        XCTAssertEqual(a.session("b").filteredIn.count, 2)
        XCTAssertTrue(printed.contains("Importing: 10.2.1.0/24"), "\(printed)")
        // export none: B learns nothing from A.
        XCTAssertTrue(b.routeLines(proto: "a").isEmpty)
        a.stop(); b.stop()
    }

    func testGracefulRestartHelperKeepsStaleRoutesUntilEndOfRIB() throws {
        let p = try VirtualPeer(VirtualPeer.config())
        let gr = GracefulRestartCapability(restartState: false, notification: false, restartTime: 120,
                                           families: [GracefulRestartFamily(.ipv4Unicast, forwardingPreserved: true)])
        let caps = VirtualPeer.defaultCapabilities + [.gracefulRestart(gr)]
        p.establish(capabilities: caps)
        p.sendRaw(bgpMessage(type: 2, body: updateBody(attrs: mandatory4, nlri: threeSlash24)))
        XCTAssertEqual(p.speaker.routeLines(proto: "peer").count, 3)
        // The peer's TCP connection dies without a NOTIFICATION (a crash): its routes stay, stale.
        p.dropPeerEnd()
        XCTAssertEqual(p.session.staleCount, 3)
        XCTAssertEqual(p.speaker.routeLines(proto: "peer").count, 3)
        XCTAssertTrue(p.speaker.showRoute().contains("(100s)"), p.speaker.showRoute())
        // The peer comes back, re-announces two of them and sends End-of-RIB: the third is flushed,
        // the others are fresh again.
        p.establish(capabilities: caps)
        XCTAssertEqual(p.session.staleCount, 3)
        p.sendRaw(bgpMessage(type: 2, body: updateBody(attrs: mandatory4, nlri: hex("180a0001 180a0002"))))
        p.send(.update(UpdateMessage.endOfRIB(.ipv4Unicast)))
        XCTAssertEqual(p.session.staleCount, 0)
        XCTAssertEqual(p.speaker.routeLines(proto: "peer").count, 2, p.speaker.showRoute())
        XCTAssertFalse(p.speaker.showRoute().contains("(100s)"))
        XCTAssertEqual(p.now, 1, accuracy: 1e-6, "back after the 1 s reconnect delay, no real time spent")
    }

    func testRouteRefreshResendsAdjRIBOut() throws {
        let (loop, a, b) = try pair(aStatics: ["10.1.1.0/24", "10.1.2.0/24"], bStatics: [])
        a.start(); b.start()
        XCTAssertTrue(runLoop(loop, timeout: 5) { b.routeLines(proto: "a").count == 2 })
        spin(loop, 0.1)
        let sB = b.session("a")
        let before = sB.stats.updatesIn
        let c = sB.established!
        c.send(BGPMessage.routeRefresh(.request(.ipv4Unicast)).encode(options: c.options))
        XCTAssertTrue(runLoop(loop, timeout: 3) { sB.stats.updatesIn > before })
        spin(loop, 0.2)
        XCTAssertEqual(b.routeLines(proto: "a").count, 2)
        XCTAssertTrue(sB.enhancedRefresh)
        XCTAssertTrue(sB.refreshStale.isEmpty, "EoRR received")
        a.stop(); b.stop()
    }

    func testAttributesAreInterned() throws {
        let statics = (0..<500).map { "10.\(100 + $0 / 256).\($0 % 256).0/24" }
        let (loop, a, b) = try pair(aStatics: [], bStatics: statics)
        a.start(); b.start()
        let sb = a.session("b")
        XCTAssertTrue(runLoop(loop, timeout: 5) { sb.importedCount == 500 })
        let mine = a.rib.prefixes(of: sb.source.id)
        XCTAssertEqual(mine.count, 500)
        let sets = mine.compactMap { a.rib.route($0, src: sb.source.id)?.attrs }
        XCTAssertEqual(Set(sets.map { ObjectIdentifier($0) }).count, 1)
        // The one set is counted once per route that holds it.
        XCTAssertEqual(sets.first?.refs, 500)
        a.stop(); b.stop()
    }
}

/// 10.0.1.0/24 … 10.0.5.0/24
let fiveSlash24 = hex("180a0001 180a0002 180a0003 180a0004 180a0005")

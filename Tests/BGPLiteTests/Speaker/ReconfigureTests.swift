import XCTest
import MeshIO
@testable import BGPLite

/// `configure` on two in-process speakers over loopback: what changes on the wire and what must not.
final class ReconfigureTests: XCTestCase {
    var port = testPortBase

    override func setUp() {
        super.setUp()
        port = testPortBase + 80 + Int.random(in: 0..<8) * 2
    }

    /// A (65000, 127.0.0.1) originates 10.1.0.0/24 and 10.1.1.0/24; B (65001, 127.0.0.2) none.
    func aText(channel: String = "import all; export all;", extra: String = "", more: String = "") -> String {
        loopbackBGP(name: "b", localIP: "127.0.0.1", localAS: 65000, localPort: port, peerIP: "127.0.0.2", peerAS: 65001,
                    peerPort: port + 1, routerID: "1.1.1.1", channel: channel, extra: extra,
                    statics: ["10.1.0.0/24", "10.1.1.0/24"]) + more
    }

    func bText(channel: String = "import all; export all;") -> String {
        loopbackBGP(name: "a", localIP: "127.0.0.2", localAS: 65001, localPort: port + 1, peerIP: "127.0.0.1", peerAS: 65000,
                    peerPort: port, routerID: "2.2.2.2", channel: channel)
    }

    func up(_ loop: EventLoop, _ a: BGPSpeaker, _ b: BGPSpeaker) -> Bool {
        runLoop(loop, timeout: 5) { a.session("b").established != nil && b.session("a").established != nil
            && b.routeLines(proto: "a").count == 2 }
    }

    func apply(_ s: BGPSpeaker, _ text: String) throws -> [String] {
        var p = ConfigParser(text: text, fileName: "bgp.conf", includeLoader: nil)
        let c = try p.parseConfig()
        return try s.reconfigure(to: c, templates: p.bgpTemplates)
    }

    func prefixes(_ s: BGPSpeaker, from proto: String) -> [String] {
        s.routeLines(proto: proto).map { String($0.prefix { $0 != " " }) }.sorted()
    }

    func testUnchangedConfigKeepsTheSession() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(), loop: loop), b = try makeSpeaker(bText(), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(up(loop, a, b))
        let conn = a.session("b").established, since = a.session("b").since
        XCTAssertEqual(try apply(a, aText()), ["Reconfigured"])
        spin(loop, 0.3)
        XCTAssertTrue(a.session("b").established === conn)
        XCTAssertEqual(a.session("b").since, since)
        a.stop(); b.stop()
    }

    func testExportFilterChangeSendsOnlyTheDifference() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(), loop: loop), b = try makeSpeaker(bText(), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(up(loop, a, b))
        let connA = a.session("b").established, connB = b.session("a").established
        let updatesBefore = a.session("b").stats.updatesOut
        XCTAssertEqual(try apply(a, aText(channel: "import all; export where net = 10.1.0.0/24;")),
                       ["Reloading channel b.ipv4", "Reconfigured"])
        XCTAssertTrue(runLoop(loop, timeout: 3) { self.prefixes(b, from: "a") == ["10.1.0.0/24"] }, b.showRoute())
        // One withdrawal, nothing re-announced; neither side reset the session.
        XCTAssertEqual(a.session("b").stats.updatesOut - updatesBefore, 1)
        XCTAssertTrue(a.session("b").established === connA && b.session("a").established === connB)
        // Back to export all: the withdrawn prefix is announced again.
        _ = try apply(a, aText())
        XCTAssertTrue(runLoop(loop, timeout: 3) { self.prefixes(b, from: "a") == ["10.1.0.0/24", "10.1.1.0/24"] }, b.showRoute())
        XCTAssertTrue(b.session("a").established === connB)
        a.stop(); b.stop()
    }

    /// B keeps only accepted routes; the new import filter is applied to what A sends again after
    /// B's ROUTE-REFRESH, including routes the old filter had rejected.
    func testImportFilterChangeUsesRouteRefresh() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(), loop: loop), b = try makeSpeaker(bText(), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(up(loop, a, b))
        let connB = b.session("a").established
        XCTAssertEqual(try apply(b, bText(channel: "import where net = 10.1.1.0/24; export all;")),
                       ["Reloading channel a.ipv4", "Reconfigured"])
        XCTAssertTrue(runLoop(loop, timeout: 3) { self.prefixes(b, from: "a") == ["10.1.1.0/24"] }, b.showRoute())
        _ = try apply(b, bText())
        XCTAssertTrue(runLoop(loop, timeout: 3) { self.prefixes(b, from: "a") == ["10.1.0.0/24", "10.1.1.0/24"] }, b.showRoute())
        XCTAssertTrue(b.session("a").established === connB)
        a.stop(); b.stop()
    }

    /// Without the route refresh capability the routes cannot be asked for again: BIRD restarts the protocol.
    func testImportFilterChangeRestartsWhenThePeerCannotRefresh() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(extra: "enable route refresh off;"), loop: loop), b = try makeSpeaker(bText(), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(up(loop, a, b))
        let connA = a.session("b").established
        XCTAssertEqual(try apply(b, bText(channel: "import where net = 10.1.1.0/24; export all;")),
                       ["Restarting protocol a", "Reconfigured"])
        XCTAssertTrue(runLoop(loop, timeout: 5) { self.prefixes(b, from: "a") == ["10.1.1.0/24"] && b.session("a").established != nil },
                      b.showRoute())
        XCTAssertTrue(runLoop(loop, timeout: 5) { a.session("b").established != nil && a.session("b").established !== connA })
        a.stop(); b.stop()
    }

    func testSessionParameterChangeRestartsAndRemovedProtocolSendsPeerDeconfigured() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(), loop: loop), b = try makeSpeaker(bText(), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(up(loop, a, b))
        let conn = a.session("b").established
        XCTAssertEqual(try apply(a, aText(extra: "hold time 60;")), ["Restarting protocol b", "Reconfigured"])
        XCTAssertTrue(runLoop(loop, timeout: 5) { a.session("b").established != nil && a.session("b").established !== conn })
        XCTAssertEqual(a.session("b").holdTimeNegotiated, 60)
        XCTAssertTrue(runLoop(loop, timeout: 3) { b.routeLines(proto: "a").count == 2 })
        // Removed: Cease "peer de-configured", and B loses A's routes.
        let onlyStatic = """
            router id 1.1.1.1;
            protocol static st_b { ipv4; route 10.1.0.0/24 blackhole; route 10.1.1.0/24 blackhole; }
            """
        XCTAssertEqual(try apply(a, onlyStatic), ["Removing protocol b", "Reconfigured"])
        XCTAssertTrue(runLoop(loop, timeout: 3) { b.routeLines(proto: "a").isEmpty })
        XCTAssertTrue(b.session("a").lastError.contains("Peer de-configured"), b.session("a").lastError)
        XCTAssertFalse(a.sessions.contains { $0.name == "b" })
        a.stop(); b.stop()
    }

    func testStaticRouteChangesAndNewProtocol() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(), loop: loop), b = try makeSpeaker(bText(), loop: loop)
        a.start(); b.start()
        XCTAssertTrue(up(loop, a, b))
        let conn = b.session("a").established
        let changed = aText().replacingOccurrences(of: "route 10.1.1.0/24 blackhole;", with: "route 10.1.2.0/24 blackhole;")
            + "\nprotocol static extra { ipv4; route 10.9.0.0/24 blackhole; }\n"
        XCTAssertEqual(try apply(a, changed), ["Reloading channel st_b.ipv4", "Adding protocol extra", "Reconfigured"])
        XCTAssertTrue(runLoop(loop, timeout: 3) { self.prefixes(b, from: "a") == ["10.1.0.0/24", "10.1.2.0/24", "10.9.0.0/24"] },
                      b.showRoute())
        XCTAssertTrue(b.session("a").established === conn)
        a.stop(); b.stop()
    }

    /// A changed kernel export filter installs and removes only what differs.
    func testKernelExportChangeUpdatesTheFIB() throws {
        final class Recorder: FIBSink {
            var changes: [FIBChange] = []
            func apply(_ c: [FIBChange]) { changes += c }
        }
        let loop = try EventLoop()
        func text(_ export: String) -> String {
            """
            router id 1.1.1.1;
            protocol static st { ipv4; route 10.7.0.0/24 via 192.0.2.1; route 10.7.1.0/24 via 192.0.2.1; }
            protocol kernel { ipv4 { export \(export); }; }
            """
        }
        let fib = Recorder()
        let s = try BGPSpeaker(config: BGPConfig.parse(text: text("all")), loop: loop, fib: fib)
        s.start()
        spin(loop, 0.05)
        XCTAssertEqual(Set(fib.changes.map { $0.prefix.description }), ["10.7.0.0/24", "10.7.1.0/24"])
        fib.changes = []
        XCTAssertEqual(try apply(s, text("where net = 10.7.1.0/24")), ["Reloading channel kernel1.ipv4", "Reconfigured"])
        spin(loop, 0.05)
        XCTAssertEqual(fib.changes, [.remove(IPPrefix("10.7.0.0/24")!)])
        s.stop()
    }

    /// Mesh peers are built from `template bgp mesh`: a changed template reaches them.
    func testChangedTemplateReachesDynamicPeers() throws {
        let loop = try EventLoop()
        func text(_ channel: String, _ extra: String = "") -> String {
            "router id 1.1.1.1;\nprotocol device {}\ntemplate bgp mesh { local as 65000; \(extra) ipv4 { \(channel) }; }\n"
        }
        var p = ConfigParser(text: text("import all; export all;"), fileName: "bgp.conf", includeLoader: nil)
        let s = try BGPSpeaker(config: p.parseConfig(), loop: loop)
        s.templates = p.bgpTemplates
        s.addDynamicPeer(name: "node2", neighbor: IPPrefix("10.0.0.2")!, neighborAS: 65000, localAddress: nil, template: "mesh")
        XCTAssertEqual(try apply(s, text("import all; export all;")), ["Reconfigured"])
        XCTAssertEqual(try apply(s, text("import all; export none;")), ["Reloading channel node2.ipv4", "Reconfigured"])
        XCTAssertTrue(s.session("node2").exportPolicy(.ipv4).isNone)
        XCTAssertEqual(try apply(s, text("import all; export none;", "hold time 30;")), ["Restarting protocol node2", "Reconfigured"])
        XCTAssertEqual(s.session("node2").config.holdTime, 30)
        XCTAssertTrue(s.session("node2").dynamic)
    }

    func testRefusedConfigChangesNothing() throws {
        let loop = try EventLoop()
        let a = try makeSpeaker(aText(), loop: loop)
        XCTAssertThrowsError(try apply(a, aText(more: "\nprotocol kernel { ipv4 { export all; }; }\n"))) { e in
            XCTAssertTrue("\(e)".contains("kernel protocol cannot be added while running"), "\(e)")
        }
        XCTAssertEqual(a.config.protocols.count, 2)
    }
}

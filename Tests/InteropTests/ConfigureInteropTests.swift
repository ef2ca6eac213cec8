import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// `tincd-swift ctl configure` (birdc configure) against a real BIRD 2: the daemon runs with a bgp.conf
// holding an eBGP session to bird2 in the other namespace; bgp.conf is edited and applied live.
// Every test builds its own NetnsLab (unique namespace names), kills only its own pids, stays under 60 s.

private let birdBin = "/usr/sbin/bird"
private let birdcBin = "/usr/sbin/birdc"

final class ConfigureInteropTests: InteropTestCase {
    /// bird2 in namespace 0 (10.203.0.1): the ISP with three static prefixes; `customer` peers with our
    /// 10.203.0.2, `customer2` with 10.203.0.12 (a second address of ours, for a protocol added later).
    private let birdConfig = """
        router id 192.0.2.100;
        timeformat protocol iso long ms;
        protocol device {}
        protocol static static1 {
            ipv4;
            route 192.0.2.0/24 blackhole;
            route 198.51.100.0/24 blackhole;
            route 203.0.113.0/24 blackhole;
        }
        protocol bgp customer {
            local 10.203.0.1 as 65001;
            neighbor 10.203.0.2 as 65000;
            connect delay time 1;
            ipv4 { import all; export where proto = "static1"; };
        }
        protocol bgp customer2 {
            local 10.203.0.1 as 65001;
            neighbor 10.203.0.12 as 65000;
            connect delay time 1;
            ipv4 { import all; export where proto = "static1"; };
        }
        """

    /// Our bgp.conf; the tests edit the marked parts.
    private func ourConfig(accept: String = "192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24",
                           export: String = "proto = \"mesh_routes\"", extra: String = "") -> String {
        """
        router id 10.203.0.2;
        protocol device {}
        protocol static mesh_routes {
            ipv4;
            route 10.0.0.0/24 blackhole;
            route 10.0.1.0/24 blackhole;
        }
        filter import_from_isp {
            if net ~ [\(accept)] then accept;
            reject;
        }
        filter export_to_isp {
            if \(export) then accept;
            reject;
        }
        protocol bgp isp {
            local 10.203.0.2 as 65000;
            neighbor 10.203.0.1 as 65001;
            ipv4 { import filter import_from_isp; export filter export_to_isp; };
        }
        \(extra)
        """
    }

    private let secondProtocol = """
        protocol bgp isp2 {
            local 10.203.0.12 as 65000;
            neighbor 10.203.0.1 as 65001;
            ipv4 { import all; export none; };
        }
        """

    private struct Setup {
        let lab: NetnsLab
        let node: TincNode
        let birdDir: URL
        let birdSock: String
        var bgpConf: URL { node.confDir.appendingPathComponent("bgp.conf") }
        var socket: String { node.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket" }

        func ctl(_ args: String...) -> CommandResult { ctl(args) }

        func ctl(_ args: [String]) -> CommandResult {
            (try? Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", socket] + args, timeout: 15))
                ?? CommandResult(argv: args, status: -1, stdout: "", stderr: "ctl did not run", timedOut: false)
        }

        func birdc(_ args: String...) -> String {
            (try? lab.exec(in: lab.namespace(0), [birdcBin, "-s", birdSock] + args, timeout: 10).stdout) ?? ""
        }

        func write(_ conf: String) throws { try conf.write(to: bgpConf, atomically: true, encoding: .utf8) }

        /// Our `show protocols` line for `name` (state, since, info).
        func ourLine(_ name: String) -> String {
            ctl("show", "protocols").stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix(name + " ") } ?? ""
        }

        func birdLine(_ name: String) -> String {
            birdc("show", "protocols", name).split(separator: "\n").map(String.init).first { $0.hasPrefix(name + " ") } ?? ""
        }

        /// bird2's protocol state and since (`timeformat protocol iso long ms`). BIRD prints since as
        /// now minus the monotonic age, so two reads of an unchanged protocol differ by a millisecond
        /// or so; `uptimeKept` allows 50 ms, far less than any step of these tests takes.
        func birdState(_ name: String) -> (state: String, since: Double)? {
            let f = birdLine(name).split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard f.count >= 7 else { return nil }
            let fmt = DateFormatter()
            fmt.locale = Locale(identifier: "en_US_POSIX")
            fmt.timeZone = TimeZone(identifier: "UTC")
            fmt.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
            guard let d = fmt.date(from: f[4] + " " + f[5]) else { return nil }
            return (f[3] + " " + f[6], d.timeIntervalSince1970)
        }

        func uptimeKept(_ name: String, since before: (state: String, since: Double)?) -> Bool {
            guard let b = before, let now = birdState(name) else { return false }
            return now.state == "up Established" && b.state == now.state && abs(now.since - b.since) < 0.05
        }

        /// Prefixes in our table learned from `proto`.
        func ourRoutes(_ proto: String) -> [String] {
            ctl("show", "route", "protocol", proto).stdout.split(separator: "\n")
                .filter { $0.contains("[\(proto) ") }.map { String($0.prefix { $0 != " " }) }.sorted()
        }

        /// Prefixes bird imported from `proto`.
        func birdRoutes(_ proto: String) -> [String] {
            birdc("show", "route", "protocol", proto).split(separator: "\n")
                .filter { $0.contains("[\(proto) ") }.map { String($0.prefix { $0 != " " }) }.sorted()
        }

        func diagnostics() -> String {
            "\n--- ctl show protocols all ---\n" + ctl("show", "protocols", "all", "isp").stdout
                + "\n--- bird log ---\n" + LogFile(url: birdDir.appendingPathComponent("bird.log")).tail(30)
                + "\n--- birdc show protocols all ---\n" + birdc("show", "protocols", "all")
                + "\n" + node.diagnostics()
        }
    }

    /// `tag` names the lab's work dir; kept short because the control socket path must fit in sun_path (108 bytes).
    private func startPeers(tag: String, bgpAtStart: Bool = true) throws -> Setup {
        guard FileManager.default.isExecutableFile(atPath: birdBin) else { throw XCTSkip("bird2 not installed") }
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2, function: tag)
        let birdDir = lab.workDir.appendingPathComponent("cfisp")
        try FileManager.default.createDirectory(at: birdDir, withIntermediateDirectories: true)
        try birdConfig.write(to: birdDir.appendingPathComponent("bird.conf"), atomically: true, encoding: .utf8)
        let sock = birdDir.appendingPathComponent("bird.ctl").path
        _ = try lab.spawn(in: lab.namespace(0), [birdBin, "-f", "-c", birdDir.appendingPathComponent("bird.conf").path, "-s", sock,
                                                 "-P", birdDir.appendingPathComponent("bird.pid").path],
                          output: birdDir.appendingPathComponent("bird.log"), label: "bird")
        try lab.exec(in: lab.namespace(1), ["ip", "addr", "add", "10.203.0.12/24", "dev", "eth0"])
        let node = TincNode(name: "cfnode", impl: .swift, lab: lab, nsIndex: 1, port: 7631, subnets: [])
        node.debugLevel = 2
        watched = [node]
        try setUpNetwork([node])
        let s = Setup(lab: lab, node: node, birdDir: birdDir, birdSock: sock)
        if !bgpAtStart {
            try node.start()
            XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) { s.ctl("dump", "nodes").status == 0 }, "no control socket" + s.diagnostics())
            let none = s.ctl("configure")
            XCTAssertNotEqual(none.status, 0, none.description)
            XCTAssertTrue(none.stderr.contains("BGP is not running on this node"), none.description)
            try s.write(ourConfig())
            let started = s.ctl("configure")
            XCTAssertEqual(started.stdout, "Reading configuration from \(s.bgpConf.path)\nBGP speaker started\nReconfigured\n", started.description)
        } else {
            try s.write(ourConfig())
            try node.start()
        }
        let up = waitUntil(timeout: budget(20), poll: 0.1) {
            s.ourLine("isp").trimmingCharacters(in: .whitespaces).hasSuffix("Established") && s.birdRoutes("customer").count == 2 && s.ourRoutes("isp").count == 3
        }
        XCTAssertTrue(up, "isp session with bird2 not up with all routes" + s.diagnostics())
        return s
    }

    /// Unchanged file: nothing restarts. Export filter: bird2 gets a withdrawal, the session stays.
    /// Import filter (applied with ROUTE-REFRESH): our table changes, the session stays. SIGHUP and
    /// `ctl reload` apply bgp.conf too.
    func testUnchangedExportAndImportFilterChangesKeepTheSession() throws {
        let s = try startPeers(tag: "cfkeep")
        let ours = s.ourLine("isp"), theirs = s.birdState("customer")
        XCTAssertEqual(theirs?.state, "up Established", s.diagnostics())

        let same = s.ctl("configure")
        XCTAssertEqual(same.status, 0, same.description)
        XCTAssertEqual(same.stdout, "Reading configuration from \(s.bgpConf.path)\nReconfigured\n")
        let check = s.ctl("configure", "check")
        XCTAssertEqual(check.stdout, "Reading configuration from \(s.bgpConf.path)\nConfiguration OK\n", check.description)

        try s.write(ourConfig(export: "proto = \"mesh_routes\" && net = 10.0.0.0/24"))
        let exp = s.ctl("configure")
        XCTAssertEqual(exp.stdout, "Reading configuration from \(s.bgpConf.path)\nReloading channel isp.ipv4\nReconfigured\n", exp.description)
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) { s.birdRoutes("customer") == ["10.0.0.0/24"] },
                      "bird2 still has \(s.birdRoutes("customer"))" + s.diagnostics())

        // The import change through SIGHUP (BIRD's signal for configure).
        try s.write(ourConfig(accept: "192.0.2.0/24", export: "proto = \"mesh_routes\" && net = 10.0.0.0/24"))
        XCTAssertTrue(s.node.signal(SIGHUP))
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) { s.ourRoutes("isp") == ["192.0.2.0/24"] },
                      "our table still has \(s.ourRoutes("isp"))" + s.diagnostics())
        assertLogLine(s.node, matching: "BGP: Reloading channel isp.ipv4", timeout: 5)

        // `ctl reload` (tinc's reload) re-reads bgp.conf as well: the filters back as they were.
        try s.write(ourConfig())
        let reload = s.ctl("reload")
        XCTAssertEqual(reload.stdout, "Configuration reloaded.\nReading configuration from \(s.bgpConf.path)\nReloading channel isp.ipv4\nReconfigured\n",
                       reload.description)
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) {
            s.ourRoutes("isp").count == 3 && s.birdRoutes("customer") == ["10.0.0.0/24", "10.0.1.0/24"]
        }, s.diagnostics())

        // Neither side saw the session go down: same state and since on both.
        XCTAssertEqual(s.ourLine("isp"), ours, s.diagnostics())
        XCTAssertTrue(s.uptimeKept("customer", since: theirs), s.birdLine("customer") + s.diagnostics())
    }

    /// No bgp.conf at start: configure says BGP is not running; once bgp.conf exists, configure starts it.
    func testConfigureStartsBGPWhenBgpConfAppears() throws {
        let s = try startPeers(tag: "cfstart", bgpAtStart: false)
        XCTAssertTrue(s.ourLine("isp").trimmingCharacters(in: .whitespaces).hasSuffix("Established"), s.diagnostics())
    }

    /// The automatic iBGP mesh: sessions made from `template bgp mesh` follow a changed template
    /// (export none: the peer loses our prefix) without a reset.
    func testChangedMeshTemplateReachesMeshSessions() throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2, function: "cfmesh")
        let a = TincNode(name: "mA", impl: .swift, lab: lab, nsIndex: 0, port: 7641, subnets: [])
        let b = TincNode(name: "mB", impl: .swift, lab: lab, nsIndex: 1, port: 7642, subnets: [])
        let overlay = ["10.92.0.1", "10.92.0.2"]
        for (i, n) in [a, b].enumerated() {
            n.mode = "switch"
            n.debugLevel = 2
            n.extraConfig = ["DeviceType = tap", "Interface = tinc0"]
            n.hostConfig = ["BGPAddress = \(overlay[i])"]
            n.tincUpCommands = ["ip link set \"$INTERFACE\" up", "ip addr add \(overlay[i])/24 dev \"$INTERFACE\""]
        }
        a.connectTo = ["mB"]
        watched = [a, b]
        try setUpNetwork([a, b])
        func bgpConf(_ i: Int, export: String) -> String {
            """
            router id \(overlay[i]);
            protocol device {}
            protocol static site { ipv4; route 10.192.\(i + 1).0/24 blackhole; }
            template bgp mesh {
                local as 65000;
                direct;
                ipv4 { import all; export \(export); next hop self; };
            }
            """
        }
        for (i, n) in [a, b].enumerated() {
            try bgpConf(i, export: "all").write(to: n.confDir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        }
        try start(b, a)
        func ctl(_ n: TincNode, _ args: String...) -> String {
            let sock = n.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket"
            return (try? Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", sock] + args, timeout: 15).stdout) ?? ""
        }
        func routes(_ n: TincNode, from proto: String) -> String { ctl(n, "show", "route", "protocol", proto) }
        func line(_ n: TincNode, _ proto: String) -> String {
            ctl(n, "show", "protocols").split(separator: "\n").map(String.init).first { $0.hasPrefix(proto + " ") } ?? ""
        }
        XCTAssertTrue(waitUntil(timeout: budget(30), poll: 0.2) { routes(b, from: "mA").contains("10.192.1.0/24") },
                      "mB never got mA's prefix" + diagnostics())
        let sessionAtB = line(b, "mA")
        XCTAssertTrue(sessionAtB.trimmingCharacters(in: .whitespaces).hasSuffix("Established"), sessionAtB)

        try bgpConf(0, export: "none").write(to: a.confDir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        let r = ctl(a, "configure")
        XCTAssertTrue(r.contains("Reloading channel mB.ipv4\nReconfigured\n"), r)
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) { !routes(b, from: "mA").contains("10.192.1.0/24") },
                      "mB still has mA's prefix" + diagnostics())
        XCTAssertEqual(line(b, "mA"), sessionAtB, "the mesh session was reset" + diagnostics())
    }

    /// A syntax error is refused with file:line:column; the running configuration keeps working.
    func testSyntaxErrorIsRefusedAndTheOldConfigKeepsRunning() throws {
        let s = try startPeers(tag: "cfsyntax")
        let ours = s.ourLine("isp"), theirs = s.birdState("customer")
        let broken = ourConfig().replacingOccurrences(of: "neighbor 10.203.0.1 as 65001;", with: "neighbor 10.203.0.1 as 65001")
        try s.write(broken)
        let lineNo = broken.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("ipv4 { import filter") }! + 1
        for args in [["configure"], ["configure", "check"]] {
            let r = s.ctl(args)
            XCTAssertNotEqual(r.status, 0, r.description)
            XCTAssertTrue(r.stderr.contains("\(s.bgpConf.path):\(lineNo):5: syntax error"), r.description)
            XCTAssertTrue(r.stderr.contains("The running configuration is kept"), r.description)
        }
        // Still running the old one: routes both ways, session untouched, and a later good file applies.
        XCTAssertEqual(s.ourRoutes("isp").count, 3)
        XCTAssertEqual(s.birdRoutes("customer"), ["10.0.0.0/24", "10.0.1.0/24"])
        XCTAssertEqual(s.ourLine("isp"), ours)
        XCTAssertTrue(s.uptimeKept("customer", since: theirs), s.birdLine("customer"))
        try s.write(ourConfig(accept: "203.0.113.0/24"))
        XCTAssertEqual(s.ctl("configure").status, 0)
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) { s.ourRoutes("isp") == ["203.0.113.0/24"] }, s.diagnostics())
        XCTAssertTrue(s.uptimeKept("customer", since: theirs), s.birdLine("customer") + s.diagnostics())
    }

    /// A protocol added to bgp.conf comes up; removed again, bird2 gets Cease "peer de-configured".
    /// Changed session parameters restart only that protocol.
    func testNewProtocolComesUpRemovedGoesDownChangedRestarts() throws {
        let s = try startPeers(tag: "cfaddrm")
        let theirs = s.birdState("customer")
        try s.write(ourConfig(extra: secondProtocol))
        let add = s.ctl("configure")
        XCTAssertEqual(add.stdout, "Reading configuration from \(s.bgpConf.path)\nAdding protocol isp2\nReconfigured\n", add.description)
        XCTAssertTrue(waitUntil(timeout: budget(15), poll: 0.1) {
            s.ourLine("isp2").trimmingCharacters(in: .whitespaces).hasSuffix("Established") && s.birdLine("customer2").contains("Established")
        }, "isp2 did not come up" + s.diagnostics())
        XCTAssertTrue(waitUntil(timeout: budget(5), poll: 0.1) { s.ourRoutes("isp2").count == 3 }, s.diagnostics())

        // Session parameter of isp2 (hold time): isp2 restarts, isp does not.
        let isp2Before = s.birdState("customer2")
        try s.write(ourConfig(extra: secondProtocol.replacingOccurrences(of: "ipv4 { import all;", with: "hold time 60; ipv4 { import all;")))
        let restart = s.ctl("configure")
        XCTAssertEqual(restart.stdout, "Reading configuration from \(s.bgpConf.path)\nRestarting protocol isp2\nReconfigured\n", restart.description)
        XCTAssertTrue(waitUntil(timeout: budget(15), poll: 0.2) {
            s.birdc("show", "protocols", "all", "customer2").contains("Hold timer:") && s.birdLine("customer2").contains("Established")
                && s.ctl("show", "protocols", "all", "isp2").stdout.contains("/60")
        }, "isp2 not back with hold time 60" + s.diagnostics())
        XCTAssertFalse(s.uptimeKept("customer2", since: isp2Before), "the restart is visible at bird2 (the check can fail)")

        try s.write(ourConfig())
        let remove = s.ctl("configure")
        XCTAssertEqual(remove.stdout, "Reading configuration from \(s.bgpConf.path)\nRemoving protocol isp2\nReconfigured\n", remove.description)
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) {
            s.birdc("show", "protocols", "all", "customer2").contains("Received: Peer de-configured")
        }, "bird2 did not get Cease peer de-configured" + s.diagnostics())
        XCTAssertEqual(s.ourLine("isp2"), "")
        XCTAssertTrue(s.ourRoutes("isp2").isEmpty)
        XCTAssertTrue(s.uptimeKept("customer", since: theirs), "the unchanged session was touched" + s.diagnostics())
    }
}

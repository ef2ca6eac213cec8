import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// birdc parity: the same bgp.conf runs in a real bird2 ("ref", 10.203.0.2) and in tincd-swift (10.203.0.3),
// both customers of one ISP bird2 (10.203.0.1) that announces three prefixes; each birdc command is
// asked of both and the replies compared line by line after normalising only what must differ:
// times, timer values, our own address, the order of networks in a table (BIRD walks its hash) and
// the local capabilities (BGPLite does not offer long-lived graceful restart).
// Live comparison against bird2 in namespaces; every lab is NetnsLab's (unique names), killed by pid.

private let birdBin = "/usr/sbin/bird"
private let birdcBin = "/usr/sbin/birdc"

final class BirdcParityInteropTests: InteropTestCase {
    private let ispConfig = """
        log stderr all;
        router id 192.0.2.100;
        protocol device {}
        protocol bfd {}
        protocol static static1 {
            ipv4;
            route 192.0.2.0/24 blackhole;
            route 198.51.100.0/24 blackhole;
            route 203.0.113.0/24 blackhole;
        }
        protocol bgp ref { local 10.203.0.1 as 65001; neighbor 10.203.0.2 as 65000; connect delay time 1; bfd on;
            ipv4 { import all; export where proto = "static1"; }; }
        protocol bgp ours { local 10.203.0.1 as 65001; neighbor 10.203.0.3 as 65000; connect delay time 1; bfd on;
            ipv4 { import all; export where proto = "static1"; }; }
        """

    /// The customer config both speakers run.
    private func customerConfig(local: String) -> String {
        """
        router id \(local);
        protocol device {}
        protocol bfd bfd1 {}
        filter import_from_isp {
            if net ~ [192.0.2.0/24, 198.51.100.0/24] then accept;
            reject;
        }
        protocol bgp isp {
            description "ISP uplink";
            local \(local) as 65000;
            neighbor 10.203.0.1 as 65001;
            bfd on;
            ipv4 { import filter import_from_isp; export where proto = "mesh_routes"; import keep filtered; };
        }
        # after the session: `show protocols` lists protocols in config order
        protocol static mesh_routes {
            ipv4;
            route 10.0.0.0/24 blackhole;
            route 10.0.1.0/24 blackhole;
        }
        """
    }

    private struct Peers {
        let lab: NetnsLab
        let node: TincNode
        let refSock: String
        let ispSock: String
        var socket: String { node.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket" }

        func ours(_ words: [String]) -> String {
            guard let r = try? Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", socket] + words, timeout: 15) else { return "ctl did not run" }
            return r.stdout + (r.status == 0 ? "" : "ERROR(\(r.status)) " + r.stderr)
        }

        /// birdc's reply without its "BIRD 2.0.12 ready." greeting.
        func bird(_ sock: String, ns: Int, _ words: [String]) -> String {
            let out = (try? lab.exec(in: lab.namespace(ns), [birdcBin, "-s", sock] + words, timeout: 10).stdout) ?? ""
            return out.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("BIRD ") && $0.hasSuffix("ready.") }
                .joined(separator: "\n")
        }

        func ref(_ words: [String]) -> String { bird(refSock, ns: 1, words) }
    }

    /// Times (07:42:31.652), timer values (227.398/240), our own address, BFD interval/timeout
    /// figures stay; networks inside each table are sorted by their first line.
    static func normalise(_ text: String, selfAddress: String) -> String {
        var lines = text.replacingOccurrences(of: selfAddress, with: "SELF")
            .replacingOccurrences(of: #"\d\d:\d\d:\d\d\.\d\d\d"#, with: "TIME", options: .regularExpression)
            .replacingOccurrences(of: #"\d+\.\d\d\d/"#, with: "T/", options: .regularExpression)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The local capabilities block (until "Neighbor capabilities") differs by design.
        if let i = lines.firstIndex(of: "    Local capabilities"), let j = lines.firstIndex(of: "    Neighbor capabilities"), i < j {
            lines.removeSubrange((i + 1)..<j)
        }
        // Sort route blocks (a network line and its tab-indented lines) inside each table.
        var out: [String] = []
        var blocks: [[String]] = []
        func flush() { out += blocks.sorted { $0[0] < $1[0] }.flatMap { $0 }; blocks = [] }
        for l in lines {
            if l.hasPrefix("\t") && !blocks.isEmpty { blocks[blocks.count - 1].append(l); continue }
            if l.contains(" [") && (l.contains(" unicast ") || l.contains(" blackhole ")) { blocks.append([l]); continue }
            flush()
            out.append(l)
        }
        flush()
        return out.joined(separator: "\n")
    }

    private func startPeers(tag: String) throws -> Peers {
        guard FileManager.default.isExecutableFile(atPath: birdBin) else { throw XCTSkip("bird2 not installed") }
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 3, function: tag)
        func startBird(_ name: String, ns: Int, config: String) throws -> String {
            let dir = lab.workDir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try config.write(to: dir.appendingPathComponent("bird.conf"), atomically: true, encoding: .utf8)
            let sock = dir.appendingPathComponent("bird.ctl").path
            _ = try lab.spawn(in: lab.namespace(ns), [birdBin, "-f", "-c", dir.appendingPathComponent("bird.conf").path, "-s", sock,
                                                      "-P", dir.appendingPathComponent("bird.pid").path],
                              output: dir.appendingPathComponent("bird.log"), label: "bird-\(name)")
            return sock
        }
        let ispSock = try startBird("bdisp", ns: 0, config: ispConfig)
        let refSock = try startBird("bdref", ns: 1, config: customerConfig(local: lab.address(1)))
        let node = TincNode(name: "bdnode", impl: .swift, lab: lab, nsIndex: 2, port: 7641, subnets: [])
        node.debugLevel = 2
        watched = [node]
        try setUpNetwork([node])
        try customerConfig(local: lab.address(2)).write(to: node.confDir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        try node.start()
        let p = Peers(lab: lab, node: node, refSock: refSock, ispSock: ispSock)
        let up = waitUntil(timeout: budget(30), poll: 0.2) {
            p.ours(["show", "route", "count"]).hasPrefix("4 of 4 routes") && p.ref(["show", "route", "count"]).hasPrefix("4 of 4 routes")
                && p.ours(["show", "bfd", "sessions"]).contains(" Up ") && p.ref(["show", "bfd", "sessions"]).contains(" Up ")
        }
        XCTAssertTrue(up, "sessions not up with all routes\nours:\n\(p.ours(["show", "protocols", "all", "isp"]))\nref:\n\(p.ref(["show", "protocols", "all", "isp"]))" + diagnostics())
        return p
    }

    private func compare(_ p: Peers, _ words: [String], allowEmpty: Bool = false, file: StaticString = #filePath, line: UInt = #line) {
        let ref = BirdcParityInteropTests.normalise(p.ref(words), selfAddress: p.lab.address(1))
        let ours = BirdcParityInteropTests.normalise(p.ours(words), selfAddress: p.lab.address(2))
        XCTAssertTrue(allowEmpty || !ref.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "bird2 said nothing to `\(words.joined(separator: " "))`", file: file, line: line)
        XCTAssertEqual(ours, ref, "`birdc \(words.joined(separator: " "))` differs\n--- bird2 ---\n\(ref)\n--- tincd-swift ---\n\(ours)", file: file, line: line)
    }

    /// Every show command of the brief, on the same state in bird2 and in tincd-swift.
    func testBdShowCommandsMatchBird2() throws {
        let p = try startPeers(tag: "bdshow")
        for words in [["show", "protocols"], ["show", "protocols", "isp"], ["show", "protocols", "all", "isp"],
                      ["show", "protocols", "mesh_routes"], ["show", "protocols", "all", "mesh_routes"],
                      ["show", "route"], ["show", "route", "all"], ["show", "route", "for", "192.0.2.77"],
                      ["show", "route", "for", "10.9.9.9"], ["show", "route", "192.0.2.0/24"],
                      ["show", "route", "protocol", "isp"], ["show", "route", "protocol", "mesh_routes"],
                      ["show", "route", "export", "isp"], ["show", "route", "filtered"], ["show", "route", "filtered", "protocol", "isp"],
                      ["show", "route", "count"], ["show", "route", "protocol", "isp", "count"], ["show", "route", "export", "isp", "count"],
                      ["show", "bfd", "sessions"]] {
            compare(p, words)
        }
    }

    /// enable/disable/restart/reload: the replies and the protocol line afterwards, as bird2's.
    func testBdProtocolCommandsMatchBird2() throws {
        let p = try startPeers(tag: "bdcmds")
        func step(_ words: [String], allowEmpty: Bool = false, then wait: ((String) -> Bool)? = nil) {
            compare(p, words, allowEmpty: allowEmpty)
            if let wait {
                XCTAssertTrue(waitUntil(timeout: budget(15), poll: 0.2) { wait(p.ours(["show", "protocols", "isp"])) && wait(p.ref(["show", "protocols", "isp"])) },
                              "after \(words): ours \(p.ours(["show", "protocols", "isp"])) ref \(p.ref(["show", "protocols", "isp"]))")
            }
            compare(p, ["show", "protocols", "isp"])
        }
        step(["reload", "isp"])
        step(["reload", "in", "isp"])
        step(["reload", "out", "isp"])
        step(["enable", "isp"])
        step(["disable", "isp"], then: { $0.contains(" down ") })
        step(["disable", "isp"])
        step(["reload", "isp"])
        step(["restart", "isp"])
        step(["show", "route", "protocol", "isp"], allowEmpty: true)   // disabled: no routes, no table header
        step(["enable", "isp"], then: { $0.contains("Established") })
        compare(p, ["show", "route", "count"])
        step(["restart", "isp"], then: { $0.contains("Established") })
        step(["disable", "mesh_routes"])
        compare(p, ["show", "route", "count"])
        step(["enable", "mesh_routes"])
        compare(p, ["show", "route", "count"])
    }
}

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// Both address families on one BGP session (RFC 4760), against real bird2 and FRR in namespaces:
// an IPv4 session carries IPv6 routes (MP_REACH_NLRI, AFI 2) and an IPv6 session IPv4 routes, each
// with the next hop BIRD would choose (the interface's address of that family). Every test makes
// its own NetnsLab (unique namespace names), stops only its own pids and stays under 60 s.

/// The lab's link also gets IPv6: node i has fd00:da::<i+1>/64 (nodad: usable at once).
private func addIPv6(_ lab: NetnsLab, nodes: Int) throws {
    for i in 0..<nodes {
        try Shell.check(["ip", "-n", lab.namespace(i), "addr", "add", "\(v6(i))/64", "dev", "eth0", "nodad"])
    }
}

private func v6(_ i: Int) -> String { "fd00:da::\(i + 1)" }

/// One route of a BIRD-style `show route` listing (birdc, or our bgp.status).
struct ShownRoute: Equatable, CustomStringConvertible {
    var prefix: String
    var proto: String
    var via: String?
    var description: String { "\(prefix) [\(proto)] via \(via ?? "-")" }

    /// Parses `show route` text: a prefix line (or an indented alternative) naming `[proto ...`, then `\tvia X on IF`.
    static func parse(_ text: String) -> [ShownRoute] {
        var out: [ShownRoute] = []
        var prefix = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("\tvia ") || line.hasPrefix("\t  via ") {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                if !out.isEmpty, out[out.count - 1].via == nil, f.count >= 2 { out[out.count - 1].via = String(f[1]) }
                continue
            }
            guard let open = line.range(of: " [") else { continue }
            if let first = line.first, first != " " && first != "\t" {
                prefix = String(line.split(separator: " ")[0])
            }
            let rest = line[open.upperBound...]
            let proto = rest.split(separator: " ").first.map(String.init) ?? ""
            out.append(ShownRoute(prefix: prefix, proto: proto.hasSuffix("]") ? String(proto.dropLast()) : proto, via: nil))
        }
        return out
    }
}

/// FRR's zebra + bgpd (Debian's frr) in a namespace, as the unprivileged user frr, with every path
/// (config, pid files, zebra socket, vty sockets, logs) in the test's own directory.
final class FRRNode {
    static let bgpdBin = "/usr/lib/frr/bgpd"
    static let zebraBin = "/usr/lib/frr/zebra"
    static let vtyshBin = "/usr/bin/vtysh"
    let lab: NetnsLab
    let ns: String
    let dir: URL

    init(lab: NetnsLab, node: Int, name: String, bgpdConfig: String) throws {
        self.lab = lab
        ns = lab.namespace(node)
        dir = lab.workDir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try bgpdConfig.write(to: dir.appendingPathComponent("bgpd.conf"), atomically: true, encoding: .utf8)
        try "hostname \(name)\n".write(to: dir.appendingPathComponent("zebra.conf"), atomically: true, encoding: .utf8)
        // The daemons drop to frr:frr before they write pid files and sockets.
        try Shell.check(["chown", "-R", "frr:frr", dir.path])
    }

    static func requireInstalled() throws {
        for b in [bgpdBin, zebraBin, vtyshBin] where !FileManager.default.isExecutableFile(atPath: b) {
            throw XCTSkip("FRR not installed (\(b) missing): apt-get install frr")
        }
        guard getpwnam("frr") != nil else { throw XCTSkip("FRR's user frr does not exist (install the frr package)") }
    }

    private func path(_ f: String) -> String { dir.appendingPathComponent(f).path }

    /// zebra first (bgpd learns the interface addresses from it: without zebra FRR announces IPv4 routes
    /// over an IPv6 session with next hop 0.0.0.0), then bgpd with `-n` (no kernel routes).
    func start(timeout: TimeInterval) throws {
        let common = ["-u", "frr", "-g", "frr", "--vty_socket", dir.path, "-P", "0", "-z", path("zserv.api")]
        _ = try lab.spawn(in: ns, [FRRNode.zebraBin, "-f", path("zebra.conf"), "-i", path("zebra.pid"),
                                   "--log", "file:" + path("zebra.log")] + common,
                          output: dir.appendingPathComponent("zebra.out"), label: "zebra")
        guard waitUntil(timeout: timeout, poll: 0.05, { FileManager.default.fileExists(atPath: self.path("zserv.api")) }) else {
            throw InteropError("zebra did not create \(path("zserv.api"))\n\(diagnostics())")
        }
        _ = try lab.spawn(in: ns, [FRRNode.bgpdBin, "-n", "-f", path("bgpd.conf"), "-i", path("bgpd.pid"),
                                   "--log", "file:" + path("bgpd.log")] + common,
                          output: dir.appendingPathComponent("bgpd.out"), label: "bgpd")
        guard waitUntil(timeout: timeout, poll: 0.05, { FileManager.default.fileExists(atPath: self.path("bgpd.vty")) }) else {
            throw InteropError("bgpd did not create its vty socket\n\(diagnostics())")
        }
    }

    func vtysh(_ command: String) -> String {
        (try? Shell.run([FRRNode.vtyshBin, "--vty_socket", dir.path, "-d", "bgpd", "-c", command], timeout: 10).stdout) ?? ""
    }

    /// `show bgp <afi> unicast json`: prefix -> [(peer, next hops)].
    func paths(_ afi: String) -> [String: [(peer: String, nextHops: [String])]] {
        guard let data = vtysh("show bgp \(afi) unicast json").data(using: .utf8),
              let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let routes = top["routes"] as? [String: Any] else { return [:] }
        var out: [String: [(peer: String, nextHops: [String])]] = [:]
        for (prefix, v) in routes {
            for p in (v as? [[String: Any]]) ?? [] {
                let nhs = ((p["nexthops"] as? [[String: Any]]) ?? []).compactMap { $0["ip"] as? String }
                out[prefix, default: []].append((peer: p["peerId"] as? String ?? "?", nextHops: nhs))
            }
        }
        return out
    }

    func diagnostics() -> String {
        "--- bgpd log ---\n" + LogFile(url: dir.appendingPathComponent("bgpd.log")).tail(30)
            + "\n--- bgpd stdout ---\n" + LogFile(url: dir.appendingPathComponent("bgpd.out")).tail(10)
            + "\n--- zebra stdout ---\n" + LogFile(url: dir.appendingPathComponent("zebra.out")).tail(10)
            + "\n--- show bgp summary ---\n" + vtysh("show bgp summary")
    }
}

final class DualFamilyInteropTests: InteropTestCase {
    private var diagSources: [() -> String] = []

    private func diag() -> String { "\n" + diagSources.map { $0() }.joined(separator: "\n") }

    private func requireTools() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bird") else { throw XCTSkip("bird2 not installed") }
        guard FileManager.default.isExecutableFile(atPath: TincBinaries.swiftBinary) else {
            throw XCTSkip("tincd-swift not built at \(TincBinaries.swiftBinary)")
        }
    }

    /// Our side: 10.0.0.0/24 and 2001:db8:a::/48, exported on both channels of every session in `peers`
    /// (name, local address, neighbor address). No `next hop address`: the next hops are chosen as BIRD does.
    private func ourConfig(routerID: String, peers: [(String, String, String)], ipv6Channel: String? = nil) -> String {
        let v6ch = ipv6Channel ?? "ipv6 { import all; export where proto = \"st6\"; };"
        var text = """
        router id \(routerID);
        protocol static st4 { ipv4; route 10.0.0.0/24 blackhole; }
        protocol static st6 { ipv6; route 2001:db8:a::/48 blackhole; }

        """
        for (name, local, neighbor) in peers {
            text += """
            protocol bgp \(name) {
                local \(local) as 65000;
                neighbor \(neighbor) as 65001;
                ipv4 { import all; export where proto = "st4"; };
                \(v6ch)
            }

            """
        }
        return text
    }

    /// bird2: 192.0.2.0/24 and 2001:db8:b::/48, both channels on one session to `neighbor`.
    private func birdConfig(local: String, neighbor: String) -> String {
        """
        router id 10.203.0.1;
        protocol device {}
        protocol static s4 { ipv4; route 192.0.2.0/24 blackhole; }
        protocol static s6 { ipv6; route 2001:db8:b::/48 blackhole; }
        protocol bgp customer {
            local \(local) as 65001;
            neighbor \(neighbor) as 65000;
            ipv4 { import all; export where proto = "s4"; };
            ipv6 { import all; export where proto = "s6"; };
        }
        """
    }

    private func birdRoutes(_ b: BirdNode) -> [ShownRoute] {
        ShownRoute.parse(b.birdc("show", "route", "protocol", "customer"))
    }

    private func ourRoutes(_ us: BGPLiteNode) -> [ShownRoute] {
        us.refreshStatus()
        return ShownRoute.parse(us.status())
    }

    /// The `Routes:` line of a channel in our `show protocols all` (bgp.status).
    private func channelRoutes(_ us: BGPLiteNode, proto: String, channel: String) -> String {
        var inProto = false, inChannel = false
        for line in us.status().split(separator: "\n").map(String.init) {
            if !line.hasPrefix(" ") { inProto = line.hasPrefix(proto + " "); inChannel = false; continue }
            if inProto && line.hasPrefix("  Channel ") { inChannel = line == "  Channel \(channel)"; continue }
            if inProto && inChannel && line.contains("Routes:") { return line.trimmingCharacters(in: .whitespaces) }
        }
        return ""
    }

    /// bird2 with ipv4 + ipv6 channels, the session over `sessionFamily`: both families arrive both ways
    /// with next hops on the shared link (ours: the interface's address of the other family).
    private func runBird(sessionOverIPv6: Bool) throws {
        try requireTools()
        let lab = try makeLab(nodes: 2, function: sessionOverIPv6 ? "birdIPv6Session" : "birdIPv4Session")
        try addIPv6(lab, nodes: 2)
        let (birdLocal, ourLocal) = sessionOverIPv6 ? (v6(0), v6(1)) : (lab.address(0), lab.address(1))
        let bird = try BirdNode(lab: lab, node: 0, name: "bird", config: birdConfig(local: birdLocal, neighbor: ourLocal))
        let us = try BGPLiteNode(lab: lab, node: 1, name: "ours",
                                 config: ourConfig(routerID: lab.address(1), peers: [("isp", ourLocal, birdLocal)]))
        diagSources = [us.diagnostics, bird.diagnostics]
        try bird.start()
        try us.start()
        let want = [ShownRoute(prefix: "10.0.0.0/24", proto: "customer", via: lab.address(1)),
                    ShownRoute(prefix: "2001:db8:a::/48", proto: "customer", via: v6(1))]
        XCTAssertTrue(waitUntil(timeout: budget(20), poll: 0.1) { self.birdRoutes(bird).count == 2 },
                      "bird2 should get our IPv4 and IPv6 route on one session" + diag())
        XCTAssertEqual(birdRoutes(bird).sorted { $0.prefix < $1.prefix }, want, diag())
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) { self.ourRoutes(us).filter { $0.proto == "isp" }.count == 2 }, diag())
        XCTAssertEqual(ourRoutes(us).filter { $0.proto == "isp" }.sorted { $0.prefix < $1.prefix },
                       [ShownRoute(prefix: "192.0.2.0/24", proto: "isp", via: lab.address(0)),
                        ShownRoute(prefix: "2001:db8:b::/48", proto: "isp", via: v6(0))], diag())
        XCTAssertEqual(channelRoutes(us, proto: "isp", channel: "ipv4"), "Routes:         1 imported, 1 exported, 1 preferred", diag())
        XCTAssertEqual(channelRoutes(us, proto: "isp", channel: "ipv6"), "Routes:         1 imported, 1 exported, 1 preferred", diag())
    }

    func testBirdIPv4SessionCarriesBothFamilies() throws { try runBird(sessionOverIPv6: false) }

    func testBirdIPv6SessionCarriesBothFamilies() throws { try runBird(sessionOverIPv6: true) }

    /// An IPv4 session whose link has no IPv6 address: no IPv6 next hop exists, so the ipv6 channel
    /// exports nothing (with a log line saying why) and counts nothing as exported; IPv4 still flows.
    func testFamilyWithoutNextHopIsRefusedAndNotCounted() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let bird = try BirdNode(lab: lab, node: 0, name: "bird", config: birdConfig(local: lab.address(0), neighbor: lab.address(1)))
        let us = try BGPLiteNode(lab: lab, node: 1, name: "ours",
                                 config: ourConfig(routerID: lab.address(1), peers: [("isp", lab.address(1), lab.address(0))]))
        diagSources = [us.diagnostics, bird.diagnostics]
        try bird.start()
        try us.start()
        XCTAssertTrue(waitUntil(timeout: budget(20), poll: 0.1) { self.birdRoutes(bird).count == 1 }, diag())
        XCTAssertNotNil(us.log.waitForLine(containing: "isp: Missing next hop address for IPv6", timeout: budget(5)), diag())
        spin(1) // a late IPv6 UPDATE would show up now
        XCTAssertEqual(birdRoutes(bird), [ShownRoute(prefix: "10.0.0.0/24", proto: "customer", via: lab.address(1))], diag())
        us.refreshStatus()
        // (bird2 may still send its IPv6 route with a link-local-only next hop, so only our export side is checked.)
        XCTAssertTrue(channelRoutes(us, proto: "isp", channel: "ipv6").contains(" 0 exported,"),
                      channelRoutes(us, proto: "isp", channel: "ipv6") + diag())
        XCTAssertEqual(channelRoutes(us, proto: "isp", channel: "ipv4"), "Routes:         1 imported, 1 exported, 1 preferred", diag())
    }

    /// FRR (zebra + bgpd as user frr) with an IPv4 and an IPv6 session to us, both families activated on
    /// both: FRR holds each of our routes from both sessions with our address of the route's family as next
    /// hop, and we hold each of FRR's routes from both sessions with FRR's address of that family.
    func testFRRBothFamiliesOnIPv4AndIPv6Sessions() throws {
        try requireTools()
        try FRRNode.requireInstalled()
        let lab = try makeLab(nodes: 2)
        try addIPv6(lab, nodes: 2)
        let frrConf = """
        frr defaults traditional
        hostname dafrr
        !
        router bgp 65001
         bgp router-id \(lab.address(0))
         no bgp ebgp-requires-policy
         no bgp network import-check
         no bgp default ipv4-unicast
         neighbor \(lab.address(1)) remote-as 65000
         neighbor \(v6(1)) remote-as 65000
         address-family ipv4 unicast
          network 192.0.2.0/24
          neighbor \(lab.address(1)) activate
          neighbor \(v6(1)) activate
         exit-address-family
         address-family ipv6 unicast
          network 2001:db8:b::/48
          neighbor \(lab.address(1)) activate
          neighbor \(v6(1)) activate
         exit-address-family
        !
        """
        // bgpd refuses an IPv6 session until eth0 has a usable link-local address (FSM error, retry 1-3 s later).
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) {
            (0..<2).allSatisfy { i in
                let out = (try? lab.exec(in: lab.namespace(i), ["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"]).stdout) ?? ""
                return out.contains("inet6 fe80:") && !out.contains("tentative")
            }
        }, "no IPv6 link-local address on eth0")
        let frr = try FRRNode(lab: lab, node: 0, name: "frr", bgpdConfig: frrConf)
        let us = try BGPLiteNode(lab: lab, node: 1, name: "ours",
                                 config: ourConfig(routerID: lab.address(1),
                                                   peers: [("frr4", lab.address(1), lab.address(0)), ("frr6", v6(1), v6(0))]))
        diagSources = [us.diagnostics, frr.diagnostics]
        try frr.start(timeout: budget(10))
        try us.start()

        func frrHas(_ afi: String, _ prefix: String, nextHop: String) -> Bool {
            let ps = frr.paths(afi)[prefix] ?? []
            let peers = Set(ps.filter { $0.nextHops.first == nextHop }.map { $0.peer })
            return peers == [lab.address(1), v6(1)]
        }
        XCTAssertTrue(waitUntil(timeout: budget(25), poll: 0.2) {
            frrHas("ipv4", "10.0.0.0/24", nextHop: lab.address(1)) && frrHas("ipv6", "2001:db8:a::/48", nextHop: v6(1))
        }, "FRR should hold our IPv4 and IPv6 route from both sessions with our next hop of each family: "
            + "ipv4 \(frr.paths("ipv4")["10.0.0.0/24"].map { "\($0)" } ?? "none"), "
            + "ipv6 \(frr.paths("ipv6")["2001:db8:a::/48"].map { "\($0)" } ?? "none")" + diag())

        let want = [ShownRoute(prefix: "192.0.2.0/24", proto: "frr4", via: lab.address(0)),
                    ShownRoute(prefix: "192.0.2.0/24", proto: "frr6", via: lab.address(0)),
                    ShownRoute(prefix: "2001:db8:b::/48", proto: "frr4", via: v6(0)),
                    ShownRoute(prefix: "2001:db8:b::/48", proto: "frr6", via: v6(0))]
        func ours() -> [ShownRoute] {
            ourRoutes(us).filter { $0.proto.hasPrefix("frr") }.sorted { ($0.prefix, $0.proto) < ($1.prefix, $1.proto) }
        }
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.2) { ours() == want }, "got \(ours())" + diag())
        for p in ["frr4", "frr6"] {
            for ch in ["ipv4", "ipv6"] {
                XCTAssertTrue(channelRoutes(us, proto: p, channel: ch).hasPrefix("Routes:         1 imported, 1 exported"),
                              "\(p).\(ch): \(channelRoutes(us, proto: p, channel: ch))" + diag())
            }
        }
    }

    private func spin(_ seconds: TimeInterval) { Thread.sleep(forTimeInterval: min(seconds, budget(seconds))) }
}

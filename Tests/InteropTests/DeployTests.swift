import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The deployment files (deploy/, docs/DEPLOY.md): compose files, the systemd units, the metrics
/// endpoint of a live node, and configs rendered by deploy/render.sh loaded by tincd-swift and BIRD.
/// The Docker image itself cannot be built here (no Docker engine); see docs/DEPLOY.md.
final class DeployTests: InteropTestCase {
    var root: URL { TincBinaries.packageRoot }
    var deploy: URL { root.appendingPathComponent("deploy") }

    private func requireTool(_ name: String, package: String) throws -> String {
        if let p = Shell.which(name) { return p }
        // .ci/packages installs it; a developer machine without it skips with the reason.
        throw XCTSkip("\(name) not installed (Debian package \(package), listed in .ci/packages)")
    }

    private func scratchDir(_ function: String = #function) throws -> URL {
        let dir = URL(fileURLWithPath: "/tmp/tincd-swift-deploy/\(getpid())-\(function.filter { $0.isLetter })")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock {
            if (self.testRun?.totalFailureCount ?? 0) == 0 { try? FileManager.default.removeItem(at: dir) }
        }
        return dir
    }

    // MARK: (a) docker-compose accepts both compose files with .env.example

    func testComposeFilesValidateWithEnvExample() throws {
        let compose = try requireTool("docker-compose", package: "docker-compose")
        let env = deploy.appendingPathComponent(".env.example").path
        let mesh = deploy.appendingPathComponent("docker-compose.yml").path
        let border = deploy.appendingPathComponent("hardware-test/docker-compose.border-router.yml").path

        let m = try Shell.run([compose, "-f", mesh, "--env-file", env, "--profile", "isp", "--profile", "monitoring", "config"], timeout: 60)
        XCTAssertEqual(m.status, 0, m.description)
        for needle in ["bird1:", "bird5:", "isp:", "NET_ADMIN", "/dev/net/tun", "internal: true", "172.30.0.1",
                       "tincd-swift-healthcheck", "NODE_NAME: bird3", "ipv4_address: 10.42.0.228"] {
            XCTAssertTrue(m.stdout.contains(needle), "compose config lacks \(needle):\n\(m.stdout)")
        }

        let b = try Shell.run([compose, "-f", border, "--env-file", env, "config"], timeout: 60)
        XCTAssertEqual(b.status, 0, b.description)
        // The guide's variables land where the guide says.
        for needle in ["driver: macvlan", "parent: enxa0cec8992ed8", "subnet: 10.42.0.0/24", "gateway: 10.42.0.1",
                       "ip_range: 10.42.0.100/31", "ipv4_address: 10.42.0.100", "ISP_LOCAL_IP: 10.42.0.100",
                       "ISP_NEIGHBOR: 10.42.0.228", "BGP_AS: 65000", "HEALTHCHECK_REQUIRE_ISP: true"] {
            // compose 1.x and 2.x quote scalars differently: compare without quotes
            let unquoted = b.stdout.replacingOccurrences(of: "'", with: "").replacingOccurrences(of: "\"", with: "")
            XCTAssertTrue(unquoted.contains(needle), "border-router config lacks \(needle):\n\(b.stdout)")
        }

        // Without LAN_INTERFACE the border-router file refuses and names the variable.
        let dir = try scratchDir()
        let text = try String(contentsOfFile: env, encoding: .utf8)
        let partial = dir.appendingPathComponent("partial.env")
        try text.split(separator: "\n").filter { !$0.hasPrefix("LAN_INTERFACE=") }.joined(separator: "\n")
            .write(to: partial, atomically: true, encoding: .utf8)
        let missing = try Shell.run([compose, "-f", border, "--env-file", partial.path, "config"], timeout: 60)
        XCTAssertNotEqual(missing.status, 0, missing.description)
        XCTAssertTrue((missing.stdout + missing.stderr).contains("LAN_INTERFACE"), missing.description)
    }

    // MARK: (b) systemd-analyze verify accepts the units

    /// A temporary root: our units in etc/systemd/system, a stand-in /usr/sbin/tincd-swift (verify only
    /// checks that ExecStart is executable), /bin/kill and /bin/true, and the system's targets.
    private func systemdRoot(units: [String: String]) throws -> URL {
        let r = try scratchDir("systemdroot")
        let fm = FileManager.default
        for d in ["etc/systemd/system", "usr/sbin", "usr/bin", "usr/lib/systemd/system"] {
            try fm.createDirectory(at: r.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        try fm.createSymbolicLink(atPath: r.appendingPathComponent("bin").path, withDestinationPath: "usr/bin")
        for tool in ["kill", "true"] {
            guard let p = Shell.which(tool) else { throw XCTSkip("no \(tool)") }
            try fm.copyItem(atPath: p, toPath: r.appendingPathComponent("usr/bin/\(tool)").path)
        }
        let stub = r.appendingPathComponent("usr/sbin/tincd-swift")
        try "#!/bin/sh\n".write(to: stub, atomically: true, encoding: .utf8)
        chmod(stub.path, 0o755)
        for dir in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
            for f in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where f.hasSuffix(".target") {
                let dst = r.appendingPathComponent("usr/lib/systemd/system/\(f)").path
                if !fm.fileExists(atPath: dst) { try? fm.copyItem(atPath: dir + "/" + f, toPath: dst) }
            }
        }
        for (name, text) in units {
            try text.write(to: r.appendingPathComponent("etc/systemd/system/\(name)"), atomically: true, encoding: .utf8)
        }
        return r
    }

    func testSystemdUnitsVerify() throws {
        let analyze = try requireTool("systemd-analyze", package: "systemd")
        let dir = deploy.appendingPathComponent("systemd")
        let template = try String(contentsOf: dir.appendingPathComponent("tincd-swift@.service"), encoding: .utf8)
        let umbrella = try String(contentsOf: dir.appendingPathComponent("tincd-swift.service"), encoding: .utf8)
        XCTAssertTrue(template.contains("ExecStart=/usr/sbin/tincd-swift -n %i -D"))
        XCTAssertTrue(template.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        XCTAssertTrue(template.contains("ReloadPropagatedFrom=tincd-swift.service"))

        let r = try systemdRoot(units: ["tincd-swift@.service": template, "tincd-swift.service": umbrella,
                                        "broken@.service": template.replacingOccurrences(of: "/usr/sbin/tincd-swift", with: "/usr/sbin/no-such-daemon")])
        // verify runs `man` for every Documentation=man: page: ours from packaging/man, through MANPATH
        let man8 = r.appendingPathComponent("usr/share/man/man8"), man5 = r.appendingPathComponent("usr/share/man/man5")
        try FileManager.default.createDirectory(at: man8, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: man5, withIntermediateDirectories: true)
        let pages = root.appendingPathComponent("packaging/man")
        for (page, dir) in [("tincd-swift.8", man8), ("tincd-swift-ctl.8", man8), ("bgp.conf.5", man5)] {
            try FileManager.default.copyItem(at: pages.appendingPathComponent(page), to: dir.appendingPathComponent(page))
        }
        let manpath = "MANPATH=\(r.path)/usr/share/man:/usr/share/man"
        let ok = try Shell.run(["env", manpath, analyze, "verify", "--root=\(r.path)", "tincd-swift@mynet.service", "tincd-swift.service"], timeout: 60)
        XCTAssertEqual(ok.status, 0, ok.description)
        // verify reports unknown keys and unparsable values only as messages (exit 0): demand silence.
        XCTAssertEqual((ok.stdout + ok.stderr).trimmingCharacters(in: .whitespacesAndNewlines), "", ok.description)

        // The check has teeth: a unit whose daemon does not exist fails.
        let bad = try Shell.run(["env", manpath, analyze, "verify", "--root=\(r.path)", "broken@mynet.service"], timeout: 60)
        XCTAssertNotEqual(bad.status, 0, bad.description)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("no-such-daemon"), bad.description)
    }

    // MARK: (c) a node with MetricsAddress, scraped with curl while traffic and routes flow

    private func scrape(_ lab: NetnsLab, ns: String, _ url: String) throws -> CommandResult {
        try lab.exec(in: ns, ["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", url], timeout: 10)
    }

    func testMetricsEndpointScrapedWhileTrafficAndRoutesFlow() throws {
        try TincBinaries.requireSwiftBinary()
        _ = try requireTool("curl", package: "curl")
        let lab = try makeLab(nodes: 2)
        let a = TincNode(name: "mA", impl: .swift, lab: lab, nsIndex: 0, port: 7511, subnets: [])
        let b = TincNode(name: "mB", impl: .swift, lab: lab, nsIndex: 1, port: 7512, subnets: [])
        let overlay = ["10.91.0.1", "10.91.0.2"]
        for (i, n) in [a, b].enumerated() {
            n.mode = "switch"
            n.debugLevel = 2
            n.extraConfig = ["DeviceType = tap", "Interface = tinc0"]
            n.hostConfig = ["BGPAddress = \(overlay[i])"]
            n.tincUpCommands = ["ip link set \"$INTERFACE\" up", "ip addr add \(overlay[i])/24 dev \"$INTERFACE\""]
        }
        a.extraConfig.append("MetricsAddress = 127.0.0.1:9464")
        a.connectTo = ["mB"]
        watched = [a, b]
        try setUpNetwork([a, b])
        // Both run the embedded BGP speaker; mB originates a static prefix that mA must receive.
        for (i, n) in [a, b].enumerated() {
            let bgp = """
                router id \(overlay[i]);
                protocol device {}
                protocol static site {
                    ipv4;
                    route 10.191.\(i + 1).0/24 blackhole;
                }
                template bgp mesh {
                    local as 65000;
                    direct;
                    hold time 9;
                    keepalive time 3;
                    ipv4 { import all; export all; next hop self; };
                }

                """
            try bgp.write(to: n.confDir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        }
        try start(b, a)
        assertEvent(a, "host-up", "mB", timeout: 20)
        let base = "http://127.0.0.1:9464"

        // Before any traffic: the endpoint answers and knows the peer.
        var first: [String: Double] = [:]
        let ready = waitUntil(timeout: budget(15), poll: 0.3) {
            guard let r = try? self.scrape(lab, ns: a.namespace, base + "/metrics"), r.stdout.hasSuffix("\n200") else { return false }
            first = prometheusSamples(r.stdout)
            return first["tincd_node_reachable{node=\"mB\"}"] == 1
        }
        XCTAssertTrue(ready, "no scrape with mB reachable: \(first)" + diagnostics())
        XCTAssertEqual(first["tincd_graph_nodes"], 2)
        XCTAssertEqual(first["tincd_meta_connections"], 1)
        XCTAssertNotNil(first["tincd_dropped_packets_total{reason=\"bad_mac\"}"])
        XCTAssertNotNil(first["tincd_info{node=\"mA\",version=\"tincd-swift 0.1.0 (tinc 1.0 protocol 17)\"}"] ?? first.first { $0.key.hasPrefix("tincd_info{node=\"mA\"") }?.value)

        // Traffic through the overlay moves the data-plane counters.
        let ping = try lab.exec(in: a.namespace, ["ping", "-c", "20", "-i", "0.05", "-W", "2", "-q", overlay[1]], timeout: 30)
        XCTAssertEqual(ping.status, 0, ping.description + diagnostics())
        var after: [String: Double] = [:]
        let moved = waitUntil(timeout: budget(10), poll: 0.3) {
            guard let r = try? self.scrape(lab, ns: a.namespace, base + "/metrics") else { return false }
            after = prometheusSamples(r.stdout)
            // The workers report their counters to the control loop every 0.5 s.
            return (after["tincd_device_in_packets_total"] ?? 0) >= (first["tincd_device_in_packets_total"] ?? 0) + 20
                && (after["tincd_device_out_packets_total"] ?? 0) >= (first["tincd_device_out_packets_total"] ?? 0) + 20
        }
        XCTAssertTrue(moved, "counters did not move by 20 packets: before \(first), after \(after)" + diagnostics())
        XCTAssertGreaterThan(after["tincd_udp_out_packets_total"] ?? 0, first["tincd_udp_out_packets_total"] ?? 0)
        XCTAssertGreaterThan(after["tincd_device_in_bytes_total"] ?? 0, first["tincd_device_in_bytes_total"] ?? 0)
        XCTAssertGreaterThan(after["tincd_node_pmtu_bytes{node=\"mB\"}"] ?? 0, 0)
        XCTAssertEqual(after["tincd_node_valid_key{node=\"mB\"}"], 1)

        // Routes: the automatic iBGP session to mB comes up and mB's prefix arrives.
        var bgp: [String: Double] = [:]
        let routed = waitUntil(timeout: budget(30), poll: 0.5) {
            guard let r = try? self.scrape(lab, ns: a.namespace, base + "/metrics") else { return false }
            bgp = prometheusSamples(r.stdout)
            return bgp["tincd_bgp_session_established{session=\"mB\"}"] == 1
                && (bgp["tincd_bgp_session_prefixes_accepted{session=\"mB\"}"] ?? 0) >= 1
        }
        XCTAssertTrue(routed, "no established session with mB's prefix: \(bgp.filter { $0.key.contains("bgp") })" + diagnostics())
        if ProcessInfo.processInfo.environment["TSW_PRINT_SCRAPE"] != nil,
           let r = try? scrape(lab, ns: a.namespace, base + "/metrics") { print(r.stdout) }
        XCTAssertEqual(bgp["tincd_bgp_session_state{session=\"mB\"}"], 6)
        XCTAssertGreaterThanOrEqual(bgp["tincd_bgp_session_updates_received_total{session=\"mB\"}"] ?? 0, 1)
        XCTAssertGreaterThanOrEqual(bgp["tincd_bgp_session_updates_sent_total{session=\"mB\"}"] ?? 0, 1)
        XCTAssertGreaterThanOrEqual(bgp["tincd_bgp_session_prefixes_exported{session=\"mB\"}"] ?? 0, 1)
        XCTAssertGreaterThanOrEqual(bgp["tincd_bgp_loc_rib_routes"] ?? 0, 2)
        XCTAssertEqual(bgp["tincd_bgp_sessions_established"], 1)

        // The rest of the HTTP surface.
        let health = try scrape(lab, ns: a.namespace, base + "/healthz")
        XCTAssertTrue(health.stdout.hasSuffix("\n200") && health.stdout.contains("bgp_established=1/1"), health.description)
        let notFound = try scrape(lab, ns: a.namespace, base + "/nope")
        XCTAssertTrue(notFound.stdout.hasSuffix("\n404"), notFound.description)
        let big = try lab.exec(in: a.namespace, ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                                 "-H", "X-Big: " + String(repeating: "x", count: 10000), base + "/metrics"], timeout: 10)
        XCTAssertEqual(big.stdout, "431", big.description)
        let post = try lab.exec(in: a.namespace, ["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                                                  "-X", "POST", base + "/metrics"], timeout: 10)
        XCTAssertEqual(post.stdout, "405", post.description)

        // Losing the peer removes its session series and marks it unreachable.
        b.stop()
        var gone: [String: Double] = [:]
        let dropped = waitUntil(timeout: budget(20), poll: 0.5) {
            guard let r = try? self.scrape(lab, ns: a.namespace, base + "/metrics") else { return false }
            gone = prometheusSamples(r.stdout)
            return gone["tincd_node_reachable{node=\"mB\"}"] == 0
                && gone["tincd_bgp_session_established{session=\"mB\"}"] == nil
        }
        XCTAssertTrue(dropped, "mB still reachable or its session series left over: \(gone)" + diagnostics())
        assertRunning(a)
    }

    // MARK: (d) render.sh from .env.example and another .env: BIRD and tincd-swift accept the configs

    /// A second environment with other addresses, AS numbers, names and node count.
    static let otherEnv = """
        # DeployTests: everything differs from .env.example
        BGP_AS=64512
        ISP_ENABLED=true
        ISP_NEIGHBOR=192.168.77.2
        LAN_INTERFACE=eno1
        LAN_SUBNET=192.168.77.0/24
        LAN_GATEWAY=192.168.77.1
        LAN_IP_RANGE=192.168.77.10/32
        TINC1_LAN_IP=192.168.77.10
        ISP_LOCAL_IP=192.168.77.10
        NODES=3
        NODE_PREFIX=site
        OVERLAY_PREFIX=10.55.0
        OVERLAY6_PREFIX=fd55::
        UNDERLAY_PREFIX=172.31.5
        SITE_PREFIX=10.155
        SITE6_PREFIX=fd55:100
        ISP_AS=64999
        ISP_ROUTER_ID=100.64.0.1
        ISP_PREFIXES=100.64.0.0/24, 100.64.1.0/24
        TINC_PORT=7655

        """

    func testRenderedConfigsLoadInBirdAndTincdSwift() throws {
        try TincBinaries.requireSwiftBinary()
        let bird = try requireTool("bird", package: "bird2")
        let dir = try scratchDir()
        // Env files live in the scratch dir, so their relative KEYS_DIR (keys) does too.
        let example = dir.appendingPathComponent("example.env")
        try FileManager.default.copyItem(at: deploy.appendingPathComponent(".env.example"), to: example)
        let other = dir.appendingPathComponent("other.env")
        try DeployTests.otherEnv.write(to: other, atomically: true, encoding: .utf8)

        struct Case { let env: URL; let out: URL; let nodes: [String]; let checks: [String: [String]] }
        let cases = [
            Case(env: example, out: dir.appendingPathComponent("example"), nodes: (1...5).map { "bird\($0)" },
                 checks: ["bird1/bgp.conf": ["local 10.42.0.100 as 65000;", "neighbor 10.42.0.228 as 65001;"],
                          "bird3/hosts/bird5": ["Address = 172.30.0.5 655", "BGPAddress = 10.0.0.5"],
                          "isp/bird.conf": ["local 10.42.0.228 as 65001;", "neighbor 10.42.0.100 as 65000;"]]),
            Case(env: other, out: dir.appendingPathComponent("other"), nodes: (1...3).map { "site\($0)" },
                 checks: ["site1/bgp.conf": ["local 192.168.77.10 as 64512;", "neighbor 192.168.77.2 as 64999;", "router id 10.55.0.1;"],
                          "site2/hosts/site3": ["Address = 172.31.5.3 7655", "BGPAddress = 10.55.0.3"],
                          "site2/tinc-up": ["10.55.0.2/24"],
                          "isp/bird.conf": ["local 192.168.77.2 as 64999;", "neighbor 192.168.77.10 as 64512;", "route 100.64.1.0/24 blackhole;"]]),
        ]
        let render = deploy.appendingPathComponent("render.sh").path
        for c in cases {
            let r = try Shell.run(["env", "TINCD_SWIFT=\(TincBinaries.swiftBinary)", "RENDER_CHECK=yes", render, c.env.path, c.out.path], timeout: 120)
            XCTAssertEqual(r.status, 0, r.description)
            for (file, needles) in c.checks {
                let text = (try? String(contentsOf: c.out.appendingPathComponent(file), encoding: .utf8)) ?? "<missing>"
                for n in needles { XCTAssertTrue(text.contains(n), "\(c.env.lastPathComponent): \(file) lacks `\(n)`:\n\(text)") }
            }
            let isp = try Shell.run([bird, "-p", "-c", c.out.appendingPathComponent("isp/bird.conf").path], timeout: 20)
            XCTAssertEqual(isp.status, 0, "ISP bird.conf of \(c.env.lastPathComponent): \(isp)")
            for node in c.nodes {
                let p = try Shell.run([bird, "-p", "-c", c.out.appendingPathComponent("\(node)/bgp.conf").path], timeout: 20)
                XCTAssertEqual(p.status, 0, "\(node)/bgp.conf: \(p)")
            }
        }

        // tincd-swift loads every rendered node (tinc.conf, hosts/, key, tinc-up, bgp.conf) in a namespace
        // of its own, all of one env at once: the control socket answers and BGP runs.
        for c in cases {
            let lab = try NetnsLab(nodeCount: c.nodes.count, testCase: self, function: "render\(c.nodes.count)")
            var procs: [(String, URL, ManagedProcess)] = []
            for (i, node) in c.nodes.enumerated() {
                let conf = c.out.appendingPathComponent(node)
                let p = try lab.spawn(in: lab.namespace(i), [TincBinaries.swiftBinary, "-c", conf.path, "-D", "-d2",
                                                             "--logfile=\(conf.path)/tinc.log", "--pidfile=\(conf.path)/tinc.pid"],
                                      output: conf.appendingPathComponent("stdout.log"), label: node)
                procs.append((node, conf, p))
            }
            for (node, conf, p) in procs {
                let socket = conf.appendingPathComponent("tinc.socket").path
                let up = waitUntil(timeout: budget(15), poll: 0.1) { FileManager.default.fileExists(atPath: socket) || !p.isRunning }
                let log = (try? String(contentsOf: conf.appendingPathComponent("tinc.log"), encoding: .utf8)) ?? ""
                XCTAssertTrue(up && p.isRunning, "\(node) did not start:\n\(log)")
                guard up && p.isRunning else { continue }
                let ctl = { (args: [String]) in try Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", socket] + args, timeout: 10) }
                let nodes = try ctl(["dump", "nodes"])
                XCTAssertTrue(nodes.succeeded && nodes.stdout.contains("\(node) ") && nodes.stdout.contains("myself"), nodes.description)
                let protos = try ctl(["show", "protocols"])
                XCTAssertTrue(protos.succeeded && protos.stdout.contains("site"), "\(node): \(protos)\n\(log)")
                if node.hasSuffix("1") { XCTAssertTrue(protos.stdout.contains("isp"), "\(node) lacks protocol isp: \(protos)") }
                XCTAssertTrue(log.contains("BGP speaker started"), "\(node):\n\(log)")
            }
            lab.teardown()
        }
    }

    // MARK: (e) one source of truth: compose's environment renders what `make render` renders

    /// Every variable render.sh resolves (its VARS list) reaches the containers of both compose files,
    /// except the three that are not the deployment's: KEYS_DIR and HOSTS_DIR (container paths; the
    /// compose files mount deploy/keys and hosts/ there) and LAB_MIXED (lab only).
    func testComposeFilesPassEveryRenderVariable() throws {
        let render = try String(contentsOf: deploy.appendingPathComponent("render.sh"), encoding: .utf8)
        guard let start = render.range(of: "VARS=("), let end = render[start.upperBound...].firstIndex(of: ")") else {
            return XCTFail("render.sh has no VARS=( ... ) list")
        }
        let vars = render[start.upperBound..<end].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        XCTAssertGreaterThan(vars.count, 30)
        for file in ["docker-compose.yml", "hardware-test/docker-compose.border-router.yml"] {
            let text = try String(contentsOf: deploy.appendingPathComponent(file), encoding: .utf8)
            guard let anchor = text.range(of: "x-node-env: &node-env\n"), let stop = text.range(of: "\nx-node: &node") else {
                XCTFail("\(file): no x-node-env block"); continue
            }
            let block = text[anchor.upperBound..<stop.lowerBound]
            for v in vars where v != "LAB_MIXED" && v != "KEYS_DIR" && v != "HOSTS_DIR" {
                XCTAssertTrue(block.contains("  \(v): ${\(v):-"), "\(file) does not pass \(v) to the nodes")
            }
        }
    }

    /// The five-node config rendered through compose's environment (docker-compose config -> each node's
    /// environment -> render.sh as the entrypoint runs it) equals `make render` from the same env file,
    /// file by file, for .env.example and for a variant with METRICS_ADDRESS empty (metrics off) and the
    /// password/BFD/graceful-restart variables set. Keys: openssl (TINCD_SWIFT=none), as on a host without Swift.
    func testComposeEnvironmentRendersWhatMakeRenderRenders() throws {
        let compose = try requireTool("docker-compose", package: "docker-compose")
        _ = try requireTool("python3", package: "python3")
        let dir = try scratchDir()
        let keys = dir.appendingPathComponent("keys").path
        let example = try String(contentsOf: deploy.appendingPathComponent(".env.example"), encoding: .utf8)
        let variant = example.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            for (k, v) in [("METRICS_ADDRESS", ""), ("ISP_PASSWORD", "isp-secret"), ("ISP_BFD", "true"),
                           ("ISP_GRACEFUL_RESTART", "true"), ("MESH_PASSWORD", "mesh-secret"), ("MESH_GRACEFUL_RESTART", "true"),
                           ("ISP_ACCEPT_PREFIXES", "192.0.2.0/24")] where line.hasPrefix(k + "=") {
                return "\(k)=\(v)"
            }
            return String(line)
        }.joined(separator: "\n")
        XCTAssertNotEqual(variant, example)

        for (name, text) in [("example", example), ("variant", variant)] {
            let env = dir.appendingPathComponent("\(name).env")
            try text.write(to: env, atomically: true, encoding: .utf8)
            // 1. make render (DEPLOY_ENV, RENDER_OUT)
            let made = dir.appendingPathComponent("\(name)-make")
            let m = try Shell.run(["env", "KEYS_DIR=\(keys)", "TINCD_SWIFT=none", "make", "-s", "-C", root.path, "render",
                                   "DEPLOY_ENV=\(env.path)", "RENDER_OUT=\(made.path)"], timeout: 180)
            XCTAssertEqual(m.status, 0, m.description)
            // 2. compose's environment of each node
            let cfg = try Shell.run([compose, "-f", deploy.appendingPathComponent("docker-compose.yml").path, "--env-file", env.path,
                                     "--profile", "isp", "config"], timeout: 60)
            XCTAssertEqual(cfg.status, 0, cfg.description)
            let yaml = dir.appendingPathComponent("\(name)-compose.yml")
            try cfg.stdout.write(to: yaml, atomically: true, encoding: .utf8)
            let json = try Shell.run(["python3", "-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", yaml.path], timeout: 30)
            XCTAssertEqual(json.status, 0, json.description)
            guard let root = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any],
                  let services = root["services"] as? [String: Any] else { return XCTFail("compose config: no services") }
            for n in 1...5 {
                let node = "bird\(n)"
                guard let svc = services[node] as? [String: Any], let environment = svc["environment"] as? [String: Any] else {
                    XCTFail("\(name): no environment for \(node)"); continue
                }
                // the entrypoint's call: render.sh - OUT with the container's environment (keys: the shared dir here)
                var vars = environment.map { "\($0.key)=\($0.value is NSNull ? "" : "\($0.value)")" }
                vars.removeAll { $0.hasPrefix("KEYS_DIR=") }
                let out = dir.appendingPathComponent("\(name)-compose-\(node)")
                let r = try Shell.run(["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                       "KEYS_DIR=\(keys)", "TINCD_SWIFT=none"] + vars
                                      + [deploy.appendingPathComponent("render.sh").path, "-", out.path], timeout: 120)
                XCTAssertEqual(r.status, 0, r.description)
                var compared = try compareTrees(made.appendingPathComponent(node), out.appendingPathComponent(node), label: "\(name) \(node)")
                if n == 1 {
                    compared += try compareTrees(made.appendingPathComponent("isp"), out.appendingPathComponent("isp"), label: "\(name) isp")
                }
                XCTAssertGreaterThanOrEqual(compared, 10, "\(name) \(node): too few files compared")
            }
            let conf = (try? String(contentsOf: made.appendingPathComponent("bird2/tinc.conf"), encoding: .utf8)) ?? ""
            let bgp1 = (try? String(contentsOf: made.appendingPathComponent("bird1/bgp.conf"), encoding: .utf8)) ?? ""
            if name == "example" {
                XCTAssertTrue(conf.contains("MetricsAddress = 0.0.0.0:9100"), conf)
                XCTAssertFalse(bgp1.contains("password"), bgp1)
            } else {
                XCTAssertFalse(conf.contains("MetricsAddress"), "METRICS_ADDRESS= must turn metrics off:\n\(conf)")
                for needle in ["password \"isp-secret\";", "password \"mesh-secret\";", "bfd on;", "graceful restart on;",
                               "protocol bfd", "if net ~ [ 192.0.2.0/24 ] then accept;"] {
                    XCTAssertTrue(bgp1.contains(needle), "bird1/bgp.conf lacks \(needle):\n\(bgp1)")
                }
                let isp = (try? String(contentsOf: made.appendingPathComponent("isp/bird.conf"), encoding: .utf8)) ?? ""
                XCTAssertTrue(isp.contains("password \"isp-secret\";") && isp.contains("bfd on;"), isp)
            }
        }
    }

    /// Compares every file of two rendered trees (the header's "from X" differs by design); returns the count.
    private func compareTrees(_ a: URL, _ b: URL, label: String) throws -> Int {
        let fm = FileManager.default
        let la = (fm.enumerator(atPath: a.path)?.allObjects as? [String] ?? []).sorted()
        let lb = (fm.enumerator(atPath: b.path)?.allObjects as? [String] ?? []).sorted()
        XCTAssertEqual(la, lb, "\(label): different files")
        var n = 0
        let normalise = { (t: String) in
            t.replacingOccurrences(of: #"rendered by deploy/render\.sh from [^;]*;"#, with: "rendered by deploy/render.sh from X;", options: .regularExpression)
        }
        for f in la {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: a.appendingPathComponent(f).path, isDirectory: &isDir), !isDir.boolValue else { continue }
            let ta = normalise((try? String(contentsOf: a.appendingPathComponent(f), encoding: .utf8)) ?? "<unreadable>")
            let tb = normalise((try? String(contentsOf: b.appendingPathComponent(f), encoding: .utf8)) ?? "<unreadable>")
            XCTAssertEqual(ta, tb, "\(label): \(f) differs between make render and compose's environment")
            n += 1
        }
        return n
    }

    /// The container entrypoint outside Docker: renders one node from environment variables only,
    /// keeps its key across restarts, adds MetricsAddress and execs the daemon; the healthcheck passes.
    func testEntrypointRendersOneNodeAndHealthcheckPasses() throws {
        try TincBinaries.requireSwiftBinary()
        _ = try requireTool("curl", package: "curl")
        let dir = try scratchDir()
        let lab = try NetnsLab(nodeCount: 1, testCase: self)
        let conf = dir.appendingPathComponent("etc-tinc-mesh")
        let keys = dir.appendingPathComponent("keys")
        let env = ["TINCD_SWIFT_SHARE=\(deploy.path)", "TINCD_SWIFT=\(TincBinaries.swiftBinary)", "CONF_DIR=\(conf.path)",
                   "KEYS_DIR=\(keys.path)", "NODE_NAME=bird2", "NODES=3", "BGP_AS=65010", "ISP_ENABLED=false",
                   "METRICS_ADDRESS=127.0.0.1:9465", "DEBUG=2",
                   "TINCD_EXTRA_ARGS=--pidfile=\(conf.path)/control.pid --logfile=\(conf.path)/tinc.log"]
        func runEntrypoint(_ more: [String] = []) throws -> ManagedProcess {
            try lab.spawn(in: lab.namespace(0), ["env"] + env + more + [deploy.appendingPathComponent("entrypoint.sh").path],
                          output: dir.appendingPathComponent("entrypoint.out"), label: "entrypoint")
        }
        let socket = conf.appendingPathComponent("control.socket").path
        let health = { try Shell.run(["ip", "netns", "exec", lab.namespace(0), "env", "TINCD_SWIFT=\(TincBinaries.swiftBinary)",
                                      self.deploy.appendingPathComponent("healthcheck.sh").path, conf.path], timeout: 20) }

        let p1 = try runEntrypoint()
        let up = waitUntil(timeout: budget(30), poll: 0.1) { FileManager.default.fileExists(atPath: socket) || !p1.isRunning }
        let out = { (try? String(contentsOf: dir.appendingPathComponent("entrypoint.out"), encoding: .utf8)) ?? "" }
        XCTAssertTrue(up && p1.isRunning, "entrypoint did not bring the daemon up:\n\(out())")
        let tincConf = (try? String(contentsOf: conf.appendingPathComponent("tinc.conf"), encoding: .utf8)) ?? ""
        XCTAssertTrue(tincConf.contains("Name = bird2") && tincConf.contains("MetricsAddress = 127.0.0.1:9465")
                      && tincConf.contains("ConnectTo = bird3"), tincConf)
        let bgp = (try? String(contentsOf: conf.appendingPathComponent("bgp.conf"), encoding: .utf8)) ?? ""
        XCTAssertTrue(bgp.contains("local as 65010;") && !bgp.contains("protocol bgp isp"), bgp)
        let key1 = try String(contentsOf: keys.appendingPathComponent("bird2/rsa_key.pub"), encoding: .utf8)

        let h = try health()
        XCTAssertEqual(h.status, 0, h.description)
        XCTAssertTrue(h.stdout.hasPrefix("ok: 0/"), h.description)
        let m = try lab.exec(in: lab.namespace(0), ["curl", "-sS", "--max-time", "5", "http://127.0.0.1:9465/metrics"], timeout: 10)
        XCTAssertTrue(m.stdout.contains("tincd_info{node=\"bird2\""), m.description)
        // With a minimum of reachable peers that cannot be met, the healthcheck says so.
        let strict = try Shell.run(["ip", "netns", "exec", lab.namespace(0), "env", "TINCD_SWIFT=\(TincBinaries.swiftBinary)",
                                    "HEALTHCHECK_MIN_REACHABLE=1", deploy.appendingPathComponent("healthcheck.sh").path, conf.path], timeout: 20)
        XCTAssertEqual(strict.status, 1, strict.description)
        XCTAssertTrue(strict.stdout.contains("unhealthy: 0 of"), strict.description)

        // The operator edits bgp.conf and applies it with `configure` (the birdc wrapper's mapping).
        let bgpURL = conf.appendingPathComponent("bgp.conf")
        let edited = bgp + "\nprotocol static cf_operator { ipv4; route 10.250.0.0/24 blackhole; }\n"
        try edited.write(to: bgpURL, atomically: true, encoding: .utf8)
        let cfg = try Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", socket, "configure"], timeout: 10)
        XCTAssertEqual(cfg.status, 0, cfg.description)
        XCTAssertTrue(cfg.stdout.contains("Adding protocol cf_operator") && cfg.stdout.hasSuffix("Reconfigured\n"), cfg.description)
        let routes = try Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", socket, "show", "route", "protocol", "cf_operator"], timeout: 10)
        XCTAssertTrue(routes.stdout.contains("10.250.0.0/24"), routes.description)

        // Restart: same key (kept in KEYS_DIR), config rendered again, but the edited bgp.conf is kept
        // (BGP_CONF=keep-edited) and the fresh render lies beside it.
        p1.stop()
        let p2 = try runEntrypoint()
        let again = waitUntil(timeout: budget(30), poll: 0.1) { FileManager.default.fileExists(atPath: socket) || !p2.isRunning }
        XCTAssertTrue(again && p2.isRunning, out())
        let key2 = try String(contentsOf: keys.appendingPathComponent("bird2/rsa_key.pub"), encoding: .utf8)
        XCTAssertEqual(key1, key2, "the node key changed across restarts")
        XCTAssertEqual(try String(contentsOf: bgpURL, encoding: .utf8), edited, out())
        XCTAssertEqual(try String(contentsOf: conf.appendingPathComponent("bgp.conf.rendered"), encoding: .utf8), bgp)
        XCTAssertTrue(out().contains("kept the edited"), out())
        XCTAssertEqual(try health().status, 0)
        p2.stop()
        // A stopped daemon is unhealthy.
        let dead = try health()
        XCTAssertEqual(dead.status, 1, dead.description)
        XCTAssertTrue(dead.stdout.contains("does not answer"), dead.description)

        // An unedited bgp.conf (here: the edit undone) is rendered again, so changed variables apply.
        try String(contentsOf: conf.appendingPathComponent("bgp.conf.rendered"), encoding: .utf8).write(to: bgpURL, atomically: true, encoding: .utf8)
        let p3 = try runEntrypoint(["BGP_AS=65011"])
        var rerendered = ""
        XCTAssertTrue(waitUntil(timeout: budget(30), poll: 0.1) {
            rerendered = (try? String(contentsOf: bgpURL, encoding: .utf8)) ?? ""
            return rerendered.contains("local as 65011;")
        }, rerendered + out())
        p3.stop()
    }
}

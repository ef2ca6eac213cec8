import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// BGPLite (tincd-swift bgp mode) against real BIRD 2 and GoBGP in network namespaces.
// Every test builds its own NetnsLab (unique namespace names), kills only its own pids and stays under 60 s.

private let birdBin = "/usr/sbin/bird"
private let birdcBin = "/usr/sbin/birdc"

/// Our speaker (also used by DualFamilyInteropTests): `tincd-swift bgp -c DIR -D -d5 --logfile=DIR/bgp.log` inside a namespace.
final class BGPLiteNode {
    let lab: NetnsLab
    let ns: String
    let dir: URL
    var proc: ManagedProcess?
    var startedAt = Date()

    init(lab: NetnsLab, node: Int, name: String, config: String) throws {
        self.lab = lab
        ns = lab.namespace(node)
        dir = lab.workDir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try config.write(to: dir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
    }

    var log: LogFile { LogFile(url: dir.appendingPathComponent("bgp.log")) }

    func start() throws {
        startedAt = Date()
        proc = try lab.spawn(in: ns, [TincBinaries.swiftBinary, "bgp", "-c", dir.path, "-D", "-d5",
                                      "--logfile=\(dir.appendingPathComponent("bgp.log").path)"],
                             output: dir.appendingPathComponent("stdout.log"), label: "bgplite")
    }

    /// DIR/bgp.status (rewritten by the speaker after every change and on SIGUSR1).
    func status() -> String {
        (try? String(contentsOf: dir.appendingPathComponent("bgp.status"), encoding: .utf8)) ?? ""
    }

    func refreshStatus() {
        proc?.signal(SIGUSR1)
        Thread.sleep(forTimeInterval: 0.2)
    }

    /// Lines of `show route` in the status file for protocol `proto` (primary or not).
    func routes(from proto: String) -> [String] {
        status().split(separator: "\n").map(String.init).filter { $0.contains(" [\(proto) ") }
    }

    func isEstablished(_ proto: String) -> Bool {
        status().split(separator: "\n").contains { $0.hasPrefix(proto + " ") && $0.contains("BGP") && $0.trimmingCharacters(in: .whitespaces).hasSuffix("Established") }
    }

    func diagnostics() -> String {
        "--- bgplite log ---\n\(log.tail(60))\n--- status ---\n\(status())"
    }
}

final class BirdNode {
    let lab: NetnsLab
    let ns: String
    let dir: URL
    let sock: String
    var proc: ManagedProcess?

    init(lab: NetnsLab, node: Int, name: String, config: String) throws {
        self.lab = lab
        ns = lab.namespace(node)
        dir = lab.workDir.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try config.write(to: dir.appendingPathComponent("bird.conf"), atomically: true, encoding: .utf8)
        sock = dir.appendingPathComponent("bird.ctl").path
    }

    func start() throws {
        proc = try lab.spawn(in: ns, [birdBin, "-f", "-c", dir.appendingPathComponent("bird.conf").path, "-s", sock,
                                      "-P", dir.appendingPathComponent("bird.pid").path],
                             output: dir.appendingPathComponent("bird.log"), label: "bird")
        waitUntil(timeout: 5) { FileManager.default.fileExists(atPath: self.sock) }
    }

    func birdc(_ args: String...) -> String {
        (try? lab.exec(in: ns, [birdcBin, "-s", sock] + args, timeout: 10).stdout) ?? ""
    }

    func diagnostics() -> String {
        "--- bird log ---\n" + LogFile(url: dir.appendingPathComponent("bird.log")).tail(30)
            + "\n--- birdc show protocols all ---\n" + birdc("show", "protocols", "all")
    }
}

/// Creates sockets inside a network namespace (setns on the calling thread, then back).
private enum Netns {
    typealias SetnsFn = @convention(c) (Int32, Int32) -> Int32
    static let setnsFn: SetnsFn = {
        let h = dlopen(nil, RTLD_NOW)
        return unsafeBitCast(dlsym(h, "setns"), to: SetnsFn.self)
    }()

    static func run<T>(in ns: String, _ body: () throws -> T) throws -> T {
        let orig = open("/proc/thread-self/ns/net", O_RDONLY)
        let target = open("/var/run/netns/\(ns)", O_RDONLY)
        guard orig >= 0, target >= 0 else { throw InteropError("cannot open netns \(ns)") }
        defer { close(orig); close(target) }
        guard setnsFn(target, 0x4000_0000) == 0 else { throw InteropError("setns \(ns) failed") }
        defer { _ = setnsFn(orig, 0x4000_0000) }
        return try body()
    }
}

/// A minimal raw BGP speaker for crafted messages (blocking socket, 2 s receive timeout).
private final class RawBGPPeer {
    let fd: Int32
    var buffer: [UInt8] = []

    init(in ns: String, from local: String, to remote: String, port: UInt16 = 179) throws {
        fd = try Netns.run(in: ns) { () -> Int32 in
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var la = sockaddr_in(); la.sin_family = sa_family_t(AF_INET); inet_pton(AF_INET, local, &la.sin_addr)
            _ = withUnsafePointer(to: &la) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var ra = sockaddr_in(); ra.sin_family = sa_family_t(AF_INET); ra.sin_port = port.bigEndian
            inet_pton(AF_INET, remote, &ra.sin_addr)
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let r = withUnsafePointer(to: &ra) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard r == 0 else { let e = errno; close(s); throw InteropError("raw peer connect: \(String(cString: strerror(e)))") }
            return s
        }
    }

    deinit { close(fd) }

    static func header(_ type: UInt8, bodyLength: Int) -> [UInt8] {
        [UInt8](repeating: 0xFF, count: 16) + [UInt8((bodyLength + 19) >> 8), UInt8((bodyLength + 19) & 0xff), type]
    }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    func sendOpen(as asn: UInt16, routerID: [UInt8], hold: UInt16 = 90) {
        let caps: [UInt8] = [1, 4, 0, 1, 0, 1,   65, 4, 0, 0, UInt8(asn >> 8), UInt8(asn & 0xff)]
        var body: [UInt8] = [4, UInt8(asn >> 8), UInt8(asn & 0xff), UInt8(hold >> 8), UInt8(hold & 0xff)] + routerID
        body += [UInt8(caps.count + 2), 2, UInt8(caps.count)] + caps
        send(RawBGPPeer.header(1, bodyLength: body.count) + body)
    }

    func sendKeepalive() { send(RawBGPPeer.header(4, bodyLength: 0)) }

    func sendUpdate(body: [UInt8]) { send(RawBGPPeer.header(2, bodyLength: body.count) + body) }

    /// Reads messages until one of `type` arrives (or timeout). Returns (type, body).
    func receive(until type: UInt8, timeout: TimeInterval = 5) -> (UInt8, [UInt8])? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            while buffer.count >= 19 {
                let len = Int(buffer[16]) << 8 | Int(buffer[17])
                guard len >= 19, buffer.count >= len else { break }
                let t = buffer[18]
                let body = Array(buffer[19..<len])
                buffer.removeFirst(len)
                if t == type { return (t, body) }
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return nil }
            if n > 0 { buffer += chunk[0..<n] }
        }
        return nil
    }

    /// Standard attributes ORIGIN IGP, AS_PATH [asn] (4-byte), NEXT_HOP.
    static func attrs(asn: UInt32, nextHop: [UInt8]) -> [UInt8] {
        [0x40, 1, 1, 0,
         0x40, 2, 6, 2, 1] + be32(asn) + [0x40, 3, 4] + nextHop
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    static func update(withdrawn: [UInt8] = [], attrs: [UInt8], nlri: [UInt8]) -> [UInt8] {
        [UInt8(withdrawn.count >> 8), UInt8(withdrawn.count & 0xff)] + withdrawn
            + [UInt8(attrs.count >> 8), UInt8(attrs.count & 0xff)] + attrs + nlri
    }
}

final class BGPInteropTests: InteropTestCase {
    private var birds: [BirdNode] = []
    private var ours: [BGPLiteNode] = []

    private func requireTools() throws {
        guard FileManager.default.isExecutableFile(atPath: birdBin) else { throw XCTSkip("bird2 not installed") }
        guard FileManager.default.isExecutableFile(atPath: TincBinaries.swiftBinary) else {
            throw XCTSkip("tincd-swift not built at \(TincBinaries.swiftBinary)")
        }
    }

    private func diag() -> String {
        "\n" + ours.map { $0.diagnostics() }.joined(separator: "\n") + "\n" + birds.map { $0.diagnostics() }.joined(separator: "\n")
    }

    /// The guide's ISP config, with the lab's addresses.
    private func ispConfig(local: String, neighbor: String, extra: String = "", statics: String? = nil) -> String {
        """
        router id 192.0.2.100;
        protocol device {}
        protocol static static1 {
            ipv4;
        \(statics ?? """
            route 192.0.2.0/24 blackhole;
            route 198.51.100.0/24 blackhole;
            route 203.0.113.0/24 blackhole;
        """)
        }
        filter import_from_customer {
            print "Importing: ", net;
            accept;
        }
        filter export_to_customer {
            if proto = "static1" then {
                print "Exporting: ", net;
                accept;
            }
            reject;
        }
        protocol bgp customer {
            description "Customer AS 65000";
            local \(local) as 65001;
            neighbor \(neighbor) as 65000;
            ipv4 {
                import filter import_from_customer;
                export filter export_to_customer;
            };
            hold time 180;
            keepalive time 60;
        \(extra)
        }
        """
    }

    private func ourConfig(local: String, neighbor: String, neighborAS: Int = 65001, channelExtra: String = "",
                           extra: String = "", importFilter: String = "import_from_isp") -> String {
        """
        router id \(local);
        protocol static mesh_routes {
            ipv4;
            route 10.0.0.0/24 blackhole;
            route 10.0.1.0/24 blackhole;
        }
        filter import_from_isp {
            if net ~ [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24] then accept;
            reject;
        }
        filter import_any { accept; }
        filter export_to_isp {
            if proto = "mesh_routes" then accept;
            reject;
        }
        protocol bgp isp {
            local \(local) as 65000;
            neighbor \(neighbor) as \(neighborAS);
            ipv4 {
                import filter \(importFilter);
                export filter export_to_isp;
        \(channelExtra)
            };
        \(extra)
        }
        """
    }

    private func birdRoutes(_ b: BirdNode, proto: String) -> [String] {
        b.birdc("show", "route", "protocol", proto).split(separator: "\n").map(String.init).filter { $0.contains("[\(proto) ") }
    }

    // MARK: 1. eBGP with the guide's ISP config

    func testEBGPWithGuideISPConfig() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let bird = try BirdNode(lab: lab, node: 0, name: "isp", config: ispConfig(local: lab.address(0), neighbor: lab.address(1)))
        let us = try BGPLiteNode(lab: lab, node: 1, name: "bird1", config: ourConfig(local: lab.address(1), neighbor: lab.address(0)))
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        let up = waitUntil(timeout: budget(10), poll: 0.05) { us.isEstablished("isp") }
        let setup = Date().timeIntervalSince(us.startedAt)
        XCTAssertTrue(up, "session not established" + diag())
        XCTAssertLessThan(setup, 5, "session setup took \(setup) s" + diag())
        print("BGP eBGP session with BIRD established after \(String(format: "%.3f", setup)) s")
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "isp").count == 3 }, "expected exactly 3 routes from isp" + diag())
        XCTAssertEqual(Set(us.routes(from: "isp").map { String($0.prefix(20)).trimmingCharacters(in: .whitespaces) }),
                       ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"], diag())
        XCTAssertTrue(us.routes(from: "isp").allSatisfy { $0.contains("[AS65001i]") }, diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) { self.birdRoutes(bird, proto: "customer").count == 2 }, "BIRD should import our 2 routes" + diag())
        let br = bird.birdc("show", "route", "protocol", "customer")
        XCTAssertTrue(br.contains("10.0.0.0/24") && br.contains("[AS65000i]"), br)
        XCTAssertTrue(bird.birdc("show", "protocols", "customer").contains("Established"))
        // show protocols all: timers negotiated to BIRD's hold 180 / keepalive 60.
        XCTAssertTrue(us.status().contains("Hold timer:") && us.status().contains("/180"), diag())
    }

    // MARK: SIGHUP is `configure` in the standalone speaker, as in BIRD

    func testSIGHUPAppliesChangedExportFilterWithoutReset() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        // Millisecond since times, to tell "not reset" from "reset a moment later".
        let bird = try BirdNode(lab: lab, node: 0, name: "isp",
                                config: "timeformat protocol iso long ms;\n" + ispConfig(local: lab.address(0), neighbor: lab.address(1)))
        let conf = ourConfig(local: lab.address(1), neighbor: lab.address(0))
        let us = try BGPLiteNode(lab: lab, node: 1, name: "bird1", config: conf)
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) { us.isEstablished("isp") && self.birdRoutes(bird, proto: "customer").count == 2 },
                      "session not up with 2 routes at BIRD" + diag())
        /// BIRD prints since as now minus the monotonic age: two reads jitter by about a millisecond.
        func since() -> Double? {
            let f = bird.birdc("show", "protocols", "customer").split(separator: "\n").first { $0.hasPrefix("customer ") }?
                .split(separator: " ").map(String.init) ?? []
            guard f.count >= 7, f[6] == "Established" else { return nil }
            let t = f[5].split(separator: ":").compactMap { Double($0) }
            return t.count == 3 ? t[0] * 3600 + t[1] * 60 + t[2] : nil
        }
        let before = since()
        XCTAssertNotNil(before, diag())
        let narrowed = conf.replacingOccurrences(of: "if proto = \"mesh_routes\" then accept;",
                                                 with: "if proto = \"mesh_routes\" && net = 10.0.1.0/24 then accept;")
        XCTAssertNotEqual(narrowed, conf)
        try narrowed.write(to: us.dir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        _ = us.proc?.signal(SIGHUP)
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) {
            self.birdRoutes(bird, proto: "customer").map { String($0.prefix { $0 != " " }) } == ["10.0.1.0/24"]
        }, "BIRD still has \(birdRoutes(bird, proto: "customer"))" + diag())
        XCTAssertNotNil(us.log.waitForLine(containing: "Reloading channel isp.ipv4", timeout: budget(5)), diag())
        let after = since()
        XCTAssertTrue(before != nil && after != nil && abs(after! - before!) < 0.05, "BIRD's session was reset: \(String(describing: before)) -> \(String(describing: after))" + diag())
        // A broken file is refused (logged with file:line:column) and the speaker keeps running.
        try (narrowed + "\nprotocol bgp {").write(to: us.dir.appendingPathComponent("bgp.conf"), atomically: true, encoding: .utf8)
        _ = us.proc?.signal(SIGHUP)
        XCTAssertNotNil(us.log.waitForLine(containing: "The running configuration is kept", timeout: budget(5)), diag())
        XCTAssertTrue(us.isEstablished("isp"), diag())
    }

    // MARK: BFD with BIRD: a vanished neighbour takes the BGP session down within a second

    func testBFDTakesSessionDownWithinOneSecond() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let bfd = """
        protocol bfd {
            interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
        }
        """
        let bird = try BirdNode(lab: lab, node: 0, name: "isp",
                                config: ispConfig(local: lab.address(0), neighbor: lab.address(1), extra: "    bfd on;") + "\n" + bfd)
        let us = try BGPLiteNode(lab: lab, node: 1, name: "bird1",
                                 config: ourConfig(local: lab.address(1), neighbor: lab.address(0), extra: "    bfd on;") + "\n" + bfd)
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) { us.isEstablished("isp") }, "session not established" + diag())
        // Both BFD ends must be Up before the neighbour vanishes.
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.1) {
            bird.birdc("show", "bfd", "sessions").split(separator: "\n").contains { $0.contains(lab.address(1)) && $0.contains("Up") }
        }, "BIRD's BFD session never came up" + diag())
        // The neighbour vanishes: everything in and out of BIRD's namespace is dropped (no carrier loss,
        // no TCP reset), so only BFD can notice within a second; the hold timer would take 180 s.
        let nft = """
        table inet tswbfd {
            chain i { type filter hook input priority 0; policy drop; }
            chain o { type filter hook output priority 0; policy drop; }
        }

        """
        let nftFile = lab.workDir.appendingPathComponent("drop.nft")
        try nft.write(to: nftFile, atomically: true, encoding: .utf8)
        let cut = Date()
        let r = try lab.exec(in: lab.namespace(0), ["nft", "-f", nftFile.path])
        XCTAssertEqual(r.status, 0, "nft: \(r.stderr)")
        let down = waitUntil(timeout: budget(5), poll: 0.02) { !us.isEstablished("isp") }
        let took = Date().timeIntervalSince(cut)
        XCTAssertTrue(down, "BGP session stayed up after the neighbour vanished" + diag())
        XCTAssertLessThan(took, 1.0, "BFD took \(took) s to take the session down" + diag())
        print("BFD: BGP session down \(String(format: "%.3f", took)) s after the neighbour vanished")
        XCTAssertTrue(us.log.text().lowercased().contains("bfd"), "the log should say BFD took the session down" + diag())
    }

    // MARK: iBGP with BIRD

    func testIBGPWithBird() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let birdConf = """
        router id 10.203.0.1;
        protocol device {}
        protocol static mesh_b {
            ipv4;
            route 172.16.1.0/24 blackhole;
            route 172.16.2.0/24 blackhole;
        }
        protocol bgp peer2 {
            local \(lab.address(0)) as 65000;
            neighbor \(lab.address(1)) as 65000;
            ipv4 { import all; export all; next hop self; };
        }
        """
        let ourConf = """
        router id \(lab.address(1));
        protocol static mesh_routes {
            ipv4;
            route 10.0.0.0/24 blackhole;
        }
        protocol bgp peer1 {
            local \(lab.address(1)) as 65000;
            neighbor \(lab.address(0)) as 65000;
            ipv4 { import all; export all; next hop self; };
        }
        """
        let bird = try BirdNode(lab: lab, node: 0, name: "birdi", config: birdConf)
        let us = try BGPLiteNode(lab: lab, node: 1, name: "oursi", config: ourConf)
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        let up = waitUntil(timeout: budget(10), poll: 0.05) { us.isEstablished("peer1") }
        let setup = Date().timeIntervalSince(us.startedAt)
        XCTAssertTrue(up, diag())
        XCTAssertLessThan(setup, 5, diag())
        print("BGP iBGP session with BIRD established after \(String(format: "%.3f", setup)) s")
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "peer1").count == 2 }, diag())
        XCTAssertTrue(us.routes(from: "peer1").allSatisfy { $0.contains("[i]") }, diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) { self.birdRoutes(bird, proto: "peer2").count == 1 }, diag())
        XCTAssertTrue(bird.birdc("show", "route", "all", "protocol", "peer2").contains("BGP.local_pref: 100"), diag())
    }

    // MARK: Connection collision with BIRD (RFC 4271 6.8)

    /// Both sides connect to each other and the two OPENs cross: in each namespace nftables drops every
    /// non-SYN segment to port 179, so each side's outgoing connection completes on its own end (OPEN
    /// sent, OpenSent) while the listener never sees the handshake finish. Once both are in OpenSent the
    /// rules go, the retransmitted OPENs arrive, and each side holds an incoming and an outgoing
    /// connection at once. Three rounds with BIRD dominant (higher router id), three with us dominant:
    /// Established on both within 2 s of the release, on one connection (no flap for 2 s after).
    func testConnectionCollisionWithBird() throws {
        try requireTools()
        guard Shell.which("nft") != nil else { throw XCTSkip("nft (nftables) not installed") }
        let lab = try makeLab(nodes: 2)
        let table = "tswcoll\(getpid())"
        func block(_ ns: String) throws {
            try lab.exec(in: ns, ["nft", "add table inet \(table)"])
            try lab.exec(in: ns, ["nft", "add chain inet \(table) in { type filter hook input priority 0 ; }"])
            try lab.exec(in: ns, ["nft", "add rule inet \(table) in tcp dport 179 tcp flags & syn == 0 drop"])
        }
        func unblock(_ ns: String) { _ = try? lab.exec(in: ns, ["nft", "delete table inet \(table)"]) }
        var collisions = 0
        for round in 0..<6 {
            let birdDominant = round % 2 == 0
            let birdID = birdDominant ? "192.0.2.200" : "10.203.0.1"
            let birdConf = """
            router id \(birdID);
            protocol device {}
            protocol static mesh_b { ipv4; route 172.16.1.0/24 blackhole; }
            protocol bgp peer2 {
                local \(lab.address(0)) as 65000;
                neighbor \(lab.address(1)) as 65000;
                connect delay time 1;
                connect retry time 5;
                error wait time 1, 2;
                ipv4 { import all; export all; next hop self; };
            }
            """
            let ourConf = """
            router id 10.203.0.2;
            protocol static mesh_routes { ipv4; route 10.0.0.0/24 blackhole; }
            protocol bgp peer1 {
                local \(lab.address(1)) as 65000;
                neighbor \(lab.address(0)) as 65000;
                connect retry time 5;
                error wait time 1, 2;
                ipv4 { import all; export all; next hop self; };
            }
            """
            let bird = try BirdNode(lab: lab, node: 0, name: "bird\(round)", config: birdConf)
            let us = try BGPLiteNode(lab: lab, node: 1, name: "ours\(round)", config: ourConf)
            birds = [bird]; ours = [us]
            let tag = "round \(round) (\(birdDominant ? "BIRD" : "BGPLite") dominant)"
            try block(lab.namespace(0))
            try block(lab.namespace(1))
            try bird.start()
            try us.start()
            let bothSent = waitUntil(timeout: budget(6), poll: 0.05) {
                us.log.text().contains("BGP state changed from Connect to OpenSent")
                    && bird.birdc("show", "protocols", "all", "peer2").contains("OpenSent")
            }
            unblock(lab.namespace(0))
            unblock(lab.namespace(1))
            let released = Date()
            XCTAssertTrue(bothSent, "\(tag): both sides should have an outgoing connection in OpenSent" + diag())
            let up = waitUntil(timeout: budget(2), poll: 0.02) {
                us.isEstablished("peer1") && bird.birdc("show", "protocols", "peer2").contains("Established")
            }
            let took = Date().timeIntervalSince(released)
            XCTAssertTrue(up, "\(tag): not Established on both sides within 2 s of the crossing OPENs" + diag())
            let birdSince = bird.birdc("show", "protocols", "peer2")
            Thread.sleep(forTimeInterval: 2)
            us.refreshStatus()
            XCTAssertTrue(us.isEstablished("peer1"), "\(tag): our session went down" + diag())
            // BIRD prints Since from a monotonic stamp plus the current real-time offset, so the
            // same session can read 1 ms apart between two calls; a flap shifts it by at least the
            // 1 s error wait configured above.
            let birdNow = bird.birdc("show", "protocols", "peer2")
            XCTAssertTrue(birdNow.contains("Established"), "\(tag): BIRD's session is down: \(birdNow)" + diag())
            if let a = birdSinceMillis(birdSince, protocol: "peer2"), let b = birdSinceMillis(birdNow, protocol: "peer2") {
                XCTAssertLessThan(abs(b - a), 100, "\(tag): BIRD's session changed (flap): \(birdSince) -> \(birdNow)" + diag())
            } else {
                XCTFail("\(tag): no Since time for peer2 in BIRD's answer: \(birdSince) / \(birdNow)")
            }
            let text = us.log.text()
            XCTAssertEqual(text.components(separatedBy: "BGP session established").count - 1, 1, "\(tag): established more than once" + diag())
            XCTAssertFalse(text.contains("BGP session down"), "\(tag): session went down" + diag())
            let collided = text.contains("Connection collision")
            if collided { collisions += 1 }
            print("BGP collision with BIRD, \(tag): Established on both \(String(format: "%.3f", took)) s after the release, collision seen: \(collided)")
            bird.proc.map { _ = $0.signal(SIGTERM); _ = $0.waitForExit(timeout: 5) }
            us.proc.map { _ = $0.signal(SIGTERM); _ = $0.waitForExit(timeout: 5) }
        }
        XCTAssertEqual(collisions, 6, "every round should have resolved a collision (both connections existed)")
    }

    // MARK: GoBGP

    func testEBGPWithGoBGP() throws {
        try requireTools()
        guard let gobgpd = Shell.which("gobgpd"), let gobgp = Shell.which("gobgp") else { throw XCTSkip("gobgpd not installed") }
        let lab = try makeLab(nodes: 2)
        let gdir = lab.workDir.appendingPathComponent("gobgp")
        try FileManager.default.createDirectory(at: gdir, withIntermediateDirectories: true)
        let toml = """
        [global.config]
          as = 65002
          router-id = "\(lab.address(0))"
          port = 179
          local-address-list = ["\(lab.address(0))"]
        [[neighbors]]
          [neighbors.config]
            neighbor-address = "\(lab.address(1))"
            peer-as = 65000
          [neighbors.timers.config]
            connect-retry = 5
            hold-time = 90
            keepalive-interval = 30
          [[neighbors.afi-safis]]
            [neighbors.afi-safis.config]
              afi-safi-name = "ipv4-unicast"
        """
        try toml.write(to: gdir.appendingPathComponent("gobgpd.toml"), atomically: true, encoding: .utf8)
        let us = try BGPLiteNode(lab: lab, node: 1, name: "oursg",
                                 config: ourConfig(local: lab.address(1), neighbor: lab.address(0), neighborAS: 65002, importFilter: "import_any"))
        ours = [us]
        _ = try lab.spawn(in: lab.namespace(0), [gobgpd, "-f", gdir.appendingPathComponent("gobgpd.toml").path,
                                                  "--api-hosts=127.0.0.1:50051", "--pprof-disable", "-p"],
                          output: gdir.appendingPathComponent("gobgpd.log"), label: "gobgpd")
        XCTAssertTrue(waitUntil(timeout: budget(10)) {
            (try? lab.exec(in: lab.namespace(0), [gobgp, "-p", "50051", "global"], timeout: 5).succeeded) ?? false
        }, "gobgpd API not up")
        for p in ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] {
            try lab.exec(in: lab.namespace(0), [gobgp, "-p", "50051", "global", "rib", "add", "-a", "ipv4", p, "nexthop", lab.address(0)])
        }
        try us.start()
        let up = waitUntil(timeout: budget(15), poll: 0.05) { us.isEstablished("isp") }
        let setup = Date().timeIntervalSince(us.startedAt)
        let gdiag = { () -> String in
            "\n--- gobgpd ---\n" + LogFile(url: gdir.appendingPathComponent("gobgpd.log")).tail(20) + self.diag()
        }
        XCTAssertTrue(up, gdiag())
        print("BGP session with gobgpd established after \(String(format: "%.3f", setup)) s")
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "isp").count == 3 }, gdiag())
        XCTAssertTrue(us.routes(from: "isp").allSatisfy { $0.contains("[AS65002?]") || $0.contains("[AS65002i]") }, gdiag())
        var rib = ""
        XCTAssertTrue(waitUntil(timeout: budget(5)) {
            rib = (try? lab.exec(in: lab.namespace(0), [gobgp, "-p", "50051", "global", "rib"], timeout: 5).stdout) ?? ""
            return rib.contains("10.0.0.0/24") && rib.contains("10.0.1.0/24")
        }, "gobgp rib: \(rib)" + gdiag())
        XCTAssertTrue(rib.contains("65000"), rib)
    }

    // MARK: 2. TCP MD5

    func testMD5PasswordMatchAndMismatch() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let bird = try BirdNode(lab: lab, node: 0, name: "ispmd5",
                                config: ispConfig(local: lab.address(0), neighbor: lab.address(1), extra: "    password \"s3cret\";"))
        let good = try BGPLiteNode(lab: lab, node: 1, name: "good",
                                   config: ourConfig(local: lab.address(1), neighbor: lab.address(0), extra: "    password \"s3cret\";"))
        birds = [bird]; ours = [good]
        try bird.start()
        try good.start()
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) { good.isEstablished("isp") }, "MD5 session should come up" + diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) { good.routes(from: "isp").count == 3 }, diag())
        good.proc?.stop()
        // Wrong password: no session, and the log says why.
        let bad = try BGPLiteNode(lab: lab, node: 1, name: "bad",
                                  config: ourConfig(local: lab.address(1), neighbor: lab.address(0),
                                                    extra: "    password \"wrong\";\n    connect retry time 5;"))
        ours = [bad]
        try bad.start()
        let line = bad.log.waitForLine(matching: "timed out.*TCP MD5", timeout: budget(20))
        XCTAssertNotNil(line, "expected an MD5 hint in the log" + diag())
        XCTAssertTrue(line?.contains("MD5 failure") ?? false)
        XCTAssertFalse(bad.isEstablished("isp"), diag())
        XCTAssertFalse(bird.birdc("show", "protocols", "customer").contains("Established"))
    }

    // MARK: 3. Import limits and strict filters

    private func manyStatics(_ n: Int) -> String {
        (0..<n).map { "    route 100.\(64 + $0 / 256).\($0 % 256).0/24 blackhole;" }.joined(separator: "\n")
    }

    func testImportLimitRestart() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let bird = try BirdNode(lab: lab, node: 0, name: "isplim",
                                config: ispConfig(local: lab.address(0), neighbor: lab.address(1), statics: manyStatics(1001)))
        let us = try BGPLiteNode(lab: lab, node: 1, name: "limr",
                                 config: ourConfig(local: lab.address(1), neighbor: lab.address(0), channelExtra: "        import limit 1000 action restart;",
                                                   extra: "    error wait time 2, 4;", importFilter: "import_any"))
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        XCTAssertNotNil(us.log.waitForLine(matching: "hits route import limit \\(1000\\), action: restart", timeout: budget(10)), diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) {
            bird.birdc("show", "protocols", "all", "customer").contains("Received: Maximum number of prefixes reached")
        }, "BIRD should have received Cease/Maximum number of prefixes reached" + diag())
        // Reconnects after the error wait and hits the limit again.
        XCTAssertTrue(waitUntil(timeout: budget(15)) {
            us.log.lines().filter { $0.contains("hits route import limit (1000), action: restart") }.count >= 2
        }, "expected a reconnect after the error wait" + diag())
        XCTAssertTrue(us.log.text().contains("Waiting 2 s (error wait)"), diag())
    }

    func testImportLimitBlockAndStrictFilter() throws {
        try requireTools()
        let lab = try makeLab(nodes: 2)
        let statics = manyStatics(1001) + "\n    route 192.0.2.0/24 blackhole;\n    route 198.51.100.0/24 blackhole;"
        let bird = try BirdNode(lab: lab, node: 0, name: "ispblk",
                                config: ispConfig(local: lab.address(0), neighbor: lab.address(1), statics: statics))
        let us = try BGPLiteNode(lab: lab, node: 1, name: "limb",
                                 config: ourConfig(local: lab.address(1), neighbor: lab.address(0), channelExtra: "        import limit 1000 action block;",
                                                   importFilter: "import_any"))
        // Second session with the guide's strict filter.
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) { us.isEstablished("isp") }, diag())
        XCTAssertNotNil(us.log.waitForLine(matching: "hits route import limit \\(1000\\), action: block", timeout: budget(10)), diag())
        XCTAssertTrue(waitUntil(timeout: budget(10)) { us.status().contains("1000 imported") }, diag())
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(us.isEstablished("isp"), "block keeps the session" + diag())
        XCTAssertTrue(bird.birdc("show", "protocols", "customer").contains("Established"))
        // Strict filter: only the two expected prefixes out of 1003 are imported.
        us.proc?.stop()
        let strict = try BGPLiteNode(lab: lab, node: 1, name: "strict", config: ourConfig(local: lab.address(1), neighbor: lab.address(0)))
        ours = [strict]
        try strict.start()
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) { strict.isEstablished("isp") }, diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) { strict.routes(from: "isp").count == 2 }, diag())
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(strict.routes(from: "isp").count, 2, diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) {
            strict.refreshStatus()
            return strict.status().contains("1001          0          2")
        }, "1001 filtered, 2 accepted" + diag())
        // BIRD side: our export filter lets only mesh_routes out.
        XCTAssertEqual(birdRoutes(bird, proto: "customer").count, 2, bird.birdc("show", "route", "protocol", "customer"))
    }

    // MARK: 4. Malformed UPDATEs (RFC 7606)

    func testMalformedUpdates() throws {
        try requireTools()
        let lab = try makeLab(nodes: 3)
        // node0: BIRD (a healthy session), node1: us, node2: raw test peer AS65003.
        let bird = try BirdNode(lab: lab, node: 0, name: "ispok", config: ispConfig(local: lab.address(0), neighbor: lab.address(1)))
        var conf = ourConfig(local: lab.address(1), neighbor: lab.address(0))
        conf += """

        protocol bgp raw {
            local \(lab.address(1)) as 65000;
            neighbor \(lab.address(2)) as 65003;
            passive on;
            error wait time 1, 2;
            ipv4 { import all; export none; };
        }
        """
        let us = try BGPLiteNode(lab: lab, node: 1, name: "ours7606", config: conf)
        birds = [bird]; ours = [us]
        try bird.start()
        try us.start()
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.05) { us.isEstablished("isp") && us.routes(from: "isp").count == 3 }, diag())

        func connectRaw() throws -> RawBGPPeer {
            var peer: RawBGPPeer?
            waitUntil(timeout: budget(8), poll: 0.2) {
                peer = try? RawBGPPeer(in: lab.namespace(2), from: lab.address(2), to: lab.address(1))
                guard let p = peer else { return false }
                p.sendOpen(as: 65003, routerID: [10, 203, 0, 3])
                guard p.receive(until: 1) != nil else { peer = nil; return false }
                p.sendKeepalive()
                return p.receive(until: 4) != nil
            }
            guard let p = peer else { throw InteropError("raw peer could not establish") }
            return p
        }
        let nh: [UInt8] = [10, 203, 0, 3]
        var peer = try connectRaw()
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.isEstablished("raw") }, diag())
        // Good routes 172.20.1.0/24, 172.20.2.0/24.
        peer.sendUpdate(body: RawBGPPeer.update(attrs: RawBGPPeer.attrs(asn: 65003, nextHop: nh), nlri: [24, 172, 20, 1, 24, 172, 20, 2]))
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "raw").count == 2 }, diag())

        // (a) Bad attribute length (MED of length 3) -> treat-as-withdraw of the NLRI in that UPDATE; session stays.
        let badMED = RawBGPPeer.attrs(asn: 65003, nextHop: nh) + [0x80, 4, 3, 0, 0, 1]
        peer.sendUpdate(body: RawBGPPeer.update(attrs: badMED, nlri: [24, 172, 20, 1]))
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "raw").count == 1 }, "172.20.1.0/24 withdrawn" + diag())
        XCTAssertTrue(us.isEstablished("raw"), diag())
        // (b) Bad flags (ORIGIN marked optional) -> treat-as-withdraw.
        var badFlags = RawBGPPeer.attrs(asn: 65003, nextHop: nh)
        badFlags[0] = 0xC0
        peer.sendUpdate(body: RawBGPPeer.update(attrs: badFlags, nlri: [24, 172, 20, 2]))
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "raw").isEmpty }, "172.20.2.0/24 withdrawn" + diag())
        // (c) Bad AS_PATH segment (type 7) -> treat-as-withdraw.
        peer.sendUpdate(body: RawBGPPeer.update(attrs: RawBGPPeer.attrs(asn: 65003, nextHop: nh), nlri: [24, 172, 20, 3]))
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "raw").count == 1 }, diag())
        var badPath = RawBGPPeer.attrs(asn: 65003, nextHop: nh)
        badPath[7] = 7
        peer.sendUpdate(body: RawBGPPeer.update(attrs: badPath, nlri: [24, 172, 20, 3]))
        XCTAssertTrue(waitUntil(timeout: budget(5)) { us.routes(from: "raw").isEmpty }, diag())
        XCTAssertTrue(us.isEstablished("raw"), diag())
        XCTAssertTrue(us.log.text().contains("treating as withdraw"), diag())
        XCTAssertEqual(us.routes(from: "isp").count, 3)

        // (d) Truncated NLRI (/24 with only 2 bytes) -> session reset with UPDATE error / Invalid network field.
        peer.sendUpdate(body: RawBGPPeer.update(attrs: RawBGPPeer.attrs(asn: 65003, nextHop: nh), nlri: [24, 172, 20, 4, 24, 172, 20]))
        let n1 = peer.receive(until: 3)
        XCTAssertEqual(n1.map { Array($0.1.prefix(2)) }, [3, 10], "NOTIFICATION UPDATE error / Invalid network field" + diag())
        XCTAssertTrue(waitUntil(timeout: budget(5)) { !us.isEstablished("raw") }, diag())
        XCTAssertEqual(us.routes(from: "isp").count, 3, "other sessions keep their routes" + diag())
        XCTAssertTrue(us.isEstablished("isp"))

        // (e) Bad attribute length of MP_REACH_NLRI overrunning the attributes -> session reset (3/9... or 3/1).
        peer = try connectRaw()
        let overrun: [UInt8] = RawBGPPeer.attrs(asn: 65003, nextHop: nh) + [0x80, 14, 40, 0, 1, 1, 4] + nh + [0]
        peer.sendUpdate(body: RawBGPPeer.update(attrs: overrun, nlri: []))
        let n2 = peer.receive(until: 3)
        XCTAssertEqual(n2.map { $0.1[0] }, 3, "NOTIFICATION UPDATE message error" + diag())
        XCTAssertEqual(us.routes(from: "isp").count, 3, diag())
        XCTAssertEqual(birdRoutes(bird, proto: "customer").count, 2)
    }
}

/// The Since column of one protocol's line in `birdc show protocols` (HH:MM:SS.mmm) as
/// milliseconds of the day; nil if the line or the time is not there.
func birdSinceMillis(_ text: String, protocol name: String) -> Int? {
    for line in text.split(separator: "\n") {
        let cols = line.split(separator: " ", omittingEmptySubsequences: true)
        guard cols.count >= 5, cols[0] == name else { continue }
        let hms = cols[4].split(separator: ":")
        guard hms.count == 3, let h = Int(hms[0]), let m = Int(hms[1]) else { return nil }
        let sec = hms[2].split(separator: ".")
        guard let s = sec.first.flatMap({ Int($0) }) else { return nil }
        let ms = sec.count > 1 ? Int(sec[1]) ?? 0 : 0
        return ((h * 60 + m) * 60 + s) * 1000 + ms
    }
    return nil
}

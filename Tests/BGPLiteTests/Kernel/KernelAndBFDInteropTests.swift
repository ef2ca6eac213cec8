import XCTest
import Glibc
import MeshIO
@testable import BGPLite

/// Root-only: KernelFIB against the real kernel and BFDManager against BIRD 2, each in network namespaces the
/// test creates (`tbf<pid>…`) and deletes. Lives in BGPLiteTests (not InteropTests) because it runs our code
/// in-process and InteropTests does not link BGPLite.
final class KernelAndBFDInteropTests: XCTestCase {
    let pid = getpid()
    var namespaces: [String] = []
    var children: [Process] = []

    override func tearDown() {
        for p in children where p.isRunning {
            kill(p.processIdentifier, SIGTERM)
        }
        for p in children { waitBounded(p) }
        children.removeAll()
        for ns in namespaces { Netns.sh(["ip", "netns", "del", ns]) }
        namespaces.removeAll()
    }

    private func waitBounded(_ p: Process) {
        let end = EventLoop.now() + 3
        while p.isRunning && EventLoop.now() < end { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
    }

    private func makeNamespace(_ suffix: String) throws -> String {
        let ns = "tbf\(pid)\(suffix)"
        Netns.sh(["ip", "netns", "del", ns])     // a leftover of an earlier run with our pid (unlikely)
        let r = Netns.sh(["ip", "netns", "add", ns])
        guard r.status == 0 else { throw XCTSkip("cannot create namespace: \(r.output)") }
        namespaces.append(ns)
        try ip(ns, "link set lo up")
        return ns
    }

    private func ip(_ ns: String, _ args: String) throws {
        let r = Netns.sh(["ip", "-n", ns] + args.split(separator: " ").map(String.init))
        guard r.status == 0 else { throw NSError(domain: "ip", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "ip -n \(ns) \(args): \(r.output)"]) }
    }

    private func lines(_ ns: String, _ args: String) -> [String] {
        Netns.sh(["ip", "-n", ns] + args.split(separator: " ").map(String.init), timeout: 20).output
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    // MARK: (a) kernel routes

    func testKernelFIBInstallReplaceRemoveFlush() throws {
        guard Netns.isRoot else { throw XCTSkip("needs root (network namespaces)") }
        let t0 = EventLoop.now()
        let ns = try makeNamespace("k")
        try ip(ns, "link add d0 type veth peer name d1")     // dummy may be unavailable in containers
        try ip(ns, "link set d1 up")
        try ip(ns, "link set d0 up")
        try ip(ns, "addr add 10.200.0.1/24 dev d0")
        try ip(ns, "-6 addr add 2001:db8:ff::1/64 dev d0 nodad")
        // A stale route of "an earlier run" with our protocol number, and a foreign one that must survive.
        try ip(ns, "route add 10.99.0.0/24 via 10.200.0.2 proto 186")
        try ip(ns, "route add 10.98.0.0/24 via 10.200.0.2 proto static")

        guard let made = Netns.run(in: ns, { Result { try KernelFIB() } }) else { return XCTFail("setns failed") }
        let fib = try made.get()
        var failures: [KernelFIB.Failure] = []
        fib.onError = { failures.append($0) }
        XCTAssertEqual(fib.flushOwnRoutes(), 1, "stale route removed at startup")
        XCTAssertTrue(lines(ns, "route show proto 186").filter { !$0.isEmpty }.isEmpty)
        XCTAssertEqual(lines(ns, "route show proto static").filter { !$0.isEmpty }.count, 1)

        let gw4 = IPPrefix("10.200.0.2")!, gw4b = IPPrefix("10.200.0.3")!, gw6 = IPPrefix("2001:db8:ff::2")!
        let v4 = (0..<1000).map { IPPrefix(ipv4: 0x0a01_0000 + UInt32($0) << 8, length: 24) }        // 10.1.0.0/24 …
        let v6 = (0..<100).map { IPPrefix(family: .ipv6, hi: 0x2001_0db8_0000_0000 | UInt64($0 + 1) << 16, lo: 0, length: 48) }
        var changes = v4.map { FIBChange.add($0, nextHop: gw4, metric: 32) } + v6.map { FIBChange.add($0, nextHop: gw6, metric: 1024) }
        changes.shuffle()
        for chunk in stride(from: 0, to: changes.count, by: 300) { fib.apply(Array(changes[chunk..<min(chunk + 300, changes.count)])) }
        XCTAssertEqual(failures, [])
        XCTAssertEqual(fib.statistics.acks, 1101 + 0, "every message acknowledged (1 flush + 1100 adds)")

        let shown4 = lines(ns, "route show proto 186").filter { !$0.isEmpty }
        XCTAssertEqual(shown4.count, 1000)
        XCTAssertTrue(shown4.contains("10.1.5.0/24 via 10.200.0.2 dev d0 metric 32"), "\(shown4.prefix(3))")
        XCTAssertTrue(shown4.allSatisfy { $0.contains("via 10.200.0.2 dev d0") })
        let shown6 = lines(ns, "-6 route show proto 186").filter { !$0.isEmpty }
        XCTAssertEqual(shown6.count, 100)
        XCTAssertTrue(shown6.contains { $0.hasPrefix("2001:db8:1::/48 via 2001:db8:ff::2 dev d0 metric 1024") }, "\(shown6.prefix(3))")
        XCTAssertEqual(fib.dump().count, 1100)

        // Replace next hops; change a metric (must not leave the old route behind).
        fib.apply(v4.prefix(10).map { .add($0, nextHop: gw4b, metric: 32) } + [.add(v4[20], nextHop: gw4, metric: 50),
                                                                              .add(v6[0], nextHop: IPPrefix("2001:db8:ff::3")!, metric: 1024)])
        XCTAssertEqual(lines(ns, "route show 10.1.0.0/24 proto 186"), ["10.1.0.0/24 via 10.200.0.3 dev d0 metric 32"])
        XCTAssertEqual(lines(ns, "route show 10.1.20.0/24 proto 186"), ["10.1.20.0/24 via 10.200.0.2 dev d0 metric 50"])
        XCTAssertEqual(lines(ns, "-6 route show 2001:db8:1::/48 proto 186").first?.hasPrefix("2001:db8:1::/48 via 2001:db8:ff::3 dev d0 metric 1024"), true)
        XCTAssertEqual(lines(ns, "route show proto 186").filter { !$0.isEmpty }.count, 1000)
        XCTAssertEqual(failures, [])

        // Unreachable next hop: a clear error naming the prefix, no crash, other changes in the batch still applied.
        let logLines = Locked<[String]>([])
        Log.observer = { m in logLines.withLock { $0.append(m) } }
        fib.apply([.add(IPPrefix("10.250.0.0/24")!, nextHop: IPPrefix("192.0.2.99")!, metric: 32),
                   .add(IPPrefix("10.251.0.0/24")!, nextHop: gw4, metric: 32),
                   .add(IPPrefix("10.252.0.0/24")!, nextHop: IPPrefix("2001:db8:ff::2")!, metric: 32)])
        Log.observer = nil
        let logs = logLines.withLock { $0 }
        XCTAssertEqual(failures.count, 2)
        XCTAssertTrue(failures.contains { $0.errno == ENETUNREACH && $0.change.prefix == IPPrefix("10.250.0.0/24")! })
        XCTAssertTrue(logs.contains { $0.contains("10.250.0.0/24") && $0.contains("192.0.2.99") && $0.contains("unreachable") }, "\(logs)")
        XCTAssertTrue(logs.contains { $0.contains("10.252.0.0/24") && $0.contains("family") }, "\(logs)")
        print("kernel: unreachable next hop logged as: \(logs.first { $0.contains("10.250") } ?? "-")")
        XCTAssertEqual(lines(ns, "route show 10.251.0.0/24 proto 186").count, 1)
        failures.removeAll()

        // Withdraw half, then flush the rest.
        fib.apply(v4.prefix(500).map { .remove($0) } + v6.prefix(50).map { .remove($0) })
        XCTAssertEqual(failures, [])
        XCTAssertEqual(lines(ns, "route show proto 186").filter { !$0.isEmpty }.count, 501)
        XCTAssertEqual(lines(ns, "-6 route show proto 186").filter { !$0.isEmpty }.count, 50)
        XCTAssertEqual(fib.flushOwnRoutes(), 551)
        XCTAssertTrue(lines(ns, "route show proto 186").filter { !$0.isEmpty }.isEmpty)
        XCTAssertTrue(lines(ns, "-6 route show proto 186").filter { !$0.isEmpty }.isEmpty)
        XCTAssertEqual(lines(ns, "route show proto static").filter { !$0.isEmpty }.count, 1, "foreign routes untouched")

        // Scale: 100,000 /32 routes in one apply (64 KB batches), then flush.
        let many = (0..<100_000).map { FIBChange.add(IPPrefix(ipv4: 0x0b00_0000 + UInt32($0), length: 32), nextHop: gw4, metric: 32) }
        let s0 = EventLoop.now()
        fib.apply(many)
        let s1 = EventLoop.now()
        XCTAssertEqual(failures, [])
        let count = fib.dump(family: .ipv4).count
        let s2 = EventLoop.now()
        XCTAssertEqual(count, 100_000)
        let sends = fib.statistics.sends
        XCTAssertEqual(fib.flushOwnRoutes(), 100_000)
        let s3 = EventLoop.now()
        print(String(format: "kernel: 100000 routes installed in %.2f s (%.0f routes/s, %d sendmsg calls total), dumped in %.2f s, flushed in %.2f s",
                     s1 - s0, 100_000 / (s1 - s0), sends, s2 - s1, s3 - s2))
        fib.close()
        print(String(format: "kernel test total %.1f s", EventLoop.now() - t0))
    }

    // MARK: (b) BFD with BIRD

    func testBFDWithBird() throws {
        guard Netns.isRoot else { throw XCTSkip("needs root (network namespaces)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/bird") else { throw XCTSkip("bird not installed") }
        let t0 = EventLoop.now()
        let ours = try makeNamespace("a"), theirs = try makeNamespace("b")
        try ip(ours, "link add va type veth peer name vb netns \(theirs)")
        try ip(ours, "addr add 10.201.0.1/24 dev va")
        try ip(theirs, "addr add 10.201.0.2/24 dev vb")
        try ip(ours, "link set va up")
        try ip(theirs, "link set vb up")

        let dir = NSTemporaryDirectory() + "tbf\(pid)-bird"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = """
        router id 10.201.0.2;
        protocol device { scan time 1; }
        protocol bfd {
            interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
            neighbor 10.201.0.1;
        }
        """
        try conf.write(toFile: dir + "/bird.conf", atomically: true, encoding: .utf8)
        let check = Netns.sh(["/usr/sbin/bird", "-p", "-c", dir + "/bird.conf"])
        XCTAssertEqual(check.status, 0, check.output)
        let sock = dir + "/bird.ctl"
        let bird = Process()
        bird.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        bird.arguments = ["netns", "exec", theirs, "/usr/sbin/bird", "-f", "-c", dir + "/bird.conf", "-s", sock, "-P", dir + "/bird.pid"]
        bird.standardOutput = FileHandle.nullDevice
        bird.standardError = FileHandle.nullDevice
        try bird.run()
        children.append(bird)
        func birdSession() -> String? {
            let out = Netns.sh(["birdc", "-s", sock, "show", "bfd", "sessions"], timeout: 5).output
            return out.split(separator: "\n").map(String.init).first { $0.hasPrefix("10.201.0.1") }
        }

        let lt = try BFDTestLoop(setup: { _ = Netns.enter(ours) })
        defer { lt.stop() }
        let made = lt.sync { Result { try BFDManager(loop: lt.loop) } }     // BIRD's defaults: 10 ms rx, 100 ms tx, ×5
        let manager = try made.get()
        defer { lt.sync { manager.shutdown() } }
        let up = BFDTestEvent(), down = BFDTestEvent()
        var token: AnyObject? = lt.sync {
            manager.watch(peer: SocketAddress(numericHost: "10.201.0.2", port: 179)!,
                          local: SocketAddress(numericHost: "10.201.0.1", port: 0), interface: "va",
                          onDown: { down.fire() }, onUp: { up.fire() })
        }
        XCTAssertTrue(up.wait(timeout: 15), "our session did not come Up: \(lt.sync { manager.sessions() }) / bird: \(birdSession() ?? "-")")
        let upAt = EventLoop.now() - t0
        var birdUp = false
        for _ in 0..<50 where !birdUp {
            birdUp = birdSession()?.contains(" Up ") == true
            if !birdUp { usleep(100_000) }
        }
        XCTAssertTrue(birdUp, "bird: \(birdSession() ?? "no session")")
        // Let the Poll Sequences (1 s idle rate -> 100 ms) finish.
        usleep(700_000)
        let info = lt.sync { manager.sessions().first! }
        print("BFD with BIRD: Up after \(String(format: "%.1f", upAt)) s; ours: \(info); bird: \(birdSession() ?? "-")")
        XCTAssertEqual(info.state, .up)
        XCTAssertEqual(info.transmitInterval, 100_000)
        XCTAssertEqual(info.detectionTime, 300_000, "3 × max(our rx 10 ms, BIRD tx 100 ms)")
        XCTAssertEqual(down.count, 0)

        // Take our end down: our detection must fire within 1 s; BIRD must see Down too.
        let cut = EventLoop.now()
        try ip(ours, "link set va down")
        XCTAssertTrue(down.wait(timeout: 1.0), "onDown did not fire within 1 s: \(lt.sync { manager.sessions() })")
        let ourDetect = (down.last ?? EventLoop.now()) - cut
        var birdDown: Double?
        var birdLine = ""
        while birdDown == nil && EventLoop.now() - cut < 5 {
            let line = birdSession()
            if line == nil || line!.contains(" Down ") || line!.contains(" Init ") { birdDown = EventLoop.now() - cut; birdLine = line ?? "(session gone)" }
            else { usleep(50_000) }
        }
        print(String(format: "BFD detection after link down: ours %.0f ms (onDown), BIRD shows Down after <= %.0f ms: %@",
                     ourDetect * 1000, (birdDown ?? -1) * 1000, birdLine))
        XCTAssertLessThan(ourDetect, 1.0)
        XCTAssertNotNil(birdDown, "BIRD still shows \(birdSession() ?? "-")")
        XCTAssertEqual(lt.sync { manager.sessions().first?.diagnostic }, .controlDetectionTimeExpired)
        token = nil
        _ = token
        print(String(format: "BFD interop test total %.1f s", EventLoop.now() - t0))
    }
}

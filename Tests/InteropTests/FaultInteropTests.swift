import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Faults as tests (issue 11): a triangle of two tincd-swift nodes (a, b) and one C tincd 1.0 (c), every
/// node connecting to both others. A fault hits a or b; overlay pings a→b (swift↔swift) and c→b
/// (C↔swift) run through it, every 0.2 s. Each test prints
/// `fault: NAME recovered in X s, lost N pings (flow)` and asserts a bound on X, where X is the time from
/// the end of the fault (nft rule removed, SIGCONT, daemon started) to the first reply after the last lost
/// echo (0 when nothing was lost after the fault ended).
///
/// PingInterval 10 s / PingTimeout 3 s (TincNode defaults), so the 30 s partition and the SIGSTOP are far
/// past PingTimeout. The SIGSTOP lasts 15 s here; TSW_FAULT_LONG=1 makes it the issue's 60 s.
/// The ISP/BGP fault needs the five-node lab (scripts/lab.sh); it is not part of these tests.
final class FaultInteropTests: InteropTestCase {
    private var a: TincNode!, b: TincNode!, c: TincNode!
    private var lab: NetnsLab!
    private static let long = ProcessInfo.processInfo.environment["TSW_FAULT_LONG"] != nil

    private func overlay(_ n: TincNode) -> String { "10.210.0.\(n.nsIndex + 1)" }

    private func makeTriangle(function: String = #function) throws {
        lab = try makeLab(nodes: 3, function: function)
        a = TincNode(name: "a", impl: .swift, lab: lab, nsIndex: 0, port: 655, subnets: ["10.210.0.1/32"])
        b = TincNode(name: "b", impl: .swift, lab: lab, nsIndex: 1, port: 655, subnets: ["10.210.0.2/32"])
        c = TincNode(name: "c", impl: .c, lab: lab, nsIndex: 2, port: 655, subnets: ["10.210.0.3/32"])
        a.connectTo = ["b", "c"]; b.connectTo = ["c", "a"]; c.connectTo = ["a", "b"]
        for n in [a!, b!, c!] {
            n.configureRouter(v4: overlay(n), prefix4: 24, v6: "fd21::\(n.nsIndex + 1)", prefix6: 64)
            n.debugLevel = 3
        }
        watched = [a, b, c]
        try setUpNetwork([a, b, c])
        try start(a, b, c)
        // Converged and both measured flows working before the fault.
        for (src, dst) in [(a!, b!), (c!, b!)] {
            XCTAssertTrue(waitUntil(timeout: budget(20), poll: 0.1) { self.pingOnce(from: src, to: self.overlay(dst)) },
                          "\(src.name) -> \(dst.name) never worked before the fault" + diagnostics())
        }
    }

    // MARK: measuring

    /// A continuous `ping -D -i 0.2` inside `src`'s namespace, parsed when stopped.
    final class Prober {
        let name: String
        let process: ManagedProcess
        let output: URL
        init(from src: TincNode, to address: String, lab: NetnsLab, tag: String) throws {
            name = "\(src.name)->\(address)"
            output = lab.workDir.appendingPathComponent("probe-\(tag)-\(src.name).txt")
            process = try lab.spawn(in: src.namespace, ["ping", "-D", "-n", "-i", "0.2", "-W", "1", address],
                                    output: output, label: "ping \(name)")
        }

        /// Replies (seq → unix time) so far.
        func replies() -> [Int: Double] {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            var r: [Int: Double] = [:]
            for line in text.split(separator: "\n") where line.hasPrefix("[") && line.contains("bytes from") && !line.contains("DUP") {
                guard let close = line.firstIndex(of: "]"), let t = Double(line[line.index(after: line.startIndex)..<close]),
                      let s = line.range(of: "icmp_seq=") else { continue }
                let seqText = line[s.upperBound...].prefix { $0.isNumber }
                if let seq = Int(seqText) { r[seq] = t }
            }
            return r
        }

        /// Stops ping (SIGINT: it prints its summary) and returns (transmitted, replies).
        func finish() -> (sent: Int, replies: [Int: Double]) {
            _ = process.signal(SIGINT)
            _ = process.waitForExit(timeout: 5)
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            var sent = 0
            if let m = text.range(of: #"([0-9]+) packets transmitted"#, options: .regularExpression) {
                sent = Int(text[m].prefix { $0.isNumber }) ?? 0
            }
            let r = replies()
            return (max(sent, r.keys.max() ?? 0), r)
        }
    }

    struct Recovery { let lost: Int; let seconds: Double }

    /// Lost echoes, and seconds from `healedAt` to the first reply after the last lost echo.
    static func recovery(sent: Int, replies: [Int: Double], healedAt: Double) -> Recovery {
        let lostSeqs = (1...max(1, sent)).filter { replies[$0] == nil && $0 <= sent }
        guard let last = lostSeqs.max() else { return Recovery(lost: 0, seconds: 0) }
        guard let firstAfter = replies.keys.filter({ $0 > last }).min(), let t = replies[firstAfter] else {
            return Recovery(lost: lostSeqs.count, seconds: .infinity)
        }
        return Recovery(lost: lostSeqs.count, seconds: max(0, t - healedAt))
    }

    /// Starts the probes, runs `fault` (which returns the unix time the fault ended), waits until every flow
    /// has replies again for `settle` s (at most `bound` + settle), prints and asserts.
    private func measure(_ name: String, bound: Double, maxLost: Int? = nil, maxGap: Double? = nil, settle: Double = 3,
                         file: StaticString = #filePath, line: UInt = #line, fault: () throws -> Double) throws {
        let flows = [(a!, b!), (c!, b!)]
        let probers = try flows.map { try Prober(from: $0.0, to: overlay($0.1), lab: lab, tag: name) }
        Thread.sleep(forTimeInterval: 1)   // a few replies before the fault
        let healed = try fault()
        // Done when every flow has had `settle` s of unbroken replies, all after the heal (or the bound passed).
        let flowing = waitUntil(timeout: budget(bound + settle + 1), poll: 0.2) {
            let now = Date().timeIntervalSince1970
            guard now - healed >= settle else { return false }
            return probers.allSatisfy { p in
                p.replies().values.filter { $0 > now - settle }.count >= Int(settle / 0.2) - 2
            }
        }
        XCTAssertTrue(flowing, "fault \(name): not every flow had \(settle) s of replies within \(bound) s of the heal"
                      + diagnostics(), file: file, line: line)
        for p in probers {
            let (sent, replies) = p.finish()
            // Echoes after the last reply were still in flight when ping was stopped; once replies
            // flow again (checked above) they are not losses. Counting them reported `inf` at random.
            let answered = flowing ? (replies.keys.max() ?? sent) : sent
            let r = FaultInteropTests.recovery(sent: answered, replies: replies, healedAt: healed)
            let times = replies.values.sorted()
            let gap = zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? 0
            print(String(format: "fault: %@ recovered in %.1f s, lost %d pings (%@, %d sent, longest gap %.1f s)",
                         name, r.seconds, r.lost, p.name, sent, gap))
            XCTAssertLessThanOrEqual(r.seconds, bound, "fault \(name): \(p.name) took \(r.seconds) s to recover (bound \(bound) s)"
                                     + diagnostics(), file: file, line: line)
            if let maxGap = maxGap {
                XCTAssertLessThanOrEqual(gap, maxGap, "fault \(name): \(p.name) went \(gap) s without a reply (bound \(maxGap) s)"
                                         + diagnostics(), file: file, line: line)
            }
            if let maxLost = maxLost {
                XCTAssertLessThanOrEqual(r.lost, maxLost, "fault \(name): \(p.name) lost \(r.lost) pings (bound \(maxLost))"
                                         + diagnostics(), file: file, line: line)
            }
        }
        for n in [a!, b!, c!] { assertRunning(n, "after fault \(name)") }
    }

    private func now() -> Double { Date().timeIntervalSince1970 }

    /// nftables in `n`'s namespace dropping its traffic with `peer`'s underlay address (`udpOnly`: UDP only).
    private func partition(_ n: TincNode, from peer: TincNode, udpOnly: Bool, tag: String) throws {
        let proto = udpOnly ? "meta l4proto udp " : ""
        try lab.nft(in: n.namespace, """
            table inet fault_\(tag) {
              chain in { type filter hook input priority -10; ip saddr \(peer.address) \(proto)drop; }
              chain out { type filter hook output priority -10; ip daddr \(peer.address) \(proto)drop; }
            }
            """, tag: "\(tag)-on")
    }

    private func heal(_ n: TincNode, tag: String) throws {
        try lab.nft(in: n.namespace, "delete table inet fault_\(tag)\n", tag: "\(tag)-off")
    }

    // MARK: the faults

    func testPartitionUDP10s() throws {
        setBudget(90)
        try makeTriangle()
        // UDP liveness: 3 s without a UDP probe reply moves the pair to TCP (not tinc's PingInterval + PingTimeout).
        try measure("partition-udp-10s", bound: 5, maxGap: 5) {
            try partition(a, from: b, udpOnly: true, tag: "udp")
            Thread.sleep(forTimeInterval: 10)
            try heal(a, tag: "udp")
            return now()
        }
    }

    func testPartitionAll30s() throws {
        setBudget(100)
        try makeTriangle()
        // The meta connection a-b times out after PingInterval + PingTimeout (13 s); then c relays.
        try measure("partition-all-30s", bound: 10, maxGap: 17) {
            try partition(a, from: b, udpOnly: false, tag: "all")
            Thread.sleep(forTimeInterval: 30)
            try heal(a, tag: "all")
            return now()
        }
    }

    func testSigstopThenSigcont() throws {
        let stopped: Double = FaultInteropTests.long ? 60 : 15
        setBudget(stopped + 70)
        try makeTriangle()
        try measure("sigstop-\(Int(stopped))s", bound: 15, maxGap: stopped + 10) {
            XCTAssertTrue(b.signal(SIGSTOP))
            Thread.sleep(forTimeInterval: stopped)
            XCTAssertTrue(b.signal(SIGCONT))
            return now()
        }
    }

    func testSigkillAndRestart() throws {
        setBudget(90)
        try makeTriangle()
        try measure("sigkill-restart", bound: 10, maxGap: 5) {
            XCTAssertTrue(b.signal(SIGKILL))
            XCTAssertTrue(waitUntil(timeout: 5) { !self.b.isRunning })
            try b.start()
            return now()
        }
    }

    func testAllNodesRestartedAtOnce() throws {
        setBudget(90)
        try makeTriangle()
        try measure("restart-all", bound: 15, maxGap: 10) {
            for n in [a!, b!, c!] { _ = n.signal(SIGTERM) }
            for n in [a!, b!, c!] { n.stop() }
            for n in [a!, b!, c!] { try n.start() }
            return now()
        }
    }

    func testNodeBackWithNewKey() throws {
        setBudget(90)
        try makeTriangle()
        try measure("new-key", bound: 15, maxGap: 10) {
            b.stop()
            // A new rsa_key.priv; our hosts/b keeps Port and Subnets and gets the new public key.
            try FileManager.default.removeItem(at: b.confDir.appendingPathComponent("rsa_key.priv"))
            let host = try String(contentsOf: b.hostFile, encoding: .utf8)
            let kept = host.components(separatedBy: "-----BEGIN RSA PUBLIC KEY-----")[0]
            try kept.write(to: b.hostFile, atomically: true, encoding: .utf8)
            try b.generateKeys()
            for peer in [a!, c!] {
                try b.installHostFile(on: peer)
                XCTAssertTrue(peer.signal(SIGHUP), "HUP \(peer.name)")
            }
            try b.start()
            return now()
        }
        // The old key must really be gone: b's peers authenticated the new one.
        XCTAssertTrue(b.publicKeyPEM.contains("BEGIN RSA PUBLIC KEY"))
    }

    /// The recovery arithmetic itself (no namespaces).
    func testRecoveryArithmetic() {
        let r = FaultInteropTests.recovery(sent: 10, replies: [1: 100, 2: 100.2, 6: 101.5, 7: 101.7, 8: 101.9, 9: 102.1, 10: 102.3],
                                           healedAt: 101)
        XCTAssertEqual(r.lost, 3)
        XCTAssertEqual(r.seconds, 0.5, accuracy: 1e-9)
        let none = FaultInteropTests.recovery(sent: 3, replies: [1: 1, 2: 2, 3: 3], healedAt: 2)
        XCTAssertEqual(none.lost, 0)
        XCTAssertEqual(none.seconds, 0)
        let never = FaultInteropTests.recovery(sent: 3, replies: [1: 1], healedAt: 2)
        XCTAssertEqual(never.lost, 2)
        XCTAssertEqual(never.seconds, .infinity)
    }
}

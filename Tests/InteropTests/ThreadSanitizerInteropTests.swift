import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue 10: the daemon's threads (TX and RX workers, their mailboxes, the event channel to the
/// control thread, forwarding-table snapshots) under ThreadSanitizer while real traffic flows.
///
/// Three tincd-swift nodes built with `-sanitize=thread` (`make tsan` builds them into .build-tsan;
/// TINCD_TSAN_BIN overrides the path) in switch mode: `edge1` and `edge2` only connect to `hub`, and
/// nftables drops UDP between the edges, so their traffic is relayed by the hub (RX → TX mailbox).
/// KeyExpire = 2 makes every node replace its keys while the traffic runs (control lane). Two iperf3
/// transfers run at once between the edges, one each way, and a ping flood between an edge and the hub.
/// Not `iperf3 --bidir`: its single-threaded versions (Debian's 3.12) can deadlock when both ends block
/// in a write and neither reads (esnet/iperf#2029), which a slow TSan relay under load sets up; both
/// receivers then count 0 bytes from the first second while pings flow.
/// Passes when traffic moved and TSan reported nothing (no report file, exit status not 66).
final class ThreadSanitizerInteropTests: InteropTestCase {
    static var tsanBinary: String {
        if let env = ProcessInfo.processInfo.environment["TINCD_TSAN_BIN"], !env.isEmpty { return env }
        return TincBinaries.packageRoot.appendingPathComponent(".build-tsan/debug/tincd-swift").path
    }

    func overlay(_ index: Int) -> String { "10.81.0.\(index + 1)" }

    func testTrafficUnderThreadSanitizer() throws {
        let bin = ThreadSanitizerInteropTests.tsanBinary
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            if ProcessInfo.processInfo.environment["TSW_REQUIRE_TSAN"] == "1" {
                return XCTFail("no ThreadSanitizer build at \(bin) (make tsan builds it)")
            }
            throw XCTSkip("no ThreadSanitizer build at \(bin): run `make tsan` (or set TINCD_TSAN_BIN)")
        }
        guard Shell.which("iperf3") != nil else { throw XCTSkip("iperf3 not installed") }
        let lab = try makeLab(nodes: 3)
        let tsanDir = lab.workDir.appendingPathComponent("tsan")
        try FileManager.default.createDirectory(at: tsanDir, withIntermediateDirectories: true)
        let names = ["edge1", "hub", "edge2"]
        let nodes = names.enumerated().map { i, name -> TincNode in
            let n = TincNode(name: name, impl: .swift, lab: lab, nsIndex: i, port: 7461 + i, subnets: [])
            n.configureSwitch(overlay: overlay(i))
            n.binaryOverride = bin
            n.pingTimeout = 5
            n.debugLevel = 3
            n.extraConfig.append("KeyExpire = 2")
            // halt_on_error=0: count every report; the files land in tsanDir as tsan-<name>.<pid>.
            n.environment["TSAN_OPTIONS"] = "halt_on_error=0 exitcode=66 log_path=\(tsanDir.path)/tsan-\(name)"
            return n
        }
        let (e1, hub, e2) = (nodes[0], nodes[1], nodes[2])
        e1.connectTo = ["hub"]
        e2.connectTo = ["hub"]
        watched = nodes
        try setUpNetwork(nodes)
        for (me, other) in [(e1, e2), (e2, e1)] {
            try lab.nft(in: me.namespace, """
            table inet tswtsan {
              chain out { type filter hook output priority 0; policy accept; ip daddr \(other.address) meta l4proto udp drop; }
              chain in { type filter hook input priority 0; policy accept; ip saddr \(other.address) meta l4proto udp drop; }
            }
            """, tag: "tsan-block-\(me.name)")
        }
        try lab.countTincUDP(of: hub)
        // TSan builds start slowly: give each node more time to listen than the default.
        for n in nodes {
            try n.start()
            n.waitUntilListening(timeout: budget(20))
        }
        guard assertEvent(e1, "host-up", "hub", timeout: 30), assertEvent(e2, "host-up", "hub", timeout: 20),
              assertEvent(e1, "host-up", "edge2", timeout: 20), assertEvent(e2, "host-up", "edge1", timeout: 20) else { return }
        assertPing(from: e1, to: overlay(2), warmup: 20)
        assertPing(from: e2, to: overlay(1))
        let udpBefore = lab.tincUDP(of: hub)

        // A ping flood edge1 <-> hub while iperf3 runs both ways between the edges through the hub.
        let flood = try lab.spawn(in: e1.namespace, ["ping", "-n", "-q", "-f", "-w", "6", overlay(1)],
                                  output: lab.workDir.appendingPathComponent("flood.txt"), label: "flood")
        let server = try lab.spawn(in: e2.namespace, ["timeout", "20", "iperf3", "-s", "-1", "-B", overlay(2), "-p", "5201"],
                                   output: lab.workDir.appendingPathComponent("iperf3-server.txt"), label: "iperf3-s")
        let reverseServer = try lab.spawn(in: e1.namespace, ["timeout", "20", "iperf3", "-s", "-1", "-B", overlay(0), "-p", "5202"],
                                          output: lab.workDir.appendingPathComponent("iperf3-server-reverse.txt"), label: "iperf3-s2")
        for (ns, port) in [(e2.namespace, 5201), (e1.namespace, 5202)] {
            _ = waitUntil(timeout: budget(5), poll: 0.05) {
                (try? lab.exec(in: ns, ["ss", "-Hltn", "sport = :\(port)"], timeout: 5))?.stdout.contains(":\(port)") ?? false
            }
        }
        // Meanwhile the hub's control thread reads every worker's per-node counters (ctl --json dump nodes,
        // ten times a second) while those workers write them.
        let hubSocket = hub.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket"
        let reader = try lab.spawn(in: hub.namespace, ["sh", "-c", "for i in $(seq 30); do '\(bin)' ctl --socket '\(hubSocket)' --json dump nodes > /dev/null; sleep 0.1; done"],
                                   output: lab.workDir.appendingPathComponent("counter-reader.txt"), label: "counter-reader")
        let reverseOut = lab.workDir.appendingPathComponent("iperf3-client-reverse.json")
        let reverseClient = try lab.spawn(in: e2.namespace, ["iperf3", "-c", overlay(0), "-p", "5202", "-t", "5", "-J"],
                                          output: reverseOut, label: "iperf3-c2")
        let client = try lab.exec(in: e1.namespace, ["iperf3", "-c", overlay(2), "-p", "5201", "-t", "5", "-J"],
                                  timeout: budget(25))
        _ = reverseClient.waitForExit(timeout: budget(15))
        let reverseJSON = (try? String(contentsOf: reverseOut, encoding: .utf8)) ?? ""
        _ = reader.waitForExit(timeout: budget(10))
        let reads = try lab.exec(in: hub.namespace, [bin, "ctl", "--socket", hubSocket, "--json", "info", "edge2"], timeout: 20)
        XCTAssertTrue(reads.stdout.contains("\"out_bytes\""), "no per-node counters from the hub: \(reads)")
        _ = server.waitForExit(timeout: budget(5))
        _ = reverseServer.waitForExit(timeout: budget(5))
        _ = flood.waitForExit(timeout: budget(8))
        let forward = iperfReceivedBytes(client.stdout), reverse = iperfReceivedBytes(reverseJSON)
        let floodOut = (try? String(contentsOf: lab.workDir.appendingPathComponent("flood.txt"), encoding: .utf8)) ?? ""
        let udpAfter = lab.tincUDP(of: hub)
        let hubIn = (udpAfter.received?.bytes ?? 0) - (udpBefore.received?.bytes ?? 0)
        let hubOut = (udpAfter.sent?.bytes ?? 0) - (udpBefore.sent?.bytes ?? 0)
        let rekeys = nodes.map { $0.log.lines().filter { $0.contains("Expiring symmetric keys") }.count }
        print("TSan traffic: iperf3 edge1->edge2 \(forward) bytes, edge2->edge1 \(reverse) bytes (5 s, both at once, relayed by hub); "
              + "hub UDP in \(hubIn) bytes, out \(hubOut) bytes; key renewals per node \(rekeys); flood: "
              + (floodOut.split(separator: "\n").first { $0.contains("transmitted") }.map(String.init) ?? "?"))
        XCTAssertGreaterThan(forward, 1 << 20, "iperf3 edge1 -> edge2 moved too little\n\(client)" + diagnostics())
        XCTAssertGreaterThan(reverse, 1 << 20, "iperf3 edge2 -> edge1 moved too little\n\(reverseJSON)" + diagnostics())
        // Relayed frames arrive at the hub by UDP; onward they go by UDP or, while a renewed key or the
        // PMTU is pending, inside the meta connection, so only the inbound side is asserted.
        XCTAssertGreaterThan(hubIn, 2 << 20, "the hub did not receive the edges' traffic by UDP" + diagnostics())
        XCTAssertGreaterThan(rekeys.min() ?? 0, 0, "keys were not renewed during the run" + diagnostics())
        for n in nodes { assertRunning(n) }

        // A node leaves and is purged on the hub (its keys and id are forgotten by both workers),
        // then comes back and traffic flows again.
        var statuses: [String: Int32] = [:]
        statuses["edge2 (first run)"] = e2.stop(grace: 10)
        if assertEvent(hub, "host-down", "edge2", timeout: 15) {
            let offset = hub.log.size
            hub.signal(SIGWINCH)
            assertLogLine(hub, matching: "Data plane forgot node id [0-9]+", from: offset, timeout: 10,
                          "the purged node's id was not released")
            try e2.start()
            e2.waitUntilListening(timeout: budget(20))
            if assertEvent(hub, "host-up", "edge2", count: 2, timeout: 20) {
                // edge2's tap has a new MAC: its ARP request refreshes edge1's neighbour entry.
                assertPing(from: e2, to: overlay(0), warmup: 20, "after edge2 came back")
                assertPing(from: e1, to: overlay(2), "after edge2 came back")
            }
        }

        // Graceful stops run the workers' shutdown path too; TSan exits with 66 after any report.
        for n in [e1, e2, hub] { statuses[n.name] = n.stop(grace: 10) }
        let reports = (try? FileManager.default.contentsOfDirectory(atPath: tsanDir.path)) ?? []
        var text = ""
        for f in reports.sorted() {
            text += "---- \(f)\n" + ((try? String(contentsOf: tsanDir.appendingPathComponent(f), encoding: .utf8)) ?? "") + "\n"
        }
        for n in nodes {
            let out = (try? String(contentsOf: n.outputURL, encoding: .utf8)) ?? ""
            if out.contains("ThreadSanitizer") { text += "---- \(n.name) output\n\(out)\n" }
        }
        let warnings = text.components(separatedBy: "WARNING: ThreadSanitizer").count - 1
        print("TSan reports: \(warnings) warnings in \(reports.count) report files; exit statuses \(statuses.sorted { $0.key < $1.key })")
        let summaries = Set(text.split(separator: "\n").filter { $0.hasPrefix("SUMMARY: ThreadSanitizer") }).sorted()
        XCTAssertEqual(warnings, 0, "ThreadSanitizer reports (distinct summaries first):\n\(summaries.joined(separator: "\n"))\n\n\(String(text.prefix(12000)))")
        XCTAssertTrue(reports.isEmpty, "ThreadSanitizer wrote report files: \(reports)\n\(String(text.prefix(4000)))")
        for (name, st) in statuses { XCTAssertNotEqual(st, 66, "\(name) exited with ThreadSanitizer's status") }
    }

    /// Bytes received in each direction of an `iperf3 --bidir -J` run (0 when unparsable).
    /// What the receiving end of one iperf3 TCP test counted (its client's `-J` report).
    func iperfReceivedBytes(_ json: String) -> Int {
        guard let data = json.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let end = obj["end"] as? [String: Any] else { return 0 }
        return ((end["sum_received"] as? [String: Any])?["bytes"] as? NSNumber)?.intValue ?? 0
    }
}

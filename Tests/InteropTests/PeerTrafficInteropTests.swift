import Foundation
import XCTest

/// Issue 14: per-peer counters move with real traffic between two tincd-swift nodes in namespaces
/// (`ctl --json info`, `ctl --json dump nodes`, /metrics), and `ctl top` shows the peer with
/// non-zero rates in a tmux pane (full-screen mode, keys) and on a pipe (`--iterations`).
final class PeerTrafficInteropTests: InteropTestCase {
    private func overlay(_ i: Int) -> String { "10.214.0.\(i + 1)" }

    private func traffic(_ json: String, peer: String) -> [String: Any]? {
        let data = Data(json.utf8)
        if let nodes = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] {
            return nodes.first { $0["name"] as? String == peer }?["traffic"] as? [String: Any]
        }
        return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["traffic"] as? [String: Any]
    }

    private func number(_ t: [String: Any]?, _ key: String) -> Double { (t?[key] as? NSNumber)?.doubleValue ?? -1 }

    /// The data columns of `peer`'s line in a `ctl top` table (IN pkts, IN bytes, OUT pkts, OUT bytes).
    private func topColumns(_ screen: String, peer: String) -> [Double]? {
        for line in screen.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.first.map(String.init) == peer, f.count == 5 { return f.dropFirst().compactMap { Double($0) } }
        }
        return nil
    }

    func testCountersMoveWithTrafficAndTopShowsRatesInTmux() throws {
        try TincBinaries.requireSwiftBinary()
        guard let tmux = Shell.which("tmux") else { throw XCTSkip("tmux not installed (apt-get install -y tmux)") }
        guard Shell.which("curl") != nil else { throw XCTSkip("curl not installed") }
        let lab = try makeLab(nodes: 2)
        let a = TincNode(name: "obsA", impl: .swift, lab: lab, nsIndex: 0, port: 7531, subnets: [])
        let b = TincNode(name: "obsB", impl: .swift, lab: lab, nsIndex: 1, port: 7532, subnets: [])
        a.configureSwitch(overlay: overlay(0))
        b.configureSwitch(overlay: overlay(1))
        a.debugLevel = 2
        b.debugLevel = 2
        a.extraConfig.append("MetricsAddress = 127.0.0.1:9471")
        a.connectTo = ["obsB"]
        watched = [a, b]
        try setUpNetwork([a, b])
        try start(b, a)
        guard assertEvent(a, "host-up", "obsB", timeout: 20) else { return }
        guard assertPing(from: a, to: overlay(1), count: 3) else { return }

        let socket = a.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket"
        let socketB = b.pidFile.path.replacingOccurrences(of: ".pid", with: "") + ".socket"
        func ctl(_ path: String, _ args: [String]) throws -> CommandResult {
            try Shell.run([TincBinaries.swiftBinary, "ctl", "--socket", path] + args, timeout: 15)
        }
        func metrics() -> [String: Double] {
            guard let r = try? lab.exec(in: a.namespace, ["curl", "-sS", "--max-time", "5", "http://127.0.0.1:9471/metrics"], timeout: 10)
            else { return [:] }
            return prometheusSamples(r.stdout)
        }
        let outBefore = traffic(try ctl(socket, ["--json", "info", "obsB"]).stdout, peer: "obsB")
        let inBefore = traffic(try ctl(socketB, ["--json", "dump", "nodes"]).stdout, peer: "obsA")
        let mBefore = metrics()
        XCTAssertNotNil(outBefore, "no traffic object in ctl --json info")
        XCTAssertNotNil(mBefore["tincd_peer_tx_bytes_total{node=\"obsB\"}"], "no per-peer series: \(mBefore.keys.sorted())")
        XCTAssertNotNil(mBefore["process_resident_memory_bytes"])

        // Steady traffic while `ctl top` watches: 1000 echo requests of 1000 bytes, 50 per second.
        let count = 1000, size = 1000
        let pingOut = lab.workDir.appendingPathComponent("ping-flood.txt")
        let ping = try lab.spawn(in: a.namespace, ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.02", "-s", "\(size)", overlay(1)],
                                 output: pingOut, label: "ping-flood")

        // Full screen in a tmux pane of its own server (socket name unique to this process).
        let server = "obs-top-\(getpid())"
        // The tmux server daemonises and would keep every descriptor it inherits, among them the one
        // Foundation's Process watches to see its child exit: that child then never counts as exited.
        // So tmux runs from a bash that first closes everything above stderr.
        func tmuxRun(_ args: [String]) throws -> CommandResult {
            let closeInherited = "for f in /proc/$$/fd/*; do n=${f##*/}; [ \"$n\" -gt 2 ] && eval \"exec $n>&-\" 2>/dev/null; done; exec \"$@\""
            return try Shell.run(["bash", "-c", closeInherited, "tmux", tmux, "-L", server, "-f", "/dev/null"] + args, timeout: 10)
        }
        defer { _ = try? tmuxRun(["kill-server"]) }
        let started = try tmuxRun(["new-session", "-d", "-s", "top", "-x", "120", "-y", "30",
                                   "\(TincBinaries.swiftBinary) ctl --socket \(socket) top -d 0.5; sleep 30"])
        XCTAssertEqual(started.status, 0, started.description)
        var screen = ""
        let shown = waitUntil(timeout: budget(15), poll: 0.3) {
            screen = (try? tmuxRun(["capture-pane", "-p", "-t", "top"]).stdout) ?? ""
            guard let c = self.topColumns(screen, peer: "obsB") else { return false }
            return c.count == 4 && c[1] > 0 && c[3] > 0
        }
        XCTAssertTrue(shown, "ctl top shows no non-zero rates for obsB:\n\(screen)" + diagnostics())
        print("ctl top in a tmux pane:\n\(screen)")
        XCTAssertTrue(screen.contains("Sort: name"), screen)
        // Keys: o sorts by out, c switches to totals, q quits (the pane then runs the `sleep`).
        _ = try tmuxRun(["send-keys", "-t", "top", "o"])
        XCTAssertTrue(waitUntil(timeout: budget(5), poll: 0.2) {
            screen = (try? tmuxRun(["capture-pane", "-p", "-t", "top"]).stdout) ?? ""
            return screen.contains("Sort: out")
        }, "the o key did not sort by out:\n\(screen)")
        _ = try tmuxRun(["send-keys", "-t", "top", "c"])
        XCTAssertTrue(waitUntil(timeout: budget(5), poll: 0.2) {
            screen = (try? tmuxRun(["capture-pane", "-p", "-t", "top"]).stdout) ?? ""
            return screen.contains("Cumulative") && (self.topColumns(screen, peer: "obsB")?[3] ?? 0) >= Double(size)
        }, "the c key did not switch to totals:\n\(screen)")
        _ = try tmuxRun(["send-keys", "-t", "top", "q"])
        XCTAssertTrue(waitUntil(timeout: budget(5), poll: 0.2) {
            let s = (try? tmuxRun(["capture-pane", "-p", "-t", "top"]).stdout) ?? "Sort:"
            // Back on the normal screen: the alternate screen with the table is gone.
            return !s.contains("Sort:")
        }, "ctl top did not quit on q")
        let afterQ = try tmuxRun(["display-message", "-p", "-t", "top", "#{pane_current_command}"])
        XCTAssertTrue(afterQ.stdout.contains("sleep"), "ctl top still running after q: \(afterQ.stdout)")

        // Ctrl-C (SIGINT to the pane's foreground group): top exits 130 and the terminal is back in
        // canonical mode with echo, as `stty -a` run next in the same terminal shows.
        let sttyFile = lab.workDir.appendingPathComponent("stty-after-sigint.txt")
        _ = try tmuxRun(["new-window", "-t", "top", "-n", "sigint",
                         "\(TincBinaries.swiftBinary) ctl --socket \(socket) top -d 0.5; echo \"exit $?\" > \(sttyFile.path).rc; stty -a > \(sttyFile.path); sleep 30"])
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.2) {
            ((try? tmuxRun(["capture-pane", "-p", "-t", "top:sigint"]).stdout) ?? "").contains("Sort: name")
        }, "ctl top did not start in the second window")
        _ = try tmuxRun(["send-keys", "-t", "top:sigint", "C-c"])
        XCTAssertTrue(waitUntil(timeout: budget(10), poll: 0.2) { FileManager.default.fileExists(atPath: sttyFile.path) },
                      "no stty output after Ctrl-C")
        let rc = (try? String(contentsOf: URL(fileURLWithPath: sttyFile.path + ".rc"), encoding: .utf8)) ?? ""
        XCTAssertTrue(rc.contains("exit 130"), "ctl top after SIGINT: \(rc)")
        _ = waitUntil(timeout: 2, poll: 0.1) { ((try? String(contentsOf: sttyFile, encoding: .utf8)) ?? "").contains("echo") }
        let stty = " " + ((try? String(contentsOf: sttyFile, encoding: .utf8)) ?? "").replacingOccurrences(of: "\n", with: " ") + " "
        XCTAssertTrue(stty.contains(" icanon ") && stty.contains(" echo "), "terminal not restored after SIGINT: \(stty)")

        // Not a terminal: tables on stdout, rates over one interval each.
        let piped = try ctl(socket, ["top", "-d", "0.5", "--iterations", "2", "--sort", "total"])
        XCTAssertEqual(piped.status, 0, piped.description)
        XCTAssertEqual(piped.stdout.components(separatedBy: "Sort: total").count - 1, 2, piped.stdout)
        XCTAssertGreaterThan(topColumns(piped.stdout, peer: "obsB")?[3] ?? 0, 0, piped.stdout)
        let bad = try ctl(socket, ["top", "-d", "zero"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("-d zero"), bad.stderr)

        XCTAssertTrue(ping.waitForExit(timeout: budget(40)), "ping flood did not finish")
        let summary = (try? String(contentsOf: pingOut, encoding: .utf8)) ?? ""
        XCTAssertTrue(summary.contains("\(count) packets transmitted"), summary)
        // Every echo request is a frame of size + 8 (ICMP) + 20 (IPv4) + 14 (Ethernet) bytes to obsB.
        let frame = Double(size + 8 + 20 + 14)
        let sent = Double(count) * frame
        let outAfter = traffic(try ctl(socket, ["--json", "info", "obsB"]).stdout, peer: "obsB")
        let inAfter = traffic(try ctl(socketB, ["--json", "dump", "nodes"]).stdout, peer: "obsA")
        XCTAssertGreaterThanOrEqual(number(outAfter, "out_packets") - number(outBefore, "out_packets"), Double(count))
        XCTAssertGreaterThanOrEqual(number(outAfter, "out_bytes") - number(outBefore, "out_bytes"), sent, "\(outAfter ?? [:])")
        XCTAssertGreaterThanOrEqual(number(inAfter, "in_packets") - number(inBefore, "in_packets"), Double(count))
        XCTAssertGreaterThanOrEqual(number(inAfter, "in_bytes") - number(inBefore, "in_bytes"), sent, "\(inAfter ?? [:])")
        // Replies came back: A received as much from B.
        XCTAssertGreaterThanOrEqual(number(outAfter, "in_bytes") - number(outBefore, "in_bytes"), sent * 0.9)
        XCTAssertLessThan(number(inAfter, "last_seen_seconds"), 5)
        XCTAssertGreaterThanOrEqual(number(outAfter, "out_key_age_seconds"), 0)
        let info = try ctl(socket, ["info", "obsB"])
        XCTAssertTrue(info.stdout.contains("TX:") && info.stdout.contains("Last seen:"), info.stdout)

        let mAfter = metrics()
        let series = "{node=\"obsB\"}"
        XCTAssertGreaterThanOrEqual((mAfter["tincd_peer_tx_bytes_total" + series] ?? 0) - (mBefore["tincd_peer_tx_bytes_total" + series] ?? 0),
                                    sent, "metrics: \(mAfter.filter { $0.key.hasPrefix("tincd_peer") })")
        XCTAssertGreaterThanOrEqual((mAfter["tincd_peer_rx_bytes_total" + series] ?? 0) - (mBefore["tincd_peer_rx_bytes_total" + series] ?? 0),
                                    sent * 0.9)
        XCTAssertGreaterThanOrEqual(mAfter["tincd_peer_tx_packets_total" + series] ?? 0, Double(count))
        XCTAssertNotNil(mAfter["tincd_peer_last_seen_seconds" + series])
        XCTAssertGreaterThan(mAfter["process_cpu_seconds_total"] ?? 0, 0)
        XCTAssertGreaterThan(mAfter["process_open_fds"] ?? 0, 5)
        assertRunning(a)
        assertRunning(b)
    }
}

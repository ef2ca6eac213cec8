import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Issue 10, UDP addresses: a peer whose UDP source port changes (a NAT rebinding) is recognised at
/// its new address by try_harder while a third host floods the Swift node's port with garbage, and
/// the node then sends to the new address. Checks the whole path: RX worker (per-source budget, MAC
/// and replay window before the move), the event to the control thread, the new forwarding table.
final class UDPRoamingInteropTests: InteropTestCase {
    func overlay(_ index: Int) -> String { "10.82.0.\(index + 1)" }

    func testNATRebindingIsFollowedDuringAGarbageFlood() throws {
        try TincBinaries.requireSwiftBinary()
        guard Shell.which("python3") != nil else { throw XCTSkip("python3 not installed") }
        let lab = try makeLab(nodes: 3)
        let s = TincNode(name: "roams", impl: .swift, lab: lab, nsIndex: 0, port: 7481, subnets: [])
        let c = TincNode(name: "roamc", impl: .c, lab: lab, nsIndex: 1, port: 7482, subnets: [])
        for (i, n) in [s, c].enumerated() {
            n.configureSwitch(overlay: overlay(i))
            n.pingTimeout = 5
        }
        c.connectTo = ["roams"]
        watched = [s, c]
        try setUpNetwork([s, c])
        try start(s, c)
        guard assertEvent(s, "host-up", "roamc", timeout: 20), assertEvent(c, "host-up", "roams", timeout: 10) else { return }
        assertPing(from: s, to: overlay(1))

        // Garbage from the third namespace at ~20k datagrams/s for the rest of the test.
        let flood = """
        import os, socket, time
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        end = time.time() + 20
        while time.time() < end:
            for _ in range(200):
                sk.sendto(os.urandom(120), ("\(s.address)", \(s.port)))
            time.sleep(0.01)
        """
        let floodProc = try lab.spawn(in: lab.namespace(2), ["timeout", "25", "python3", "-c", flood],
                                      output: lab.workDir.appendingPathComponent("flood.txt"), label: "flood")
        defer { floodProc.stop(grace: 1) }
        // Let the flood start before the rebinding, so try_harder is under load when it matters.
        Thread.sleep(forTimeInterval: 1)

        // The C node's datagrams to the Swift node now leave from port 40000 (stateless rewrite both
        // ways, so the C node's socket keeps its port 7482): the Swift node sees a new address.
        let offset = s.log.size
        try lab.nft(in: c.namespace, """
        table ip tswroam {
          counter rebound { }
          chain out { type filter hook output priority 100; policy accept;
            ip daddr \(s.address) udp sport \(c.port) counter name rebound udp sport set 40000; }
          chain pre { type filter hook prerouting priority -300; policy accept;
            ip saddr \(s.address) udp dport 40000 udp dport set \(c.port); }
        }
        """, tag: "rebind")
        // Traffic from the C node makes it send from the new port.
        let pinger = try lab.spawn(in: c.namespace, ["ping", "-n", "-q", "-i", "0.2", "-w", "15", overlay(0)],
                                   output: lab.workDir.appendingPathComponent("ping-c.txt"), label: "ping-c")
        defer { pinger.stop(grace: 1) }
        let moved = assertLogLine(s, matching: "UDP address of roamc set to \(NSRegularExpression.escapedPattern(for: c.address)) port 40000",
                                  from: offset, timeout: 10, "the rebinding was not followed under the flood")
        guard moved != nil else { return }
        // The Swift node now reaches the C node at its new address (replies are rewritten back).
        assertPing(from: s, to: overlay(1), count: 10)
        // The flood really went through try_harder: the Swift node counted it as unknown source.
        let dump = s.usr2Dump() ?? ""
        let unknown = dump.range(of: #"unknown source ([0-9]+)"#, options: .regularExpression)
            .flatMap { Int(dump[$0].split(separator: " ").last ?? "") } ?? -1
        print("rebinding followed under the flood; the Swift node dropped \(unknown) datagrams from unknown sources")
        XCTAssertGreaterThan(unknown, 1000, "the garbage flood did not reach the Swift node" + diagnostics())
        assertRunning(s)
        assertRunning(c)
    }
}

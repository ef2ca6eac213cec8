import Foundation
import MeshCrypto
import TincProtocol
import XCTest

extension HostileInputInteropTests {
    /// An authenticated peer floods 1,000,000 ADD_SUBNETs for itself and 100,000 ADD_EDGEs between
    /// invented nodes. The victim refuses past its limits (and says so), stays up with bounded
    /// memory, and keeps serving the good peer.
    func testFloodOfSubnetsAndEdgesHitsLimits() throws {
        setBudget(180)   // 1.1 million lines through a debug build
        // PingTimeout 30: the good peer gets the accepted part of the flood forwarded and must work
        // through it before it sees the next PING on the same stream (seconds in a debug build).
        let (_, victim, good, mallory) = try makeVictim(goodImpl: .swift, pingTimeout: 30)
        let rssBefore = rssKiB(victim)
        let t0 = Date()
        // The victim may drop the flooder: the flooder's PONGs queue behind its own flood, so it
        // misses PingTimeout. That is allowed; the flooder then reconnects and goes on, as a
        // hostile node would. Returns the number of connections it took and whether the victim
        // answered the PING after the last line.
        func flood(_ lines: [String]) throws -> (connections: Int, confirmed: Bool) {
            var next = 0
            var connections = 0
            while inTime() {
                connections += 1
                let peer = try ScriptedPeer(namespace: mallory.namespace, host: victim.address, port: victim.port, label: "flooder")
                defer { peer.close() }
                try peer.authenticate(as: "mallory", key: privateKey(of: mallory), target: "victim",
                                      targetKey: publicKey(of: victim), port: mallory.port)
                var broken = false
                while next < lines.count && !broken {
                    let chunk = lines[next..<min(next + 1500, lines.count)].joined(separator: "\n") + "\n"
                    do { try peer.send(raw: Array(chunk.utf8)); next += 1500 } catch { broken = true }
                }
                if broken { continue }
                // A PING at the end: its PONG proves the victim worked through everything before it.
                // Dropped before the PONG came: reconnect and ask again (nothing left to send).
                _ = try? peer.send(.ping)
                while inTime() {
                    do {
                        if case .line(let l)? = try peer.next(timeout: 1), l.hasPrefix("9") { return (connections, true) }
                        if !peer.isOpen { break }
                    } catch { break }
                }
            }
            return (connections, false)
        }
        // One end time for the whole flood, fixed now (comparing the time spent against what is left
        // of the test's budget counted it twice and cut the flood off at about half the budget).
        let floodEnd = Date().addingTimeInterval(budget(150))
        func inTime() -> Bool { Date() < floodEnd && victim.isRunning }
        let edges = (0..<100_000).map { i in
            "12 \(String(i, radix: 16)) fake\(i % 20_000) fake\((i * 7 + 1) % 20_000) 10.0.0.1 655 c \(1 + i % 50)"
        }
        let (edgeConnections, edgesConfirmed) = try flood(edges)
        let subnets = (0..<1_000_000).map { i in
            "10 \(String(i, radix: 16)) mallory 10.\((i >> 16) & 255).\((i >> 8) & 255).\(i & 255)/32"
        }
        let (subnetConnections, subnetsConfirmed) = try flood(subnets)
        let sent = edges.count + subnets.count
        let done = edgesConfirmed && subnetsConfirmed
        let took = Date().timeIntervalSince(t0)
        let rssAfter = rssKiB(victim)
        print("flood: \(sent) lines in \(String(format: "%.1f", took)) s over \(edgeConnections) + \(subnetConnections) connections; victim RSS \(rssBefore ?? -1) KiB -> \(rssAfter ?? -1) KiB")
        XCTAssertTrue(done, "the victim did not get through the flood within the budget" + diagnostics())
        assertRunning(victim)
        assertLogLine(victim, matching: #"Refusing subnet .* of mallory .*MaxSubnetsPerNode \(50000\) reached"#, timeout: 5)
        assertLogLine(victim, matching: #"Refusing new node fake[0-9]+ .*MaxNodes \(10000\) reached"#, timeout: 5)
        // The documented bound (README): 50,000 subnets and the nodes and edges of the flood stay under 256 MiB.
        if let rss = rssAfter { XCTAssertLessThan(rss, 256 * 1024, "victim RSS \(rss) KiB after the flood" + diagnostics()) }
        // Refusals are summarised, not logged once per line.
        let refusals = countLines(victim, matching: "Refusing")
        XCTAssertLessThan(refusals, 200, "\(refusals) refusal lines: the log is flooded too" + diagnostics())
        // The good peer kept its connection through the flood and is still served.
        XCTAssertTrue(victim.events("host-down", node: "good").isEmpty, "the good peer lost its connection" + diagnostics())
        let offset = good.log.size
        XCTAssertTrue(good.signal(SIGALRM))   // PINGs every connection now
        XCTAssertNotNil(good.log.waitForLine(matching: "Got PONG from victim", from: offset, caseInsensitive: true,
                                             timeout: budget(20)), "victim no longer answers the good peer" + diagnostics())
    }
}

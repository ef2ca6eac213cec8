import Foundation
import Glibc
import XCTest
import MeshIO
import MeshStatus
@testable import MeshMetrics

final class MeshExporterTests: XCTestCase {
    private func snapshot(in inPackets: UInt64 = 0, peers: [NodeSnapshot] = [], bgp: BGPSnapshot? = nil) -> MeshSnapshot {
        var s = MeshSnapshot(name: "n1", version: "v", startTime: 1000)
        s.stats.deviceInPackets = inPackets
        s.stats.droppedReplay = 3
        s.stats.scriptsCoalesced = 4
        s.stats.scriptsQueued = 7
        s.stats.gossipRefused = 2
        s.nodes = [node("n1", myself: true)] + peers
        s.bgp = bgp
        return s
    }

    private func node(_ name: String, myself: Bool = false) -> NodeSnapshot {
        NodeSnapshot(name: name, myself: myself, reachable: true, connected: !myself, address: nil, port: nil,
                     nexthop: name, via: name, distance: myself ? 0 : 1, options: 0, status: 0x1a, subnets: [],
                     validkey: !myself, pmtu: myself ? nil : 1451, minmtu: myself ? nil : 1451, maxmtu: myself ? nil : 1451,
                     cipher: 0, digest: 0, maclength: 0, compression: 0)
    }

    private func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    func testCountersFollowTotalsAndHelpIsAdded() {
        let e = MeshExporter()
        e.update(snapshot(in: 5), now: 2000)
        var t = e.render()
        XCTAssertEqual(value(t, "tincd_device_in_packets_total"), 5)
        XCTAssertEqual(value(t, "tincd_dropped_packets_total{reason=\"replay\"}"), 3)
        XCTAssertEqual(value(t, "tincd_dropped_packets_total{reason=\"bad_mac\"}"), 0)
        XCTAssertEqual(value(t, "tincd_scripts_total{result=\"coalesced\"}"), 4)
        XCTAssertEqual(value(t, "tincd_scripts_total{result=\"skipped\"}"), 0)
        XCTAssertEqual(value(t, "tincd_scripts_queued"), 7)
        XCTAssertEqual(value(t, "tincd_gossip_refused_total"), 2)
        XCTAssertTrue(t.contains("# HELP tincd_scripts_total "))
        XCTAssertTrue(t.contains("# HELP tincd_device_in_packets_total "))
        XCTAssertTrue(t.contains("# TYPE tincd_device_in_packets_total counter"))
        XCTAssertTrue(t.contains("# TYPE tincd_graph_nodes gauge"))
        e.update(snapshot(in: 12), now: 2001)
        t = e.render()
        XCTAssertEqual(value(t, "tincd_device_in_packets_total"), 12)
        // Families are in name order, and every sample line belongs to the family above it.
        let types = t.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        XCTAssertEqual(types, types.sorted())
    }

    func testSessionSeriesComeAndGoAndCountersResetWithTheSession() {
        let e = MeshExporter()
        let peer = node("n2")
        var s = BGPProtocolSnapshot(name: "n2", proto: "BGP", table: "---", state: "up", bgpState: "Established", since: 1900,
                                    established: true, prefixesReceived: 4, prefixesAccepted: 3, prefixesExported: 2,
                                    updatesIn: 7, updatesOut: 5, lastError: "")
        let st = BGPProtocolSnapshot(name: "st1", proto: "Static", table: "master4", state: "up", bgpState: "", since: 1900, established: false,
                                     prefixesReceived: 1, prefixesAccepted: 1, prefixesExported: 0, updatesIn: 0,
                                     updatesOut: 0, lastError: "")
        e.update(snapshot(peers: [peer], bgp: BGPSnapshot(locRIBRoutes: 9, protocols: [st, s])), now: 2000)
        var t = e.render()
        XCTAssertEqual(value(t, "tincd_node_pmtu_bytes{node=\"n2\"}"), 1451)
        XCTAssertEqual(value(t, "tincd_bgp_session_state{session=\"n2\"}"), 6)
        XCTAssertEqual(value(t, "tincd_bgp_session_uptime_seconds{session=\"n2\"}"), 100)
        XCTAssertEqual(value(t, "tincd_bgp_session_updates_received_total{session=\"n2\"}"), 7)
        XCTAssertEqual(value(t, "tincd_bgp_session_prefixes_accepted{session=\"n2\"}"), 3)
        XCTAssertEqual(value(t, "tincd_bgp_sessions"), 1, "a static protocol is no BGP session")
        XCTAssertNil(value(t, "tincd_node_reachable{node=\"n1\"}"), "this node has no per-node series")

        // A re-created session starts counting from 0 again: the counter resets instead of going negative.
        s.updatesIn = 2
        s.bgpState = "Active"
        s.established = false
        e.update(snapshot(peers: [peer], bgp: BGPSnapshot(locRIBRoutes: 9, protocols: [s])), now: 2010)
        t = e.render()
        XCTAssertEqual(value(t, "tincd_bgp_session_updates_received_total{session=\"n2\"}"), 2)
        XCTAssertEqual(value(t, "tincd_bgp_session_state{session=\"n2\"}"), 3)
        XCTAssertEqual(value(t, "tincd_bgp_session_uptime_seconds{session=\"n2\"}"), 0)

        // Peer and session gone: no stale series.
        e.update(snapshot(), now: 2020)
        t = e.render()
        XCTAssertFalse(t.contains("n2"), t)
        XCTAssertFalse(t.contains("tincd_bgp_"), t)
    }

    func testPeerTrafficSeries() {
        let e = MeshExporter()
        var peer = node("n2")
        peer.traffic.inPackets = 10; peer.traffic.inBytes = 1500
        peer.traffic.outPackets = 4; peer.traffic.outBytes = 400
        peer.traffic.drops.replay = 2
        peer.traffic.lastSeen = 1.5
        peer.traffic.outKeyAge = 30
        e.update(snapshot(peers: [peer]), now: 2000)
        var t = e.render()
        XCTAssertEqual(value(t, "tincd_peer_rx_packets_total{node=\"n2\"}"), 10)
        XCTAssertEqual(value(t, "tincd_peer_rx_bytes_total{node=\"n2\"}"), 1500)
        XCTAssertEqual(value(t, "tincd_peer_tx_bytes_total{node=\"n2\"}"), 400)
        XCTAssertEqual(value(t, "tincd_peer_tcp_rx_packets_total{node=\"n2\"}"), 0)
        XCTAssertEqual(value(t, "tincd_peer_dropped_packets_total{node=\"n2\",reason=\"replay\"}"), 2)
        XCTAssertNil(value(t, "tincd_peer_dropped_packets_total{node=\"n2\",reason=\"bad_mac\"}"), "no series for a reason never seen")
        XCTAssertEqual(value(t, "tincd_peer_last_seen_seconds{node=\"n2\"}"), 1.5)
        XCTAssertEqual(value(t, "tincd_peer_key_age_seconds{node=\"n2\",direction=\"out\"}"), 30)
        XCTAssertNil(value(t, "tincd_peer_key_age_seconds{node=\"n2\",direction=\"in\"}"))
        XCTAssertEqual(value(t, "tincd_node_path_info{node=\"n2\",nexthop=\"n2\",via=\"n2\"}"), 1)
        XCTAssertTrue(t.contains("# TYPE tincd_peer_rx_bytes_total counter"), t)
        XCTAssertTrue(t.contains("# HELP tincd_peer_rx_bytes_total "), t)
        peer.traffic.inBytes = 2500
        e.update(snapshot(peers: [peer]), now: 2001)
        t = e.render()
        XCTAssertEqual(value(t, "tincd_peer_rx_bytes_total{node=\"n2\"}"), 2500, "counters follow the totals")
    }

    func testProcessMetricsFromProc() throws {
        let p = try XCTUnwrap(ProcessMetrics.read(), "/proc/self unreadable")
        XCTAssertGreaterThan(p.residentBytes, 1_048_576)
        XCTAssertGreaterThanOrEqual(p.virtualBytes, p.residentBytes)
        XCTAssertGreaterThanOrEqual(p.threads, 1)
        XCTAssertGreaterThan(p.openFDs, 2)
        // A descriptor opened now is counted.
        let fd = open("/dev/null", O_RDONLY)
        defer { close(fd) }
        XCTAssertEqual(try XCTUnwrap(ProcessMetrics.read()).openFDs, p.openFDs + 1)
        var lim = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &lim)
        XCTAssertEqual(p.maxFDs, Int(clamping: lim.rlim_cur))
        let now = Double(time(nil))
        XCTAssertLessThanOrEqual(p.startTime, now + 1)
        XCTAssertGreaterThan(p.startTime, now - 24 * 3600, "this test process started today, not at \(p.startTime)")
        // Burn some CPU: the counter grows.
        var x = 0.0
        for i in 0..<20_000_000 { x += Double(i & 7) }
        XCTAssertGreaterThan(x, 0)
        XCTAssertGreaterThan(try XCTUnwrap(ProcessMetrics.read()).cpuSeconds, p.cpuSeconds)

        let text = p.exposition
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds",
                     "process_max_fds", "process_start_time_seconds", "process_threads"] {
            XCTAssertNotNil(value(text, name), "\(name) missing:\n\(text)")
        }
        XCTAssertTrue(text.contains("# TYPE process_cpu_seconds_total counter"))
        XCTAssertEqual(value(text, "process_resident_memory_bytes"), p.residentBytes)
        // The command name may hold spaces and parentheses.
        XCTAssertEqual(ProcessMetrics.statFields("12 (a) b (c)) S 1 2")?.first, "S")
        XCTAssertNil(ProcessMetrics.statFields("garbage"))
        XCTAssertEqual(ProcessMetrics.bootTime("cpu 1 2\nbtime 1700000000\nprocesses 3\n"), 1_700_000_000)
    }

    func testHTTPServerAnswersAndLimits() throws {
        let loop = try EventLoop()
        let endpoint = try MetricsEndpoint(host: "127.0.0.1", port: 0, loop: loop) { MeshSnapshot(name: "t", version: "v", startTime: 0) }
        let port = endpoint.boundAddresses[0].port
        let thread = Thread { loop.run() }
        thread.start()
        defer { loop.post { endpoint.stop(); loop.stop() } }

        func request(_ raw: String) -> String {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let addr = SocketAddress(numericHost: "127.0.0.1", port: port)!
            guard addr.withSockaddr({ connect(fd, $0, $1) }) == 0 else { return "connect failed" }
            _ = raw.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            var out = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                out += buf[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }
        let m = request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(m.hasPrefix("HTTP/1.1 200 OK\r\n"), m)
        XCTAssertTrue(m.contains("Content-Type: text/plain; version=0.0.4"), m)
        XCTAssertTrue(m.contains("tincd_info{node=\"t\",version=\"v\"} 1"), m)
        XCTAssertTrue(m.contains("\nprocess_resident_memory_bytes "), m)
        XCTAssertTrue(m.contains("\nprocess_open_fds "), m)
        XCTAssertTrue(request("GET /healthz HTTP/1.0\r\n\r\n").contains("200 OK"))
        XCTAssertTrue(request("GET /other HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404"))
        XCTAssertTrue(request("DELETE /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 405"))
        XCTAssertTrue(request("nonsense\r\n\r\n").hasPrefix("HTTP/1.1 400"))
        XCTAssertTrue(request("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n").hasPrefix("HTTP/1.1 431"))
        let head = request("HEAD /metrics HTTP/1.1\r\n\r\n")
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 200") && head.hasSuffix("\r\n\r\n"), head)
    }
}

/// The Grafana dashboard (deploy/grafana/tincd-swift.json) queries only metrics the exporter emits.
final class DashboardTests: XCTestCase {
    func testDashboardUsesExportedMetricNames() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("deploy/grafana/tincd-swift.json"))
        let dash = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try XCTUnwrap(dash["panels"] as? [[String: Any]])
        XCTAssertGreaterThan(panels.count, 10)
        let regex = try NSRegularExpression(pattern: "tincd_[a-z_]+")
        var used = Set<String>()
        for p in panels {
            for t in (p["targets"] as? [[String: Any]]) ?? [] {
                let expr = t["expr"] as? String ?? ""
                for m in regex.matches(in: expr, range: NSRange(expr.startIndex..., in: expr)) {
                    used.insert(String(expr[Range(m.range, in: expr)!]))
                }
            }
        }
        XCTAssertFalse(used.isEmpty)
        for name in used { XCTAssertNotNil(MeshExporter.help[name], "dashboard queries \(name), which the exporter does not emit") }
    }
}

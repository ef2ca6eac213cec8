import CoreMetrics
import MeshStatus
import Prometheus

/// Turns `MeshSnapshot`s (nodes and BGP parts; MeshStatus) into Prometheus series through swift-metrics (`CoreMetrics.Counter`,
/// `CoreMetrics.Gauge`) backed by swift-prometheus's `PrometheusMetricsFactory` on a private
/// registry (no global `MetricsSystem.bootstrap`, so several daemons or tests can live in one process).
///
/// The daemon keeps cumulative totals; `update` turns them into counter increments (a total that went
/// down, e.g. a BGP session that was re-created, resets the counter, which Prometheus' rate() handles).
/// Per-node and per-session series that disappear from the snapshot are destroyed, so a removed peer
/// leaves no stale series behind.
public final class MeshExporter {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    private final class CounterTrack {
        let counter: CoreMetrics.Counter
        var last: UInt64 = 0
        init(_ c: CoreMetrics.Counter) { counter = c }
        func set(total: UInt64) {
            if total >= last {
                if total > last { counter.increment(by: Int64(clamping: total - last)) }
            } else {
                counter.reset()
                if total > 0 { counter.increment(by: Int64(clamping: total)) }
            }
            last = total
        }
    }

    private struct SeriesKey: Hashable {
        var name: String
        var labels: [String]   // "k=v"
    }

    private var counters: [SeriesKey: CounterTrack] = [:]
    private var gauges: [SeriesKey: CoreMetrics.Gauge] = [:]
    private var seen: Set<SeriesKey> = []

    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    // MARK: - Series bookkeeping

    private func key(_ name: String, _ labels: [(String, String)]) -> SeriesKey {
        SeriesKey(name: name, labels: labels.map { "\($0.0)=\($0.1)" })
    }

    private func counter(_ name: String, _ labels: [(String, String)] = [], total: UInt64) {
        let k = key(name, labels)
        seen.insert(k)
        let t: CounterTrack
        if let existing = counters[k] { t = existing } else {
            t = CounterTrack(CoreMetrics.Counter(label: name, dimensions: labels, factory: factory))
            counters[k] = t
        }
        t.set(total: total)
    }

    private func gauge(_ name: String, _ value: Double) { gauge(name, [], value) }
    private func gauge(_ name: String, _ value: Int) { gauge(name, [], Double(value)) }

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
        let k = key(name, labels)
        seen.insert(k)
        let g: CoreMetrics.Gauge
        if let existing = gauges[k] { g = existing } else {
            g = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
            gauges[k] = g
        }
        g.record(value)
    }

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Int) {
        gauge(name, labels, Double(value))
    }

    private func gauge(_ name: String, _ labels: [(String, String)], _ value: Bool) {
        gauge(name, labels, value ? 1.0 : 0.0)
    }

    /// Destroys every series not touched since the last `beginUpdate`.
    private func sweep() {
        for (k, t) in counters where !seen.contains(k) {
            t.counter.destroy()
            counters[k] = nil
        }
        for (k, g) in gauges where !seen.contains(k) {
            g.destroy()
            gauges[k] = nil
        }
        seen.removeAll(keepingCapacity: true)
    }

    // MARK: - Snapshot to series

    /// Brings every series in line with `s`. `now` is wall-clock seconds (session uptimes).
    public func update(_ s: MeshSnapshot, now: Double) {
        gauge("tincd_info", [("node", s.name), ("version", s.version)], 1)
        gauge("tincd_start_time_seconds", s.startTime)

        let t = s.stats
        counter("tincd_device_in_packets_total", total: t.deviceInPackets)
        counter("tincd_device_in_bytes_total", total: t.deviceInBytes)
        counter("tincd_device_out_packets_total", total: t.deviceOutPackets)
        counter("tincd_device_out_bytes_total", total: t.deviceOutBytes)
        counter("tincd_udp_in_packets_total", total: t.udpInPackets)
        counter("tincd_udp_in_bytes_total", total: t.udpInBytes)
        counter("tincd_udp_out_packets_total", total: t.udpOutPackets)
        counter("tincd_udp_out_bytes_total", total: t.udpOutBytes)
        counter("tincd_tcp_fallback_frames_total", total: t.tcpFallbackFrames)
        for d in t.drops {
            counter("tincd_dropped_packets_total", [("reason", d.reason)], total: d.count)
        }

        gauge("tincd_meta_connections", t.connections)
        gauge("tincd_graph_nodes", t.nodes)
        gauge("tincd_graph_reachable_nodes", t.reachableNodes)
        gauge("tincd_graph_edges", t.edges)
        gauge("tincd_graph_subnets", t.subnets)
        counter("tincd_meta_requests_sent_total", total: UInt64(max(0, t.metaRequestsSent)))
        counter("tincd_gossip_refused_total", total: UInt64(max(0, t.gossipRefused)))
        for x in t.scripts {
            counter("tincd_scripts_total", [("result", x.result)], total: UInt64(max(0, x.count)))
        }
        gauge("tincd_scripts_queued", t.scriptsQueued)

        for p in s.nodes where !p.myself {
            let l = [("node", p.name)]
            gauge("tincd_node_reachable", l, p.reachable)
            gauge("tincd_node_directly_connected", l, p.connected)
            gauge("tincd_node_valid_key", l, p.validkey)
            if p.reachable, let d = p.distance { gauge("tincd_node_distance_hops", l, d) }
            if let m = p.pmtu { gauge("tincd_node_pmtu_bytes", l, m) }
            if let m = p.minmtu { gauge("tincd_node_pmtu_min_bytes", l, m) }
            if let m = p.maxmtu { gauge("tincd_node_pmtu_max_bytes", l, m) }
            peerSeries(p, l)
        }

        if let b = s.bgp {
            let sessions = b.protocols.filter { $0.proto == "BGP" }
            gauge("tincd_bgp_loc_rib_routes", b.locRIBRoutes)
            gauge("tincd_bgp_sessions", sessions.count)
            gauge("tincd_bgp_sessions_established", sessions.filter { $0.established }.count)
            for x in sessions {
                let l = [("session", x.name)]
                gauge("tincd_bgp_session_established", l, x.established)
                gauge("tincd_bgp_session_state", l, x.stateCode)
                gauge("tincd_bgp_session_uptime_seconds", l, x.established ? max(0, now - x.since) : 0)
                gauge("tincd_bgp_session_prefixes_received", l, x.prefixesReceived)
                gauge("tincd_bgp_session_prefixes_accepted", l, x.prefixesAccepted)
                gauge("tincd_bgp_session_prefixes_exported", l, x.prefixesExported)
                counter("tincd_bgp_session_updates_received_total", l, total: UInt64(max(0, x.updatesIn)))
                counter("tincd_bgp_session_updates_sent_total", l, total: UInt64(max(0, x.updatesOut)))
            }
        }
        sweep()
    }

    /// Per-peer traffic (PeerTraffic): one series set per node of the graph, so the node limit
    /// (MaxNodes) bounds the label values. Drop reasons appear once they count something.
    private func peerSeries(_ p: NodeSnapshot, _ l: [(String, String)]) {
        let t = p.traffic
        counter("tincd_peer_rx_packets_total", l, total: t.inPackets)
        counter("tincd_peer_rx_bytes_total", l, total: t.inBytes)
        counter("tincd_peer_tx_packets_total", l, total: t.outPackets)
        counter("tincd_peer_tx_bytes_total", l, total: t.outBytes)
        counter("tincd_peer_tcp_rx_packets_total", l, total: t.inTCPPackets)
        counter("tincd_peer_tcp_rx_bytes_total", l, total: t.inTCPBytes)
        counter("tincd_peer_tcp_tx_packets_total", l, total: t.outTCPPackets)
        counter("tincd_peer_tcp_tx_bytes_total", l, total: t.outTCPBytes)
        for d in t.drops.byReason where d.count > 0 {
            counter("tincd_peer_dropped_packets_total", l + [("reason", d.reason)], total: d.count)
        }
        if let s = t.lastSeen { gauge("tincd_peer_last_seen_seconds", l, s) }
        if let a = t.inKeyAge { gauge("tincd_peer_key_age_seconds", l + [("direction", "in")], a) }
        if let a = t.outKeyAge { gauge("tincd_peer_key_age_seconds", l + [("direction", "out")], a) }
        if p.reachable {
            gauge("tincd_node_path_info", l + [("nexthop", p.nexthop ?? ""), ("via", p.via ?? "")], 1)
        }
    }

    /// The registry's text exposition with HELP lines added and metric families in name order.
    public func render() -> String {
        let raw = registry.emitToString()
        // Split into families at "# TYPE" lines (the registry emits one TYPE line per family).
        var families: [(name: String, text: String)] = []
        for line in raw.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst(7).split(separator: " ").first.map(String.init) ?? ""
                var text = ""
                if let h = MeshExporter.help[name] { text += "# HELP \(name) \(h)\n" }
                families.append((name, text + line + "\n"))
            } else if line.hasPrefix("# HELP ") {
                continue
            } else if !families.isEmpty {
                families[families.count - 1].text += line + "\n"
            }
        }
        // Series within a family in label order, so consecutive scrapes read alike.
        return families.sorted { $0.name < $1.name }.map { f -> String in
            var lines = f.text.split(separator: "\n")
            let head = lines.prefix { $0.hasPrefix("#") }
            lines.removeFirst(head.count)
            return (head + lines.sorted()).joined(separator: "\n") + "\n"
        }.joined()
    }

    /// HELP text per metric family (Prometheus text format; swift-metrics has no place for it).
    public static let help: [String: String] = [
        "tincd_info": "Always 1; labels name this node and the daemon version.",
        "tincd_start_time_seconds": "Unix time the daemon started.",
        "tincd_device_in_packets_total": "Frames read from the TAP/TUN device (sent into the mesh).",
        "tincd_device_in_bytes_total": "Bytes read from the TAP/TUN device (sent into the mesh).",
        "tincd_device_out_packets_total": "Frames written to the TAP/TUN device (received from the mesh).",
        "tincd_device_out_bytes_total": "Bytes written to the TAP/TUN device (received from the mesh).",
        "tincd_udp_in_packets_total": "Encrypted UDP datagrams received.",
        "tincd_udp_in_bytes_total": "Encrypted UDP bytes received.",
        "tincd_udp_out_packets_total": "Encrypted UDP datagrams sent.",
        "tincd_udp_out_bytes_total": "Encrypted UDP bytes sent.",
        "tincd_tcp_fallback_frames_total": "Frames sent over a meta connection (TCP) instead of UDP.",
        "tincd_dropped_packets_total": "Dropped packets by reason (bad_mac, replay, too_short, unknown_source, no_key, no_route, send_error, compression, queue_full, seal_failed).",
        "tincd_meta_connections": "Authenticated meta connections (TCP) to other nodes.",
        "tincd_graph_nodes": "Nodes known in the mesh graph, this one included.",
        "tincd_graph_reachable_nodes": "Reachable nodes in the mesh graph, this one included.",
        "tincd_graph_edges": "Edges (directed) in the mesh graph.",
        "tincd_graph_subnets": "Subnets known in the mesh.",
        "tincd_meta_requests_sent_total": "Request lines queued on meta connections, own and forwarded.",
        "tincd_gossip_refused_total": "Gossip refused by MaxNodes, MaxEdges, MaxSubnets or MaxSubnetsPerNode.",
        "tincd_scripts_total": "Event scripts and GraphDumpFile commands by result (started, failed, timed_out, skipped, coalesced).",
        "tincd_scripts_queued": "Event scripts waiting behind the running one.",
        "tincd_node_reachable": "1 when the node is reachable through the mesh.",
        "tincd_node_directly_connected": "1 when a meta connection to the node is up.",
        "tincd_node_valid_key": "1 when a valid packet key for the node is known.",
        "tincd_node_distance_hops": "Hops on the shortest path to the node (reachable nodes only).",
        "tincd_node_pmtu_bytes": "Path MTU to the node as discovered by MTU probes.",
        "tincd_node_pmtu_min_bytes": "Lower bound of the path MTU search.",
        "tincd_node_pmtu_max_bytes": "Upper bound of the path MTU search.",
        "tincd_peer_rx_packets_total": "Frames received from the node (UDP and TCP; relayed frames count for the hop that sent them).",
        "tincd_peer_rx_bytes_total": "Frame bytes received from the node (before decryption overhead; UDP and TCP).",
        "tincd_peer_tx_packets_total": "Frames sent to the node as their destination (UDP and TCP, whichever hop).",
        "tincd_peer_tx_bytes_total": "Frame bytes sent to the node as their destination (UDP and TCP).",
        "tincd_peer_tcp_rx_packets_total": "Frames received from the node over a meta connection (part of rx).",
        "tincd_peer_tcp_rx_bytes_total": "Frame bytes received from the node over a meta connection (part of rx).",
        "tincd_peer_tcp_tx_packets_total": "Frames to the node sent over a meta connection (part of tx).",
        "tincd_peer_tcp_tx_bytes_total": "Frame bytes to the node sent over a meta connection (part of tx).",
        "tincd_peer_dropped_packets_total": "The node's packets dropped, by reason (bad_mac, replay, no_key, decompress, too_short, compress, seal_failed, send_error).",
        "tincd_peer_last_seen_seconds": "Seconds since the last valid packet from the node.",
        "tincd_peer_key_age_seconds": "Seconds since the packet key was set (direction in: the key we gave the node; out: the key it gave us).",
        "tincd_node_path_info": "Always 1 for a reachable node; labels name its nexthop and via.",
        "tincd_bgp_loc_rib_routes": "Prefixes in the BGP Loc-RIB.",
        "tincd_bgp_sessions": "BGP sessions configured or started (automatic mesh sessions included).",
        "tincd_bgp_sessions_established": "BGP sessions in state Established.",
        "tincd_bgp_session_established": "1 when the session is Established.",
        "tincd_bgp_session_state": "BGP FSM state as in BGP4-MIB: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established, 0 down.",
        "tincd_bgp_session_uptime_seconds": "Seconds since the session became Established (0 when not).",
        "tincd_bgp_session_prefixes_received": "Prefixes received from the peer (before the import filter).",
        "tincd_bgp_session_prefixes_accepted": "Prefixes received from the peer and accepted by the import filter.",
        "tincd_bgp_session_prefixes_exported": "Prefixes advertised to the peer (Adj-RIB-Out).",
        "tincd_bgp_session_updates_received_total": "UPDATE messages received on the session.",
        "tincd_bgp_session_updates_sent_total": "UPDATE messages sent on the session.",
    ]
}

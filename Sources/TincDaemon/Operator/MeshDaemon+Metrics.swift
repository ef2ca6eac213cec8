import Glibc
import MeshIO
import MeshMetrics
import TincConfig

/// `MetricsAddress = host:port` (tinc.conf, off by default): Prometheus metrics over HTTP on the
/// control loop. The endpoint (MeshMetrics) samples the daemon through `metricsSnapshot()` on each
/// scrape, so the data plane pays nothing for it.
extension MeshDaemon {
    func startMetrics() {
        guard let text = settings.metricsAddress else { return }
        guard let addr = MetricsAddress.parse(text) else {
            Log.error("Invalid MetricsAddress \(text): expected host:port or [v6]:port")
            return
        }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let started = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        do {
            let endpoint = try MetricsEndpoint(host: addr.host, port: addr.port, loop: loop) { [unowned self] in
                self.metricsSnapshot(startTime: started)
            }
            metricsEndpoint = endpoint
            let urls = endpoint.boundAddresses.map { a in
                "http://\(a.host.contains(":") ? "[\(a.host)]" : a.host):\(a.port)/metrics"
            }
            Log.notice("Metrics (Prometheus) on \(urls.joined(separator: ", "))")
        } catch {
            Log.error("Could not open the metrics listener on \(addr): \(error)")
        }
    }

    /// One sample of everything /metrics exports (loop thread).
    func metricsSnapshot(startTime: Double) -> MetricsSnapshot {
        var m = MetricsSnapshot(nodeName: settings.name, version: DaemonCommand.version, startTime: startTime)
        let s = stats
        m.deviceInPackets = s.deviceInPackets; m.deviceInBytes = s.deviceInBytes
        m.deviceOutPackets = s.deviceOutPackets; m.deviceOutBytes = s.deviceOutBytes
        m.udpInPackets = s.udpInPackets; m.udpInBytes = s.udpInBytes
        m.udpOutPackets = s.udpOutPackets; m.udpOutBytes = s.udpOutBytes
        m.tcpFallbackFrames = s.tcpFallbackFrames
        m.drops = [.badMAC: s.droppedBadMAC, .replay: s.droppedReplay, .tooShort: s.droppedShort,
                   .unknownSource: s.droppedUnknownSource, .noKey: s.droppedNoKey, .noRoute: s.droppedNoRoute,
                   .sendError: s.droppedSendError, .compression: s.droppedCompression,
                   .queueFull: s.droppedQueueFull, .sealFailed: s.droppedSealFailed]
        m.metaConnections = conns.activeByName.count
        m.graphNodes = graph.nodeCount
        m.graphEdges = graph.edgeCount
        m.graphSubnets = graph.subnetCount
        var reachable = 0
        for n in graph.nodesByName {
            if n === myself { reachable += 1; continue }
            if n.reachable { reachable += 1 }
            let k = keys[n.name]
            m.peers.append(PeerSample(name: n.name, reachable: n.reachable, directlyConnected: conns.activeByName[n.name] != nil,
                                      distance: n.reachable ? n.distance : nil, validKey: k?.validKey ?? false,
                                      pmtu: k?.mtu, minMTU: k?.minMTU, maxMTU: k?.maxMTU))
        }
        m.graphReachableNodes = reachable
        if let b = bgp {
            let sessions = b.speaker.protocolStatus().filter { $0.proto == "BGP" }.map {
                BGPSessionSample(name: $0.name, state: $0.bgpState, established: $0.established, since: $0.since,
                                 prefixesReceived: $0.prefixesReceived, prefixesAccepted: $0.prefixesAccepted,
                                 prefixesExported: $0.prefixesExported, updatesReceived: $0.updatesIn,
                                 updatesSent: $0.updatesOut)
            }
            m.bgp = BGPSample(locRIBRoutes: b.speaker.locRIBCount, sessions: sessions)
        }
        return m
    }
}

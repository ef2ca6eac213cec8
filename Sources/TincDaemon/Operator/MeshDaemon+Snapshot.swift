import MeshIO
import MeshRouting
import MeshStatus

/// The one place the daemon's state is read for operators: every view (SIGUSR dumps, `ctl` text,
/// `ctl --json`, /metrics) renders the `MeshSnapshot` values taken here, on the control loop.
extension MeshDaemon {
    func snapshot(_ parts: SnapshotParts) -> MeshSnapshot {
        loop.preconditionInLoop()
        var m = MeshSnapshot(name: settings.name, version: DaemonCommand.version, startTime: startTime, stats: statsSnapshot())
        if parts.contains(.nodes) { m.nodes = graph.nodesByName.map(nodeSnapshot) }
        if parts.contains(.edges) { m.edges = edgeSnapshots() }
        if parts.contains(.subnets) {
            m.subnets = graph.allSubnets().map { s, o in
                SubnetSnapshot(subnet: s.netString, weight: s.weight, owner: o.name, reachable: o.reachable)
            }
        }
        if parts.contains(.connections) { m.connections = connectionSnapshots() }
        if parts.contains(.bgp), let b = bgp {
            m.bgp = BGPSnapshot(locRIBRoutes: b.speaker.locRIBCount, protocols: b.speaker.protocolStatus())
        }
        return m
    }

    func statsSnapshot() -> StatsSnapshot {
        let s = stats
        var t = StatsSnapshot()
        t.deviceInPackets = s.deviceInPackets; t.deviceInBytes = s.deviceInBytes
        t.deviceOutPackets = s.deviceOutPackets; t.deviceOutBytes = s.deviceOutBytes
        t.udpInPackets = s.udpInPackets; t.udpInBytes = s.udpInBytes
        t.udpOutPackets = s.udpOutPackets; t.udpOutBytes = s.udpOutBytes
        t.tcpFallbackFrames = s.tcpFallbackFrames
        t.droppedBadMAC = s.droppedBadMAC; t.droppedReplay = s.droppedReplay; t.droppedShort = s.droppedShort
        t.droppedUnknownSource = s.droppedUnknownSource; t.droppedNoKey = s.droppedNoKey
        t.droppedNoRoute = s.droppedNoRoute; t.droppedSendError = s.droppedSendError
        t.droppedCompression = s.droppedCompression; t.droppedQueueFull = s.droppedQueueFull
        t.droppedSealFailed = s.droppedSealFailed
        t.nodes = graph.nodeCount
        t.reachableNodes = graph.nodesByName.reduce(0) { $0 + ($1.reachable || $1 === myself ? 1 : 0) }
        t.edges = graph.edgeCount
        t.subnets = graph.subnetCount
        t.connections = conns.activeByName.count
        t.metaRequestsSent = conns.requestsSent
        t.gossipRefused = gossip.limitWarnings.total
        let sc = scripts.counters
        t.scriptsStarted = sc.started; t.scriptsFailed = sc.failed; t.scriptsTimedOut = sc.timedOut
        t.scriptsSkipped = sc.dropped; t.scriptsCoalesced = sc.coalesced
        t.scriptsQueued = scripts.queued
        return t
    }

    func nodeSnapshot(_ n: Node) -> NodeSnapshot {
        let k = keys[n.name]
        var status: NodeStatus = []
        if k?.validKey == true { status.insert(.validKey) }
        if n.reachable { status.formUnion([.reachable, .visited]) }
        if n.indirect { status.insert(.indirect) }
        return NodeSnapshot(name: n.name, myself: n === myself, reachable: n.reachable,
                            connected: conns.activeByName[n.name] != nil,
                            address: n.udpAddress?.host, port: n.udpAddress?.port,
                            nexthop: n.nexthop?.name, via: n.via?.name, distance: n.distance,
                            options: n.options, status: status.rawValue, subnets: n.subnets.map { $0.description },
                            validkey: k?.validKey ?? false, pmtu: k?.mtu, minmtu: k?.minMTU, maxmtu: k?.maxMTU,
                            cipher: k?.outCipherNID ?? 0, digest: k?.outDigestNID ?? 0,
                            maclength: k?.outMACLength ?? 0, compression: k?.outCompression ?? 0,
                            traffic: peerTraffic(n, k))
    }

    /// The data plane's counters for `n` (every worker, summed now) with what the control thread
    /// counts itself: frames from TCP PACKETs and key times. For this node: its device's totals.
    func peerTraffic(_ n: Node, _ k: NodeKeys?) -> PeerTraffic {
        var t = PeerTraffic()
        let now = loop.now
        if n === myself {
            // Device frames as the workers last reported them (twice a second).
            t.inPackets = stats.deviceInPackets; t.inBytes = stats.deviceInBytes
            t.outPackets = stats.deviceOutPackets; t.outBytes = stats.deviceOutBytes
            return t
        }
        var lastSeen = 0.0
        if let c = dataPlane?.peerTraffic(n.id) {
            t.inPackets = c[.inPackets]; t.inBytes = c[.inBytes]
            t.outPackets = c[.outPackets]; t.outBytes = c[.outBytes]
            t.outTCPPackets = c[.outTCPPackets]; t.outTCPBytes = c[.outTCPBytes]
            t.drops.badMAC = c[.dropBadMAC]; t.drops.replay = c[.dropReplay]; t.drops.noKey = c[.dropNoKey]
            t.drops.decompress = c[.dropDecompress]; t.drops.tooShort = c[.dropShort]
            t.drops.compress = c[.dropCompress]; t.drops.sealFailed = c[.dropSealFailed]
            t.drops.sendError = c[.dropSendError]
            lastSeen = Double(c[.lastSeenMillis]) / 1000
        }
        if let k = k {
            t.inTCPPackets = k.tcpInPackets; t.inTCPBytes = k.tcpInBytes
            t.inPackets &+= k.tcpInPackets; t.inBytes &+= k.tcpInBytes
            lastSeen = max(lastSeen, k.lastTCPFrameAt)
            if k.hasInboundKey && k.inboundKeySetAt > 0 { t.inKeyAge = max(0, now - k.inboundKeySetAt) }
            if k.validKey && k.outboundKeySetAt > 0 { t.outKeyAge = max(0, now - k.outboundKeySetAt) }
        }
        // Stamps are monotonic EventLoop.now() (the workers' clock), not the loop's possibly virtual one.
        if lastSeen > 0 { t.lastSeen = max(0, EventLoop.now() - lastSeen) }
        return t
    }

    func edgeSnapshots() -> [EdgeSnapshot] {
        graph.nodesByName.flatMap { n in
            n.edges.map { e in
                EdgeSnapshot(from: e.from.name, to: e.to.name, address: e.address, port: e.port, options: e.options,
                             weight: e.weight, bidirectional: e.reverse != nil, mst: e.inMST)
            }
        }
    }

    func connectionSnapshots() -> [ConnectionSnapshot] {
        conns.all.values.sorted { $0.id < $1.id }.map { c in
            var status: ConnectionStatus = []
            if c.pinged { status.insert(.pinged) }
            if c.isActive { status.insert(.active) }
            if c.state == .connecting { status.insert(.connecting) }
            if c.outgoing != nil { status.insert(.outgoing) }
            if c.inMST { status.insert(.mst) }
            return ConnectionSnapshot(name: c.name, address: c.address.host, port: Int(c.address.port), state: "\(c.state)",
                                      outgoing: c.outgoing != nil, options: c.options, mst: c.inMST,
                                      outbuf: c.outbound.queuedBytes, outbufLimit: settings.maxOutputBufferSize,
                                      socket: c.fd, status: status.rawValue)
        }
    }
}

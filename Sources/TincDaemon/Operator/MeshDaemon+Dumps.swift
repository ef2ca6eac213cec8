import MeshIO
import MeshRouting

/// SIGUSR1 / SIGUSR2 dumps in tinc 1.0's log format, so existing log-scraping keeps working.
/// The same data feeds the control socket (`ctl dump …`).
extension MeshDaemon {
    public struct NodeInfo {
        public let name: String, address: String, options: UInt32, status: UInt32
        public let nexthop: String, via: String, pmtu: Int, minMTU: Int, maxMTU: Int
        public let cipher: Int, digest: Int, macLength: Int, compression: Int
        public let reachable: Bool
    }

    public func nodeInfos() -> [NodeInfo] {
        graph.nodesByName.map { n in
            let k = keys[n.name]
            var status: UInt32 = 0
            if k?.validKey == true { status |= 0x2 }
            if n.reachable { status |= 0x10 | 0x8 }
            if n.indirect { status |= 0x20 }
            let addr = n.udpAddress.map { "\($0.host) port \($0.port)" } ?? (n === myself ? "MYSELF" : "unknown port unknown")
            return NodeInfo(name: n.name, address: addr, options: n.options, status: status,
                            nexthop: n.nexthop?.name ?? "-", via: n.via?.name ?? "-",
                            pmtu: k?.mtu ?? 1518, minMTU: k?.minMTU ?? 0, maxMTU: k?.maxMTU ?? 1518,
                            cipher: k?.outCipherNID ?? 0, digest: k?.outDigestNID ?? 0,
                            macLength: k?.outMACLength ?? 0, compression: k?.outCompression ?? 0,
                            reachable: n.reachable)
        }
    }

    public func nodeLines() -> [String] {
        nodeInfos().map { i in
            " \(i.name) at \(i.address) cipher \(i.cipher) digest \(i.digest) maclength \(i.macLength) compression \(i.compression) options \(String(i.options, radix: 16)) status \(hex4(i.status)) nexthop \(i.nexthop) via \(i.via) pmtu \(i.pmtu) (min \(i.minMTU) max \(i.maxMTU))"
        }
    }

    public func edgeLines() -> [String] {
        graph.nodesByName.flatMap { n in
            n.edges.map { e in " \(e.from.name) to \(e.to.name) at \(e.address) port \(e.port) options \(String(e.options, radix: 16)) weight \(e.weight)" }
        }
    }

    public func subnetLines() -> [String] {
        graph.allSubnets().map { s, owner in " \(s.description) owner \(owner.name)" }
    }

    public func connectionLines() -> [String] {
        conns.all.values.sorted { $0.id < $1.id }.map { c in
            let status: UInt32 = (c.isActive ? 0x2 : 0) | (c.pinged ? 0x1 : 0) | (c.state == .connecting ? 0x4 : 0) | (c.inMST ? 0x100 : 0) | (c.outgoing != nil ? 0x40 : 0)
            return " \(c.name ?? "<unknown>") at \(c.address) options \(String(c.options, radix: 16)) socket \(c.fd) status \(hex4(status)) outbuf \(c.outbound.queuedBytes)/\(settings.maxOutputBufferSize)/0"
        }
    }

    func dumpConnections() {
        Log.notice("Connections:")
        for l in connectionLines() { Log.notice(l) }
        Log.notice("End of conns.all.")
    }

    func dumpNodes() {
        Log.notice("Nodes:")
        for l in nodeLines() { Log.notice(l) }
        Log.notice("End of nodes.")
    }

    func dumpEdges() {
        Log.notice("Edges:")
        for l in edgeLines() { Log.notice(l) }
        Log.notice("End of edges.")
    }

    func dumpSubnets() {
        Log.notice("Subnet list:")
        for l in subnetLines() { Log.notice(l) }
        Log.notice("End of subnet list.")
    }

    func dumpDeviceStats() {
        Log.notice("Statistics for \(device.type.rawValue) device \(device.path) (\(device.interface)):")
        Log.notice(" total bytes in:  \(stats.deviceInBytes)")
        Log.notice(" total bytes out: \(stats.deviceOutBytes)")
        Log.notice(" udp packets in/out: \(stats.udpInPackets)/\(stats.udpOutPackets), frames over TCP: \(stats.tcpFallbackFrames)")
        Log.notice(" dropped: bad MAC \(stats.droppedBadMAC), replay \(stats.droppedReplay), short \(stats.droppedShort), unknown source \(stats.droppedUnknownSource), no key \(stats.droppedNoKey), no route \(stats.droppedNoRoute), send error \(stats.droppedSendError), queue full \(stats.droppedQueueFull), seal failed \(stats.droppedSealFailed)")
    }
}

/// tinc prints status words as %04x.
func hex4(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: Swift.max(0, 4 - h.count)) + h
}

import MeshIO
import MeshRouting
import MeshStatus

/// SIGUSR1 / SIGUSR2 dumps in tinc 1.0's log format, so existing log-scraping keeps working.
/// Rendered from the same snapshot as `ctl dump …` and /metrics (MeshDaemon+Snapshot.swift).
extension MeshDaemon {
    static func nodeLine(_ n: NodeSnapshot) -> String {
        let addr = n.address.map { "\($0) port \(n.port ?? "")" } ?? (n.myself ? "MYSELF" : "unknown port unknown")
        return " \(n.name) at \(addr) cipher \(n.cipher) digest \(n.digest) maclength \(n.maclength) compression \(n.compression) options \(String(n.options, radix: 16)) status \(hex4(n.status)) nexthop \(n.nexthop ?? "-") via \(n.via ?? "-") pmtu \(n.pmtu ?? 1518) (min \(n.minmtu ?? 0) max \(n.maxmtu ?? 1518))"
    }

    static func edgeLine(_ e: EdgeSnapshot) -> String {
        " \(e.from) to \(e.to) at \(e.address) port \(e.port) options \(String(e.options, radix: 16)) weight \(e.weight)"
    }

    static func subnetLine(_ s: SubnetSnapshot) -> String { " \(s.subnet)#\(s.weight) owner \(s.owner)" }

    static func connectionLine(_ c: ConnectionSnapshot) -> String {
        " \(c.name ?? "<unknown>") at \(c.address) port \(c.port) options \(String(c.options, radix: 16)) socket \(c.socket) status \(hex4(c.status)) outbuf \(c.outbuf)/\(c.outbufLimit)/0"
    }

    public func nodeLines() -> [String] { snapshot(.nodes).nodes.map(MeshDaemon.nodeLine) }
    public func edgeLines() -> [String] { snapshot(.edges).edges.map(MeshDaemon.edgeLine) }
    public func subnetLines() -> [String] { snapshot(.subnets).subnets.map(MeshDaemon.subnetLine) }
    public func connectionLines() -> [String] { snapshot(.connections).connections.map(MeshDaemon.connectionLine) }

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
        let s = statsSnapshot()
        Log.notice("Statistics for \(device.type.rawValue) device \(device.path) (\(device.interface)):")
        Log.notice(" total bytes in:  \(s.deviceInBytes)")
        Log.notice(" total bytes out: \(s.deviceOutBytes)")
        Log.notice(" udp packets in/out: \(s.udpInPackets)/\(s.udpOutPackets), frames over TCP: \(s.tcpFallbackFrames)")
        Log.notice(" dropped: bad MAC \(s.droppedBadMAC), replay \(s.droppedReplay), short \(s.droppedShort), unknown source \(s.droppedUnknownSource), no key \(s.droppedNoKey), no route \(s.droppedNoRoute), send error \(s.droppedSendError), queue full \(s.droppedQueueFull), seal failed \(s.droppedSealFailed)")
    }
}

/// tinc prints status words as %04x.
func hex4(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: Swift.max(0, 4 - h.count)) + h
}

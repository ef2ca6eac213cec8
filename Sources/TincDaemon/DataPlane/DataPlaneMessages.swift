import MeshCrypto
import MeshIO

/// What the worker threads hand back to the control thread (delivered in batches on its loop).
enum DataPlaneEvent {
    /// No valid outbound key for this node: send REQ_KEY (rate-limited by the control thread).
    case needKey(Int32)
    /// The frame must travel as a TCP PACKET on the meta connection towards this node.
    case sendTCP([UInt8], to: Int32)
    /// An MTU probe (request or reply) arrived from this node.
    case probe([UInt8], from: Int32)
    /// Switch mode: a source MAC seen on the device (new, or due for a refresh).
    case learnedMAC([UInt8])
    /// try_harder matched a packet from an unknown address to this node's key.
    case udpAddress(Int32, SocketAddress)
    /// sendmmsg said EMSGSIZE for a frame of this length towards this node.
    case tooBig(Int32, Int)
    /// Router mode: ARP or NDP from the device, answered by the control thread.
    case localControlFrame([UInt8])
    /// Traffic counters since the last report.
    case stats(DataPlaneStats)
}

enum TxCommand {
    case setKey(Int32, PacketCipher?, compression: Int)
    /// Send a frame straight to a node by UDP (MTU probes and probe replies).
    case sendProbe([UInt8], to: Int32)
    /// Route a frame as if it came from `source` (relayed frames, frames from TCP PACKETs).
    case route([UInt8], from: Int32, viaTCP: Bool, deliverLocally: Bool)
    case stop
}

enum RxCommand {
    case setKey(Int32, PacketCipher?, compression: Int)
    case stop
}

/// Counters both workers keep and report per batch; the control thread sums them.
public struct DataPlaneStats {
    public var deviceInPackets: UInt64 = 0, deviceInBytes: UInt64 = 0
    public var deviceOutPackets: UInt64 = 0, deviceOutBytes: UInt64 = 0
    public var udpOutPackets: UInt64 = 0, udpOutBytes: UInt64 = 0
    public var udpInPackets: UInt64 = 0, udpInBytes: UInt64 = 0
    public var droppedBadMAC: UInt64 = 0, droppedReplay: UInt64 = 0, droppedShort: UInt64 = 0
    public var droppedUnknownSource: UInt64 = 0, droppedNoKey: UInt64 = 0, droppedNoRoute: UInt64 = 0
    public var droppedSendError: UInt64 = 0, droppedCompression: UInt64 = 0
    public var tcpFallbackFrames: UInt64 = 0
    public var fragmented: UInt64 = 0

    var isZero: Bool { deviceInPackets == 0 && deviceOutPackets == 0 && udpOutPackets == 0 && udpInPackets == 0 && droppedBadMAC == 0 && droppedReplay == 0 && droppedShort == 0 && droppedUnknownSource == 0 && droppedNoKey == 0 && droppedNoRoute == 0 && droppedSendError == 0 && tcpFallbackFrames == 0 && droppedCompression == 0 && fragmented == 0 }

    mutating func add(_ o: DataPlaneStats) {
        deviceInPackets &+= o.deviceInPackets; deviceInBytes &+= o.deviceInBytes
        deviceOutPackets &+= o.deviceOutPackets; deviceOutBytes &+= o.deviceOutBytes
        udpOutPackets &+= o.udpOutPackets; udpOutBytes &+= o.udpOutBytes
        udpInPackets &+= o.udpInPackets; udpInBytes &+= o.udpInBytes
        droppedBadMAC &+= o.droppedBadMAC; droppedReplay &+= o.droppedReplay; droppedShort &+= o.droppedShort
        droppedUnknownSource &+= o.droppedUnknownSource; droppedNoKey &+= o.droppedNoKey; droppedNoRoute &+= o.droppedNoRoute
        droppedSendError &+= o.droppedSendError; droppedCompression &+= o.droppedCompression
        tcpFallbackFrames &+= o.tcpFallbackFrames
        fragmented &+= o.fragmented
    }
}

/// What a worker thread hands the control thread: events as they happen (one post per batch) and
/// counters twice a second — a post per batch for counters alone would wake the control loop at
/// packet rate.
struct WorkerOutbox {
    var events: [DataPlaneEvent] = []
    var stats = DataPlaneStats()
    private var lastStatsReport = 0.0

    mutating func flush(now: Double, _ emit: ([DataPlaneEvent]) -> Void) {
        if now - lastStatsReport >= 0.5 && !stats.isZero {
            lastStatsReport = now
            events.append(.stats(stats))
            stats = DataPlaneStats()
        }
        if !events.isEmpty {
            emit(events)
            events.removeAll(keepingCapacity: true)
        }
    }
}

extension Array {
    /// Stores `value` at `index`, growing the array with nils first (per-node-id tables).
    mutating func set<T>(_ index: Int, _ value: T?) where Element == T? {
        if index >= count { append(contentsOf: [T?](repeating: nil, count: index - count + 1)) }
        self[index] = value
    }
}

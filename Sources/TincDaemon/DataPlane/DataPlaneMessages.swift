import MeshCrypto
import MeshIO
import Synchronization

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
    /// A packet from an address not (yet) this node's passed its key's MAC *and* the replay window
    /// (try_harder): the node's UDP address is now this one.
    case udpAddress(Int32, SocketAddress)
    /// The worker dropped every key and per-id state of this node id (answer to `forget`); once
    /// both workers said so, the graph may give the id to another node.
    case forgotten(Int32)
    /// Our send seqno towards this node passed `TxWorker.rekeySeqno`: ask it for a new key (REQ_KEY)
    /// long before the 32-bit counter could wrap.
    case outboundKeyAging(Int32)
    /// The seqno received from this node passed 2^30 (tinc's limit): give it a fresh inbound key.
    case inboundKeyAging(Int32)
    /// Packets from this node's address arrive but we hold no inbound key for it (we forgot it when
    /// the node was unreachable): send it a fresh ANS_KEY (rate-limited by the control thread).
    case noInboundKey(Int32)
    /// Packets from this node keep failing the MAC of the inbound key we gave it (it uses a stale
    /// key of ours): the control thread sends it a fresh ANS_KEY (rate-limited there).
    case staleKey(Int32)
    /// sendmmsg said EMSGSIZE for a frame of this length towards this node.
    case tooBig(Int32, Int)
    /// Router mode: ARP or NDP from the device, answered by the control thread.
    case localControlFrame([UInt8])
    /// Traffic counters since the last report.
    case stats(DataPlaneStats)

    /// Statistics and acknowledgements must reach the control thread; everything else may be
    /// dropped when the channel is full (it is either a frame or repeated by the next packet).
    var isDroppable: Bool {
        switch self {
        case .stats, .forgotten: return false
        default: return true
        }
    }
}

enum TxCommand {
    /// `sequence`: the key's send seqnos, shared by every TX worker holding a copy of this key
    /// (nil: a sequence of this worker's own).
    case setKey(Int32, PacketCipher?, compression: Int, sequence: SendSequence? = nil)
    /// Send a frame straight to a node by UDP (MTU probes and probe replies).
    case sendProbe([UInt8], to: Int32)
    /// Route a frame as if it came from `source` (relayed frames, frames from TCP PACKETs).
    case route([UInt8], from: Int32, viaTCP: Bool, deliverLocally: Bool)
    /// Drop the key and every per-id entry for this node id, then answer `.forgotten`.
    case forget(Int32)
    case stop
}

enum RxCommand {
    /// A new inbound key (the one it replaces stays usable for `RxWorker.keyGraceMillis`), or nil:
    /// no key at all from now on (the node became unreachable).
    case setKey(Int32, PacketCipher?, compression: Int)
    /// KeyExpire: the node's key goes, but packets sealed with it may still be in flight; it opens
    /// packets for `RxWorker.keyGraceMillis` more, or until a new key replaces it.
    case retireKey(Int32)
    case forget(Int32)
    case stop
}

/// The send sequence numbers of one outbound key, shared by the TX workers that seal with it (each
/// with its own cipher contexts). Every number is handed out once, so the receiver sees each seqno
/// at most once whichever worker sent it; the workers interleave, and the receiver's replay window
/// (tinc 1.0: 128 packets) absorbs the reordering because each worker sends what it sealed within
/// `TxWorker.flushAfter` frames and renumbers what fell behind (`TxWorker.renumberLate`).
/// 64 bits inside, so workers asking past the end never wrap it.
final class SendSequence: Sendable {
    private let counter = Atomic<UInt64>(0)

    init() {}

    /// The next seqno (1, 2, …), or nil once `TxWorker.lastSeqno` has been handed out.
    @inline(__always)
    func next() -> UInt32? {
        let v = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return v <= UInt64(TxWorker.lastSeqno) ? UInt32(truncatingIfNeeded: v) : nil
    }

    /// The newest seqno handed out so far (0: none).
    var newest: UInt32 { UInt32(truncatingIfNeeded: min(counter.load(ordering: .relaxed), UInt64(UInt32.max))) }

    /// Makes `s` the last seqno handed out (tests of the wrap guard).
    func set(_ s: UInt32) { counter.store(UInt64(s), ordering: .relaxed) }
}

/// Control-lane keys in the mailboxes: a newer key for an id replaces an older one not yet taken;
/// a forget sorts after the key of the same id (so it always wins), stop after everything.
enum MailboxKey {
    static func key(_ id: Int32) -> Int64 { Int64(id) * 2 }
    static func forget(_ id: Int32) -> Int64 { Int64(id) * 2 + 1 }
    static let stop = Int64.max
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
    /// Frames dropped because a bounded queue between threads was full: the TX worker's mailbox
    /// (frames relayed by RX or sent by the control thread) and the worker → control event channel.
    public var droppedQueueFull: UInt64 = 0
    /// Packets dropped because sealing failed (PacketCipher.seal returned 0).
    public var droppedSealFailed: UInt64 = 0
    public var tcpFallbackFrames: UInt64 = 0
    public var fragmented: UInt64 = 0

    var isZero: Bool { deviceInPackets == 0 && deviceOutPackets == 0 && udpOutPackets == 0 && udpInPackets == 0 && droppedBadMAC == 0 && droppedReplay == 0 && droppedShort == 0 && droppedUnknownSource == 0 && droppedNoKey == 0 && droppedNoRoute == 0 && droppedSendError == 0 && tcpFallbackFrames == 0 && droppedCompression == 0 && fragmented == 0 && droppedQueueFull == 0 && droppedSealFailed == 0 }

    mutating func add(_ o: DataPlaneStats) {
        deviceInPackets &+= o.deviceInPackets; deviceInBytes &+= o.deviceInBytes
        deviceOutPackets &+= o.deviceOutPackets; deviceOutBytes &+= o.deviceOutBytes
        udpOutPackets &+= o.udpOutPackets; udpOutBytes &+= o.udpOutBytes
        udpInPackets &+= o.udpInPackets; udpInBytes &+= o.udpInBytes
        droppedBadMAC &+= o.droppedBadMAC; droppedReplay &+= o.droppedReplay; droppedShort &+= o.droppedShort
        droppedUnknownSource &+= o.droppedUnknownSource; droppedNoKey &+= o.droppedNoKey; droppedNoRoute &+= o.droppedNoRoute
        droppedSendError &+= o.droppedSendError; droppedCompression &+= o.droppedCompression
        droppedQueueFull &+= o.droppedQueueFull; droppedSealFailed &+= o.droppedSealFailed
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

    mutating func flush(now: Double, _ channel: EventChannel) {
        if now - lastStatsReport >= 0.5 && !stats.isZero {
            lastStatsReport = now
            events.append(.stats(stats))
            stats = DataPlaneStats()
        }
        if !events.isEmpty {
            // Events the full channel refused are counted and reported with the next statistics.
            stats.droppedQueueFull &+= UInt64(channel.send(events))
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

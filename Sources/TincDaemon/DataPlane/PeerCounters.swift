import CNetShim
import Glibc

/// One worker's per-node traffic counters, indexed by node id. The worker that owns it is the only
/// writer (a relaxed load and store per field: no lock and no locked instruction on the frame path);
/// the control thread reads every worker's table when it takes a snapshot and sums them
/// (`DataPlane.peerTraffic`). Memory comes in chunks of `chunkIDs` ids, allocated the first time an id
/// of the chunk counts something and never moved or freed while the worker runs, so a reader never
/// sees freed memory. Ids at or past `capacity` (more than the node limit allows) are not counted.
final class PeerCounters: @unchecked Sendable {
    /// The counted fields of one node id, in memory order.
    enum Field: Int, CaseIterable {
        /// Frames from the node that passed MAC and replay window (UDP; TCP is counted by the control thread).
        case inPackets, inBytes
        /// Frames routed to the node as their destination (UDP or TCP), and the part of them sent over TCP.
        case outPackets, outBytes, outTCPPackets, outTCPBytes
        /// Inbound drops: MAC failure, replay window, no inbound key, decompression, too short after opening.
        case dropBadMAC, dropReplay, dropNoKey, dropDecompress, dropShort
        /// Outbound drops: compression, sealing, sendmmsg error.
        case dropCompress, dropSealFailed, dropSendError
        /// Monotonic time (EventLoop.now(), in milliseconds) of the last valid packet from the node; 0: none.
        case lastSeenMillis
    }

    static let stride = Field.allCases.count
    static let chunkIDs = 64
    /// Ids counted with the default limits (MaxNodes 10000, ids reused only after both workers forgot them).
    static let defaultCapacity = 20_480

    let capacity: Int
    private let chunkCount: Int
    private let directory: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>?>

    init(capacity: Int = PeerCounters.defaultCapacity) {
        let ids = max(PeerCounters.chunkIDs, capacity)
        chunkCount = (ids + PeerCounters.chunkIDs - 1) / PeerCounters.chunkIDs
        self.capacity = chunkCount * PeerCounters.chunkIDs
        directory = .allocate(capacity: chunkCount)
        directory.initialize(repeating: nil, count: chunkCount)
    }

    deinit {
        for i in 0..<chunkCount { directory[i]?.deallocate() }
        directory.deallocate()
    }

    /// The field's address for a writer, allocating the id's chunk on first use; nil past `capacity`.
    @inline(__always)
    private func slot(_ id: Int32, _ f: Field) -> UnsafeMutablePointer<UInt64>? {
        let i = Int(id)
        guard i >= 0, i < capacity else { return nil }
        let c = i / PeerCounters.chunkIDs
        let chunk: UnsafeMutablePointer<UInt64>
        if let existing = directory[c] {
            chunk = existing   // only this (writing) thread stores chunk pointers, so a plain read is current
        } else {
            let n = PeerCounters.chunkIDs * PeerCounters.stride
            let fresh = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
            fresh.initialize(repeating: 0, count: n)
            cns_chunk_publish(directory + c, fresh)
            chunk = fresh
        }
        return chunk + (i % PeerCounters.chunkIDs) * PeerCounters.stride + f.rawValue
    }

    /// Writer only.
    @inline(__always)
    func add(_ id: Int32, _ f: Field, _ v: UInt64 = 1) {
        if let p = slot(id, f) { cns_counter_add(p, v) }
    }

    /// A frame of `bytes` bytes: the packet and byte fields together. Writer only.
    @inline(__always)
    func count(_ id: Int32, packets: Field, _ bytes: Int) {
        guard let p = slot(id, packets) else { return }
        cns_counter_add(p, 1)
        cns_counter_add(p + 1, UInt64(truncatingIfNeeded: bytes))
    }

    /// Writer only.
    @inline(__always)
    func set(_ id: Int32, _ f: Field, _ v: UInt64) {
        if let p = slot(id, f) { cns_counter_store(p, v) }
    }

    /// The id was given up (the node left the graph): its next owner starts from zero. Writer only.
    func reset(_ id: Int32) {
        let i = Int(id)
        guard i >= 0, i < capacity, let chunk = directory[i / PeerCounters.chunkIDs] else { return }
        let base = chunk + (i % PeerCounters.chunkIDs) * PeerCounters.stride
        for k in 0..<PeerCounters.stride { cns_counter_store(base + k, 0) }
    }

    /// Adds this table's values for `id` to `into` (sums; `lastSeenMillis` takes the maximum).
    /// Any thread.
    func read(_ id: Int, into totals: inout PeerTotals) {
        guard id >= 0, id < capacity,
              let chunk = cns_chunk_load(directory + id / PeerCounters.chunkIDs) else { return }
        let base = chunk + (id % PeerCounters.chunkIDs) * PeerCounters.stride
        for f in Field.allCases {
            let v = cns_counter_load(base + f.rawValue)
            if f == .lastSeenMillis { totals.values[f.rawValue] = max(totals.values[f.rawValue], v) }
            else { totals.values[f.rawValue] &+= v }
        }
    }
}

/// Every worker's counters of one node id, summed.
struct PeerTotals {
    var values = [UInt64](repeating: 0, count: PeerCounters.stride)
    subscript(_ f: PeerCounters.Field) -> UInt64 { values[f.rawValue] }
}

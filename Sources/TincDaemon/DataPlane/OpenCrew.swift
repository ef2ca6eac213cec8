import Glibc
import MeshCrypto
import Synchronization

/// Opens (MAC check, then decrypt, in place) the datagrams of one received batch on several
/// threads: the RX thread hands the batch over once per recvmmsg wakeup, opens chunks of it itself,
/// and waits only for the chunks a helper has taken. Afterwards the RX thread alone walks the batch
/// in arrival order for everything that depends on order (replay window, address learning, routing,
/// device writes), as wireguard-go's sequential receiver does after its parallel decrypt workers.
///
/// Chunks are claimed with one compare-and-swap each, so a helper the scheduler has not woken yet
/// costs no waiting: the RX thread takes every chunk nobody has claimed. Each lane opens with its own
/// copy of a key (`RxWorker.Peer.lanes[lane]`), so no cipher context is ever used by two threads.
final class OpenCrew: @unchecked Sendable {
    /// One datagram. Written by the RX thread before the hand-over; `result` (opened length, or -1
    /// for any failure) by the lane that claimed its chunk.
    struct Item {
        var packet: UnsafeMutableRawPointer?
        var length: Int32 = 0
        var result: Int32 = -1
        var id: Int32 = -1
        /// Index of the receive slot (for the sender's address).
        var slot: Int32 = 0
        /// nil: the RX thread handles it alone, in order (no key, unknown sender: try_harder).
        var peer: Unmanaged<RxWorker.Peer>?
    }

    /// Items per hand-over at most (64 receive slots × UDP GRO's 64 segments).
    static let maxItems = 4096
    /// Items per claim.
    static let chunk = 8
    /// Below this many items the RX thread opens them alone: waking a helper costs more.
    static let minParallel = 16

    /// Threads that open: the RX thread (lane 0) and `lanes - 1` helpers.
    let lanes: Int
    let items: UnsafeMutablePointer<Item>

    /// generation << 32 | item count << 16 | next unclaimed chunk. Publishing a batch is one release
    /// store; claiming a chunk one acquire-release compare-and-swap.
    private let work = Atomic<UInt64>(0)
    /// Chunks of the current generation that are opened (acquire-release: the results are visible).
    private let done = Atomic<Int>(0)
    /// Datagrams helpers opened since start (tests, diagnostics).
    private let helperItems = Atomic<Int>(0)
    private var generation: UInt32 = 0
    /// Test hook: the RX thread leaves every chunk to the helpers (shows the helpers do the work).
    var rxOpens = true

    // Sleeping: helpers wait for a new generation, the RX thread for the last chunk a helper holds.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let workCond: UnsafeMutablePointer<pthread_cond_t>
    private let doneCond: UnsafeMutablePointer<pthread_cond_t>
    private var stopping = false      // under mutex
    private var rxWaiting = false     // under mutex

    init(lanes: Int) {
        self.lanes = max(1, lanes)
        items = .allocate(capacity: OpenCrew.maxItems)
        items.initialize(repeating: Item(), count: OpenCrew.maxItems)
        mutex = .allocate(capacity: 1)
        workCond = .allocate(capacity: 1)
        doneCond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(workCond, nil)
        pthread_cond_init(doneCond, nil)
    }

    deinit {
        pthread_cond_destroy(workCond)
        pthread_cond_destroy(doneCond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate(); workCond.deallocate(); doneCond.deallocate()
        items.deinitialize(count: OpenCrew.maxItems)
        items.deallocate()
    }

    /// Datagrams opened by helper threads so far.
    var openedByHelpers: Int { helperItems.load(ordering: .relaxed) }

    /// Opens items 0..<count (RX thread only); on return every item with a peer has its result.
    func openAll(count: Int) {
        guard count > 0 else { return }
        guard lanes > 1, count >= OpenCrew.minParallel || !rxOpens else {
            openRange(0, count, lane: 0)
            return
        }
        generation = generation == UInt32.max ? 1 : generation + 1
        let chunks = (count + OpenCrew.chunk - 1) / OpenCrew.chunk
        done.store(0, ordering: .relaxed)
        work.store(UInt64(generation) << 32 | UInt64(count) << 16, ordering: .releasing)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(workCond)
        pthread_mutex_unlock(mutex)
        if rxOpens { claimChunks(lane: 0, generation: generation) }
        if done.load(ordering: .acquiring) < chunks {
            pthread_mutex_lock(mutex)
            rxWaiting = true
            while done.load(ordering: .acquiring) < chunks { pthread_cond_wait(doneCond, mutex) }
            rxWaiting = false
            pthread_mutex_unlock(mutex)
        }
    }

    /// A helper thread's loop (`lane` 1..<lanes) until `stop()`.
    func runHelper(lane: Int) {
        guard lane > 0, lane < lanes else { return }
        var seen: UInt32 = 0
        while true {
            pthread_mutex_lock(mutex)
            var v = work.load(ordering: .acquiring)
            while !stopping && UInt32(truncatingIfNeeded: v >> 32) == seen {
                pthread_cond_wait(workCond, mutex)
                v = work.load(ordering: .acquiring)
            }
            let stop = stopping
            pthread_mutex_unlock(mutex)
            if stop { return }
            seen = UInt32(truncatingIfNeeded: v >> 32)
            claimChunks(lane: lane, generation: seen)
        }
    }

    /// Makes every helper return from `runHelper`.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(workCond)
        pthread_mutex_unlock(mutex)
    }

    private func claimChunks(lane: Int, generation g: UInt32) {
        var v = work.load(ordering: .acquiring)
        while UInt32(truncatingIfNeeded: v >> 32) == g {
            let count = Int((v >> 16) & 0xFFFF), next = Int(v & 0xFFFF)
            let start = next * OpenCrew.chunk
            guard start < count else { return }
            let (claimed, now) = work.compareExchange(expected: v, desired: v &+ 1, ordering: .acquiringAndReleasing)
            guard claimed else { v = now; continue }
            let end = min(count, start + OpenCrew.chunk)
            openRange(start, end, lane: lane)
            let chunks = (count + OpenCrew.chunk - 1) / OpenCrew.chunk
            let finished = done.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
            if lane > 0 {
                helperItems.wrappingAdd(end - start, ordering: .relaxed)
                if finished == chunks {
                    pthread_mutex_lock(mutex)
                    if rxWaiting { pthread_cond_signal(doneCond) }
                    pthread_mutex_unlock(mutex)
                }
            }
            v = work.load(ordering: .acquiring)
        }
    }

    private func openRange(_ from: Int, _ to: Int, lane: Int) {
        var i = from
        while i < to {
            let it = items + i
            i += 1
            guard let pkt = it.pointee.packet, let peer = it.pointee.peer else { continue }
            let n = Int(it.pointee.length)
            let opened = peer._withUnsafeGuaranteedRef { p -> Int? in
                guard lane < p.lanes.count else { return nil }
                return p.lanes[lane].open(UnsafeRawBufferPointer(start: pkt, count: n),
                                          into: UnsafeMutableRawBufferPointer(start: pkt, count: n))
            }
            it.pointee.result = opened.map { Int32(clamping: $0) } ?? -1
        }
    }
}

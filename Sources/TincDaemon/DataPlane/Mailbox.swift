import Glibc
import CNetShim
import MeshIO
import Synchronization

/// A bounded multi-producer, single-consumer queue that wakes its consumer's epoll loop through an
/// eventfd. It has two lanes:
///
/// - frames (`post`): at most `capacity` queued; beyond that the item is dropped and counted in
///   `dropped`, so a slow consumer can never make a producer grow memory without bound;
/// - control (`postLatest`): one slot per key, a newer item replacing an older one with the same
///   key (keys, forget requests, stop). Bounded by the number of keys (node ids), never dropped,
///   and always handed out before the frames queued with them.
final class Mailbox<T>: @unchecked Sendable {
    let fd: Int32
    let capacity: Int

    private struct State {
        var items: [T] = []
        var latest: [Int64: T] = [:]
    }

    private let state = Locked(State())
    private let droppedCount = Atomic<UInt64>(0)

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
    }

    deinit { close(fd) }

    /// Items refused because the frame lane was full, since the last `takeDropped()`.
    var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }

    /// Returns and resets the drop count (the consumer reports it with its statistics).
    func takeDropped() -> UInt64 { droppedCount.exchange(0, ordering: .relaxed) }

    private func wake() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Queues a frame-lane item; false (and counted) when the lane is full.
    @discardableResult
    func post(_ item: T) -> Bool {
        let (accepted, wasEmpty) = state.withLock { s -> (Bool, Bool) in
            guard s.items.count < capacity else { return (false, false) }
            let wasEmpty = s.items.isEmpty && s.latest.isEmpty
            s.items.append(item)
            return (true, wasEmpty)
        }
        if !accepted { droppedCount.add(1, ordering: .relaxed) }
        if wasEmpty { wake() }
        return accepted
    }

    /// Queues as many of `batch` as fit; returns how many were dropped.
    @discardableResult
    func post(contentsOf batch: [T]) -> Int {
        guard !batch.isEmpty else { return 0 }
        let (taken, wasEmpty) = state.withLock { s -> (Int, Bool) in
            let room = max(0, capacity - s.items.count)
            let take = min(room, batch.count)
            let wasEmpty = s.items.isEmpty && s.latest.isEmpty
            if take > 0 { s.items.append(contentsOf: batch.prefix(take)) }
            return (take, wasEmpty && take > 0)
        }
        let lost = batch.count - taken
        if lost > 0 { droppedCount.add(UInt64(lost), ordering: .relaxed) }
        if wasEmpty { wake() }
        return lost
    }

    /// Queues a control-lane item, replacing any not yet taken with the same key.
    func postLatest(_ item: T, key: Int64) {
        let wasEmpty = state.withLock { s -> Bool in
            let wasEmpty = s.items.isEmpty && s.latest.isEmpty
            s.latest[key] = item
            return wasEmpty
        }
        if wasEmpty { wake() }
    }

    /// Takes every control item (in key order) and up to `max` frame-lane items, oldest first
    /// (consumer thread only). When frames remain, the eventfd stays signalled so the consumer's
    /// loop comes back after serving its other inputs: the per-wakeup budget.
    func drain(max budget: Int = Int.max) -> [T] {
        var v: UInt64 = 0
        _ = read(fd, &v, 8)
        let (out, more) = state.withLock { s -> ([T], Bool) in
            var out: [T] = []
            if !s.latest.isEmpty {
                for k in s.latest.keys.sorted() { if let item = s.latest[k] { out.append(item) } }
                s.latest.removeAll(keepingCapacity: true)
            }
            let take = min(budget, s.items.count)
            if take == s.items.count {
                out.append(contentsOf: s.items)
                s.items.removeAll(keepingCapacity: true)
            } else if take > 0 {
                out.append(contentsOf: s.items.prefix(take))
                s.items.removeFirst(take)
            }
            return (out, !s.items.isEmpty)
        }
        if more { wake() }
        return out
    }

    /// Frame-lane items waiting (tests, diagnostics).
    var queued: Int { state.withLock { $0.items.count } }
}

/// A value shared between threads by reference swap (the forwarding snapshot).
final class Published<T: AnyObject>: @unchecked Sendable {
    private let value: Locked<T>

    init(_ v: T) { value = Locked(v) }

    func load() -> T { value.withLock { $0 } }

    func store(_ v: T) { value.withLock { $0 = v } }
}

/// The worker → control-thread channel. Events travel in batches posted to the control loop; the
/// number of events posted and not yet handled is bounded, so a control thread that falls behind
/// (a slow script, a burst of gossip) cannot make the workers queue frames without limit. Over the
/// bound, droppable events (frames for TCP, probes, learned MACs, key requests) are dropped and
/// counted; statistics and acknowledgements always go through (they are few and bounded).
final class EventChannel: @unchecked Sendable {
    let limit: Int
    private let pending = Atomic<Int>(0)
    private let deliver: ([DataPlaneEvent], @escaping () -> Void) -> Void

    /// `deliver(events, done)` hands a batch to the control thread, which calls `done` once the
    /// batch has been handled.
    init(limit: Int, deliver: @escaping ([DataPlaneEvent], @escaping () -> Void) -> Void) {
        self.limit = max(1, limit)
        self.deliver = deliver
    }

    /// Events posted and not yet handled.
    var inFlight: Int { pending.load(ordering: .relaxed) }

    /// Sends `events`; returns how many droppable events were dropped because the channel was full.
    func send(_ events: [DataPlaneEvent]) -> Int {
        guard !events.isEmpty else { return 0 }
        var batch = events
        var lost = 0
        let room = limit - pending.load(ordering: .relaxed)
        if events.count > room {
            batch = []
            var kept = 0
            for e in events {
                if !e.isDroppable { batch.append(e) }
                else if kept < room { batch.append(e); kept += 1 }
                else { lost += 1 }
            }
        }
        guard !batch.isEmpty else { return lost }
        let n = batch.count
        pending.add(n, ordering: .relaxed)
        deliver(batch) { self.pending.subtract(n, ordering: .relaxed) }
        return lost
    }
}

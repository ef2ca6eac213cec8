/// Duplicate suppression for broadcast requests (tinc's past_request cache).
///
/// tinc keeps every whole line for PingInterval seconds. A peer that floods unique lines would make
/// that cache grow with the flood, and flushing it all at once when full would let every recent
/// line through again (a broadcast storm). Instead each line is remembered by a 64-bit hash from a
/// per-process random seed (Swift's `Hasher`, so a peer cannot aim collisions), entries age out in
/// arrival order, and when the cache is full the oldest entry makes room.
struct SeenRequests {
    let limit: Int
    /// hash -> arrival time of the newest occurrence.
    private var seen: [UInt64: Double] = [:]
    /// Arrival order, a ring buffer of (hash, time); entries whose time no longer matches `seen`
    /// were refreshed later and are skipped when they reach the front.
    private var order: [(hash: UInt64, time: Double)] = []
    private var head = 0
    private var queued = 0
    private(set) var evicted = 0

    init(limit: Int = 100_000) {
        self.limit = max(1, limit)
    }

    static func key(_ line: String) -> UInt64 {
        var h = Hasher()
        h.combine(line)
        return UInt64(bitPattern: Int64(h.finalize()))
    }

    /// Returns true when the line was seen before (and not yet aged out); otherwise remembers it.
    mutating func check(_ line: String, now: Double) -> Bool {
        let k = SeenRequests.key(line)
        if seen[k] != nil { return true }
        while seen.count >= limit, popOldest() {
            evicted += 1
        }
        seen[k] = now
        push(k, now)
        return false
    }

    /// Forgets entries older than `cutoff`; cost proportional to what is forgotten.
    mutating func age(olderThan cutoff: Double) {
        while queued > 0 {
            let front = order[head]
            if front.time >= cutoff { break }
            _ = popOldest()
        }
    }

    var count: Int { seen.count }

    /// Removes the front of the ring; returns false when it is empty.
    private mutating func popOldest() -> Bool {
        guard queued > 0 else { return false }
        let front = order[head]
        head = (head + 1) % order.count
        queued -= 1
        if seen[front.hash] == front.time { seen[front.hash] = nil }
        return true
    }

    private mutating func push(_ k: UInt64, _ t: Double) {
        if queued == order.count {
            // Grow the ring, unrolled so the oldest entry is at index 0.
            let old = order
            let newCapacity = max(16, min(limit, old.count * 2))
            var grown: [(hash: UInt64, time: Double)] = []
            grown.reserveCapacity(max(newCapacity, old.count + 1))
            for i in 0..<queued { grown.append(old[(head + i) % old.count]) }
            while grown.count < max(newCapacity, old.count + 1) { grown.append((0, -.infinity)) }
            order = grown
            head = 0
        }
        order[(head + queued) % order.count] = (k, t)
        queued += 1
    }
}

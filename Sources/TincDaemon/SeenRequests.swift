/// Duplicate suppression for broadcast requests (tinc's past_request cache): keyed on the whole line,
/// entries live PingInterval seconds. Bounded so a flooding peer cannot exhaust memory.
struct SeenRequests {
    private var seen: [String: Double] = [:]
    let limit = 100_000

    /// Returns true when the line was seen before; otherwise remembers it.
    mutating func check(_ line: String, now: Double) -> Bool {
        if seen[line] != nil { return true }
        if seen.count >= limit { seen.removeAll(keepingCapacity: true) }
        seen[line] = now
        return false
    }

    mutating func age(olderThan cutoff: Double) {
        seen = seen.filter { $0.value >= cutoff }
    }

    var count: Int { seen.count }
}

import Glibc

/// Failed connections are parked instead of closed, so an attacker gets no quick answer
/// (tinc 1.0.35+: a ring of 10 slots; parking an 11th closes the oldest).
struct Tarpit {
    private var slots = [Int32](repeating: -1, count: 10)
    private var next = 0

    mutating func park(_ fd: Int32) {
        if slots[next] >= 0 { close(slots[next]) }
        slots[next] = fd
        next = (next + 1) % slots.count
    }

    mutating func closeAll() {
        for i in slots.indices where slots[i] >= 0 { close(slots[i]); slots[i] = -1 }
    }
}

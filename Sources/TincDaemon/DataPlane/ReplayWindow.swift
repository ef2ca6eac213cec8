/// tinc 1.0's replay protection for one inbound key: the highest sequence number seen, and a bitmap
/// of `8 × bytes` late-but-still-expected numbers behind it (bit s%8 of byte (s/8) % bytes).
struct ReplayWindow {
    private(set) var last: UInt32 = 0
    private var late: [UInt8]
    private var farFutureDrops = 0

    init(bytes: Int) { late = [UInt8](repeating: 0, count: bytes) }

    enum Verdict { case accept, accepted(lost: UInt32), replayed, farFuture }

    mutating func check(_ seq: UInt32) -> Verdict {
        let w = UInt32(late.count)
        var lost: UInt32 = 0
        if w > 0 && seq != last &+ 1 {
            if seq >= last &+ w &* 8 {
                // The first W/4 far-future packets in a row are dropped; then we resynchronise.
                if farFutureDrops < Int(w / 4) {
                    farFutureDrops += 1
                    return .farFuture
                }
                lost = seq &- last &- 1
                for i in late.indices { late[i] = 0 }
            } else if seq <= last {
                let idx = Int(seq / 8 % w), bit = UInt8(1 << (seq % 8))
                if (last >= w * 8 && seq <= last - w * 8) || late[idx] & bit == 0 { return .replayed }
            } else {
                var s = last &+ 1
                while s < seq {
                    late[Int(s / 8 % w)] |= UInt8(1 << (s % 8))
                    s &+= 1
                }
            }
        }
        farFutureDrops = 0
        if w > 0 { late[Int(seq / 8 % w)] &= ~UInt8(1 << (seq % 8)) }
        if seq > last { last = seq }
        return lost > 0 ? .accepted(lost: lost) : .accept
    }
}

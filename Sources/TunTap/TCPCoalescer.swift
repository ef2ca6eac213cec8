/// Receive-side coalescing (GRO) for a TAP device with a virtio header: consecutive in-order TCP
/// segments of one flow are merged into a single super-frame and written once, so the kernel's TCP
/// stack handles one 64 KB packet instead of dozens. Anything that does not fit the strict rules
/// below is written unchanged, and order between frames is always kept.
public struct TCPCoalescer {
    public static let capacity = 65535 + 14 + 4

    private let buffer: UnsafeMutableRawPointer
    private var header = VirtioNetHeader()
    private var length = 0
    private var count = 0
    private var l3 = 14, l4 = 0, hdrLen = 0, gsoSize = 0
    private var isIPv6 = false
    private var nextSeq: UInt32 = 0
    private var sawPSH = false

    public init() {
        buffer = .allocate(byteCount: TCPCoalescer.capacity, alignment: 64)
    }

    public func deallocate() { buffer.deallocate() }

    public var isEmpty: Bool { count == 0 }

    /// Offers a frame. Returns true when it was taken (merged or started a new run); false when
    /// the caller must write it itself — after calling `flush`, which the caller must do first.
    public mutating func offer(_ f: UnsafeRawPointer, length len: Int) -> Bool {
        guard let seg = Segment(f, len) else { return false }
        if count > 0 && canAppend(seg, f, len) {
            let payload = len - seg.hdrLen
            (buffer + length).copyMemory(from: f + seg.hdrLen, byteCount: payload)
            length += payload
            count += 1
            nextSeq = seg.seq &+ UInt32(payload)
            if seg.flags & 0x08 != 0 {
                sawPSH = true
                buffer.storeBytes(of: buffer.load(fromByteOffset: l4 + 13, as: UInt8.self) | 0x08, toByteOffset: l4 + 13, as: UInt8.self)
            }
            return true
        }
        return false
    }

    /// Starts a new run with this frame (call only when empty). Returns false if not eligible.
    public mutating func begin(_ f: UnsafeRawPointer, length len: Int) -> Bool {
        guard count == 0, let seg = Segment(f, len), len <= TCPCoalescer.capacity else { return false }
        buffer.copyMemory(from: f, byteCount: len)
        length = len
        count = 1
        l3 = seg.l3; l4 = seg.l4; hdrLen = seg.hdrLen; isIPv6 = seg.isIPv6
        gsoSize = len - seg.hdrLen
        nextSeq = seg.seq &+ UInt32(gsoSize)
        sawPSH = seg.flags & 0x08 != 0
        return true
    }

    private func canAppend(_ s: Segment, _ f: UnsafeRawPointer, _ len: Int) -> Bool {
        guard !sawPSH, s.isIPv6 == isIPv6, s.l3 == l3, s.l4 == l4, s.hdrLen == hdrLen, s.seq == nextSeq else { return false }
        let payload = len - s.hdrLen
        // Every segment but the last must be exactly gso_size long.
        guard payload <= gsoSize, length + payload <= TCPCoalescer.capacity, length - l3 + payload <= 65535 else { return false }
        guard (length - hdrLen) % gsoSize == 0 else { return false }
        // Same addresses, ports, ack, window and options; for IPv4 the same TOS/TTL/flags.
        if isIPv6 {
            guard memcmpEq(buffer + l3, f + l3, 4), memcmpEq(buffer + l3 + 6, f + l3 + 6, 34) else { return false }
        } else {
            guard memcmpEq(buffer + l3, f + l3, 2), memcmpEq(buffer + l3 + 6, f + l3 + 6, 4), memcmpEq(buffer + l3 + 12, f + l3 + 12, 8) else { return false }
        }
        guard memcmpEq(buffer + l4, f + l4, 4),                  // ports
              memcmpEq(buffer + l4 + 8, f + l4 + 8, 4),          // ack
              memcmpEq(buffer + l4 + 14, f + l4 + 14, 2),        // window
              memcmpEq(buffer + l4 + 20, f + l4 + 20, hdrLen - l4 - 20) else { return false }   // options (timestamps)
        return true
    }

    @inline(__always)
    private func memcmpEq(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// Emits the pending run: a single frame as is, several as one GSO super-frame with a partial
    /// checksum the kernel completes. `write(header, frame, length)` does the device write.
    public mutating func flush(_ write: (UnsafeRawPointer, UnsafeRawPointer, Int) -> Void) {
        guard count > 0 else { return }
        var h = [UInt8](repeating: 0, count: VirtioNetHeader.size)
        if count > 1 {
            let tcpLen = length - l4
            if isIPv6 {
                buffer.storeBytes(of: UInt16(length - l3 - 40).bigEndian, toByteOffset: l3 + 4, as: UInt16.self)
            } else {
                buffer.storeBytes(of: UInt16(length - l3).bigEndian, toByteOffset: l3 + 2, as: UInt16.self)
                buffer.storeBytes(of: UInt16(0), toByteOffset: l3 + 10, as: UInt16.self)
                InternetChecksum.store(InternetChecksum.fold(InternetChecksum.add(buffer + l3, 20)), at: buffer, l3 + 10)
            }
            // CHECKSUM_PARTIAL: the field holds the folded, uncomplemented pseudo-header sum.
            var sum: UInt64 = isIPv6 ? InternetChecksum.add(buffer + l3 + 8, 32) : InternetChecksum.add(buffer + l3 + 12, 8)
            sum &+= 6 &+ UInt64(tcpLen)
            InternetChecksum.store(~InternetChecksum.fold(sum), at: buffer, l4 + 16)
            h[0] = VirtioNetHeader.needsChecksum
            h[1] = isIPv6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4
            h[2] = UInt8(hdrLen & 0xFF); h[3] = UInt8(hdrLen >> 8)
            h[4] = UInt8(gsoSize & 0xFF); h[5] = UInt8(gsoSize >> 8)
            h[6] = UInt8(l4 & 0xFF); h[7] = UInt8(l4 >> 8)
            h[8] = 16; h[9] = 0
        }
        h.withUnsafeBytes { write($0.baseAddress!, buffer, length) }
        count = 0
        length = 0
    }

    /// The parts of a frame that decide whether it may be coalesced.
    private struct Segment {
        let l3: Int, l4: Int, hdrLen: Int, isIPv6: Bool, seq: UInt32, flags: UInt8

        init?(_ f: UnsafeRawPointer, _ len: Int) {
            guard len >= 54 else { return nil }
            let type = UInt16(f.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(f.load(fromByteOffset: 13, as: UInt8.self))
            l3 = 14
            if type == 0x0800 {
                guard f.load(fromByteOffset: 14, as: UInt8.self) == 0x45,            // no IP options
                      f.load(fromByteOffset: 23, as: UInt8.self) == 6,               // TCP
                      f.load(fromByteOffset: 20, as: UInt8.self) & 0x3F == 0,        // no MF, no offset
                      f.load(fromByteOffset: 21, as: UInt8.self) == 0 else { return nil }
                let total = Int(f.load(fromByteOffset: 16, as: UInt8.self)) << 8 | Int(f.load(fromByteOffset: 17, as: UInt8.self))
                guard total == len - 14 else { return nil }                        // no Ethernet padding
                isIPv6 = false
                l4 = 34
            } else if type == 0x86DD {
                guard len >= 74, f.load(fromByteOffset: 20, as: UInt8.self) == 6 else { return nil }
                let plen = Int(f.load(fromByteOffset: 18, as: UInt8.self)) << 8 | Int(f.load(fromByteOffset: 19, as: UInt8.self))
                guard plen == len - 54 else { return nil }
                isIPv6 = true
                l4 = 54
            } else {
                return nil
            }
            guard len >= l4 + 20 else { return nil }
            let thl = Int(f.load(fromByteOffset: l4 + 12, as: UInt8.self) >> 4) * 4
            hdrLen = l4 + thl
            flags = f.load(fromByteOffset: l4 + 13, as: UInt8.self)
            // Plain data segments only: ACK, optionally PSH; never SYN/FIN/RST/URG/ECE/CWR.
            guard thl >= 20, len > hdrLen, flags & ~0x08 == 0x10 else { return nil }
            seq = UInt32(bigEndian: f.loadUnaligned(fromByteOffset: l4 + 4, as: UInt32.self))
        }
    }
}

/// The virtio-net header the kernel puts in front of each frame on a TAP device opened with
/// IFF_VNET_HDR (little-endian fields on x86).
public struct VirtioNetHeader {
    public static let size = 10
    public static let needsChecksum: UInt8 = 1
    public static let gsoNone: UInt8 = 0, gsoTCPv4: UInt8 = 1, gsoTCPv6: UInt8 = 4, gsoECN: UInt8 = 0x80

    public var flags: UInt8
    public var gsoType: UInt8
    public var headerLength: Int
    public var gsoSize: Int
    public var checksumStart: Int
    public var checksumOffset: Int

    public init(_ p: UnsafeRawPointer) {
        flags = p.load(fromByteOffset: 0, as: UInt8.self)
        gsoType = p.load(fromByteOffset: 1, as: UInt8.self)
        headerLength = Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
        gsoSize = Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        checksumStart = Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        checksumOffset = Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
    }

    public init(flags: UInt8 = 0, gsoType: UInt8 = 0, headerLength: Int = 0, gsoSize: Int = 0, checksumStart: Int = 0, checksumOffset: Int = 0) {
        self.flags = flags; self.gsoType = gsoType; self.headerLength = headerLength
        self.gsoSize = gsoSize; self.checksumStart = checksumStart; self.checksumOffset = checksumOffset
    }
}

/// Splits a TCP super-frame (TSO from the TAP device) into ordinary MTU-sized Ethernet frames,
/// because tinc peers expect exactly the frames a normal NIC would have sent: each segment gets its
/// own IP length/ID/checksum, TCP sequence number, flags and a full TCP checksum.
public struct SuperFrameSegmenter {
    private var frame: UnsafeRawPointer?
    private var length = 0
    private var l3 = 14, l4 = 0, headerLen = 0, mss = 0, offset = 0, index = 0
    private var isIPv6 = false
    private var seq0: UInt32 = 0, id0: UInt16 = 0, flags0: UInt8 = 0

    public init() {}

    public var hasMore: Bool { frame != nil }

    /// Starts segmenting; returns false (nothing to do) for frames it cannot split safely.
    public mutating func start(_ f: UnsafeRawPointer, length len: Int, header h: VirtioNetHeader) -> Bool {
        frame = nil
        let type = h.gsoType & ~VirtioNetHeader.gsoECN
        guard type == VirtioNetHeader.gsoTCPv4 || type == VirtioNetHeader.gsoTCPv6, h.gsoSize > 0, len >= 14 else { return false }
        let ethType = Int(f.load(fromByteOffset: 12, as: UInt8.self)) << 8 | Int(f.load(fromByteOffset: 13, as: UInt8.self))
        l3 = ethType == 0x8100 ? 18 : 14
        isIPv6 = type == VirtioNetHeader.gsoTCPv6
        // The GSO type must match the frame: TCPv4 segmentation of an IPv6 frame would write IPv4
        // lengths and checksums into the IPv6 header (and the other way round).
        guard len >= l3 else { return false }
        let inner = l3 == 18 ? Int(f.load(fromByteOffset: 16, as: UInt8.self)) << 8 | Int(f.load(fromByteOffset: 17, as: UInt8.self)) : ethType
        guard inner == (isIPv6 ? 0x86DD : 0x0800) else { return false }
        l4 = h.checksumStart
        guard l4 >= l3 + 20, len >= l4 + 20 else { return false }
        let tcpLen = Int(f.load(fromByteOffset: l4 + 12, as: UInt8.self) >> 4) * 4
        guard tcpLen >= 20, len >= l4 + tcpLen else { return false }
        headerLen = l4 + tcpLen
        mss = h.gsoSize
        seq0 = UInt32(bigEndian: f.loadUnaligned(fromByteOffset: l4 + 4, as: UInt32.self))
        flags0 = f.load(fromByteOffset: l4 + 13, as: UInt8.self)
        if !isIPv6 { id0 = UInt16(bigEndian: f.loadUnaligned(fromByteOffset: l3 + 4, as: UInt16.self)) }
        frame = f
        length = len
        offset = headerLen
        index = 0
        return true
    }

    /// Writes the next segment into `out`; returns its length (0 when done or it does not fit).
    public mutating func next(into out: UnsafeMutableRawBufferPointer) -> Int {
        guard let f = frame, let o = out.baseAddress else { return 0 }
        let chunk = min(mss, length - offset)
        let total = headerLen + chunk
        guard chunk > 0, total <= out.count else { frame = nil; return 0 }
        o.copyMemory(from: f, byteCount: headerLen)
        (o + headerLen).copyMemory(from: f + offset, byteCount: chunk)
        let last = offset + chunk >= length
        let tcpSegLen = total - l4
        if isIPv6 {
            let plen = UInt16(total - l3 - 40)
            o.storeBytes(of: plen.bigEndian, toByteOffset: l3 + 4, as: UInt16.self)
        } else {
            o.storeBytes(of: UInt16(total - l3).bigEndian, toByteOffset: l3 + 2, as: UInt16.self)
            o.storeBytes(of: (id0 &+ UInt16(truncatingIfNeeded: index)).bigEndian, toByteOffset: l3 + 4, as: UInt16.self)
            o.storeBytes(of: UInt16(0), toByteOffset: l3 + 10, as: UInt16.self)
            let ihl = Int(o.load(fromByteOffset: l3, as: UInt8.self) & 0x0F) * 4
            InternetChecksum.store(InternetChecksum.fold(InternetChecksum.add(o + l3, ihl)), at: o, l3 + 10)
        }
        let seq = seq0 &+ UInt32(truncatingIfNeeded: offset - headerLen)
        o.storeBytes(of: seq.bigEndian, toByteOffset: l4 + 4, as: UInt32.self)
        var flags = flags0
        if !last { flags &= ~0x09 }        // FIN and PSH only on the last segment
        if index > 0 { flags &= ~0x80 }    // CWR only on the first
        o.storeBytes(of: flags, toByteOffset: l4 + 13, as: UInt8.self)
        o.storeBytes(of: UInt16(0), toByteOffset: l4 + 16, as: UInt16.self)
        // Pseudo-header: addresses, protocol 6, TCP length.
        var sum: UInt64
        if isIPv6 {
            sum = InternetChecksum.add(o + l3 + 8, 32)
        } else {
            sum = InternetChecksum.add(o + l3 + 12, 8)
        }
        sum &+= 6 &+ UInt64(tcpSegLen)
        sum = InternetChecksum.add(o + l4, tcpSegLen, to: sum)
        InternetChecksum.store(InternetChecksum.fold(sum), at: o, l4 + 16)
        offset += chunk
        index += 1
        if last { frame = nil }
        return total
    }

    /// Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM without GSO): the field already
    /// holds the pseudo-header sum; the checksum covers everything from `start` to the end.
    public static func completeChecksum(_ f: UnsafeMutableRawPointer, length: Int, start: Int, offset: Int) {
        guard start + offset + 2 <= length, start < length else { return }
        let c = InternetChecksum.fold(InternetChecksum.add(f + start, length - start))
        InternetChecksum.store(c, at: f, start + offset)
    }
}

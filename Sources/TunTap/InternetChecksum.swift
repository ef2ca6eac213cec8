/// RFC 1071 one's-complement checksums, eight bytes at a time.
public enum InternetChecksum {
    /// Adds `len` bytes at `p` to a running 64-bit sum (bytes are taken as big-endian 16-bit words).
    @inline(__always)
    public static func add(_ p: UnsafeRawPointer, _ len: Int, to initial: UInt64 = 0) -> UInt64 {
        var sum = initial
        var i = 0
        // Native-endian 32-bit loads summed into 64 bits; byte order is fixed up once at the end.
        var native: UInt64 = 0
        while i + 8 <= len {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            native &+= w & 0xFFFF_FFFF
            native &+= w >> 32
            i += 8
        }
        while i + 2 <= len {
            native &+= UInt64(p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i += 2
        }
        // Fold the native-endian sum to 16 bits and swap to network order.
        while native > 0xFFFF { native = (native & 0xFFFF) &+ (native >> 16) }
        sum &+= UInt64(UInt16(truncatingIfNeeded: native).byteSwapped)
        if i < len { sum &+= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << 8 }
        return sum
    }

    @inline(__always)
    public static func fold(_ s: UInt64) -> UInt16 {
        var v = s
        while v > 0xFFFF { v = (v & 0xFFFF) &+ (v >> 16) }
        return ~UInt16(v)
    }

    @inline(__always)
    public static func store(_ c: UInt16, at p: UnsafeMutableRawPointer, _ off: Int) {
        p.storeBytes(of: UInt8(c >> 8), toByteOffset: off, as: UInt8.self)
        p.storeBytes(of: UInt8(c & 0xFF), toByteOffset: off + 1, as: UInt8.self)
    }
}

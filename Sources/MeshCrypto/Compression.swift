import CCompression

/// tinc's per-packet compression, chosen by the receiver in ANS_KEY:
/// 0 none, 1-9 zlib `compress2` at that level (zlib/RFC 1950 format), 10 LZO lzo1x_1, 11 LZO lzo1x_999.
/// Decompression uses only bounds-checked decoders (inflate, lzo1x_decompress_safe).
/// The pointer API does not allocate per call (zlib/LZO state is cached per thread).
public enum PacketCompression {
    public static let levels = 0...11

    /// Worst-case output size for `inputLength` bytes, nil for an unknown level. LZO needs the
    /// whole bound as output capacity because its compressors do not check the output size.
    public static func maxCompressedSize(level: Int, inputLength: Int) -> Int? {
        guard levels.contains(level), inputLength >= 0 else { return nil }
        let b = ccz_bound(Int32(level), inputLength)
        return b < 0 ? nil : b
    }

    /// nil when the level is unknown or `output` is too small. The result may be larger than the
    /// input; tinc sends it anyway.
    public static func compress(level: Int, _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard levels.contains(level) else { return nil }
        let r = ccz_compress(Int32(level), input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                             output.baseAddress?.assumingMemoryBound(to: UInt8.self), output.count)
        return r < 0 ? nil : r
    }

    /// nil for an unknown level, corrupt or truncated input, or output that would not fit.
    public static func decompress(level: Int, _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard levels.contains(level) else { return nil }
        guard let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return level == 0 && input.isEmpty ? 0 : nil
        }
        let r = ccz_decompress(Int32(level), input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                               out, output.count)
        return r < 0 ? nil : r
    }

    public static func compress(level: Int, _ bytes: [UInt8]) -> [UInt8]? {
        guard let bound = maxCompressedSize(level: level, inputLength: bytes.count) else { return nil }
        var out = [UInt8](repeating: 0, count: max(bound, 1))
        let n = out.withUnsafeMutableBytes { o in bytes.withUnsafeBytes { compress(level: level, $0, into: o) } }
        guard let n else { return nil }
        out.removeSubrange(n...)
        return out
    }

    public static func decompress(level: Int, _ bytes: [UInt8], maxSize: Int) -> [UInt8]? {
        guard maxSize >= 0 else { return nil }
        var out = [UInt8](repeating: 0, count: max(maxSize, 1))
        let n = out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { decompress(level: level, $0, into: UnsafeMutableRawBufferPointer(rebasing: o.prefix(maxSize))) }
        }
        guard let n else { return nil }
        out.removeSubrange(n...)
        return out
    }
}

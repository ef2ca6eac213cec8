import COpenSSL

/// Key material, METAKEY/CHALLENGE bytes and nonces all come from OpenSSL's CSPRNG.
/// A failing CSPRNG leaves no safe way to continue, so it traps instead of returning weak bytes.
public enum SecureRandom {
    public static func bytes(_ n: Int) -> [UInt8] {
        precondition(n >= 0)
        var out = [UInt8](repeating: 0, count: n)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }

    public static func fill(_ buf: UnsafeMutableRawBufferPointer) {
        guard var p = buf.baseAddress else { return }
        var left = buf.count
        while left > 0 {
            let chunk = min(left, Int(Int32.max))
            guard RAND_bytes(p.assumingMemoryBound(to: UInt8.self), Int32(chunk)) == 1 else {
                fatalError("\(CryptoError.openSSL("RAND_bytes failed"))")
            }
            p += chunk
            left -= chunk
        }
    }

    public static func uint32() -> UInt32 {
        var v: UInt32 = 0
        withUnsafeMutableBytes(of: &v) { fill($0) }
        return v
    }
}

import COpenSSL

/// HMAC with the key absorbed once: each MAC only copies the pre-hashed inner/outer pad states,
/// which measured faster than re-initialising an EVP_MAC or HMAC_CTX (see COpenSSL.h).
/// Not safe for concurrent use: one instance per thread/direction.
public final class HMAC: @unchecked Sendable {
    private let ctx: OpaquePointer  // cos_hmac*
    public let digest: DigestSuite
    /// Full (untruncated) MAC size in bytes.
    public var size: Int { digest.size }

    public init(digest: DigestSuite, key: [UInt8]) throws {
        guard !digest.isNone else { throw CryptoError("HMAC needs a digest, not none") }
        let p = key.withUnsafeBufferPointer { cos_hmac_new(Int32(digest.nid), $0.baseAddress, $0.count) }
        guard let p else { throw CryptoError.openSSL("cannot key HMAC-\(digest.name)") }
        self.ctx = p
        self.digest = digest
    }

    deinit {
        cos_hmac_free(ctx)
    }

    /// Writes the full MAC into `out` (needs EVP_MAX_MD_SIZE = 64 bytes)
    /// and returns its length, 0 on an OpenSSL failure. No allocation.
    @inline(__always)
    func compute(_ data: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Int {
        Int(cos_hmac_compute(ctx, data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, out))
    }

    public func authenticate(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        let n = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBytes { compute($0, into: o.baseAddress!) }
        }
        precondition(n == size, "\(CryptoError.openSSL("HMAC-\(digest.name) failed"))")
        return Array(out.prefix(n))
    }

    public static func authenticate(digest: DigestSuite, key: [UInt8], _ data: [UInt8]) throws -> [UInt8] {
        try HMAC(digest: digest, key: key).authenticate(data)
    }
}

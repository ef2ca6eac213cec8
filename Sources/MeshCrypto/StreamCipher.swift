import COpenSSL

/// One direction of a tinc meta connection: a single CFB (or other stream-mode) keystream for
/// the whole life of the connection. Never reset, never padded, so chunk boundaries do not
/// matter. Not safe for concurrent use.
public final class StreamCipher: @unchecked Sendable {
    private let ctx: OpaquePointer  // EVP_CIPHER_CTX*
    public let suite: CipherSuite
    public let encrypting: Bool

    public init(suite: CipherSuite, key: [UInt8], iv: [UInt8], encrypt: Bool) throws {
        guard !suite.isNone else { throw CryptoError("meta cipher must not be none") }
        // A block mode would buffer partial blocks and break the byte-for-byte stream; AEAD, XTS
        // and key-wrap ciphers fail or misbehave on arbitrary chunks. Refuse them before keying.
        guard suite.isUsableForMetaStream else { throw CryptoError(suite.unusableReason) }
        let p = key.withUnsafeBufferPointer { k in
            iv.withUnsafeBufferPointer { i in
                cos_cipher_ctx_new(Int32(suite.nid), k.baseAddress, k.count, i.baseAddress, i.count, encrypt ? 1 : 0, 0)
            }
        }
        guard let p else { throw CryptoError.openSSL("cannot set up \(suite.name) meta stream") }
        self.ctx = p
        self.suite = suite
        self.encrypting = encrypt
    }

    deinit {
        EVP_CIPHER_CTX_free(ctx)
    }

    /// En/decrypts in place; the stream position carries over to the next call. Throws when
    /// OpenSSL fails or returns a different number of bytes: the stream is then out of step and
    /// the connection must be closed (never trap: the cipher number came from the network).
    public func process(_ buf: UnsafeMutableRawBufferPointer) throws {
        guard var p = buf.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var left = buf.count
        while left > 0 {
            let chunk = min(left, 1 << 30)
            var outLen: Int32 = 0
            let ok = EVP_CipherUpdate(ctx, p, &outLen, p, Int32(chunk))
            guard ok == 1, Int(outLen) == chunk else {
                throw CryptoError.openSSL("\(suite.name) meta stream failed (\(chunk) bytes in, \(outLen) out)")
            }
            p += chunk
            left -= chunk
        }
    }

    public func process(_ bytes: [UInt8]) throws -> [UInt8] {
        var out = bytes
        try out.withUnsafeMutableBytes { try process($0) }
        return out
    }
}

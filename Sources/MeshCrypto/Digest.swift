import COpenSSL

/// A message digest named by `Digest = <name>` or by NID on the wire; `none` (NID 0) means no MAC.
/// Extendable-output functions (SHAKE) are rejected: tinc needs a fixed size.
public struct DigestSuite: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let nid: Int
    /// Lowercase OpenSSL short name ("sha256", "sha1", "none").
    public let name: String
    /// Output size in bytes (0 for none).
    public let size: Int

    public var isNone: Bool { nid == 0 }
    public var description: String { name }

    public static let none = DigestSuite(nid: 0, name: "none", size: 0)
    /// tinc's default data digest and the fixed meta (CHALLENGE) digest of 1.0.36.
    public static let sha256 = DigestSuite(nid: 672)!

    private init(nid: Int, name: String, size: Int) {
        self.nid = nid
        self.name = name
        self.size = size
    }

    public init?(name: String) {
        if name.lowercased() == "none" {
            self = .none
            return
        }
        ensureOpenSSLProviders()
        let nid = Int(cos_digest_nid_by_name(name))
        guard nid != 0 else { return nil }
        self.init(nid: nid)
    }

    public init?(nid: Int) {
        if nid == 0 {
            self = .none
            return
        }
        guard nid > 0, nid <= Int(Int32.max) else { return nil }
        ensureOpenSSLProviders()
        var size: Int32 = 0
        var buf = [CChar](repeating: 0, count: 64)
        guard cos_digest_info(Int32(nid), &size, &buf, buf.count) == 1, size > 0 else { return nil }
        self.init(nid: nid, name: buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, size: Int(size))
    }
}

public enum Digest {
    /// Plain hash, as used for CHAL_REPLY. `none` yields an empty array.
    public static func hash(_ suite: DigestSuite, _ bytes: [UInt8]) -> [UInt8] {
        if suite.isNone { return [] }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        let n = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                cos_digest(Int32(suite.nid), i.baseAddress, i.count, o.baseAddress)
            }
        }
        // A suite only exists for a digest OpenSSL could fetch, so this cannot fail short of OOM.
        precondition(n == suite.size, "\(CryptoError.openSSL("digest \(suite.name) failed"))")
        return Array(out.prefix(Int(n)))
    }
}

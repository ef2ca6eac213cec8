import COpenSSL

/// An OpenSSL cipher as tinc names it: by `Cipher = <name>` in config, by NID on the wire
/// (METAKEY, ANS_KEY). Only ciphers a loaded provider can actually run are constructible.
public struct CipherSuite: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// OpenSSL object number; 0 for `none`.
    public let nid: Int
    /// Lowercase OpenSSL short name ("aes-256-cbc", "bf-cbc", "none").
    public let name: String
    public let keyLength: Int
    public let ivLength: Int
    /// 1 for stream-like modes (CFB, OFB, CTR) and for `none`; >1 means PKCS#7 padding on packets.
    public let blockSize: Int

    public var isNone: Bool { nid == 0 }
    public var description: String { name }

    public static let none = CipherSuite(nid: 0, name: "none", keyLength: 0, ivLength: 0, blockSize: 1)

    /// tinc's default data cipher.
    public static let aes256cbc = CipherSuite(nid: 427)!

    private init(nid: Int, name: String, keyLength: Int, ivLength: Int, blockSize: Int) {
        self.nid = nid
        self.name = name
        self.keyLength = keyLength
        self.ivLength = ivLength
        self.blockSize = blockSize
    }

    /// Any OpenSSL name or alias ("aes-256-cbc", "AES256", "blowfish", "bf-cbc") or "none".
    public init?(name: String) {
        if name.lowercased() == "none" {
            self = .none
            return
        }
        ensureOpenSSLProviders()
        let nid = Int(cos_cipher_nid_by_name(name))
        guard nid != 0 else { return nil }
        self.init(nid: nid)
    }

    /// From a wire NID; 0 is `none`. nil for unknown or unavailable NIDs.
    public init?(nid: Int) {
        if nid == 0 {
            self = .none
            return
        }
        guard nid > 0, nid <= Int(Int32.max) else { return nil }
        ensureOpenSSLProviders()
        var k: Int32 = 0, iv: Int32 = 0, bs: Int32 = 0
        var buf = [CChar](repeating: 0, count: 64)
        guard cos_cipher_info(Int32(nid), &k, &iv, &bs, &buf, buf.count) == 1 else { return nil }
        self.init(nid: nid, name: String(cString: buf), keyLength: Int(k), ivLength: Int(iv), blockSize: Int(bs))
    }

    /// The meta-connection cipher tinc 1.0.36 announces in METAKEY: AES-CFB sized by the node's
    /// own data cipher key length (`none`, key length 0, gives aes-128-cfb).
    public static func metaCipher(forDataKeyLength keyLength: Int) -> CipherSuite {
        let nid: Int
        if keyLength <= 16 {
            nid = 421  // aes-128-cfb
        } else if keyLength <= 24 {
            nid = 425  // aes-192-cfb
        } else {
            nid = 429  // aes-256-cfb
        }
        guard let suite = CipherSuite(nid: nid) else {
            fatalError("OpenSSL lacks AES-CFB (NID \(nid)); the default provider is not loaded")
        }
        return suite
    }
}

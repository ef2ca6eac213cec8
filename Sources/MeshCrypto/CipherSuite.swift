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
    /// How the cipher chains blocks, which decides where tinc can use it.
    public let mode: Mode

    /// OpenSSL's cipher modes, reduced to what matters for tinc's two uses.
    public enum Mode: Equatable, Hashable, Sendable, CustomStringConvertible {
        case none, stream, ecb, cbc, cfb, ofb, ctr
        /// GCM, CCM, OCB, SIV, ChaCha20-Poly1305 and any other cipher OpenSSL flags as AEAD: they
        /// need a tag and per-message nonce handling that tinc 1.0 never does.
        case aead
        /// XTS needs whole blocks and rejects short inputs; key wrap needs 8-byte multiples.
        case xts, wrap
        case other(Int)

        init(openSSL raw: Int32) {
            if raw < 0 { self = .other(Int(raw)); return }
            if raw & (1 << 30) != 0 { self = .aead; return }
            switch raw {
            case 0x0: self = .stream
            case 0x1: self = .ecb
            case 0x2: self = .cbc
            case 0x3: self = .cfb
            case 0x4: self = .ofb
            case 0x5: self = .ctr
            case 0x6, 0x7, 0x10003, 0x10004: self = .aead
            case 0x10001: self = .xts
            case 0x10002: self = .wrap
            default: self = .other(Int(raw))
            }
        }

        public var description: String {
            switch self {
            case .none: return "none"
            case .stream: return "stream"
            case .ecb: return "ECB"
            case .cbc: return "CBC"
            case .cfb: return "CFB"
            case .ofb: return "OFB"
            case .ctr: return "CTR"
            case .aead: return "AEAD"
            case .xts: return "XTS"
            case .wrap: return "key wrap"
            case .other(let m): return "mode \(m)"
            }
        }
    }

    /// Whether tinc's meta connection can run on this cipher: one keystream for the whole
    /// connection, en/decrypted byte by byte in chunks of any size (CFB, OFB, CTR, stream ciphers).
    public var isUsableForMetaStream: Bool {
        guard blockSize == 1 else { return false }
        switch mode {
        case .cfb, .ofb, .ctr, .stream: return true
        default: return false
        }
    }

    /// Whether tinc 1.0's UDP packet protection can use this cipher: restarted from the fixed IV for
    /// every packet, PKCS#7 padding for block modes, no tag. `none` is allowed (tinc allows it).
    public var isUsableForPackets: Bool {
        switch mode {
        case .none, .stream, .ecb, .cbc, .cfb, .ofb, .ctr: return true
        default: return false
        }
    }

    /// Why `isUsableForPackets` or `isUsableForMetaStream` is false, for log lines.
    public var unusableReason: String {
        switch mode {
        case .aead: return "\(name) is an AEAD cipher, which tinc 1.0 cannot use"
        case .xts: return "\(name) is an XTS cipher, which tinc 1.0 cannot use"
        case .wrap: return "\(name) is a key-wrap cipher, which tinc 1.0 cannot use"
        case .other(let m): return "\(name) uses an unsupported cipher mode (\(m))"
        default: return "\(name) (\(mode)) is not a byte-stream mode; the meta connection needs CFB, OFB, CTR or a stream cipher"
        }
    }

    public var isNone: Bool { nid == 0 }
    public var description: String { name }

    public static let none = CipherSuite(nid: 0, name: "none", keyLength: 0, ivLength: 0, blockSize: 1, mode: .none)

    /// tinc's default data cipher.
    public static let aes256cbc = CipherSuite(nid: 427)!

    private init(nid: Int, name: String, keyLength: Int, ivLength: Int, blockSize: Int, mode: Mode) {
        self.nid = nid
        self.name = name
        self.keyLength = keyLength
        self.ivLength = ivLength
        self.blockSize = blockSize
        self.mode = mode
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
        self.init(nid: nid, name: buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, keyLength: Int(k), ivLength: Int(iv), blockSize: Int(bs),
                  mode: Mode(openSSL: cos_cipher_mode(Int32(nid))))
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

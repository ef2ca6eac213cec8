import COpenSSL

/// Which OpenSSL algorithms can protect tinc 1.0 UDP packets.
///
/// tinc 1.0 runs every packet through a plain EVP_Encrypt{Init,Update,Final} from the key's fixed
/// IV, with PKCS#7 padding for block modes, and authenticates it with a truncated HMAC. That works
/// for stream ciphers and the ECB, CBC, CFB, OFB and CTR modes. It does not work for AEAD modes
/// (GCM, CCM, OCB, SIV, ChaCha20-Poly1305 and the stitched TLS ciphers: the tag is never set, so
/// decryption fails), XTS (needs at least one block, refuses equal key halves), key wrap (needs a
/// context flag and multiples of 8 bytes) or ciphertext stealing (no padding, minimum length). A key
/// for such a cipher is refused up front instead of failing per packet.
extension CipherSuite {
    /// The OpenSSL mode of this cipher (`EVP_CIPH_*_MODE`), -1 if it cannot be fetched; 0 for `none`
    /// and stream ciphers.
    public var openSSLMode: Int {
        guard let flags = Self.openSSLFlags(nid: nid) else { return -1 }
        return Int(flags & UInt(EVP_CIPH_MODE))
    }

    /// Why this cipher cannot be used for tinc 1.0 packets, or nil when it can.
    public var packetUnsuitability: String? {
        if isNone { return nil }
        guard let flags = Self.openSSLFlags(nid: nid) else { return "\(name) (NID \(nid)) is not available" }
        if keyLength <= 0 { return "\(name) (NID \(nid)) takes no key (use Cipher = none)" }
        if flags & UInt(EVP_CIPH_FLAG_AEAD_CIPHER) != 0 { return "\(name) (NID \(nid)) is an AEAD cipher" }
        if flags & UInt(EVP_CIPH_FLAG_CTS) != 0 { return "\(name) (NID \(nid)) uses ciphertext stealing" }
        switch Int32(truncatingIfNeeded: flags & UInt(EVP_CIPH_MODE)) {
        case EVP_CIPH_STREAM_CIPHER, EVP_CIPH_ECB_MODE, EVP_CIPH_CBC_MODE, EVP_CIPH_CFB_MODE,
             EVP_CIPH_OFB_MODE, EVP_CIPH_CTR_MODE:
            return nil
        case EVP_CIPH_GCM_MODE: return "\(name) (NID \(nid)) is a GCM (AEAD) mode"
        case EVP_CIPH_CCM_MODE: return "\(name) (NID \(nid)) is a CCM (AEAD) mode"
        case EVP_CIPH_XTS_MODE: return "\(name) (NID \(nid)) is an XTS mode"
        case EVP_CIPH_WRAP_MODE: return "\(name) (NID \(nid)) is a key-wrap mode"
        case EVP_CIPH_OCB_MODE: return "\(name) (NID \(nid)) is an OCB (AEAD) mode"
        case EVP_CIPH_SIV_MODE: return "\(name) (NID \(nid)) is a SIV (AEAD) mode"
        case let m: return "\(name) (NID \(nid)) has an unsupported mode 0x\(String(m, radix: 16))"
        }
    }

    /// True when tinc 1.0 can use this cipher for UDP packets (stream ciphers, ECB, CBC, CFB, OFB,
    /// CTR; `none`). ANS_KEY keys for anything else are refused.
    public var isUsableForPackets: Bool { packetUnsuitability == nil }

    /// EVP_CIPHER flags of the cipher a loaded provider has for `nid`, nil if none.
    static func openSSLFlags(nid: Int) -> UInt? {
        guard nid > 0, nid <= Int(Int32.max) else { return nil }
        ensureOpenSSLProviders()
        guard let sn = OBJ_nid2sn(Int32(nid)), let c = EVP_CIPHER_fetch(nil, sn, nil) else {
            ERR_clear_error()
            return nil
        }
        defer { EVP_CIPHER_free(c) }
        return UInt(EVP_CIPHER_get_flags(c))
    }
}

extension DigestSuite {
    /// Why this digest cannot authenticate tinc 1.0 packets, or nil when it can. `DigestSuite`
    /// already refuses extendable-output functions (SHAKE, KMAC); this also checks that HMAC can be
    /// keyed with it.
    public var packetUnsuitability: String? {
        if isNone { return nil }
        guard size > 0 else { return "\(name) (NID \(nid)) has no fixed output size" }
        ensureOpenSSLProviders()
        if let sn = OBJ_nid2sn(Int32(truncatingIfNeeded: nid)), let md = EVP_MD_fetch(nil, sn, nil) {
            defer { EVP_MD_free(md) }
            if UInt(EVP_MD_get_flags(md)) & UInt(EVP_MD_FLAG_XOF) != 0 {
                return "\(name) (NID \(nid)) is an extendable-output function"
            }
        } else {
            ERR_clear_error()
            return "\(name) (NID \(nid)) is not available"
        }
        guard (try? HMAC(digest: self, key: [0])) != nil else { return "\(name) (NID \(nid)) cannot key an HMAC" }
        return nil
    }

    /// True when tinc 1.0 can use this digest for the packet HMAC (`none` means no MAC).
    public var isUsableForPackets: Bool { packetUnsuitability == nil }
}

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
    /// Why PacketCipher refuses this cipher, or nil when it can protect tinc 1.0 packets:
    /// `isUsableForPackets` (the mode: AEAD, XTS, key wrap are out) plus what a mode alone does not
    /// show: ciphertext stealing (CBC-CTS has no padding and a minimum length) and ciphers without a
    /// key (use `Cipher = none`). The text names the cipher and its NID, for log lines.
    public var packetUnsuitability: String? {
        if isNone { return nil }
        guard isUsableForPackets else { return "\(unusableReason) (NID \(nid))" }
        if keyLength <= 0 { return "\(name) (NID \(nid)) takes no key (use Cipher = none)" }
        guard let flags = Self.openSSLFlags(nid: nid) else { return "\(name) (NID \(nid)) is not available" }
        if flags & UInt(EVP_CIPH_FLAG_CTS) != 0 { return "\(name) (NID \(nid)) uses ciphertext stealing" }
        return nil
    }

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

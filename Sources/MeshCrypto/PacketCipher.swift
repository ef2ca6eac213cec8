import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// tinc 1.0 UDP packet protection for one key (one peer, one direction):
///
///     sealed = E(plaintext) || HMAC(key material, E(plaintext))[0..<macLength]
///
/// - E restarts from the fixed IV of the key material for every packet (tinc does this; the
///   sequence number in the first block is what makes packets differ). Block modes use PKCS#7.
/// - The MAC key is the whole key material (key || IV); no MAC if digest is none or macLength 0.
/// - `none` cipher copies the bytes.
///
/// The pointer API never allocates. Not safe for concurrent use: give each thread its own object.
/// Seal and open may run in place (output base == input base); partial overlap is not allowed.
public final class PacketCipher: @unchecked Sendable {
    public enum OpenFailure: Error, Equatable, Sendable {
        /// Shorter than the MAC plus the smallest possible ciphertext.
        case tooShort
        /// HMAC mismatch (compared in constant time).
        case badMAC
        /// Ciphertext not a whole number of blocks, or invalid PKCS#7 padding.
        case badPadding
        /// The output buffer cannot hold the decrypted bytes (an oversized datagram).
        case outputTooSmall
    }

    public let cipher: CipherSuite
    public let digest: DigestSuite
    /// Effective MAC length: 0 when the digest is none, whatever was requested.
    public let macLength: Int
    /// Most bytes `seal` adds: one block of padding for block modes plus the MAC.
    public let overhead: Int

    private let encCtx: OpaquePointer?  // EVP_CIPHER_CTX*, nil for none
    private let decCtx: OpaquePointer?
    private let iv: UnsafeMutablePointer<UInt8>?
    private let hmac: HMAC?
    private let macScratch: UnsafeMutablePointer<UInt8>
    private let minCiphertext: Int
    private let paddedBlock: Int  // 0 for stream modes and none
    /// A copy of the key material, so `duplicate()` can key more contexts (zeroed in deinit).
    private let material: UnsafeMutableBufferPointer<UInt8>

    /// `keyMaterial` is the ANS_KEY key: `cipher.keyLength` key bytes then `cipher.ivLength` IV bytes.
    /// With cipher `none` any length is accepted (tinc sends 1 byte); it still keys the HMAC.
    /// Ciphers and digests tinc 1.0 cannot use for packets (AEAD, XTS, key wrap, CTS, XOF; see
    /// `CipherSuite.isUsableForPackets`) are refused with a `CryptoError` naming them.
    public init(cipher: CipherSuite, digest: DigestSuite, macLength: Int, keyMaterial: [UInt8]) throws {
        guard macLength >= 0 else { throw CryptoError("negative MAC length \(macLength)") }
        if let why = cipher.packetUnsuitability { throw CryptoError("cipher refused for packets: \(why)") }
        if let why = digest.packetUnsuitability { throw CryptoError("digest refused for packets: \(why)") }
        if !digest.isNone, macLength > digest.size {
            throw CryptoError("MAC length \(macLength) exceeds \(digest.name) size \(digest.size)")
        }
        if !cipher.isNone, keyMaterial.count != cipher.keyLength + cipher.ivLength || cipher.keyLength <= 0 {
            throw CryptoError("key material is \(keyMaterial.count) bytes, \(cipher.name) needs \(cipher.keyLength + cipher.ivLength)")
        }
        ensureOpenSSLProviders()
        self.cipher = cipher
        self.digest = digest
        self.macLength = digest.isNone ? 0 : macLength
        self.paddedBlock = cipher.blockSize > 1 ? cipher.blockSize : 0
        self.minCiphertext = paddedBlock
        self.overhead = paddedBlock + self.macLength
        self.macScratch = .allocate(capacity: Int(EVP_MAX_MD_SIZE))

        if cipher.isNone {
            encCtx = nil
            decCtx = nil
            iv = nil
        } else {
            let ivBuf = UnsafeMutablePointer<UInt8>.allocate(capacity: max(cipher.ivLength, 1))
            keyMaterial.withUnsafeBufferPointer { km in
                ivBuf.initialize(from: km.baseAddress! + cipher.keyLength, count: cipher.ivLength)
            }
            iv = ivBuf
            // Two contexts because switching an AES context between directions needs a new key schedule.
            func make(_ enc: Bool) -> OpaquePointer? {
                keyMaterial.withUnsafeBufferPointer { km in
                    cos_cipher_ctx_new(Int32(cipher.nid), km.baseAddress, cipher.keyLength,
                                       km.baseAddress! + cipher.keyLength, cipher.ivLength, enc ? 1 : 0, 1)
                }
            }
            encCtx = make(true)
            decCtx = make(false)
        }
        if !cipher.isNone, encCtx == nil || decCtx == nil {
            let err = CryptoError.openSSL("cannot key \(cipher.name)")
            EVP_CIPHER_CTX_free(encCtx)
            EVP_CIPHER_CTX_free(decCtx)
            iv?.deallocate()
            macScratch.deallocate()
            throw err
        }
        // `seal` writes at most input + overhead bytes and `open` undoes it: true for the modes
        // tinc can use, false for some OpenSSL offers by number (key wrap with padding writes
        // up to 15 bytes more, XTS refuses short packets). Probe with a roomy scratch buffer so a
        // cipher chosen by a peer's ANS_KEY can never overrun the frame buffers later.
        if let enc = encCtx, let dec = decCtx, let ivp = iv {
            let ok = PacketCipher.probe(enc: enc, dec: dec, iv: ivp, blockSize: paddedBlock)
            if !ok {
                EVP_CIPHER_CTX_free(encCtx)
                EVP_CIPHER_CTX_free(decCtx)
                iv?.deallocate()
                macScratch.deallocate()
                ERR_clear_error()
                throw CryptoError("\(cipher.name) does not work as a tinc packet cipher (output longer than input plus padding, or no round trip)")
            }
        }
        if self.macLength > 0 {
            do {
                hmac = try HMAC(digest: digest, key: keyMaterial)
            } catch {
                EVP_CIPHER_CTX_free(encCtx)
                EVP_CIPHER_CTX_free(decCtx)
                iv?.deallocate()
                macScratch.deallocate()
                throw error
            }
        } else {
            hmac = nil
        }
        material = .allocate(capacity: keyMaterial.count)
        _ = material.initialize(from: keyMaterial)
    }

    /// A new object with the same key and the same algorithms: its own OpenSSL contexts, for another
    /// thread (several TX workers seal with one key, each with its own contexts and no lock).
    public func duplicate() throws -> PacketCipher {
        try PacketCipher(cipher: cipher, digest: digest, macLength: macLength, keyMaterial: Array(material))
    }

    deinit {
        EVP_CIPHER_CTX_free(encCtx)
        EVP_CIPHER_CTX_free(decCtx)
        if let iv {
            iv.update(repeating: 0, count: cipher.ivLength)
            iv.deallocate()
        }
        macScratch.deallocate()
        material.update(repeating: 0)
        material.deallocate()
    }

    /// Encrypts and MACs `input` into `output`, which must hold `input.count + overhead` bytes.
    /// Returns the sealed length, or 0 when the packet cannot be sealed (output too small, input
    /// over 2 GiB, an OpenSSL failure): the caller drops that packet. Never traps.
    public func seal(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        let n = input.count
        guard n <= Int(Int32.max) - 64, output.count >= n + overhead else { return 0 }
        guard let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        let inp = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var written: Int
        if let ctx = encCtx {
            written = crypt(ctx, inp, n, out)
            guard written >= 0 else {
                ERR_clear_error()
                return 0
            }
        } else {
            if n > 0, let inp, inp != out { memmove(out, inp, n) }
            written = n
        }
        if let hmac {
            guard hmac.compute(UnsafeRawBufferPointer(start: out, count: written), into: macScratch) > 0 else {
                ERR_clear_error()
                return 0
            }
            (out + written).update(from: macScratch, count: macLength)
            written += macLength
        }
        return written
    }

    /// Verifies and decrypts; nil on any failure. See `openResult` for the reason.
    public func open(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        if case .success(let n) = openResult(input, into: output) { return n }
        return nil
    }

    /// Verifies the MAC first (encrypt-then-MAC, as tinc), then decrypts. `output` needs
    /// `input.count - macLength` bytes. Never traps on hostile input.
    public func openResult(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Result<Int, OpenFailure> {
        let n = input.count
        guard n >= macLength + minCiphertext, let inp = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return n == 0 && macLength + minCiphertext == 0 ? .success(0) : .failure(.tooShort)
        }
        let ctLen = n - macLength
        if let hmac {
            guard hmac.compute(UnsafeRawBufferPointer(start: inp, count: ctLen), into: macScratch) > 0,
                  CRYPTO_memcmp(macScratch, inp + ctLen, macLength) == 0
            else {
                ERR_clear_error()
                return .failure(.badMAC)
            }
        }
        if paddedBlock > 0, ctLen % paddedBlock != 0 { return .failure(.badPadding) }
        guard ctLen <= Int(Int32.max) - 64 else { return .failure(.outputTooSmall) }
        guard output.count >= ctLen, let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return ctLen == 0 ? .success(0) : .failure(.outputTooSmall)
        }
        if let ctx = decCtx {
            let plainLen = crypt(ctx, inp, ctLen, out)
            guard plainLen >= 0 else {
                ERR_clear_error()  // hostile packets must not fill the thread's error queue
                return .failure(.badPadding)
            }
            return .success(plainLen)
        }
        if ctLen > 0, inp != out { memmove(out, inp, ctLen) }
        return .success(ctLen)
    }

    /// Restarts `ctx` from the key-material IV (key schedule kept) and runs one whole packet.
    /// Returns the output length, -1 on failure (bad padding when decrypting).
    @inline(__always)
    private func crypt(_ ctx: OpaquePointer, _ inp: UnsafePointer<UInt8>?, _ n: Int, _ out: UnsafeMutablePointer<UInt8>) -> Int {
        var l1: Int32 = 0
        var l2: Int32 = 0
        guard EVP_CipherInit_ex(ctx, nil, nil, nil, iv, -1) == 1,
              EVP_CipherUpdate(ctx, out, &l1, inp, Int32(n)) == 1,
              EVP_CipherFinal_ex(ctx, out + Int(l1), &l2) == 1
        else { return -1 }
        return Int(l1) + Int(l2)
    }

    /// Seals and opens probe packets of a few lengths (partial blocks included) in scratch space.
    private static func probe(enc: OpaquePointer, dec: OpaquePointer, iv: UnsafeMutablePointer<UInt8>, blockSize: Int) -> Bool {
        let room = 256
        let plain = UnsafeMutablePointer<UInt8>.allocate(capacity: room)
        let sealed = UnsafeMutablePointer<UInt8>.allocate(capacity: room)
        let opened = UnsafeMutablePointer<UInt8>.allocate(capacity: room)
        defer { plain.deallocate(); sealed.deallocate(); opened.deallocate() }
        for i in 0 ..< room { plain[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
        for n in [1, 3, 15, 16, 17, 64, 100] {
            var l1: Int32 = 0, l2: Int32 = 0
            guard EVP_CipherInit_ex(enc, nil, nil, nil, iv, -1) == 1,
                  EVP_CipherUpdate(enc, sealed, &l1, plain, Int32(n)) == 1,
                  EVP_CipherFinal_ex(enc, sealed + Int(l1), &l2) == 1 else { return false }
            let s = Int(l1) + Int(l2)
            guard s <= n + blockSize else { return false }
            var m1: Int32 = 0, m2: Int32 = 0
            guard EVP_CipherInit_ex(dec, nil, nil, nil, iv, -1) == 1,
                  EVP_CipherUpdate(dec, opened, &m1, sealed, Int32(s)) == 1,
                  EVP_CipherFinal_ex(dec, opened + Int(m1), &m2) == 1,
                  Int(m1) + Int(m2) == n, memcmp(opened, plain, n) == 0 else { return false }
        }
        return true
    }

    // MARK: - Array convenience (allocates; fine for tests and control paths)

    public func seal(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes.count + overhead)
        let n = out.withUnsafeMutableBytes { o in bytes.withUnsafeBytes { seal($0, into: o) } }
        out.removeSubrange(n...)
        return out   // empty when sealing failed
    }

    public func open(_ bytes: [UInt8]) -> [UInt8]? {
        try? openResult(bytes).get()
    }

    public func openResult(_ bytes: [UInt8]) -> Result<[UInt8], OpenFailure> {
        var out = [UInt8](repeating: 0, count: max(bytes.count, 1))
        let r = out.withUnsafeMutableBytes { o in bytes.withUnsafeBytes { openResult($0, into: o) } }
        return r.map { n in
            out.removeSubrange(n...)
            return out
        }
    }
}

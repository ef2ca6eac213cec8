import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An RSA key as tinc 1.0 uses it: PKCS#1 PEM files, the obsolete hex config forms, and raw
/// (unpadded) RSA for the METAKEY exchange.
///
/// Immutable after creation; the raw operations create their own OpenSSL context per call,
/// so one key may be used from several threads.
public final class RSAKey: @unchecked Sendable {
    let pkey: OpaquePointer  // EVP_PKEY*
    /// Modulus size in bytes (RSA_size), e.g. 256 for 2048 bits.
    public let size: Int
    public let isPrivate: Bool

    private init(taking pkey: OpaquePointer) {
        self.pkey = pkey
        self.size = Int(cos_rsa_size(pkey))
        self.isPrivate = cos_rsa_has_private(pkey) != 0
    }

    private static func wrap(_ p: OpaquePointer?, _ what: String) throws -> RSAKey {
        guard let p else { throw CryptoError.openSSL(what) }
        return RSAKey(taking: p)
    }

    deinit {
        cos_pkey_free(pkey)
    }

    /// A new key with e = 65537, as `tincd -K` makes.
    public static func generate(bits: Int) throws -> RSAKey {
        guard bits > 0, bits <= 16384 else { throw CryptoError("RSA key size \(bits) out of range") }
        return try wrap(cos_rsa_generate(Int32(bits)), "RSA key generation (\(bits) bits) failed")
    }

    /// PKCS#1 "RSA PRIVATE KEY" (what tinc writes) or PKCS#8 "PRIVATE KEY". Encrypted keys are
    /// rejected rather than prompting for a passphrase.
    public convenience init(privatePEM: String) throws {
        let p = privatePEM.withCString { cos_rsa_read_private_pem($0, strlen($0)) }
        guard let p else { throw CryptoError.openSSL("cannot read RSA private key PEM") }
        self.init(taking: p)
    }

    /// PKCS#1 "RSA PUBLIC KEY" first, then X.509 SubjectPublicKeyInfo "PUBLIC KEY", the order tinc
    /// tries them in. Lines outside the PEM block are ignored.
    public convenience init(publicPEM: String) throws {
        let p = publicPEM.withCString { cs -> OpaquePointer? in
            let n = strlen(cs)
            if let k = cos_rsa_read_public_pkcs1_pem(cs, n) { return k }
            ERR_clear_error()
            return cos_rsa_read_public_spki_pem(cs, n)
        }
        guard let p else { throw CryptoError.openSSL("cannot read RSA public key PEM") }
        self.init(taking: p)
    }

    /// Finds the key in arbitrary text such as a hosts/NAME file (config lines around the PEM
    /// block, possibly "BEGIN OLD RSA PUBLIC KEY" blocks left by `tincd -K`). Like tinc, every
    /// PKCS#1 block is tried before any SPKI block; a block that does not parse is skipped.
    public static func publicKey(inText text: String) throws -> RSAKey {
        let blocks = pemBlocks(in: text)
        for label in ["RSA PUBLIC KEY", "PUBLIC KEY"] {
            for block in blocks where block.label == label {
                if let key = try? RSAKey(publicPEM: block.text) { return key }
            }
        }
        throw CryptoError("no usable RSA public key PEM block found")
    }

    /// tinc's obsolete `PublicKey = <hex modulus>`; the exponent is fixed at 0xFFFF like tinc.
    public convenience init(publicModulusHex: String) throws {
        let n = try RSAKey.checkedHex(publicModulusHex, "modulus")
        guard let p = cos_rsa_from_hex(n, "FFFF", nil) else {
            throw CryptoError.openSSL("cannot build RSA public key from hex modulus")
        }
        self.init(taking: p)
    }

    /// tinc's obsolete `PrivateKey = <hex d>` together with `PublicKey = <hex n>`, e = 0xFFFF.
    /// No CRT factors are known, so private operations use d directly (slower but correct).
    public convenience init(modulusHex: String, privateExponentHex: String) throws {
        let n = try RSAKey.checkedHex(modulusHex, "modulus")
        let d = try RSAKey.checkedHex(privateExponentHex, "private exponent")
        guard let p = cos_rsa_from_hex(n, "FFFF", d) else {
            throw CryptoError.openSSL("cannot build RSA private key from hex")
        }
        self.init(taking: p)
    }

    /// PKCS#1 "-----BEGIN RSA PUBLIC KEY-----", the form tinc puts in hosts/NAME.
    public func publicPEM() -> String {
        (try? exportPublicPEM()) ?? ""
    }

    /// PKCS#1 "-----BEGIN RSA PRIVATE KEY-----" (rsa_key.priv). Empty for a public key or for a
    /// key without CRT factors (the obsolete hex form), which PKCS#1 cannot express;
    /// `exportPrivatePEM()` says why.
    public func privatePEM() -> String {
        (try? exportPrivatePEM()) ?? ""
    }

    public func exportPublicPEM() throws -> String {
        guard let s = cos_rsa_write_public_pkcs1_pem(pkey) else {
            throw CryptoError.openSSL("cannot write RSA public key PEM")
        }
        defer { cos_free(s) }
        return String(cString: s)
    }

    public func exportPrivatePEM() throws -> String {
        guard isPrivate else { throw CryptoError("not a private key") }
        guard let s = cos_rsa_write_private_pkcs1_pem(pkey) else {
            throw CryptoError.openSSL("cannot write RSA private key PEM")
        }
        defer {
            memset(s, 0, strlen(s))
            cos_free(s)
        }
        return String(cString: s)
    }

    /// c = m^e mod n without padding. `data` must be exactly `size` bytes and, read as a
    /// big-endian number, below the modulus. Output is exactly `size` bytes, left-padded.
    public func rawEncrypt(_ data: [UInt8]) throws -> [UInt8] {
        try raw(data, privateOp: false)
    }

    /// m = c^d mod n without padding (OpenSSL's blinding on). Output exactly `size` bytes.
    public func rawDecrypt(_ data: [UInt8]) throws -> [UInt8] {
        guard isPrivate else { throw CryptoError("raw RSA decrypt needs a private key") }
        return try raw(data, privateOp: true)
    }

    private func raw(_ data: [UInt8], privateOp: Bool) throws -> [UInt8] {
        guard data.count == size else {
            throw CryptoError("raw RSA input is \(data.count) bytes, modulus is \(size)")
        }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in
                cos_rsa_raw(pkey, privateOp ? 1 : 0, i.baseAddress, i.count, o.baseAddress, o.count)
            }
        }
        guard ok == 1 else {
            throw CryptoError.openSSL(privateOp ? "raw RSA decrypt failed" : "raw RSA encrypt failed")
        }
        return out
    }

    private static func checkedHex(_ s: String, _ what: String) throws -> String {
        let t = s.trimmingSpaces()
        guard !t.isEmpty, t.utf8.count <= 4096, t.utf8.allSatisfy({ Hex.value($0) != nil }) else {
            throw CryptoError("RSA \(what) is not a hexadecimal number")
        }
        return t
    }

    struct PEMBlock {
        let label: String
        let text: String
    }

    /// BEGIN/END-delimited blocks in order of appearance; labels must match between the lines.
    static func pemBlocks(in text: String) -> [PEMBlock] {
        var blocks: [PEMBlock] = []
        var current: (label: String, lines: [Substring])?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = Substring(String(rawLine).trimmingSpaces())
            if let label = pemLabel(line, marker: "BEGIN") {
                current = (label, [line])
            } else if var cur = current {
                cur.lines.append(line)
                if let end = pemLabel(line, marker: "END") {
                    if end == cur.label {
                        blocks.append(PEMBlock(label: cur.label, text: cur.lines.joined(separator: "\n") + "\n"))
                    }
                    current = nil
                } else {
                    current = cur
                }
            }
        }
        return blocks
    }

    private static func pemLabel(_ line: Substring, marker: String) -> String? {
        let prefix = "-----\(marker) "
        guard line.hasPrefix(prefix), line.hasSuffix("-----"), line.count > prefix.count + 5 else { return nil }
        return String(line.dropFirst(prefix.count).dropLast(5))
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}

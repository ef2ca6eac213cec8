import MeshCrypto
import XCTest

/// Which ciphers and digests PacketCipher accepts (issue 10: an ANS_KEY naming an AEAD/XTS/wrap
/// cipher must be refused with an error, never reach the per-packet path).
final class PacketSuitabilityTests: XCTestCase {
    func material(_ c: CipherSuite) -> [UInt8] { SecureRandom.bytes(c.isNone ? 1 : c.keyLength + c.ivLength) }

    func testRefusesModesTinc10CannotUseForPackets() throws {
        let refused = ["aes-128-gcm", "aes-256-gcm", "aes-128-ccm", "aes-128-xts", "aes-256-xts", "aes-128-ocb",
                       "id-aes128-wrap", "id-aes256-wrap-pad", "chacha20-poly1305", "aes-128-siv",
                       "aes-128-cbc-hmac-sha1", "aes-128-cbc-cts"]
        var checked = 0
        for name in refused {
            guard let c = CipherSuite(name: name) else { continue }  // not in this OpenSSL build
            checked += 1
            XCTAssertNotNil(c.packetUnsuitability, name)
            XCTAssertThrowsError(try PacketCipher(cipher: c, digest: .sha256, macLength: 4, keyMaterial: material(c)), name) { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains(c.name) && text.contains("NID \(c.nid)"), "error names the cipher: \(text)")
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 7, "the usual AEAD/XTS/wrap ciphers exist in OpenSSL 3")
        // The METAKEY attack of issue 10 used NID 913 (aes-128-xts).
        let xts = try XCTUnwrap(CipherSuite(nid: 913))
        XCTAssertNotNil(xts.packetUnsuitability)
    }

    func testAcceptsWhatTincUses() throws {
        for name in ["aes-256-cbc", "aes-128-cbc", "aes-256-cfb", "aes-128-ofb", "aes-192-ctr", "bf-cbc", "aes-128-ecb",
                     "aes-256-cfb8", "none"] {
            guard let c = CipherSuite(name: name) else { continue }
            XCTAssertNil(c.packetUnsuitability, name)
            XCTAssertNoThrow(try PacketCipher(cipher: c, digest: .sha256, macLength: 4, keyMaterial: material(c)), name)
        }
        for name in ["sha256", "sha1", "sha512", "md5", "sha3-256", "none"] {
            let d = try XCTUnwrap(DigestSuite(name: name), name)
            XCTAssertTrue(d.isUsableForPackets, "\(name): \(d.packetUnsuitability ?? "")")
        }
    }

    /// Every cipher OpenSSL offers by NID: the predicate is exactly "works the way tinc uses it".
    /// A usable cipher round-trips every packet length; an unusable one is refused by the initialiser.
    func testPredicateMatchesBehaviourForEveryCipherNID() throws {
        var usable = 0, refused = 0
        for nid in 1...2000 {
            guard let c = CipherSuite(nid: nid) else { continue }
            let km = material(c)
            guard c.packetUnsuitability == nil else {
                refused += 1
                XCTAssertThrowsError(try PacketCipher(cipher: c, digest: .sha256, macLength: 4, keyMaterial: km), c.name)
                continue
            }
            // Some stream ciphers (rc4-40 …) have variable key lengths; construction must still work.
            let tx = try PacketCipher(cipher: c, digest: .sha256, macLength: 4, keyMaterial: km)
            let rx = try PacketCipher(cipher: c, digest: .sha256, macLength: 4, keyMaterial: km)
            usable += 1
            for len in [4, 5, 15, 16, 17, 64, 1500, 1522] {
                let p = SecureRandom.bytes(len)
                let sealed = tx.seal(p)
                XCTAssertFalse(sealed.isEmpty, "\(c.name) seals \(len) bytes")
                XCTAssertEqual(rx.open(sealed), p, "\(c.name) len \(len)")
            }
        }
        XCTAssertGreaterThan(usable, 20)
        XCTAssertGreaterThan(refused, 5)
    }

    func testExtendableOutputDigestsAreNeverSuites() {
        for name in ["shake128", "shake256"] { XCTAssertNil(DigestSuite(name: name), name) }
        for nid in [1100, 1101] { XCTAssertNil(DigestSuite(nid: nid), "NID \(nid)") }
    }

    /// seal never traps: an output buffer that is too small gives 0 (the caller drops the packet).
    func testSealIntoTooSmallBufferFailsWithoutTrapping() throws {
        let c = try PacketCipher(cipher: .aes256cbc, digest: .sha256, macLength: 4, keyMaterial: material(.aes256cbc))
        let input = [UInt8](repeating: 7, count: 100)
        var out = [UInt8](repeating: 0, count: 100)   // needs 100 + 16 + 4
        let n = out.withUnsafeMutableBytes { o in input.withUnsafeBytes { c.seal($0, into: o) } }
        XCTAssertEqual(n, 0)
    }
}

import MeshCrypto
import XCTest

final class CipherSuiteTests: XCTestCase {
    func testCipherLookupByNameAndNID() throws {
        let aes = try XCTUnwrap(CipherSuite(name: "aes-256-cbc"))
        XCTAssertEqual(aes.nid, 427)
        XCTAssertEqual(aes.name, "aes-256-cbc")
        XCTAssertEqual([aes.keyLength, aes.ivLength, aes.blockSize], [32, 16, 16])
        XCTAssertEqual(CipherSuite(nid: 427), aes)
        XCTAssertEqual(CipherSuite.aes256cbc, aes)
        XCTAssertEqual(CipherSuite(name: "AES-256-CBC"), aes)

        let aes128 = try XCTUnwrap(CipherSuite(name: "aes-128-cbc"))
        XCTAssertEqual(aes128.nid, 419)
        XCTAssertEqual(aes128.keyLength, 16)

        // Blowfish needs the legacy provider; "blowfish" is OpenSSL's alias for bf-cbc.
        let bf = try XCTUnwrap(CipherSuite(name: "blowfish"))
        XCTAssertEqual(bf.nid, 91)
        XCTAssertEqual(bf.name, "bf-cbc")
        XCTAssertEqual([bf.keyLength, bf.ivLength, bf.blockSize], [16, 8, 8])
        XCTAssertEqual(CipherSuite(name: "bf-cbc"), bf)
        XCTAssertEqual(CipherSuite(nid: 91), bf)
        XCTAssertEqual(CipherSuite(nid: 94)?.name, "bf-ofb")

        for (nid, name, key) in [(421, "aes-128-cfb", 16), (425, "aes-192-cfb", 24), (429, "aes-256-cfb", 32)] {
            let c = try XCTUnwrap(CipherSuite(nid: nid))
            XCTAssertEqual(c.name, name)
            XCTAssertEqual(c.keyLength, key)
            XCTAssertEqual(c.ivLength, 16)
            XCTAssertEqual(c.blockSize, 1)
        }

        XCTAssertEqual(CipherSuite(name: "none"), CipherSuite.none)
        XCTAssertEqual(CipherSuite(nid: 0), CipherSuite.none)
        XCTAssertTrue(CipherSuite.none.isNone)
        XCTAssertEqual([CipherSuite.none.keyLength, CipherSuite.none.ivLength, CipherSuite.none.blockSize], [0, 0, 1])

        XCTAssertNil(CipherSuite(name: "no-such-cipher"))
        XCTAssertNil(CipherSuite(nid: 672))  // a digest NID
        XCTAssertNil(CipherSuite(nid: -1))
        XCTAssertNil(CipherSuite(nid: 999_999))
    }

    func testMetaCipherRule() {
        XCTAssertEqual(CipherSuite.metaCipher(forDataKeyLength: 32).nid, 429)  // default aes-256-cbc
        XCTAssertEqual(CipherSuite.metaCipher(forDataKeyLength: 24).nid, 425)
        XCTAssertEqual(CipherSuite.metaCipher(forDataKeyLength: 17).nid, 425)
        XCTAssertEqual(CipherSuite.metaCipher(forDataKeyLength: 16).nid, 421)  // aes-128-cbc, blowfish
        XCTAssertEqual(CipherSuite.metaCipher(forDataKeyLength: CipherSuite.none.keyLength).nid, 421)
        XCTAssertEqual(CipherSuite.metaCipher(forDataKeyLength: 64).nid, 429)
    }

    func testDigestLookupAndHash() throws {
        let sha256 = try XCTUnwrap(DigestSuite(name: "sha256"))
        XCTAssertEqual(sha256.nid, 672)
        XCTAssertEqual(sha256.size, 32)
        XCTAssertEqual(DigestSuite(nid: 672), sha256)
        XCTAssertEqual(DigestSuite.sha256, sha256)
        XCTAssertEqual(DigestSuite(name: "sha1")?.nid, 64)
        XCTAssertEqual(DigestSuite(nid: 64)?.size, 20)
        XCTAssertEqual(DigestSuite(nid: 673)?.name, "sha384")
        XCTAssertEqual(DigestSuite(nid: 674)?.size, 64)
        XCTAssertEqual(DigestSuite(name: "md5")?.nid, 4)
        XCTAssertEqual(DigestSuite(nid: 0), DigestSuite.none)
        XCTAssertEqual(DigestSuite.none.size, 0)
        XCTAssertNil(DigestSuite(name: "shake256"))  // no fixed size
        XCTAssertNil(DigestSuite(nid: 427))
        XCTAssertNil(DigestSuite(name: "bogus"))

        XCTAssertEqual(Hex.encode(Digest.hash(sha256, Array("abc".utf8))),
                       "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")
        XCTAssertEqual(Hex.encode(Digest.hash(DigestSuite(name: "sha1")!, Array("abc".utf8))),
                       "A9993E364706816ABA3E25717850C26C9CD0D89D")
        XCTAssertEqual(Digest.hash(sha256, []).count, 32)
        XCTAssertEqual(Digest.hash(.none, [1, 2]), [])
    }

    func testHMACAgainstRFC4231AndLongKeys() throws {
        // RFC 4231 test case 2 (key "Jefe") and case 6 (131-byte key, longer than the block).
        let jefe = try HMAC.authenticate(digest: .sha256, key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(Hex.encode(jefe), "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843")
        let longKey = [UInt8](repeating: 0xAA, count: 131)
        let msg = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        XCTAssertEqual(Hex.encode(try HMAC.authenticate(digest: .sha256, key: longKey, msg)),
                       "60E431591EE0B67F0D8A26AACBF5B77F8E0BC6213728C5140546040F0EE37F54")
        let sha512 = DigestSuite(name: "sha512")!
        XCTAssertEqual(Hex.encode(try HMAC.authenticate(digest: sha512, key: longKey, msg)),
                       "80B24263C7C1A3EBB71493C1DD7BE8B49B46D1F41B4AEEC1121B013783F8F3526B56D037E05F2598BD0FD2215D6A1E5295E64F73F63F0AEC8B915A985D786598")
        // The keyed template gives the same answer on every reuse.
        let h = try HMAC(digest: .sha256, key: Array("Jefe".utf8))
        for _ in 0..<3 { XCTAssertEqual(h.authenticate(Array("what do ya want for nothing?".utf8)), jefe) }
        XCTAssertThrowsError(try HMAC(digest: .none, key: [1]))
    }

    func testHexAndRandom() {
        XCTAssertEqual(Hex.encode([0x00, 0xAB, 0x0F, 0xFF]), "00AB0FFF")
        XCTAssertEqual(Hex.decode("00ab0FfF"), [0x00, 0xAB, 0x0F, 0xFF])
        XCTAssertEqual(Hex.decode("00ab0FfF".dropFirst(2)), [0xAB, 0x0F, 0xFF])
        XCTAssertEqual(Hex.decode(""), [])
        XCTAssertNil(Hex.decode("ABC"))
        XCTAssertNil(Hex.decode("0G"))
        XCTAssertNil(Hex.decode("0 "))
        let r = SecureRandom.bytes(4096)
        XCTAssertEqual(Hex.decode(Hex.encode(r)), r)
        XCTAssertNotEqual(SecureRandom.bytes(32), SecureRandom.bytes(32))
        XCTAssertEqual(SecureRandom.bytes(0), [])
        XCTAssertGreaterThan(Set((0..<8).map { _ in SecureRandom.uint32() }).count, 1)
    }
}

import Foundation
import MeshCrypto
import XCTest

final class StreamCipherTests: XCTestCase {
    func testChunkedEqualsOneShotAndDecrypts() throws {
        for nid in [421, 425, 429] {
            let suite = try XCTUnwrap(CipherSuite(nid: nid))
            let key = SecureRandom.bytes(suite.keyLength), iv = SecureRandom.bytes(suite.ivLength)
            let plain = SecureRandom.bytes(10_000)
            let oneShot = try StreamCipher(suite: suite, key: key, iv: iv, encrypt: true).process(plain)
            XCTAssertNotEqual(oneShot, plain)

            // Same stream fed in random chunk sizes (including empty chunks), in place.
            let enc = try StreamCipher(suite: suite, key: key, iv: iv, encrypt: true)
            var buf = plain
            var pos = 0
            try buf.withUnsafeMutableBytes { all in
                while pos < all.count {
                    let n = min(Int.random(in: 0...97), all.count - pos)
                    try enc.process(UnsafeMutableRawBufferPointer(rebasing: all[pos..<pos + n]))
                    pos += n
                }
            }
            XCTAssertEqual(buf, oneShot)

            // Decrypting in other random chunks recovers the plaintext.
            let dec = try StreamCipher(suite: suite, key: key, iv: iv, encrypt: false)
            var out: [UInt8] = []
            var i = 0
            while i < oneShot.count {
                let n = min(Int.random(in: 1...300), oneShot.count - i)
                out += try dec.process(Array(oneShot[i..<i + n]))
                i += n
            }
            XCTAssertEqual(out, plain)
        }
    }

    func testMatchesOpenSSLCLI() throws {
        try requireOpenSSLCLI()
        let suite = CipherSuite.metaCipher(forDataKeyLength: 32)
        XCTAssertEqual(suite.name, "aes-256-cfb")
        let key = pattern(32, seed: 1), iv = pattern(16, seed: 2)
        let plain = Array("0 alpha 17\n1 429 672 0 0 ABCDEF\n".utf8) + pattern(1000, seed: 3)
        let theirs = try openssl(["enc", "-aes-256-cfb", "-K", hexLower(key), "-iv", hexLower(iv), "-nopad"], stdin: plain).bytes
        let s = try StreamCipher(suite: suite, key: key, iv: iv, encrypt: true)
        var ours: [UInt8] = []
        for chunk in stride(from: 0, to: plain.count, by: 7) {
            ours += try s.process(Array(plain[chunk..<min(chunk + 7, plain.count)]))
        }
        XCTAssertEqual(ours, theirs)

        let key128 = pattern(16, seed: 9)
        let theirs128 = try openssl(["enc", "-aes-128-cfb", "-K", hexLower(key128), "-iv", hexLower(iv), "-nopad"], stdin: plain).bytes
        XCTAssertEqual(try StreamCipher(suite: CipherSuite(nid: 421)!, key: key128, iv: iv, encrypt: true).process(plain), theirs128)
    }

    func testRejectsBlockModesNoneAndBadKeys() throws {
        let cbc = CipherSuite.aes256cbc
        XCTAssertThrowsError(try StreamCipher(suite: cbc, key: pattern(32), iv: pattern(16), encrypt: true))
        XCTAssertThrowsError(try StreamCipher(suite: .none, key: [], iv: [], encrypt: true))
        let cfb = CipherSuite(nid: 429)!
        XCTAssertThrowsError(try StreamCipher(suite: cfb, key: pattern(31), iv: pattern(16), encrypt: true)) { err in
            XCTAssertTrue("\(err)".contains("key"), "\(err)")
        }
        XCTAssertThrowsError(try StreamCipher(suite: cfb, key: pattern(32), iv: pattern(8), encrypt: true))
        // Legacy bf-ofb (tinc <= 1.0.29 meta cipher) works as a stream too.
        let ofb = try XCTUnwrap(CipherSuite(nid: 94))
        let s = try StreamCipher(suite: ofb, key: pattern(16), iv: pattern(8), encrypt: true)
        let d = try StreamCipher(suite: ofb, key: pattern(16), iv: pattern(8), encrypt: false)
        let p = pattern(333)
        XCTAssertEqual(try d.process(s.process(p)), p)
    }

    /// The METAKEY attack of issue 10: a peer picks AES-128-XTS (NID 913) for the meta stream.
    /// XTS has block size 1 but fails on short inputs, which used to trap in `process`.
    func testRefusesCiphersThatAreNotByteStreams() throws {
        var refused: [String] = []
        for name in ["aes-128-xts", "aes-256-xts", "aes-128-gcm", "aes-256-gcm", "aes-128-ccm", "aes-128-ocb",
                     "chacha20-poly1305", "id-aes128-wrap", "aes-128-cbc", "aes-128-ecb"] {
            guard let suite = CipherSuite(name: name) else { continue }
            XCTAssertFalse(suite.isUsableForMetaStream, name)
            let material = pattern(suite.keyLength + suite.ivLength)
            XCTAssertThrowsError(try StreamCipher(suite: suite, key: Array(material[..<suite.keyLength]),
                                                  iv: Array(material[suite.keyLength...]), encrypt: false), name) { err in
                XCTAssertTrue("\(err)".contains(suite.name), "\(err)")
            }
            refused.append(name)
        }
        XCTAssertTrue(refused.contains("aes-128-xts") && refused.contains("aes-128-gcm"), "\(refused)")
        XCTAssertEqual(CipherSuite(nid: 913)?.mode, .xts)
        for name in ["aes-128-cfb", "aes-256-cfb8", "aes-128-ofb", "aes-128-ctr", "chacha20"] {
            let suite = try XCTUnwrap(CipherSuite(name: name), name)
            XCTAssertTrue(suite.isUsableForMetaStream, name)
        }
    }

    func testPacketUsabilityByMode() throws {
        for name in ["aes-256-cbc", "aes-128-ecb", "aes-128-cfb", "aes-128-ofb", "aes-128-ctr", "chacha20", "none"] {
            XCTAssertTrue(try XCTUnwrap(CipherSuite(name: name), name).isUsableForPackets, name)
        }
        for name in ["aes-128-xts", "aes-128-gcm", "aes-128-ccm", "aes-128-ocb", "chacha20-poly1305", "id-aes128-wrap"] {
            guard let suite = CipherSuite(name: name) else { continue }
            XCTAssertFalse(suite.isUsableForPackets, name)
            XCTAssertFalse(suite.unusableReason.isEmpty)
        }
    }
}

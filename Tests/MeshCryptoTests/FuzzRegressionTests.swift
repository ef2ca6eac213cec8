import CCompression
import Foundation
import MeshCrypto
import XCTest

/// Inputs the libFuzzer targets (Fuzz/, docs/FUZZING.md) found; each failed before its fix.
final class FuzzRegressionTests: XCTestCase {
    /// fuzz target packet-open: AES key wrap with padding (a NID any ANS_KEY can name) wrote up to
    /// 15 bytes past the `input + overhead` output buffer in `seal` (heap overflow under ASan).
    func testKeyWrapWithPaddingIsRefusedAsPacketCipher() throws {
        for name in ["id-aes128-wrap-pad", "id-aes192-wrap-pad", "id-aes256-wrap-pad", "id-aes128-wrap"] {
            guard let c = CipherSuite(name: name) else { continue }
            let km = [UInt8](repeating: 0x5A, count: c.keyLength + c.ivLength)
            XCTAssertThrowsError(try PacketCipher(cipher: c, digest: .none, macLength: 0, keyMaterial: km), name)
        }
    }

    /// Every cipher number a peer can send: whatever PacketCipher accepts seals within
    /// `input + overhead` (checked with a canary behind the buffer) and opens back.
    func testEveryAcceptedPacketCipherStaysWithinItsOverhead() throws {
        var accepted = 0
        for nid in 1 ..< 1400 {
            guard let c = CipherSuite(nid: nid) else { continue }
            let km = [UInt8](repeating: 0x33, count: c.keyLength + c.ivLength)
            guard let pc = try? PacketCipher(cipher: c, digest: .none, macLength: 0, keyMaterial: km) else { continue }
            accepted += 1
            for n in [1, 7, 16, 33, 100] {
                let input = [UInt8](repeating: 0xA5, count: n)
                var out = [UInt8](repeating: 0xEE, count: n + pc.overhead + 64)
                let k = out.withUnsafeMutableBytes { o in input.withUnsafeBytes { pc.seal($0, into: o) } }
                XCTAssertTrue(out[(n + pc.overhead)...].allSatisfy { $0 == 0xEE }, "\(c.name) wrote past input + overhead for \(n) bytes")
                XCTAssertLessThanOrEqual(k, n + pc.overhead, c.name)
                XCTAssertEqual(pc.open(Array(out[0 ..< k])), input, "\(c.name) round trip, \(n) bytes")
            }
        }
        XCTAssertGreaterThan(accepted, 10)
    }

    /// fuzz target ccompression (UBSan): level 0 passed a NULL pointer to memmove for empty
    /// buffers, and a NULL input with a nonzero length was dereferenced.
    func testCompressionShimRefusesNullBuffers() {
        var out = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ccz_decompress(0, nil, 5, $0.baseAddress, 16) }, -1)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ccz_compress(0, nil, 5, $0.baseAddress, 16) }, -1)
        XCTAssertEqual([UInt8](repeating: 1, count: 4).withUnsafeBufferPointer { ccz_decompress(0, $0.baseAddress, 4, nil, 8) }, -1)
        XCTAssertEqual(ccz_decompress(0, nil, 0, nil, 0), 0)
        XCTAssertEqual(ccz_compress(0, nil, 0, nil, 0), 0)
        XCTAssertEqual(out.withUnsafeMutableBufferPointer { ccz_decompress(10, nil, 0, $0.baseAddress, 16) }, -1)
        XCTAssertEqual(PacketCompression.compress(level: 0, []), [])
        XCTAssertEqual(PacketCompression.decompress(level: 0, [], maxSize: 0), [])
    }
}

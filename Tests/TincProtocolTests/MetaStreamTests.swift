import XCTest
import MeshCrypto
@testable import TincProtocol

final class MetaStreamTests: XCTestCase {
    func testLinesAndPacketsAcrossArbitraryChunks() throws {
        let wire = Array("0 alpha 17\n8\n17 5\n".utf8) + [1, 2, 10, 4, 5] + Array("9\n".utf8)
        for chunk in [1, 2, 3, 7, wire.count] {
            let inb = MetaInbound()
            var items: [MetaInbound.Item] = []
            var i = 0
            while i < wire.count {
                inb.append(Array(wire[i..<min(wire.count, i + chunk)]))
                i += chunk
                while let it = try inb.next() {
                    items.append(it)
                    if case .line("17 5") = it { inb.expectPacket(length: 5) }
                }
            }
            XCTAssertEqual(items, [.line("0 alpha 17"), .line("8"), .line("17 5"), .packet([1, 2, 10, 4, 5]), .line("9")], "chunk \(chunk)")
        }
    }

    func testOverflowOnEndlessLine() {
        let inb = MetaInbound()
        inb.append([UInt8](repeating: 0x41, count: MetaInbound.maxLine + 1))
        XCTAssertThrowsError(try inb.next())
    }

    /// Bytes after the METAKEY line that arrived in the same read must be decrypted once the key is known.
    func testDecryptionStartsRightAfterMetaKeyLine() throws {
        let suite = CipherSuite(nid: 429)!
        let key = SecureRandom.bytes(suite.keyLength), iv = SecureRandom.bytes(suite.ivLength)
        let out = MetaOutbound()
        out.queue(line: "1 429 672 0 0 AB")
        out.enableEncryption(try StreamCipher(suite: suite, key: key, iv: iv, encrypt: true))
        out.queue(line: "2 CHALLENGE")
        out.queue(line: "8")
        let inb = MetaInbound()
        inb.append(out.pending)
        XCTAssertEqual(try inb.next(), .line("1 429 672 0 0 AB"))
        inb.enableDecryption(try StreamCipher(suite: suite, key: key, iv: iv, encrypt: false))
        XCTAssertEqual(try inb.next(), .line("2 CHALLENGE"))
        XCTAssertEqual(try inb.next(), .line("8"))
        XCTAssertNil(try inb.next())
    }
}

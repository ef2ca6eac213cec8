import XCTest
import MeshCrypto
@testable import TincProtocol

/// Inputs the handshake fuzz target (Fuzz/, docs/FUZZING.md) found. Each must end in an error for
/// that one connection, never in a trap.
final class HandshakeFuzzRegressionTests: XCTestCase {
    static let ours = try! RSAKey.generate(bits: 1024)
    static let theirs = try! RSAKey.generate(bits: 1024)

    /// Plays an unauthenticated client against our responder: ID, then METAKEY with the given
    /// numbers and a key that decrypts, then `tail` bytes. Returns the first error, nil if none.
    func attack(cipher: Int, digest: Int = 672, mac: Int = 0, compression: Int = 0, tail: [UInt8]) -> Error? {
        let hs = Handshake(role: .responder, myName: "me", myKey: Self.ours, metaCipher: CipherSuite(nid: 421)!,
                           lookupPeer: { _ in PeerIdentity(key: Self.theirs) },
                           makeAck: { _ in .ack(port: "655", weight: 1, options: 0) })
        let inb = MetaInbound()
        var k = [UInt8](repeating: 0, count: Self.ours.size)
        k[1] = 1
        guard let enc = try? Self.ours.rawEncrypt(k) else { XCTFail("rawEncrypt"); return nil }
        let wire = Array("0 peer 17\n1 \(cipher) \(digest) \(mac) \(compression) \(Hex.encode(enc))\n".utf8) + tail
        do {
            for b in wire {   // one byte per read, as a slow client would send it
                inb.append([b])
                while let it = try inb.next() {
                    guard case .line(let l) = it else { continue }
                    for a in try hs.receive(try Request(parsing: Substring(l))) {
                        if case .decryptInbound(let c) = a { inb.enableDecryption(c) }
                    }
                }
            }
        } catch { return error }
        return nil
    }

    /// fuzz target handshake, input 092ed52b: METAKEY cipher 913 (AES-128-XTS) and one more
    /// byte stopped the whole daemon in StreamCipher.process (issue 10's remote kill switch).
    func testXTSMetaCipherFailsTheConnectionOnly() {
        XCTAssertNotNil(attack(cipher: 913, tail: [0x41]))
    }

    /// Every cipher class a client can name: AEAD, XTS, SIV, key wrap, block modes, out of range.
    func testEveryCipherClassFailsOrWorksWithoutTrapping() {
        for c in [895, 896, 901, 958, 1018, 913, 914, 1198, 788, 897, 427, 418, 0, -1, 2_147_483_648, Int.max] {
            _ = attack(cipher: c, tail: Array("2 00\n".utf8))
        }
        for d in [0, -1, 421, 2_147_483_648] { XCTAssertNotNil(attack(cipher: 421, digest: d, tail: [0x41]), "digest \(d)") }
        for d in [1100, 1101] { _ = attack(cipher: 421, digest: d, tail: [0x41]) }   // SHAKE (XOF): must not trap
        for m in [-1, 33, Int.max] { XCTAssertNotNil(attack(cipher: 421, mac: m, tail: [0x41]), "MAC length \(m)") }
    }
}

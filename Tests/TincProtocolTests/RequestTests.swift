import XCTest
@testable import TincProtocol

final class RequestTests: XCTestCase {
    func testRoundTripOfEveryRequestType() throws {
        let samples: [Request] = [
            .id(name: "alpha", version: 17),
            .metaKey(cipher: 429, digest: 672, macLength: 0, compression: 0, key: "ABCD"),
            .challenge("0011"), .chalReply("FFEE"),
            .ack(port: "655", weight: 8, options: 0xc),
            .ping, .pong,
            .addSubnet(nonce: "4f1773c6", owner: "alpha", subnet: "10.99.0.1/32#10"),
            .delSubnet(nonce: "1", owner: "beta", subnet: "fd00:99:0:0:0:0:0:2/128#5"),
            .addEdge(nonce: "161e87", from: "alpha", to: "beta", address: "10.77.0.2", port: "655", options: 0xc, weight: 8),
            .delEdge(nonce: "a", from: "alpha", to: "beta"),
            .keyChanged(nonce: "6675d823", origin: "alpha"),
            .reqKey(from: "alpha", to: "gamma"),
            .ansKey(from: "gamma", to: "alpha", key: "20", cipher: 0, digest: 0, macLength: 4, compression: 0, address: "10.77.1.3", port: "655"),
            .ansKey(from: "alpha", to: "beta", key: "90533B28", cipher: 427, digest: 672, macLength: 4, compression: 0, address: nil, port: nil),
            .packet(length: 1378),
        ]
        for r in samples {
            XCTAssertEqual(try Request(parsing: Substring(r.line)), r, r.line)
        }
    }

    func testLinesMatchTinc1036() {
        XCTAssertEqual(Request.id(name: "alpha", version: 17).line, "0 alpha 17")
        XCTAssertEqual(Request.ack(port: "655", weight: 8, options: 0xc).line, "4 655 8 c")
        XCTAssertEqual(Request.addEdge(nonce: "161e87", from: "alpha", to: "beta", address: "10.77.0.2", port: "655", options: 0xc, weight: 8).line,
                       "12 161e87 alpha beta 10.77.0.2 655 c 8")
        XCTAssertEqual(Request.ping.line, "8")
    }

    func testVersionWithMinorIsAcceptedAsLeadingInteger() throws {
        XCTAssertEqual(try Request(parsing: "0 beta 17.7"), .id(name: "beta", version: 17))
    }

    func testTrailingFieldsAreIgnored() throws {
        XCTAssertEqual(try Request(parsing: "8 salt"), .ping)
        XCTAssertEqual(try Request(parsing: "15 a b extra"), .reqKey(from: "a", to: "b"))
    }

    func testRejectsBogusUnknownAndMalformed() {
        XCTAssertThrowsError(try Request(parsing: "hello")) { XCTAssertEqual(($0 as? RequestError)?.kind, .bogus) }
        XCTAssertThrowsError(try Request(parsing: "5 hello")) { XCTAssertEqual(($0 as? RequestError)?.kind, .unknown(5)) }
        XCTAssertThrowsError(try Request(parsing: "18")) { XCTAssertEqual(($0 as? RequestError)?.kind, .unknown(18)) }
        XCTAssertThrowsError(try Request(parsing: "-1")) { XCTAssertEqual(($0 as? RequestError)?.kind, .unknown(-1)) }
        XCTAssertThrowsError(try Request(parsing: "12 zz a b 1.2.3.4 655 c 8"))   // nonce not hex
        XCTAssertThrowsError(try Request(parsing: "12 1 a b 1.2.3.4 655 c"))      // missing weight
        XCTAssertThrowsError(try Request(parsing: "17 99999"))
        XCTAssertThrowsError(try Request(parsing: "2 " + String(repeating: "A", count: 2049)))
    }

    func testNodeNameCheck() {
        XCTAssertTrue(isValidNodeName("bird_1"))
        XCTAssertFalse(isValidNodeName("bird-1"))
        XCTAssertFalse(isValidNodeName(""))
        XCTAssertFalse(isValidNodeName("a b"))
    }

    /// Fuzz: random lines never crash the parser.
    func testFuzzParser() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefABCDEF :./#-_xyz\t".utf8)
        for _ in 0..<20000 {
            let len = Int.random(in: 0...120, using: &rng)
            var bytes = (0..<len).map { _ in alphabet.randomElement(using: &rng)! }
            if Bool.random(using: &rng) { bytes.insert(UInt8.random(in: 0x30...0x31, using: &rng), at: 0) }
            let line = String(decoding: bytes, as: UTF8.self)
            _ = try? Request(parsing: Substring(line))
        }
    }
}

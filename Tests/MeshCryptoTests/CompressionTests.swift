import Foundation
import MeshCrypto
import XCTest

final class CompressionTests: XCTestCase {
    /// An Ethernet+IPv4-ish frame: repetitive enough to compress.
    func frame(_ n: Int) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 12) + [0x08, 0x00]
        while f.count < n { f += Array("GET /index.html HTTP/1.1\r\nHost: example.org\r\n".utf8) }
        return Array(f.prefix(n))
    }

    func testRoundTripsAllLevels() {
        for level in 0...11 {
            let compressible = frame(1500)
            for input in [[], [0x42], frame(60), compressible, SecureRandom.bytes(1500), frame(9000)] {
                guard let c = PacketCompression.compress(level: level, input) else {
                    XCTFail("compress level \(level) len \(input.count)")
                    continue
                }
                XCTAssertLessThanOrEqual(c.count, PacketCompression.maxCompressedSize(level: level, inputLength: input.count)!)
                // Only the repetitive frame must shrink (random bytes may start with 0 too).
                if level > 0, input == compressible { XCTAssertLessThan(c.count, 500, "level \(level)") }
                XCTAssertEqual(PacketCompression.decompress(level: level, c, maxSize: 9018), input, "level \(level) len \(input.count)")
                if !input.isEmpty {  // the receiver's buffer must be big enough
                    XCTAssertNil(PacketCompression.decompress(level: level, c, maxSize: input.count - 1), "level \(level)")
                }
            }
        }
        XCTAssertNil(PacketCompression.compress(level: 12, [1]))
        XCTAssertNil(PacketCompression.compress(level: -1, [1]))
        XCTAssertNil(PacketCompression.decompress(level: 12, [1], maxSize: 10))
    }

    func testZlibLevelsProduceRFC1950AndMatchPython() throws {
        let input = frame(1400)
        let c = try XCTUnwrap(PacketCompression.compress(level: 9, input))
        XCTAssertEqual(c[0], 0x78)  // zlib header, not raw deflate or gzip
        XCTAssertEqual((UInt16(c[0]) << 8 | UInt16(c[1])) % 31, 0)
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { return }
        // Python's zlib (compress2 semantics) is the independent implementation here.
        let script = "import sys,zlib; d=sys.stdin.buffer.read(); sys.stdout.buffer.write(zlib.compress(d[1:], d[0]))"
        for level in 1...9 {
            let theirs = try runTool("/usr/bin/python3", ["-c", script], stdin: [UInt8(level)] + input).bytes
            XCTAssertEqual(PacketCompression.compress(level: level, input), theirs, "level \(level)")
            XCTAssertEqual(PacketCompression.decompress(level: level, theirs, maxSize: 2000), input)
        }
    }

    func testPointerAPIOutputLimits() {
        let input = SecureRandom.bytes(1000)
        var out = [UInt8](repeating: 0, count: 100)
        for level in 0...11 {
            let r = out.withUnsafeMutableBytes { o in input.withUnsafeBytes { PacketCompression.compress(level: level, $0, into: o) } }
            XCTAssertNil(r, "random data cannot fit 100 bytes at level \(level)")
        }
    }

    func testGarbageDecompressionFailsCleanly() {
        var out = [UInt8](repeating: 0, count: 2000)
        var ok = 0
        for i in 0..<3000 {
            let level = 1 + i % 11
            var input = SecureRandom.bytes(Int.random(in: 0...300))
            if i % 3 == 0, let valid = PacketCompression.compress(level: level, frame(Int.random(in: 1...1500))) {
                // A valid stream, truncated or with a flipped byte: the nastier kind of garbage.
                input = valid
                if input.count > 1, Bool.random() {
                    input.removeLast(Int.random(in: 1..<input.count))
                } else {
                    input[Int.random(in: 0..<input.count)] ^= UInt8.random(in: 1...255)
                }
            }
            let r = out.withUnsafeMutableBytes { o in input.withUnsafeBytes { PacketCompression.decompress(level: level, $0, into: o) } }
            if let r {
                ok += 1
                XCTAssertLessThanOrEqual(r, out.count)
            }
        }
        // Random bytes essentially never form a complete zlib stream with a valid Adler-32.
        XCTAssertLessThan(ok, 1500)
        for level in 1...11 {
            XCTAssertNil(PacketCompression.decompress(level: level, [0xDE, 0xAD, 0xBE, 0xEF], maxSize: 1500), "level \(level)")
            XCTAssertNil(PacketCompression.decompress(level: level, [], maxSize: 1500), "level \(level)")
        }
    }
}

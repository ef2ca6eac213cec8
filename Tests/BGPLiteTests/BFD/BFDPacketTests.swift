import XCTest
@testable import BGPLite

final class BFDPacketTests: XCTestCase {
    func testKnownEncoding() {
        let p = BFDPacket(state: .up, diagnostic: .controlDetectionTimeExpired, poll: true, detectMultiplier: 3,
                          myDiscriminator: 0x01020304, yourDiscriminator: 0xa0b0c0d0,
                          desiredMinTxInterval: 100_000, requiredMinRxInterval: 10_000)
        XCTAssertEqual(p.encode(), [0x21, 0xe0, 3, 24, 1, 2, 3, 4, 0xa0, 0xb0, 0xc0, 0xd0,
                                    0, 1, 0x86, 0xa0, 0, 0, 0x27, 0x10, 0, 0, 0, 0])
        XCTAssertEqual(try BFDPacket.decode(p.encode()), p)
    }

    func testRoundTripAllStatesAndFlags() throws {
        for state in [BFDState.adminDown, .down, .initial, .up] {
            for flags in 0..<16 {
                var p = BFDPacket(state: state, diagnostic: BFDDiagnostic(rawValue: UInt8(flags + 1)),
                                  poll: flags & 1 != 0, final: flags & 2 != 0 && flags & 1 == 0,
                                  detectMultiplier: UInt8(flags + 1), myDiscriminator: UInt32(flags + 7),
                                  yourDiscriminator: UInt32(flags) * 1000 + 1,
                                  desiredMinTxInterval: UInt32(flags) * 12345, requiredMinRxInterval: UInt32.max - UInt32(flags),
                                  requiredMinEchoRxInterval: UInt32(flags))
                p.controlPlaneIndependent = flags & 4 != 0
                p.demand = flags & 8 != 0
                XCTAssertEqual(try BFDPacket.decode(p.encode()), p)
                // Trailing bytes beyond the length field are ignored.
                XCTAssertEqual(try BFDPacket.decode(p.encode() + [9, 9, 9]), p)
                XCTAssertEqual(try BFDPacket.decode(ArraySlice([0xee] + p.encode()).dropFirst()), p)
            }
        }
    }

    private func base() -> [UInt8] {
        BFDPacket(state: .up, detectMultiplier: 3, myDiscriminator: 5, yourDiscriminator: 6,
                  desiredMinTxInterval: 100_000, requiredMinRxInterval: 100_000).encode()
    }

    private func expect(_ bytes: [UInt8], _ error: BFDPacketError, line: UInt = #line) {
        XCTAssertThrowsError(try BFDPacket.decode(bytes), line: line) { e in
            XCTAssertEqual(e as? BFDPacketError, error, line: line)
        }
    }

    func testValidationRules() {
        var b = base()
        expect(Array(b.prefix(3)), .truncated(3))
        b = base(); b[0] = 2 << 5; expect(b, .badVersion(2))
        b = base(); b[0] = 0; expect(b, .badVersion(0))
        b = base(); b[3] = 23; expect(b, .badLength(field: 23, received: 24))
        b = base(); b[3] = 30; expect(b, .badLength(field: 30, received: 24))
        expect(Array(base().prefix(20)), .badLength(field: 24, received: 20))
        b = base(); b[2] = 0; expect(b, .zeroDetectMultiplier)
        b = base(); b[1] |= 0x01; expect(b, .multipoint)
        b = base(); b[4...7] = [0, 0, 0, 0]; expect(b, .zeroMyDiscriminator)
        b = base(); b[8...11] = [0, 0, 0, 0]; expect(b, .zeroYourDiscriminator(state: .up))
        b = base(); b[8...11] = [0, 0, 0, 0]; b[1] = BFDState.initial.rawValue << 6
        expect(b, .zeroYourDiscriminator(state: .initial))
        // Your discriminator 0 is fine in Down and AdminDown.
        for s in [BFDState.down, .adminDown] {
            b = base(); b[8...11] = [0, 0, 0, 0]; b[1] = s.rawValue << 6
            XCTAssertEqual(try BFDPacket.decode(b).state, s)
        }
        // A bit: length must cover the auth section, then it is rejected (no auth configured).
        b = base(); b[1] |= 0x04; expect(b, .badLength(field: 24, received: 24))
        b = base() + [1, 24, 1, 0] + [UInt8](repeating: 0, count: 20); b[1] |= 0x04; b[3] = 48
        expect(b, .authenticationNotSupported(type: 1))
        XCTAssertTrue(BFDPacketError.authenticationNotSupported(type: 1).description.contains("authentication"))
    }

    func testFuzzNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        var accepted = 0
        for i in 0..<50_000 {
            var b: [UInt8]
            if i % 3 == 0 {
                b = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                b = base()
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if i % 5 == 0 { b = Array(b.prefix(Int.random(in: 0...24, using: &rng))) }
            }
            if let p = try? BFDPacket.decode(b) {
                accepted += 1
                XCTAssertEqual(p.encode(), Array(b.prefix(24)).enumerated().map { $0.offset == 3 ? 24 : $0.element })
            }
        }
        XCTAssertGreaterThan(accepted, 0)
    }
}

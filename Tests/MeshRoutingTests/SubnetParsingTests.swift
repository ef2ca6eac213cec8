import XCTest
@testable import MeshRouting

final class SubnetParsingTests: XCTestCase {
    private func parsed(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> Subnet? {
        let r = Subnet(parsing: s)
        XCTAssertNotNil(r, "expected '\(s)' to parse", file: file, line: line)
        return r
    }

    private func assertFormats(_ input: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let s = parsed(input, file: file, line: line) else { return }
        XCTAssertEqual(s.description, expected, "for input '\(input)'", file: file, line: line)
        // Whatever we emit must read back to the same value.
        XCTAssertEqual(Subnet(parsing: s.description), s, "round trip of '\(input)'", file: file, line: line)
        XCTAssertEqual(Subnet(parsing: s.netString)?.address, s.address, file: file, line: line)
    }

    private func assertRejected(_ inputs: [String], file: StaticString = #filePath, line: UInt = #line) {
        for s in inputs {
            XCTAssertNil(Subnet(parsing: s), "expected '\(s)' to be rejected", file: file, line: line)
        }
    }

    func testIPv4Forms() {
        assertFormats("10.99.0.1", "10.99.0.1/32#10")
        assertFormats("10.0.0.0/8", "10.0.0.0/8#10")
        assertFormats("10.0.0.0/8#5", "10.0.0.0/8#5")
        assertFormats("0.0.0.0/0", "0.0.0.0/0#10")
        assertFormats("255.255.255.255/32#0", "255.255.255.255/32#0")
        assertFormats("192.168.1.0/24#-3", "192.168.1.0/24#-3")
        // glibc %hu/%d leniency that tinc inherits: leading zeros, signs, whitespace before numbers.
        assertFormats("010.001.000.009", "10.1.0.9/32#10")
        assertFormats("10.0.0.1/+24# 7", "10.0.0.1/24#7")
        // A 16-bit truncated octet that lands in range is accepted, as with tinc's sscanf("%hu").
        assertFormats("10.0.0.65537", "10.0.0.1/32#10")
        XCTAssertEqual(parsed("10.1.2.3/16#7")?.address, .ipv4([10, 1, 2, 3], prefix: 16))
        XCTAssertEqual(parsed("10.1.2.3/16#7")?.weight, 7)
        XCTAssertEqual(parsed("10.1.2.3")?.netString, "10.1.2.3/32")
    }

    func testIPv4Rejections() {
        assertRejected([
            "10.0.0.256", "256.0.0.1", "10.0.0.-1", "10.0.0", "10.0.0.1.5", "10..0.1", "10.0.0.1 x",
            "10.0.0.1/33", "10.0.0.1/-1", "10.0.0.1/", "10.0.0.1/24x", "10.0.0.1/24/8", "10.0.0.1/0x10",
            "10.0.0.1#", "10.0.0.1#5x", "10.0.0.1#abc", "10.0.0.1#5#6", "10.0.0.1#5/24", "10.0.0.1# ",
            "", "#5", "/24", "garbage", "a.b.c.d",
        ])
    }

    func testMACForms() {
        assertFormats("e:35:f5:c0:cc:e3", "e:35:f5:c0:cc:e3#10")
        assertFormats("0E:35:F5:C0:CC:E3#3", "e:35:f5:c0:cc:e3#3")
        assertFormats("00:00:00:00:00:00", "0:0:0:0:0:0#10")
        assertFormats("ff:ff:ff:ff:ff:ff#10", "ff:ff:ff:ff:ff:ff#10")
        // Larger groups are silently truncated to 8 bits.
        assertFormats("100:1:2:3:4:1ff", "0:1:2:3:4:ff#10")
        XCTAssertEqual(parsed("02:00:00:00:00:01")?.address, .mac([2, 0, 0, 0, 0, 1]))
        XCTAssertNil(parsed("02:00:00:00:00:01")?.prefixLength)
        XCTAssertEqual(parsed("02:00:00:00:00:01")?.hostBitsClear, true)
    }

    func testMACRejections() {
        assertRejected([
            "e:35:f5:c0:cc:e3/48", "e:35:f5:c0:cc:e3/0", "e:35:f5:c0:cc:e3#", "e:35:f5:c0:cc:e3#1z",
            "e:35:f5:c0:cc", "e:35:f5:c0:cc:zz", "e:35:f5:c0:cc:e3:", "e-35-f5-c0-cc-e3",
        ])
    }

    func testIPv6Forms() {
        assertFormats("fd00:99:0:0:0:0:0:2/128#5", "fd00:99:0:0:0:0:0:2/128#5")
        assertFormats("fd00:99::2#5", "fd00:99:0:0:0:0:0:2/128#5")
        assertFormats("::", "0:0:0:0:0:0:0:0/128#10")
        assertFormats("::/0", "0:0:0:0:0:0:0:0/0#10")
        assertFormats("::1", "0:0:0:0:0:0:0:1/128#10")
        assertFormats("1::", "1:0:0:0:0:0:0:0/128#10")
        assertFormats("fe80::1:2", "fe80:0:0:0:0:0:1:2/128#10")
        assertFormats("fe80::/64", "fe80:0:0:0:0:0:0:0/64#10")
        assertFormats("2001:DB8::ABCD/48", "2001:db8:0:0:0:0:0:abcd/48#10")
        assertFormats("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0:0:0:0:1/128#10")
        assertFormats("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0/128#10")
        assertFormats("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8/128#10")
        // Trailing dotted quad.
        assertFormats("::ffff:10.1.2.3", "0:0:0:0:0:ffff:a01:203/128#10")
        assertFormats("64:ff9b::192.0.2.33/96", "64:ff9b:0:0:0:0:c000:221/96#10")
        assertFormats("::1.2.3.4", "0:0:0:0:0:0:102:304/128#10")
        assertFormats("1:2:3:4:5:6:7.8.9.10", "1:2:3:4:5:6:708:90a/128#10")
        // %hx keeps only 16 bits, so an over-long group is accepted truncated, as in tinc.
        assertFormats("12345::1", "2345:0:0:0:0:0:0:1/128#10")
        XCTAssertEqual(parsed("fe80::1/64")?.address,
                       .ipv6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], prefix: 64))
        XCTAssertEqual(parsed("fd00::1")?.netString, "fd00:0:0:0:0:0:0:1/128")
    }

    func testIPv6Rejections() {
        assertRejected([
            "1:2:3:4::5:6:7:8", "1::2::3", ":::1", "1:::", "::1::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9",
            ":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:", "fe80::1/129", "fe80::1/-1", "fe80::g", "fe80::1 x",
            "::ffff:1.2.3.256", "::ffff:1.2.3", "fe80::1#", "fe80::1#x", "::/64/64",
        ])
    }

    func testRandomRoundTrips() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            let weight = Int(rng.next(upTo: 200)) - 50
            let s: Subnet
            switch rng.next(upTo: 3) {
            case 0: s = Subnet(mac: (0..<6).map { _ in UInt8(rng.next(upTo: 256)) }, weight: weight)
            case 1: s = Subnet(ipv4: (0..<4).map { _ in UInt8(rng.next(upTo: 256)) },
                               prefix: Int(rng.next(upTo: 33)), weight: weight)
            default:
                // Sprinkle zero groups so that formatted output contains runs of "0".
                let bytes = (0..<16).map { _ in rng.next(upTo: 3) == 0 ? 0 : UInt8(rng.next(upTo: 256)) }
                s = Subnet(ipv6: bytes, prefix: Int(rng.next(upTo: 129)), weight: weight)
            }
            XCTAssertEqual(Subnet(parsing: s.description), s, s.description)
        }
    }

    func testMaskCheck() {
        let clear = ["10.0.0.0/8", "10.0.0.1/32", "0.0.0.0/0", "10.128.0.0/9", "fd00::/64", "fd00::1/128",
                     "::/0", "fe80::8000:0:0:0/65", "e:35:f5:c0:cc:e3"]
        let dirty = ["10.0.0.1/8", "10.192.0.0/9", "1.0.0.0/0", "fd00::1/64", "fe80::4000:0:0:0/65", "::1/127"]
        for s in clear { XCTAssertEqual(Subnet(parsing: s)?.hostBitsClear, true, s) }
        for s in dirty { XCTAssertEqual(Subnet(parsing: s)?.hostBitsClear, false, s) }
        XCTAssertEqual(Subnet(parsing: "10.1.2.3/16#4")?.masked.description, "10.1.0.0/16#4")
        XCTAssertEqual(Subnet(parsing: "fd00::1:2/112")?.masked.netString, "fd00:0:0:0:0:0:1:0/112")
    }

    func testOrdering() {
        let texts = [
            "fd00::/64#10", "10.0.0.0/8#10", "e:35:f5:c0:cc:e3#10", "10.1.0.0/16#10", "10.0.0.0/16#10",
            "10.0.0.0/16#5", "2:0:0:0:0:1#10", "fd00::1#10", "0.0.0.0/0#10", "10.0.0.7/32#10",
            "2:0:0:0:0:1#3", "fe80::/64#10",
        ]
        let sorted = texts.map { Subnet(parsing: $0)! }.sorted().map { $0.description }
        XCTAssertEqual(sorted, [
            "2:0:0:0:0:1#3", "2:0:0:0:0:1#10", "e:35:f5:c0:cc:e3#10",
            "10.0.0.7/32#10", "10.0.0.0/16#5", "10.0.0.0/16#10", "10.1.0.0/16#10", "10.0.0.0/8#10", "0.0.0.0/0#10",
            "fd00:0:0:0:0:0:0:1/128#10", "fd00:0:0:0:0:0:0:0/64#10", "fe80:0:0:0:0:0:0:0/64#10",
        ])
    }

    func testContains() {
        let v4 = Subnet(parsing: "10.1.0.0/16")!
        XCTAssertTrue(v4.contains(ipv4: [10, 1, 200, 3]))
        XCTAssertFalse(v4.contains(ipv4: [10, 2, 0, 0]))
        XCTAssertFalse(v4.contains(ipv6: [UInt8](repeating: 0, count: 16)))
        // Host bits in a subnet from the network are ignored when matching (maskcmp).
        XCTAssertTrue(Subnet(parsing: "10.1.2.3/24")!.contains(ipv4: [10, 1, 2, 99]))
        XCTAssertTrue(Subnet(parsing: "0.0.0.0/0")!.contains(ipv4: [1, 2, 3, 4]))
        let v6 = Subnet(parsing: "fd00:1::/33")!
        XCTAssertTrue(v6.contains(ipv6: [0xfd, 0, 0, 1, 0x7f] + [UInt8](repeating: 9, count: 11)))
        XCTAssertFalse(v6.contains(ipv6: [0xfd, 0, 0, 1, 0x80] + [UInt8](repeating: 0, count: 11)))
        let mac = Subnet(parsing: "2:0:0:0:0:1")!
        XCTAssertTrue(mac.contains(mac: [2, 0, 0, 0, 0, 1]))
        XCTAssertFalse(mac.contains(mac: [2, 0, 0, 0, 0, 2]))
        // Pointer form reads from inside a buffer without alignment requirements.
        let frame: [UInt8] = [0xAA, 2, 0, 0, 0, 0, 1]
        frame.withUnsafeBytes { XCTAssertTrue(mac.contains(mac: $0.baseAddress! + 1)) }
    }
}

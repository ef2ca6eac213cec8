import XCTest
@testable import TincDaemon

final class MSSClampTests: XCTestCase {
    /// An Ethernet + IPv4 + TCP SYN with options (NOP, NOP, MSS 1460, window scale) and a valid checksum.
    func makeSYN(mss: Int, ipv6: Bool = false) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 14)
        let tcpOptions: [UInt8] = [1, 1, 2, 4, UInt8(mss >> 8), UInt8(mss & 0xff), 3, 3, 7, 0, 0, 0]
        var tcp = [UInt8](repeating: 0, count: 20) + tcpOptions
        tcp[0] = 0x30; tcp[1] = 0x39; tcp[2] = 0x00; tcp[3] = 0x50
        tcp[12] = UInt8((20 + tcpOptions.count) / 4) << 4
        tcp[13] = 0x02
        if ipv6 {
            f[12] = 0x86; f[13] = 0xDD
            var ip = [UInt8](repeating: 0, count: 40)
            ip[0] = 0x60; ip[4] = 0; ip[5] = UInt8(tcp.count); ip[6] = 6; ip[7] = 64
            ip[23] = 1; ip[39] = 2
            var pseudo = Array(ip[8..<40]) + [0, 0, 0, UInt8(tcp.count), 0, 0, 0, 6]
            pseudo += tcp
            let c = checksum(pseudo)
            tcp[16] = UInt8(c >> 8); tcp[17] = UInt8(c & 0xff)
            return f + ip + tcp
        }
        f[12] = 0x08; f[13] = 0x00
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45; ip[3] = UInt8(20 + tcp.count); ip[8] = 64; ip[9] = 6
        ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2
        let pseudo = Array(ip[12..<20]) + [0, 6, 0, UInt8(tcp.count)] + tcp
        let c = checksum(pseudo)
        tcp[16] = UInt8(c >> 8); tcp[17] = UInt8(c & 0xff)
        return f + ip + tcp
    }

    func checksum(_ b: [UInt8]) -> Int {
        var s = 0
        var i = 0
        while i < b.count { s += Int(b[i]) << 8 | (i + 1 < b.count ? Int(b[i + 1]) : 0); i += 2 }
        while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
        return ~s & 0xffff
    }

    func verify(_ f: [UInt8], ipv6: Bool) -> Bool {
        if ipv6 {
            let ip = Array(f[14..<54]), tcp = Array(f[54...])
            return checksum(Array(ip[8..<40]) + [0, 0, 0, UInt8(tcp.count), 0, 0, 0, 6] + tcp) == 0
        }
        let ip = Array(f[14..<34]), tcp = Array(f[34...])
        return checksum(Array(ip[12..<20]) + [0, 6, 0, UInt8(tcp.count)] + tcp) == 0
    }

    func mss(_ f: [UInt8], at off: Int) -> Int { Int(f[off]) << 8 | Int(f[off + 1]) }

    func testClampsIPv4AndKeepsChecksumValid() {
        var f = makeSYN(mss: 1460)
        XCTAssertTrue(verify(f, ipv6: false))
        let changed = f.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress!, length: $0.count, mtu: 1451) }
        XCTAssertTrue(changed)
        XCTAssertEqual(mss(f, at: 34 + 20 + 4), 1451 - 34 - 20)
        XCTAssertTrue(verify(f, ipv6: false), "checksum must stay valid after the rewrite")
    }

    func testClampsIPv6() {
        var f = makeSYN(mss: 1440, ipv6: true)
        XCTAssertTrue(verify(f, ipv6: true))
        XCTAssertTrue(f.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress!, length: $0.count, mtu: 1400) })
        XCTAssertEqual(mss(f, at: 54 + 20 + 4), 1400 - 54 - 20)
        XCTAssertTrue(verify(f, ipv6: true))
    }

    func testLeavesSmallMSSAndNonTCPAlone() {
        var f = makeSYN(mss: 1200)
        XCTAssertFalse(f.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress!, length: $0.count, mtu: 1451) })
        var udp = makeSYN(mss: 1460)
        udp[14 + 9] = 17
        XCTAssertFalse(udp.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress!, length: $0.count, mtu: 1000) })
    }

    /// Found by the `mss-clamp` fuzz campaign: with one NOP before it the MSS value starts at an odd
    /// offset of the TCP header, so it straddles two checksum words; the incremental update treated
    /// it as one aligned word and the clamped SYN left with a bad checksum (the receiver drops it).
    func testMSSAtOddOffsetKeepsChecksumValid() {
        let hex = "02000000000202000000000186dd60000000001c0640fd0000000000000000000000000000feff0000000000"
            + "000000000000000000021f90c350000003e8000000017002ffffa34a0005010204b400030307"
        var f = [UInt8]()
        var chars = Array(hex)
        while chars.count >= 2 { f.append(UInt8(String(chars[0...1]), radix: 16) ?? 0); chars.removeFirst(2) }
        XCTAssertEqual(f.count, 82)
        XCTAssertTrue(verify(f, ipv6: true), "the fuzzer's frame starts with a valid checksum")
        XCTAssertTrue(f.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress!, length: $0.count, mtu: 1400) })
        XCTAssertEqual(mss(f, at: 54 + 20 + 3), 1400 - 54 - 20)
        XCTAssertTrue(verify(f, ipv6: true), "checksum must stay valid when the MSS is not word aligned")

        // The same over IPv4, for every MSS value pair that crosses a byte boundary.
        for (from, to) in [(1460, 1397), (0xFFFF, 0x100), (0x01FF, 0x0100), (1400, 1399)] {
            var v4 = makeSYN(mss: from)
            // Shift the options so the MSS follows a single NOP: NOP, MSS, NOP, WS(3), pad.
            v4[54] = 1; v4[55] = 2; v4[56] = 4; v4[57] = UInt8(from >> 8); v4[58] = UInt8(from & 0xFF)
            v4[59] = 1; v4[60] = 3; v4[61] = 3; v4[62] = 7; v4[63] = 0; v4[64] = 0; v4[65] = 0
            v4[50] = 0; v4[51] = 0
            let tcp = Array(v4[34...])
            let c = checksum(Array(v4[26..<34]) + [0, 6, 0, UInt8(tcp.count)] + tcp)
            v4[50] = UInt8(c >> 8); v4[51] = UInt8(c & 0xFF)
            XCTAssertTrue(verify(v4, ipv6: false))
            let mtu = to + 34 + 20
            XCTAssertTrue(v4.withUnsafeMutableBytes { MSSClamp.clamp($0.baseAddress!, length: $0.count, mtu: mtu) })
            XCTAssertEqual(mss(v4, at: 57), to)
            XCTAssertTrue(verify(v4, ipv6: false), "MSS \(from) -> \(to) at an odd offset")
        }
    }

    /// Truncated and random frames never crash the option walker.
    func testFuzzNeverTraps() {
        let base = makeSYN(mss: 1460)
        for _ in 0..<20000 {
            var f = base
            for _ in 0..<Int.random(in: 1...6) { f[Int.random(in: 0..<f.count)] = UInt8.random(in: 0...255) }
            let cut = Int.random(in: 0...f.count)
            f.withUnsafeMutableBytes { _ = MSSClamp.clamp($0.baseAddress!, length: cut, mtu: Int.random(in: 60...1518)) }
        }
    }
}

import XCTest
@testable import TunTap

final class SuperFrameSegmenterTests: XCTestCase {
    func checksum(_ b: [UInt8]) -> UInt16 {
        var s: UInt32 = 0
        var i = 0
        while i < b.count { s += UInt32(b[i]) << 8 | (i + 1 < b.count ? UInt32(b[i + 1]) : 0); i += 2 }
        while s > 0xffff { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(s)
    }

    func testChecksumMatchesReferenceOnRandomData() {
        for len in [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 1401, 1500] {
            let b = (0..<len).map { _ in UInt8.random(in: 0...255) }
            let ours = b.withUnsafeBytes { InternetChecksum.fold(InternetChecksum.add($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, len)) }
            XCTAssertEqual(ours, checksum(b), "length \(len)")
        }
    }

    /// A 10,000-byte TCP/IPv4 super-frame with MSS 1400 becomes 8 frames whose IP and TCP checksums
    /// verify, whose sequence numbers advance by the payload, and whose payload concatenates back.
    func testSplitsIPv4SuperFrame() {
        let payload = (0..<10_000).map { UInt8($0 % 251) }
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45; ip[4] = 0x12; ip[5] = 0x34; ip[6] = 0x40; ip[8] = 64; ip[9] = 6
        ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2
        var tcp = [UInt8](repeating: 0, count: 20)
        tcp[0] = 0x13; tcp[1] = 0x88; tcp[2] = 0x00; tcp[3] = 0x50
        tcp[4] = 0x01; tcp[5] = 0x00; tcp[6] = 0x00; tcp[7] = 0x00
        tcp[12] = 0x50; tcp[13] = 0x18   // ACK|PSH
        let frame = [UInt8](repeating: 0xAA, count: 12) + [0x08, 0x00] + ip + tcp + payload
        let h = VirtioNetHeader(flags: 1, gsoType: VirtioNetHeader.gsoTCPv4, headerLength: 54, gsoSize: 1400, checksumStart: 34, checksumOffset: 16)
        var seg = SuperFrameSegmenter()
        var out = [UInt8](repeating: 0, count: 2048)
        var rebuilt: [UInt8] = []
        var count = 0
        frame.withUnsafeBytes { f in
            XCTAssertTrue(seg.start(f.baseAddress!, length: f.count, header: h))
            while true {
                let n = out.withUnsafeMutableBytes { seg.next(into: $0) }
                if n == 0 { break }
                let s = Array(out[0..<n])
                XCTAssertEqual(checksum(Array(s[14..<34])), 0, "IPv4 header checksum of segment \(count)")
                let tcpSeg = Array(s[34...])
                let pseudo = Array(s[26..<34]) + [0, 6, UInt8(tcpSeg.count >> 8), UInt8(tcpSeg.count & 0xff)]
                XCTAssertEqual(checksum(pseudo + tcpSeg), 0, "TCP checksum of segment \(count)")
                let seq = UInt32(s[38]) << 24 | UInt32(s[39]) << 16 | UInt32(s[40]) << 8 | UInt32(s[41])
                XCTAssertEqual(seq, 0x0100_0000 + UInt32(rebuilt.count))
                XCTAssertEqual(Int(s[16]) << 8 | Int(s[17]), n - 14)
                XCTAssertEqual(Int(s[18]) << 8 | Int(s[19]), 0x1234 + count)
                let psh = s[47] & 0x08 != 0
                rebuilt += s[54...]
                XCTAssertEqual(psh, rebuilt.count == payload.count, "PSH only on the last segment")
                count += 1
            }
        }
        XCTAssertEqual(count, 8)
        XCTAssertEqual(rebuilt, payload)
    }
}

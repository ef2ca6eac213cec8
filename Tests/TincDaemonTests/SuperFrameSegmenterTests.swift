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

    /// fuzz target segmenter: a TCPv4 GSO header on an IPv6 frame (or TCPv6 on IPv4) was segmented
    /// as the header said, writing IPv4 lengths and checksums into the IPv6 header.
    func testRefusesGSOTypeThatDoesNotMatchTheFrame() {
        var ip6 = [UInt8](repeating: 0, count: 40)
        ip6[0] = 0x60; ip6[4] = 0x0b; ip6[5] = 0xb8; ip6[6] = 6; ip6[7] = 64
        var tcp = [UInt8](repeating: 0, count: 20)
        tcp[12] = 0x50; tcp[13] = 0x10
        let v6 = [UInt8](repeating: 0xAA, count: 12) + [0x86, 0xDD] + ip6 + tcp + [UInt8](repeating: 7, count: 3000)
        var ip4 = [UInt8](repeating: 0, count: 20)
        ip4[0] = 0x45; ip4[2] = 0x0b; ip4[3] = 0xcc; ip4[8] = 64; ip4[9] = 6
        let v4 = [UInt8](repeating: 0xAA, count: 12) + [0x08, 0x00] + ip4 + tcp + [UInt8](repeating: 7, count: 3000)
        let vlan6 = [UInt8](repeating: 0xAA, count: 12) + [0x81, 0x00, 0x00, 0x05, 0x86, 0xDD] + ip6 + tcp + [UInt8](repeating: 7, count: 3000)
        var seg = SuperFrameSegmenter()
        for (frame, type, l4, ok) in [(v6, VirtioNetHeader.gsoTCPv4, 54, false), (v4, VirtioNetHeader.gsoTCPv6, 34, false),
                                      (v6, VirtioNetHeader.gsoTCPv6, 54, true), (v4, VirtioNetHeader.gsoTCPv4, 34, true),
                                      (vlan6, VirtioNetHeader.gsoTCPv4 | VirtioNetHeader.gsoECN, 58, false),
                                      (vlan6, VirtioNetHeader.gsoTCPv6, 58, true)] {
            let h = VirtioNetHeader(flags: 1, gsoType: type, headerLength: l4 + 20, gsoSize: 1000, checksumStart: l4, checksumOffset: 16)
            let started = frame.withUnsafeBytes { seg.start($0.baseAddress!, length: frame.count, header: h) }
            XCTAssertEqual(started, ok, "GSO type \(type) on ethertype \(frame[12]) \(frame[13]) (VLAN \(frame.count - 3000 - 20 == 58))")
        }
    }
}

final class TCPCoalescerTests: XCTestCase {
    func makeSuperFrame(payload: Int, seq: UInt32 = 7) -> [UInt8] {
        var ip = [UInt8](repeating: 0, count: 20)
        ip[0] = 0x45; ip[6] = 0x40; ip[8] = 64; ip[9] = 6
        ip[12] = 10; ip[15] = 1; ip[16] = 10; ip[19] = 2
        let total = 20 + 32 + payload
        ip[2] = UInt8(total >> 8 & 0xff); ip[3] = UInt8(total & 0xff)
        var tcp = [UInt8](repeating: 0, count: 32)
        tcp[1] = 80; tcp[3] = 99
        tcp[4] = UInt8(seq >> 24); tcp[5] = UInt8(seq >> 16 & 0xff); tcp[6] = UInt8(seq >> 8 & 0xff); tcp[7] = UInt8(seq & 0xff)
        tcp[12] = 0x80; tcp[13] = 0x18
        tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10   // NOP NOP timestamps
        return [UInt8](repeating: 0x11, count: 12) + [0x08, 0x00] + ip + tcp + (0..<payload).map { UInt8($0 % 253) }
    }

    /// Splitting a super-frame and coalescing the pieces gives back one GSO frame with the same
    /// payload, the first segment's size as gso_size and a partial checksum request.
    func testSegmentsCoalesceBackIntoOneSuperFrame() {
        let original = makeSuperFrame(payload: 20_000)
        let h = VirtioNetHeader(flags: 1, gsoType: VirtioNetHeader.gsoTCPv4, headerLength: 66, gsoSize: 1386, checksumStart: 34, checksumOffset: 16)
        var seg = SuperFrameSegmenter()
        var gro = TCPCoalescer()
        defer { gro.deallocate() }
        var out = [UInt8](repeating: 0, count: 2048)
        var written: [([UInt8], [UInt8])] = []
        let write: (UnsafeRawPointer, UnsafeRawPointer, Int) -> Void = { hp, fp, n in
            written.append((Array(UnsafeRawBufferPointer(start: hp, count: VirtioNetHeader.size)), Array(UnsafeRawBufferPointer(start: fp, count: n))))
        }
        var segments = 0
        original.withUnsafeBytes { f in
            XCTAssertTrue(seg.start(f.baseAddress!, length: f.count, header: h))
            while true {
                let n = out.withUnsafeMutableBytes { seg.next(into: $0) }
                if n == 0 { break }
                segments += 1
                out.withUnsafeBytes { o in
                    if !gro.offer(o.baseAddress!, length: n) {
                        gro.flush(write)
                        XCTAssertTrue(gro.begin(o.baseAddress!, length: n))
                    }
                }
            }
        }
        gro.flush(write)
        XCTAssertEqual(segments, 15)
        XCTAssertEqual(written.count, 1, "all segments of one flow coalesce")
        let (hdr, frame) = written[0]
        XCTAssertEqual(hdr[0], VirtioNetHeader.needsChecksum)
        XCTAssertEqual(hdr[1], VirtioNetHeader.gsoTCPv4)
        XCTAssertEqual(Int(hdr[4]) | Int(hdr[5]) << 8, 1386)
        XCTAssertEqual(Array(frame[66...]), Array(original[66...]))
        XCTAssertEqual(Int(frame[16]) << 8 | Int(frame[17]), frame.count - 14)
    }

    func testOutOfOrderOrDifferentFlowIsNotMerged() {
        var gro = TCPCoalescer()
        defer { gro.deallocate() }
        let a = makeSuperFrame(payload: 100, seq: 1000)
        let gap = makeSuperFrame(payload: 100, seq: 5000)
        var syn = makeSuperFrame(payload: 100, seq: 1100)
        syn[47] = 0x02
        a.withUnsafeBytes { XCTAssertTrue(gro.begin($0.baseAddress!, length: $0.count)) }
        gap.withUnsafeBytes { XCTAssertFalse(gro.offer($0.baseAddress!, length: $0.count)) }
        syn.withUnsafeBytes { XCTAssertFalse(gro.offer($0.baseAddress!, length: $0.count)) }
    }
}

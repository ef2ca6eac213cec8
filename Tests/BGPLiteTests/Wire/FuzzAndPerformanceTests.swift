import XCTest
import MeshRouting
@testable import BGPLite
#if canImport(Glibc)
import Glibc
#endif

final class FuzzAndPerformanceTests: XCTestCase {
    /// Valid encodings that the mutator starts from.
    func corpus() -> [(bytes: [UInt8], options: CodecOptions)] {
        let addPath = CodecOptions(fourOctetAS: true, addPathReceive: [.ipv4Unicast, .ipv6Unicast],
                                   addPathSend: [.ipv4Unicast, .ipv6Unicast])
        let ext = CodecOptions(fourOctetAS: true, extendedMessages: true)
        let nh = MPReach.ipv6NextHop(global: IPPrefix("2001:db8::1")!, linkLocal: IPPrefix("fe80::1")!)
        let rich = PathAttributes(
            origin: .egp, asPath: [.sequence([65001, 4_200_000_000]), .set([1, 2])], nextHop: 0x0A00_0001, med: 5,
            localPref: 100, atomicAggregate: true, aggregator: Aggregator(as: 4_200_000_001, address: 3),
            communities: [1, 2], mpUnreach: MPUnreach(afiSafi: .ipv6Unicast, withdrawn: [IPPrefix("2001:db8:9::/48")!]),
            unknown: [RawAttribute(flags: 0xC0, type: 32, value: [UInt8](repeating: 1, count: 12)),
                      RawAttribute(flags: 0xE0, type: 77, value: [1, 2, 3])])
        var mp = rich
        mp.mpReach = MPReach(afiSafi: .ipv6Unicast, nextHop: nh, nlri: [IPPrefix("2001:db8::/32")!, IPPrefix("2001:db8:1:2::/64")!])
        let v4 = (0..<40).map { IPPrefix(ipv4: 0x0A00_0000 | UInt32($0) << 8, length: 24) }
        var out: [([UInt8], CodecOptions)] = []
        for o in [opts4, opts2, addPath, ext] {
            out.append((BGPMessage.keepalive.encode(options: o), o))
            out.append((BGPMessage.open(OpenMessage(myAS: 4_200_000_000, holdTime: 90, bgpIdentifier: 1, capabilities: [
                .multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast), .routeRefresh, .enhancedRouteRefresh,
                .fourOctetAS(4_200_000_000), .extendedMessage,
                .gracefulRestart(GracefulRestartCapability(restartTime: 120, families: [(.ipv4Unicast, forwardingPreserved: true)])),
                .addPath([AddPathEntry(.ipv4Unicast, mode: .both)]), .unknown(code: 73, data: [1, 2, 3])])).encode(options: o), o))
            out.append((BGPMessage.notification(.administrativeShutdown(message: "bye")).encode(options: o), o))
            out.append((BGPMessage.routeRefresh(.borr(.ipv6Unicast)).encode(options: o), o))
            out.append((UpdateMessage.endOfRIB(.ipv4Unicast).encode(options: o), o))
            out.append((UpdateMessage.endOfRIB(.ipv6Unicast).encode(options: o), o))
            out.append((UpdateMessage(withdrawn: [p4("10.0.0.0/8")], attributes: rich, nlri: v4).encode(options: o), o))
            out.append((UpdateMessage(attributes: mp, nlri: []).encode(options: o), o))
            out.append((UpdateMessage.packUpdates(attributes: mp, prefixes: v4 + mp.mpReach!.nlri, options: o).last!, o))
        }
        return out
    }

    func mutate(_ m: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = m
        let ops = Int.random(in: 1...4, using: &rng)
        for _ in 0..<ops {
            switch Int.random(in: 0..<9, using: &rng) {
            case 0, 1: // flip bits in the body (keeps the header usually valid)
                if b.count > 19 { b[Int.random(in: 19..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
            case 2: // interesting values
                if !b.isEmpty { b[Int.random(in: 0..<b.count, using: &rng)] = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x21, 0x81][Int.random(in: 0..<9, using: &rng)] }
            case 3: // truncate
                if !b.isEmpty { b.removeLast(Int.random(in: 0...min(b.count, 20), using: &rng)) }
            case 4: // extend
                for _ in 0..<Int.random(in: 1...20, using: &rng) { b.append(UInt8.random(in: 0...255, using: &rng)) }
            case 5: // delete a byte in the middle
                if b.count > 20 { b.remove(at: Int.random(in: 19..<b.count, using: &rng)) }
            case 6: // insert a byte in the middle
                if b.count > 19 { b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 19...b.count, using: &rng)) }
            case 7: // corrupt an inner length field (2-byte big-endian random)
                if b.count > 22 {
                    let i = Int.random(in: 19..<(b.count - 1), using: &rng)
                    b[i] = UInt8.random(in: 0...0x10, using: &rng); b[i + 1] = UInt8.random(in: 0...255, using: &rng)
                }
            default: // header byte
                if b.count >= 19 { b[Int.random(in: 0..<19, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            }
        }
        // Usually repair the length field so the body decoder sees the mutation.
        if b.count >= 19, b.count <= 65535, Int.random(in: 0..<4, using: &rng) != 0 {
            b[16] = UInt8(b.count >> 8); b[17] = UInt8(b.count & 0xFF)
        }
        return b
    }

    func testFuzzFramingAndDecode() {
        let env = ProcessInfo.processInfo.environment
        var rng = SplitMix64(seed: env["BGPWIRE_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x7106_2024)
        let seeds = corpus()
        var decoded = 0, errors = 0, actions = 0, roundTrips = 0
        let iterations = env["BGPWIRE_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 30_000
        for n in 0..<iterations {
            let input: [UInt8]
            let options: CodecOptions
            if n % 10 == 0 {
                // Pure random bytes, sometimes behind a valid marker.
                var r = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if n % 20 == 0, r.count >= 19 { r.replaceSubrange(0..<16, with: marker); r[16] = UInt8(r.count >> 8); r[17] = UInt8(r.count & 0xFF) }
                input = r
                options = [opts4, opts2][n % 2]
            } else {
                let s = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
                input = mutate(s.bytes, &rng)
                options = s.options
            }
            input.withUnsafeBytes { raw in
                var len: Int?
                do { len = try BGPFraming.messageLength(raw, options: options) } catch { errors += 1; return }
                guard let l = len else { return }
                let one = UnsafeRawBufferPointer(rebasing: raw[0..<l])
                do {
                    let (m, action) = try BGPMessage.decodeDetailed(one, options: options)
                    decoded += 1
                    if action != .none { actions += 1 }
                    // Whatever decodes re-encodes and decodes again without trapping; clean
                    // UPDATEs and other messages round-trip exactly.
                    let again = m.encode(options: options)
                    if let back = try? BGPMessage.decode(again, options: options), action == .none {
                        if case .open = m {} else { XCTAssertEqual(back, m, "round trip of \(hexString(Array(one)))") }
                        roundTrips += 1
                    }
                } catch {
                    errors += 1
                }
                // The UPDATE body decoder on its own must never trap either.
                if l >= 19 {
                    _ = UpdateMessage.decode(body: UnsafeRawBufferPointer(rebasing: raw[19..<l]), options: options)
                }
            }
        }
        print("fuzz: \(iterations) inputs, \(decoded) decoded (\(actions) with RFC 7606 action), \(errors) BGPErrors, \(roundTrips) re-encoded")
        XCTAssertGreaterThan(decoded, 1000)
        XCTAssertGreaterThan(errors, 1000)
        XCTAssertGreaterThan(actions, 100)
    }

    /// Prints (does not assert) decode throughput. BGPWIRE_BENCH_PREFIXES overrides the count.
    func testDecodeThroughput() {
        let count = ProcessInfo.processInfo.environment["BGPWIRE_BENCH_PREFIXES"].flatMap { Int($0) } ?? 100_000
        let prefixes = (0..<count).map { IPPrefix(ipv4: 0x0100_0000 &+ UInt32($0) << 8, length: 24) }
        let attrs = PathAttributes(origin: .igp, asPath: [.sequence([65001, 65002, 65003])], nextHop: 0xC000_0201,
                                   med: 0, communities: [0xFDE9_0001])
        let t0 = ContinuousClock.now
        let msgs = UpdateMessage.packUpdates(attributes: attrs, prefixes: prefixes, options: opts4)
        let encodeTime = ContinuousClock.now - t0
        var stream: [UInt8] = []
        stream.reserveCapacity(msgs.reduce(0) { $0 + $1.count })
        for m in msgs { stream += m }

        var total = 0
        var checksum: UInt64 = 0
        let t1 = ContinuousClock.now
        stream.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[off...])
                guard let l = try? BGPFraming.messageLength(rest, options: opts4) else { XCTFail("framing"); return }
                guard case .update(let u)? = try? BGPMessage.decode(UnsafeRawBufferPointer(rebasing: rest[0..<l]), options: opts4) else {
                    XCTFail("decode"); return
                }
                total += u.nlri.count
                for p in u.nlri { checksum = checksum &+ p.hi &+ UInt64(p.length) }
                off += l
            }
        }
        let decodeTime = ContinuousClock.now - t1
        XCTAssertEqual(total, count)
        XCTAssertEqual(checksum, prefixes.reduce(UInt64(0)) { $0 &+ $1.hi &+ 24 })
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let rate = Double(count) / seconds(decodeTime)
        print("decode: \(count) /24 prefixes in \(msgs.count) UPDATEs (\(stream.count) bytes): \(decodeTime), \(Int(rate)) prefixes/s; pack: \(encodeTime), \(Int(Double(count) / seconds(encodeTime))) prefixes/s")
    }
}

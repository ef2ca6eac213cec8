import XCTest
@testable import BGPLite

struct ConfigFuzzRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

final class FuzzTests: XCTestCase {
    static let vocabulary: [String] = [
        "protocol", "template", "bgp", "static", "kernel", "device", "direct", "bfd", "filter", "function", "define",
        "{", "}", ";", ",", "(", ")", "[", "]", "[=", "=]", "=", "!=", "~", "!~", "<", ">", "<=", ">=", "&&", "||", "!",
        "+", "-", "*", "/", "..", ".", ":", "else:", "if", "then", "else", "accept", "reject", "print", "return", "case",
        "net", "net.len", "proto", "source", "bgp_path", "bgp_community", "bgp_med", "bgp_local_pref", "RTS_BGP",
        "ipv4", "ipv6", "import", "export", "all", "none", "where", "limit", "action", "restart", "local", "neighbor",
        "as", "65000", "65001", "0", "4294967296", "0x10", "10.0.0.0/8", "10.0.0.1", "2001:db8::/32", "fe80::1", "1:2",
        "\"eth0\"", "\"x", "'sym'", "#c\n", "/*", "*/", "\n", "include \"x\";", "hold", "time", "keepalive", "graceful",
        "on", "off", "int", "prefix", "set", "x", "y", "f", "defined", "prepend", "add", "delete", "true", "false",
        "10.0.0.0/8{16,24}", "10.0.0.0/8+", "10.0.0.0/8-", "(65000,1)", "(1,2..3)", "(*,5)", "[1, 3..5]", "route", "blackhole", "via",
    ]

    static func seeds() -> [String] {
        var s = [Guide.ispConfig, Guide.meshConfig, Guide.importFromISP] + Guide.snippetConfigs
        s += ConfigErrorTests.invalid.map { $0.0 }
        s.append("""
        define N = [10.0.0.0/8+]; function g(int a; int b) { return a + b; }
        filter f { int i; i = g(1, 2); case net.len { 8, 9: accept; 16..24: reject; else: print "x"; }
          if net ~ N && bgp_path ~ [= * 65001 ? =] || !(source = RTS_STATIC) then { bgp_community.add((65000, i)); accept; } else reject; }
        protocol device {}
        """)
        return s
    }

    func exercise(_ text: String, _ r: inout FilterRouteContext) {
        do {
            let c = try BGPConfig.parse(text: text, fileName: "fuzz.conf") { _ in "protocol device {}\n" }
            for f in c.filters.values {
                var rr = r
                _ = f.run(&rr) { _ in }
            }
        } catch {
            XCTAssertFalse(error.message.isEmpty)
            XCTAssertGreaterThanOrEqual(error.line, 1)
        }
    }

    func testFuzzParserAndFilters() {
        var rng = ConfigFuzzRNG(state: 0xC0FFEE)
        let seeds = FuzzTests.seeds()
        var r = FilterRouteContext(net: IPPrefix("10.1.0.0/16")!, proto: "static1", source: .bgp,
                                   bgpPath: [65001, 7], bgpMED: 3, bgpCommunities: [65000 << 16 | 1])
        var count = 0
        // Mutated seeds.
        for _ in 0..<4000 {
            var b = Array(seeds[rng.int(seeds.count)].utf8)
            for _ in 0..<(1 + rng.int(4)) {
                switch rng.int(5) {
                case 0 where !b.isEmpty:   // delete a range
                    let i = rng.int(b.count), n = min(b.count - i, 1 + rng.int(8))
                    b.removeSubrange(i..<(i + n))
                case 1:                    // insert a vocabulary token
                    let i = rng.int(b.count + 1)
                    b.insert(contentsOf: Array((" " + FuzzTests.vocabulary[rng.int(FuzzTests.vocabulary.count)] + " ").utf8), at: i)
                case 2 where !b.isEmpty:   // flip a byte
                    b[rng.int(b.count)] = UInt8(truncatingIfNeeded: rng.next())
                case 3 where b.count > 2:  // duplicate a range
                    let i = rng.int(b.count), n = min(b.count - i, 1 + rng.int(20))
                    b.insert(contentsOf: b[i..<(i + n)], at: rng.int(b.count))
                default:                   // truncate
                    if !b.isEmpty { b.removeLast(rng.int(b.count)) }
                }
            }
            exercise(String(decoding: b, as: UTF8.self), &r)
            count += 1
        }
        // Random token soup, sometimes wrapped in a filter/protocol skeleton.
        for _ in 0..<2000 {
            var parts: [String] = []
            for _ in 0..<(1 + rng.int(40)) { parts.append(FuzzTests.vocabulary[rng.int(FuzzTests.vocabulary.count)]) }
            let body = parts.joined(separator: " ")
            let text: String
            switch rng.int(3) {
            case 0: text = "filter f { \(body) }\nprotocol device {}\n"
            case 1: text = "protocol bgp { local as 1; neighbor 10.0.0.1 as 1; \(body) }\n"
            default: text = body
            }
            exercise(text, &r)
            count += 1
        }
        XCTAssertGreaterThanOrEqual(count, 5000)
    }

    func testDeepNestingIsAnErrorNotACrash() {
        func nest(_ n: Int) -> String { String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n) }
        XCTAssertNotNil(parse("define X = \(nest(30)); protocol device {}"))
        let e = parseError("define X = \(nest(5000)); protocol device {}")
        XCTAssertEqual(e?.line, 1)
        XCTAssertTrue(e?.message.contains("nested too deeply") ?? false)
        let blocks = String(repeating: "{ ", count: 3000) + String(repeating: "} ", count: 3000)
        XCTAssertNotNil(parseError("filter f { \(blocks) accept; } protocol device {}"))
        let nots = String(repeating: "!", count: 3000)
        XCTAssertNotNil(parseError("filter f { if \(nots) true then accept; } protocol device {}"))
    }
}

final class DifferentialTests: XCTestCase {
    /// Mutated configs that BGPLite accepts must also be accepted by BIRD (we may reject more: unsupported).
    func testAcceptedMutantsAreAcceptedByBird() throws {
        guard Bird.available else { throw XCTSkip("bird not installed") }
        var rng = ConfigFuzzRNG(state: 42)
        let seeds = FuzzTests.seeds()
        var checked = 0, mismatches: [String] = []
        var attempts = 0
        while checked < 100 && attempts < 20000 {
            attempts += 1
            var b = Array(seeds[rng.int(seeds.count)].utf8)
            let i = rng.int(b.count + 1)
            if rng.int(2) == 0, !b.isEmpty {
                b.removeSubrange(i..<min(b.count, i + 1 + rng.int(6)))
            } else {
                b.insert(contentsOf: Array((" " + FuzzTests.vocabulary[rng.int(FuzzTests.vocabulary.count)] + " ").utf8), at: i)
            }
            let text = String(decoding: b, as: UTF8.self)
            if text.contains("include") { continue }
            guard (try? BGPConfig.parse(text: text, fileName: "bgp.conf", includeLoader: nil)) != nil else { continue }
            checked += 1
            let (ok, err) = try Bird.check(text)
            if !ok { mismatches.append("\(err)\n---\n\(text)") }
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(3).joined(separator: "\n=====\n"))
    }
}

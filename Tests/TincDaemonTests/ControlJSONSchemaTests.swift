import XCTest
import Foundation
import Glibc
import DaemonTestSupport
@testable import TincDaemon

/// `ctl --json` for every control command, from two live daemons with an eBGP session between
/// their embedded speakers: each reply must parse as JSON and match a hand-written type schema
/// (key → JSON type, every key present, none extra): numbers as numbers, booleans as booleans.
final class ControlJSONSchemaTests: XCTestCase {
    /// A JSON document as parsed by the strict JSONDecoder (a number never decodes as Bool or String).
    indirect enum JSONValue: Decodable, Equatable, Sendable {
        case null, bool(Bool), int(Int64), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let i = try? c.decode(Int64.self) { self = .int(i) }
            else if let d = try? c.decode(Double.self) { self = .double(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        }

        subscript(key: String) -> JSONValue? {
            if case .object(let o) = self { return o[key] }
            return nil
        }
    }

    indirect enum Schema: Sendable {
        case string, int, number, bool
        case nullable(Schema)
        case array(Schema)
        case object([String: Schema])
    }

    /// What is wrong with `v` against `s` (empty: it matches).
    func violations(_ v: JSONValue, _ s: Schema, at path: String = "$") -> [String] {
        switch (s, v) {
        case (.nullable, .null): return []
        case (.nullable(let inner), _): return violations(v, inner, at: path)
        case (.string, .string), (.int, .int), (.number, .int), (.number, .double), (.bool, .bool): return []
        case (.array(let e), .array(let items)):
            return items.enumerated().flatMap { violations($1, e, at: "\(path)[\($0)]") }
        case (.object(let fields), .object(let o)):
            var out: [String] = []
            for (k, fs) in fields {
                guard let fv = o[k] else { out.append("\(path).\(k) missing"); continue }
                out += violations(fv, fs, at: "\(path).\(k)")
            }
            for k in o.keys where fields[k] == nil { out.append("\(path).\(k) not in the schema") }
            return out
        default:
            return ["\(path): expected \(s), got \(v)"]
        }
    }

    static let node: Schema = .object([
        "name": .string, "myself": .bool, "reachable": .bool, "connected": .bool,
        "address": .nullable(.string), "port": .nullable(.string), "nexthop": .nullable(.string), "via": .nullable(.string),
        "distance": .nullable(.int), "options": .int, "status": .int, "subnets": .array(.string), "validkey": .bool,
        "pmtu": .nullable(.int), "minmtu": .nullable(.int), "maxmtu": .nullable(.int),
        "cipher": .int, "digest": .int, "maclength": .int, "compression": .int, "traffic": traffic,
    ])
    static let traffic: Schema = .object([
        "in_packets": .int, "in_bytes": .int, "out_packets": .int, "out_bytes": .int,
        "in_tcp_packets": .int, "in_tcp_bytes": .int, "out_tcp_packets": .int, "out_tcp_bytes": .int,
        "drops": .object(Dictionary(uniqueKeysWithValues: ["bad_mac", "replay", "no_key", "decompress", "too_short", "compress",
                                                           "seal_failed", "send_error"].map { ($0, Schema.int) })),
        "last_seen_seconds": .nullable(.number), "in_key_age_seconds": .nullable(.number), "out_key_age_seconds": .nullable(.number),
    ])
    static let edge: Schema = .object([
        "from": .string, "to": .string, "address": .string, "port": .string, "options": .int, "weight": .int,
        "bidirectional": .bool, "mst": .bool,
    ])
    static let subnet: Schema = .object(["subnet": .string, "weight": .int, "owner": .string, "reachable": .bool])
    static let connection: Schema = .object([
        "name": .nullable(.string), "address": .string, "port": .int, "state": .string, "outgoing": .bool, "options": .int,
        "mst": .bool, "outbuf": .int, "outbuf_limit": .int, "socket": .int, "status": .int,
    ])
    static let stats: Schema = .object(Dictionary(uniqueKeysWithValues: [
        "device_in_packets", "device_in_bytes", "device_out_packets", "device_out_bytes", "udp_in_packets", "udp_in_bytes",
        "udp_out_packets", "udp_out_bytes", "tcp_fallback_frames", "dropped_bad_mac", "dropped_replay", "dropped_short",
        "dropped_unknown_source", "dropped_no_key", "dropped_no_route", "dropped_send_error", "dropped_compression",
        "dropped_queue_full", "dropped_seal_failed", "nodes", "reachable_nodes", "edges", "subnets", "connections",
        "meta_requests_sent", "gossip_refused", "scripts_started", "scripts_failed", "scripts_timed_out",
        "scripts_skipped", "scripts_coalesced", "scripts_queued",
    ].map { ($0, Schema.int) }))
    static let action: Schema = .object(["message": .string])
    static let debugLevel: Schema = .object(["message": .string, "old_level": .int, "new_level": .int])
    static let bgpProtocol: Schema = .object([
        "name": .string, "proto": .string, "table": .string, "state": .string, "bgpState": .string, "since": .number, "established": .bool,
        "prefixesReceived": .int, "prefixesAccepted": .int, "prefixesExported": .int, "updatesIn": .int,
        "updatesOut": .int, "lastError": .string,
    ])
    static let routeCount: Schema = .object(["routes": .int, "shown": .int, "networks": .int])
    static let route: Schema = .object([
        "prefix": .string, "dest": .string, "protocol": .string, "since": .number, "primary": .bool, "preference": .int,
        "stale": .bool, "bgp": .bool, "origin": .nullable(.string), "originAS": .nullable(.int), "asPath": .array(.int),
        "localPref": .nullable(.int), "med": .nullable(.int), "gateway": .nullable(.string),
        "interface": .nullable(.string), "from": .nullable(.string),
    ])
    static let routeTables: Schema = .object([
        "tables": .array(.object(["table": .string, "count": routeCount, "routes": .array(route)])),
        "total": .nullable(routeCount),
    ])

    func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 ? getsockname(fd, $0, &len) : -1 }
        }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    func bgpConf(routerID: String, localIP: String, localPort: Int, localAS: Int, peerName: String, peerIP: String,
                 peerPort: Int, peerAS: Int, route: String) -> String {
        """
        router id \(routerID);
        protocol static announce {
            ipv4;
            route \(route) blackhole;
        }
        protocol bgp \(peerName) {
            local \(localIP) port \(localPort) as \(localAS);
            neighbor \(peerIP) port \(peerPort) as \(peerAS);
            connect retry time 1;
            error wait time 1, 2;
            ipv4 { import all; export all; };
        }

        """
    }

    func parse(_ reply: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(reply.utf8))
        } catch {
            XCTFail("not JSON: \(error)\n\(reply)", file: file, line: line)
            return nil
        }
    }

    func testEveryCommandsJSONMatchesItsSchema() throws {
        let mesh = try LiveMesh()
        let (pa, pb) = (freePort(), freePort())
        let a = try mesh.start("A", mode: .router, subnets: ["10.1.0.0/24"], files: [
            "bgp.conf": bgpConf(routerID: "10.255.0.1", localIP: "127.0.0.1", localPort: pa, localAS: 65001, peerName: "peer_b",
                                peerIP: "127.0.0.2", peerPort: pb, peerAS: 65002, route: "10.91.0.0/24"),
        ])
        let b = try mesh.start("B", mode: .router, subnets: ["10.2.0.0/24"], connectTo: ["A"], files: [
            "bgp.conf": bgpConf(routerID: "10.255.0.2", localIP: "127.0.0.2", localPort: pb, localAS: 65002, peerName: "peer_a",
                                peerIP: "127.0.0.1", peerPort: pa, peerAS: 65001, route: "10.92.0.0/24"),
        ])
        XCTAssertTrue(mesh.wait {
            a.control("show route for 10.92.0.1").contains("peer_b") && a.control("info B").contains("Status:       reachable")
                && a.control("dump subnets").contains("10.2.0.0/24")
        }, "mesh or BGP session did not come up:\n\(a.control("show protocols"))\(a.control("dump nodes"))")

        let commands: [(String, Schema)] = [
            ("dump nodes", .array(Self.node)),
            ("dump edges", .array(Self.edge)),
            ("dump subnets", .array(Self.subnet)),
            ("dump connections", .array(Self.connection)),
            ("dump graph", .object(["nodes": .array(Self.node), "edges": .array(Self.edge)])),
            ("info B", Self.node),
            ("info A", Self.node),
            ("stats", Self.stats),
            ("show protocols", .array(Self.bgpProtocol)),
            ("show protocols all peer_b", .array(Self.bgpProtocol)),
            ("show route", Self.routeTables),
            ("show route count", Self.routeTables),
            ("show route for 10.92.0.1", Self.routeTables),
            ("show route protocol peer_b", Self.routeTables),
            ("show route for 10.92.0.1 count", Self.routeTables),
            ("debug 0", Self.debugLevel),
            ("retry", Self.action),
            ("reload", Self.action),
            ("purge", Self.action),
        ]
        var parsed: [String: JSONValue] = [:]
        for (command, schema) in commands {
            let reply = a.control("--json " + command)
            guard let v = parse(reply) else { continue }
            parsed[command] = v
            let bad = violations(v, schema)
            XCTAssertTrue(bad.isEmpty, "ctl --json \(command):\n" + bad.joined(separator: "\n") + "\n" + reply)
        }

        // Values, not only types: the same facts the text form shows.
        guard case .array(let nodes)? = parsed["dump nodes"] else { return XCTFail("dump nodes is no array") }
        let nodeB = nodes.first { $0["name"] == .string("B") }
        XCTAssertEqual(nodeB?["reachable"], .bool(true))
        XCTAssertEqual(nodeB?["connected"], .bool(true))
        XCTAssertEqual(nodeB?["subnets"], .array([.string("10.2.0.0/24#10")]))
        XCTAssertEqual(parsed["stats"]?["nodes"], .int(2))
        XCTAssertEqual(parsed["stats"]?["connections"], .int(1))
        guard case .array(let protocols)? = parsed["show protocols"] else { return XCTFail("show protocols is no array") }
        let session = protocols.first { $0["name"] == .string("peer_b") }
        XCTAssertEqual(session?["established"], .bool(true))
        XCTAssertEqual(session?["bgpState"], .string("Established"))
        XCTAssertEqual(parsed["show protocols all peer_b"].map { v -> Int in if case .array(let x) = v { return x.count }; return -1 }, 1)
        guard case .array(let tables)? = parsed["show route for 10.92.0.1"]?["tables"],
              case .array(let routes)? = tables.first?["routes"] else { return XCTFail("no routes for 10.92.0.1") }
        XCTAssertEqual(routes.first?["prefix"], .string("10.92.0.0/24"))
        XCTAssertEqual(routes.first?["asPath"], .array([.int(65002)]))
        XCTAssertEqual(routes.first?["gateway"], .string("127.0.0.2"))
        XCTAssertEqual(parsed["show route count"]?["tables"].flatMap { t -> JSONValue? in
            if case .array(let x) = t { return x.first?["count"]?["routes"] }
            return nil
        }, .int(2))

        // Errors stay ERROR lines (the client exits 1 on them), with or without --json.
        XCTAssertTrue(a.control("--json info nosuchnode").hasPrefix("ERROR "))
        XCTAssertTrue(b.control("--json show route for nonsense").hasPrefix("ERROR "))
        // Last: stop answers too (and then stops B's loop).
        if let v = parse(b.control("--json stop")) { XCTAssertTrue(violations(v, Self.action).isEmpty, "\(v)") }
    }

    /// A peer's string (an edge address, a BGP error text) with DEL, C1, bidi or non-BMP characters
    /// survives the control server's terminal escaping as valid JSON with the same value.
    func testJSONRepliesSurviveTerminalEscaping() throws {
        struct Reply: Codable, Equatable { var text: String; var n: Int }
        let hostile = Reply(text: "a\u{7f}b\u{85}c\u{202e}d\u{2028}e\u{e9}f\u{1F600}g\u{1b}[31m\"\\/", n: 3)
        let json = jsonText(hostile)
        XCTAssertEqual(ControlServer.terminalSafe(json), json, "terminal escaping would change the JSON")
        XCTAssertTrue(json.utf8.allSatisfy { $0 == 0x0A || ($0 >= 0x20 && $0 < 0x7F) }, json)
        XCTAssertEqual(try JSONDecoder().decode(Reply.self, from: Data(json.utf8)), hostile, json)
    }
}

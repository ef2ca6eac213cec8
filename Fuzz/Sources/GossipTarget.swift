// The gossip handlers driving a real graph: three authenticated peers send ADD/DEL_EDGE,
// ADD/DEL_SUBNET, KEY_CHANGED, REQ_KEY/ANS_KEY, PING/PONG, PACKET and garbage lines built from the
// input, with second connections, closed connections and purges in between. After every step the
// graph and connection tables must be consistent (DaemonHarness.violations) and within MeshLimits.
import DaemonTestSupport
import TincConfig

private let names = ["self", "a", "b", "c", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "bad-name", "", "x_y"]
private let subnets = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "10.1.2.0/24#5", "fe80::/64", "2001:db8::1/128",
                       "00:11:22:33:44:55", "10.0.0.0/33", "300.1.1.1/24", "10.0.0.1/24", "::/0", "0.0.0.0/0#-5"]
private let numbers = ["0", "1", "-1", "10", "427", "672", "913", "1100", "99999", "2147483648", "c", "ffffffff", "zz", ""]

func fuzzGossip(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    var limits = MeshLimits()
    limits.maxNodes = 10
    limits.maxEdges = 30
    limits.maxSubnets = 40
    limits.maxSubnetsPerNode = 8
    guard let h = try? DaemonHarness(limits: limits) else { return }
    let peers = ["a", "b", "c"]
    var ids = peers.map { h.connectPeer($0) }
    func pick(_ a: [String]) -> String { a[Int(r.u8()) % a.count] }
    var steps = 0
    while !r.atEnd && steps < 400 {
        steps += 1
        let op = r.u8()
        let i = Int(op % 3)
        let nonce = String(r.u16(), radix: 16)
        let line: String
        switch (op >> 2) % 12 {
        case 0: line = "12 \(nonce) \(pick(names)) \(pick(names)) 192.0.2.\(r.u8()) 655 \(pick(numbers)) \(pick(numbers))"
        case 1: line = "13 \(nonce) \(pick(names)) \(pick(names))"
        case 2: line = "10 \(nonce) \(pick(names)) \(pick(subnets))"
        case 3: line = "11 \(nonce) \(pick(names)) \(pick(subnets))"
        case 4: line = "14 \(nonce) \(pick(names))"
        case 5: line = "15 \(pick(names)) \(pick(names))"
        case 6: line = "16 \(pick(names)) \(pick(names)) \(pick(["00", "0011", "zz", String(repeating: "ab", count: 48)])) \(pick(numbers)) \(pick(numbers)) \(pick(numbers)) \(pick(numbers))"
        case 7:
            // Raw bytes as a line: anything at all, including what no tinc sends.
            let n = Int(r.u8() % 64)
            line = String(decoding: r.bytes(n).filter { $0 != 0x0A }, as: UTF8.self)
        case 8:
            ids[i] = h.connectPeer(peers[i], host: "192.0.2.\(1 + r.u8() % 200)")
            continue
        case 9:
            if let id = ids[i] { h.close(connection: id, report: r.u8() & 1 == 0) }
            continue
        case 10:
            h.purge()
            continue
        default: line = pick(["8", "9", "17 \(r.u16())", "4 655 1 0", "0 x 17"])
        }
        if let id = ids[i] { h.feed(line, connection: id) }
        let v = h.violations()
        fuzzCheck(v.isEmpty, "after '\(line)' from \(peers[i]): \(v)")
    }
}

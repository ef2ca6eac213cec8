import Foundation
import XCTest

/// Router mode (tun) with IPv4 and IPv6 Subnets: ping and ping6 in both directions.
/// Node i owns 10.81.<i+1>.0/24 and fd81:0:0:<i+1>::/64 and has .1 / ::1 of them on its tun; the tun routes
/// 10.81.0.0/16 and fd81::/48, tinc picks the owner by Subnet.
final class RouterModeInteropTests: InteropTestCase {

    func v4(_ i: Int) -> String { "10.81.\(i + 1).1" }
    func v6(_ i: Int) -> String { "fd81:0:0:\(i + 1)::1" }

    func routerNode(_ name: String, _ impl: TincImpl, _ lab: NetnsLab, _ i: Int, port: Int) -> TincNode {
        let n = TincNode(name: name, impl: impl, lab: lab, nsIndex: i, port: port,
                         subnets: ["10.81.\(i + 1).0/24", "fd81:0:0:\(i + 1)::/64"])
        n.configureRouter(v4: v4(i), prefix4: 16, v6: v6(i), prefix6: 48)
        n.pingTimeout = 5
        return n
    }

    private func runPair(_ implA: TincImpl, _ implB: TincImpl, function: String = #function) throws {
        try TincBinaries.requireSwiftBinary()
        let lab = try makeLab(nodes: 2, function: function)
        let a = routerNode(implA == .swift ? "rsa" : "rca", implA, lab, 0, port: 7501)
        let b = routerNode(implB == .swift ? "rsb" : "rcb", implB, lab, 1, port: 7502)
        b.connectTo = [a.name]
        watched = [a, b]
        try setUpNetwork([a, b])
        try start(a, b)
        guard assertEvent(a, "host-up", b.name, timeout: 20), assertEvent(b, "host-up", a.name, timeout: 10) else { return }
        for s in b.subnets { assertEvent(a, "subnet-up", b.name, subnet: s, timeout: 10) }
        for s in a.subnets { assertEvent(b, "subnet-up", a.name, subnet: s, timeout: 10) }

        assertPing(from: a, to: v4(1))
        assertPing(from: b, to: v4(0))
        assertPing(from: a, to: v6(1))
        assertPing(from: b, to: v6(0))
        assertRunning(a)
        assertRunning(b)
    }

    func testRouterSwiftToC() throws { try runPair(.swift, .c) }

    func testRouterSwiftToSwift() throws { try runPair(.swift, .swift) }
}

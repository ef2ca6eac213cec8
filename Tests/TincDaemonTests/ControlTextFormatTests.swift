import XCTest
import DaemonTestSupport
import MeshStatus
@testable import TincDaemon

/// The text forms scripts and log scrapers parse (ctl tables, `info`, `stats`, the SIGUSR1/2
/// lines in tinc 1.0's words), pinned byte for byte for a hand-made snapshot.
final class ControlTextFormatTests: XCTestCase {
    let me = NodeSnapshot(name: "alpha", myself: true, reachable: true, connected: false, address: nil, port: nil,
                          nexthop: "alpha", via: "alpha", distance: 0, options: 0, status: 0x18, subnets: ["10.1.0.0/24#10"],
                          validkey: false, pmtu: nil, minmtu: nil, maxmtu: nil, cipher: 0, digest: 0, maclength: 0,
                          compression: 0)
    let peer = NodeSnapshot(name: "beta", myself: false, reachable: true, connected: true, address: "192.0.2.2", port: "655",
                            nexthop: "beta", via: "beta", distance: 1, options: 0xc, status: 0x1a,
                            subnets: ["10.2.0.0/24#10", "10.3.0.0/16#5"], validkey: true, pmtu: 1451, minmtu: 1451,
                            maxmtu: 1451, cipher: 427, digest: 672, maclength: 4, compression: 0,
                            traffic: ControlTextFormatTests.peerTraffic)
    static let peerTraffic: PeerTraffic = {
        var t = PeerTraffic()
        t.inPackets = 12; t.inBytes = 3400; t.inTCPPackets = 1; t.inTCPBytes = 80
        t.outPackets = 10; t.outBytes = 2000
        t.drops.replay = 2
        t.lastSeen = 1.3
        t.inKeyAge = 30.5
        t.outKeyAge = 75
        return t
    }()
    let gone = NodeSnapshot(name: "gamma", myself: false, reachable: false, connected: false, address: nil, port: nil,
                            nexthop: nil, via: nil, distance: nil, options: 0, status: 0, subnets: [], validkey: false,
                            pmtu: nil, minmtu: nil, maxmtu: nil, cipher: 0, digest: 0, maclength: 0, compression: 0)
    let edges = [
        EdgeSnapshot(from: "alpha", to: "beta", address: "192.0.2.2", port: "655", options: 0xc, weight: 12, bidirectional: true, mst: true),
        EdgeSnapshot(from: "beta", to: "alpha", address: "192.0.2.1", port: "655", options: 0xc, weight: 12, bidirectional: true, mst: true),
        EdgeSnapshot(from: "beta", to: "gamma", address: "198.51.100.3", port: "7000", options: 0, weight: 40, bidirectional: false, mst: false),
    ]

    func testTablesInfoAndDumpLines() throws {
        let h = try DaemonHarness(name: "alpha")
        let d = h.daemon
        XCTAssertEqual(d.nodesText([me, peer, gone]), """
            NODE   STATE        UDP ADDRESS         NEXTHOP  VIA    OPTIONS  PMTU (MIN-MAX)    KEY
            alpha  myself       -                   alpha    alpha  0        -                 no
            beta   reachable    192.0.2.2 port 655  beta     beta   c        1451 (1451-1451)  yes
            gamma  unreachable  -                   -        -      0        -                 no

            """)
        XCTAssertEqual(d.infoText(peer, edges: edges.filter { $0.from == "beta" }), """
            Node:         beta
            Status:       reachable, directly connected
            Address:      192.0.2.2 port 655
            Reached via:  nexthop beta, via beta, 1 hop(s)
            Options:      c
            PMTU:         1451 (min 1451 max 1451)
            Packet key:   valid, cipher 427 digest 672 maclength 4 compression 0
            RX:           12 packets  3400 bytes (over TCP: 1 packets  80 bytes)
            TX:           10 packets  2000 bytes (over TCP: 0 packets  0 bytes)
            Dropped:      bad_mac 0, replay 2, no_key 0, decompress 0, too_short 0, compress 0, seal_failed 0, send_error 0
            Last seen:    1.3 s ago
            Key age:      in 30.5 s, out 75 s
            Edges:        alpha (weight 12), gamma (weight 40)
            Subnets:      10.2.0.0/24#10 10.3.0.0/16#5

            """)
        XCTAssertEqual(d.infoText(gone, edges: []), """
            Node:         gamma
            Status:       unreachable
            Address:      unknown
            Reached via:  nexthop -, via -, no path
            Options:      0
            RX:           0 packets  0 bytes (over TCP: 0 packets  0 bytes)
            TX:           0 packets  0 bytes (over TCP: 0 packets  0 bytes)
            Dropped:      bad_mac 0, replay 0, no_key 0, decompress 0, too_short 0, compress 0, seal_failed 0, send_error 0
            Last seen:    never
            Key age:      in none, out none
            Edges:        \("")
            Subnets:      \("")

            """)
        XCTAssertEqual(d.edgesText(edges), """
            FROM   TO     ADDRESS       PORT  OPTIONS  WEIGHT  MST
            alpha  beta   192.0.2.2     655   c        12      yes
            beta   alpha  192.0.2.1     655   c        12      yes
            beta   gamma  198.51.100.3  7000  0        40      no

            """)
        XCTAssertEqual(d.subnetsText([SubnetSnapshot(subnet: "10.2.0.0/24", weight: 10, owner: "beta", reachable: true),
                                      SubnetSnapshot(subnet: "2:0:0:0:0:b", weight: 5, owner: "gamma", reachable: false)]), """
            SUBNET       WEIGHT  OWNER  OWNER STATE
            10.2.0.0/24  10      beta   reachable
            2:0:0:0:0:b  5       gamma  unreachable

            """)
        let conns = [ConnectionSnapshot(name: "beta", address: "192.0.2.2", port: 655, state: "active", outgoing: true,
                                        options: 0xc, mst: true, outbuf: 0, outbufLimit: 15180, socket: 7, status: 0x142),
                     ConnectionSnapshot(name: nil, address: "203.0.113.9", port: 40000, state: "id", outgoing: false,
                                        options: 0, mst: false, outbuf: 37, outbufLimit: 15180, socket: 9, status: 0)]
        XCTAssertEqual(d.connectionsText(conns), """
            NAME       ADDRESS                 STATE   DIRECTION  OPTIONS  MST  OUTBUF
            beta       192.0.2.2 port 655      active  outgoing   c        yes  0
            <unknown>  203.0.113.9 port 40000  id      incoming   0        no   37

            """)

        // SIGUSR1/SIGUSR2 lines as tinc 1.0 logs them.
        XCTAssertEqual(MeshDaemon.nodeLine(me), " alpha at MYSELF cipher 0 digest 0 maclength 0 compression 0 options 0 status 0018 nexthop alpha via alpha pmtu 1518 (min 0 max 1518)")
        XCTAssertEqual(MeshDaemon.nodeLine(peer), " beta at 192.0.2.2 port 655 cipher 427 digest 672 maclength 4 compression 0 options c status 001a nexthop beta via beta pmtu 1451 (min 1451 max 1451)")
        XCTAssertEqual(MeshDaemon.nodeLine(gone), " gamma at unknown port unknown cipher 0 digest 0 maclength 0 compression 0 options 0 status 0000 nexthop - via - pmtu 1518 (min 0 max 1518)")
        XCTAssertEqual(MeshDaemon.edgeLine(edges[2]), " beta to gamma at 198.51.100.3 port 7000 options 0 weight 40")
        XCTAssertEqual(MeshDaemon.subnetLine(SubnetSnapshot(subnet: "10.2.0.0/24", weight: 10, owner: "beta", reachable: true)),
                       " 10.2.0.0/24#10 owner beta")
        XCTAssertEqual(MeshDaemon.connectionLine(conns[0]), " beta at 192.0.2.2 port 655 options c socket 7 status 0142 outbuf 0/15180/0")
        XCTAssertEqual(MeshDaemon.connectionLine(conns[1]), " <unknown> at 203.0.113.9 port 40000 options 0 socket 9 status 0000 outbuf 37/15180/0")
    }

    func testStatsAndGraph() throws {
        let h = try DaemonHarness(name: "alpha")
        let d = h.daemon
        var st = StatsSnapshot()
        st.deviceInPackets = 5; st.udpOutBytes = 1234567890123; st.droppedReplay = 2
        st.nodes = 3; st.reachableNodes = 2; st.edges = 3; st.subnets = 4; st.connections = 1; st.metaRequestsSent = 42
        let text = d.statsText(st)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 32)
        XCTAssertEqual(lines, lines.sorted())
        XCTAssertTrue(lines.contains("device_in_packets        5"), text)
        XCTAssertTrue(lines.contains("udp_out_bytes            1234567890123"), text)
        XCTAssertTrue(lines.contains("dropped_replay           2"), text)
        XCTAssertTrue(lines.contains("connections              1"), text)
        XCTAssertTrue(lines.contains("meta_requests_sent       42"), text)

        XCTAssertEqual(d.graphDot(MeshSnapshot(name: "alpha", version: "v", startTime: 0, nodes: [me, peer, gone], edges: edges)), """
            digraph "tinc" {
              graph [overlap=false, splines=true, label="tincd-swift mesh as seen by alpha"];
              node [shape=box, style=filled];
              "alpha" [label="alpha\\n10.1.0.0/24", fillcolor=gold, penwidth=2];
              "beta" [label="beta\\n10.2.0.0/24\\n10.3.0.0/16", fillcolor=palegreen];
              "gamma" [label="gamma", fillcolor=lightcoral];
              "alpha" -> "beta" [dir=both, label="12/12", penwidth=2];
              "beta" -> "gamma" [style=dashed, label="40"];
            }

            """)
    }
}

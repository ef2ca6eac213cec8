// `tincd-swift bench-routes`: the work of bench/bgp.sh's receiver in one process, without sockets
// or timing noise, for callgrind (bench/bgp-callgrind.sh). A speaker with two passive eBGP
// sessions, `sender` (import all) and `downstream` (export all), both brought up over in-memory
// connections (MemoryTransport); then the sender's table arrives as bird2 sends it: N IPv4 /24s
// from 1.0.0.0/24 upward (and IPv6 /48s with --v6), one attribute set per family, ~1000 prefixes
// per 4 KB UPDATE, fed in reads of --read bytes (default 64 KB, one recv; Connection.onReadable
// takes up to 1 MB per wakeup), each read followed by the zero-delay timers (the export flush). What the downstream is sent is counted and thrown away.
import Glibc
import MeshIO

public enum RouteTransferBenchmark {
    static let configText = """
    router id 192.0.2.2;
    protocol bgp sender {
        local 192.0.2.2 as 65000;
        neighbor 192.0.2.1 as 65001;
        passive on;
        ipv4 { import all; export none; };
        ipv6 { import all; export none; };
    }
    protocol bgp downstream {
        local 198.51.100.1 as 65000;
        neighbor 198.51.100.2 as 65002;
        passive on;
        ipv4 { import none; export all; };
        ipv6 { import none; export all; next hop address 2001:db8:2::1; };
    }
    """

    /// `tincd-swift bench-routes [--routes=N] [--v6=N] [--read=BYTES]`; prints what it did, exit
    /// status 1 when the downstream was not sent every route.
    public static func main(_ args: [String]) -> Int32 {
        var given = ["--routes": 1_000_000, "--v6": 0, "--read": 65536]
        for a in args {
            let kv = a.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, given[String(kv[0])] != nil, let v = Int(kv[1]), v >= 0 else {
                writeStandardError("bench-routes: bad argument \(a) (--routes=N --v6=N --read=BYTES)\n")
                return 1
            }
            given[String(kv[0])] = v
        }
        let routes = given["--routes"] ?? 0, routes6 = given["--v6"] ?? 0, readSize = given["--read"] ?? 0
        guard routes <= 8_000_000, routes6 <= 4_000_000, routes + routes6 > 0, (4096...(16 << 20)).contains(readSize) else {
            writeStandardError("bench-routes: --routes 0...8000000, --v6 0...4000000, not both 0, --read 4096...16777216\n")
            return 1
        }
        do {
            return try run(routes: routes, routes6: routes6, readSize: readSize)
        } catch {
            writeStandardError("bench-routes: \(error)\n")
            return 1
        }
    }

    private static func run(routes: Int, routes6: Int, readSize: Int) throws -> Int32 {
        let config = try BGPConfig.parse(text: configText)
        let loop = try EventLoop()
        let clock = ManualClock()
        loop.clock = clock.clock
        let speaker = try BGPSpeaker(config: config, loop: loop)
        speaker.connectHook = { s, _ in throw BGPSpeakerError("\(s.name): the benchmark never connects") }
        speaker.quiet = true
        speaker.start()
        guard let up = speaker.sessions.first(where: { $0.name == "sender" }),
              let down = speaker.sessions.first(where: { $0.name == "downstream" }) else {
            throw BGPSpeakerError("sessions missing from the benchmark config")
        }
        let downOut = MemoryTransport()
        let downConn = try establish(down, peerAS: 65002, id: 0xC633_6402, address: "198.51.100.2", memory: downOut)
        let upConn = try establish(up, peerAS: 65001, id: 0xC000_0201, address: "192.0.2.1", memory: MemoryTransport())
        loop.runTimersDue()
        downOut.written.removeAll()

        let input = updates(routes: routes, routes6: routes6, options: upConn.options, readSize: readSize)
        let t0 = EventLoop.now()
        let sent = benchFeedTable(input, into: upConn, loop: loop, downstream: downOut)
        let seconds = EventLoop.now() - t0
        _ = downConn
        let exported = down.adjOut.count
        print("bench-routes: \(routes) IPv4 + \(routes6) IPv6 routes in \(input.count) reads, "
              + "Loc-RIB \(speaker.locRIBCount), downstream Adj-RIB-Out \(exported), "
              + "\(sent) bytes to the downstream, \(Int(seconds * 1000)) ms")
        guard speaker.locRIBCount == routes + routes6, exported == routes + routes6 else {
            writeStandardError("bench-routes: not every route was imported and exported\n")
            return 1
        }
        return 0
    }

    /// What is measured (bench/bgp-callgrind.sh collects only inside this function).
    @inline(never)
    static func benchFeedTable(_ input: [[UInt8]], into c: Connection, loop: EventLoop, downstream: MemoryTransport) -> Int {
        var sent = 0
        for chunk in input {
            c.ingest(chunk)
            loop.runTimersDue()
            sent += downstream.written.count
            downstream.written.removeAll(keepingCapacity: true)
        }
        return sent
    }

    /// Brings `s` to Established over an in-memory connection: the peer's OPEN and KEEPALIVE.
    private static func establish(_ s: Session, peerAS: UInt32, id: UInt32, address: String,
                                  memory: MemoryTransport) throws -> Connection {
        guard let remote = SocketAddress(numericHost: address, port: 179) else { throw BGPSpeakerError("bad address \(address)") }
        s.acceptIncoming(fd: -1, remote: remote, memory: memory)
        guard let c = s.conns.last else { throw BGPSpeakerError("\(s.name): no connection") }
        let caps: [Capability] = [.multiprotocol(.ipv4Unicast), .multiprotocol(.ipv6Unicast), .fourOctetAS(peerAS), .routeRefresh]
        let open = OpenMessage(myAS: peerAS, holdTime: 240, bgpIdentifier: id, capabilities: caps)
        c.ingest(BGPMessage.open(open).encode(options: .initial) + BGPMessage.keepalive.encode(options: .initial))
        guard s.established === c else { throw BGPSpeakerError("\(s.name): not established (\(s.lastError))") }
        return c
    }

    /// The sender's table as bird2 sends it (next hop self, its AS), cut into reads of `readSize`
    /// bytes (the last UPDATE of a read may be cut, as TCP cuts it).
    private static func updates(routes: Int, routes6: Int, options: CodecOptions, readSize: Int) -> [[UInt8]] {
        var v4: [IPPrefix] = []
        v4.reserveCapacity(routes)
        for i in 0..<routes { v4.append(IPPrefix(ipv4: UInt32(truncatingIfNeeded: (1 << 24) + i << 8), length: 24)) }
        let attrs = PathAttributes(origin: .igp, asPath: [.sequence([65001])], nextHop: 0xC000_0201)
        var msgs = UpdateMessage.packUpdates(attributes: attrs, prefixes: v4, options: options)
        if routes6 > 0 {
            var v6: [IPPrefix] = []
            v6.reserveCapacity(routes6)
            // 2a02:X:Y::/48 as bench/bgp.sh's sender announces them.
            for i in 0..<routes6 {
                v6.append(IPPrefix(family: .ipv6, hi: 0x2a02 << 48 | UInt64(i >> 16) << 32 | UInt64(i & 0xffff) << 16, lo: 0, length: 48))
            }
            let nh: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
            let a6 = PathAttributes(origin: .igp, asPath: [.sequence([65001])],
                                    mpReach: MPReach(afiSafi: .ipv6Unicast, nextHop: nh, nlri: []))
            msgs += UpdateMessage.packUpdates(attributes: a6, prefixes: v6, options: options)
        }
        let stream = msgs.flatMap { $0 }
        return stride(from: 0, to: stream.count, by: readSize).map { Array(stream[$0..<min($0 + readSize, stream.count)]) }
    }
}

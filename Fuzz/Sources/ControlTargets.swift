// Targets for BGP (codec and a live session), BFD, the metrics HTTP head and control-socket lines.
import CFuzzShim
import MeshIO
import MeshRouting
@testable import BGPLite
@testable import MeshMetrics
@testable import TincDaemon
#if canImport(Glibc)
import Glibc
#endif

func quietLogs() {
    Log.configure(sink: .file("/dev/null"), ident: "tincd-fuzz")
    Log.level = 0
}

// MARK: - BGP

func fuzzBGPCodec(_ data: UnsafeRawBufferPointer) {
    guard data.count >= 1 else { return }
    let o = data[0]
    let opts = CodecOptions(fourOctetAS: o & 1 != 0, extendedMessages: o & 2 != 0,
                            addPathReceive: o & 4 != 0 ? [.ipv4Unicast, .ipv6Unicast] : [],
                            addPathSend: o & 8 != 0 ? [.ipv4Unicast] : [], confederationPeer: o & 16 != 0)
    let raw = UnsafeRawBufferPointer(rebasing: data[1...])
    let len: Int?
    do throws(BGPError) { len = try BGPFraming.messageLength(raw, options: opts) } catch { return }
    guard let l = len else { return }
    fuzzCheck(l >= 19 && l <= raw.count && l <= 65535, "message length \(l) of \(raw.count)")
    let msg = UnsafeRawBufferPointer(rebasing: raw[0 ..< l])
    guard let (m, action) = try? BGPMessage.decodeDetailed(msg, options: opts) else { return }
    // What we accepted cleanly must survive our own encoding.
    if action == .none {
        // Encode with what we would send to a peer that receives as we did (ADD-PATH is directional).
        var sendOpts = opts
        sendOpts.addPathSend = opts.addPathReceive
        let again = try? BGPMessage.decode(m.encode(options: sendOpts), options: opts)
        fuzzCheck(again == m, "\(m.type) does not survive encode/decode")
    }
}

let bgpConfigText = """
router id 10.0.0.1;
protocol bgp peer1 {
    local 127.0.0.1 as 65001;
    neighbor 127.0.0.2 as 65002;
    passive on;
    ipv4 { import all; export all; import limit 200 action restart; };
    ipv6 { import all; export all; };
}
protocol static st1 {
    ipv4;
    route 192.0.2.0/24 blackhole;
}
"""

/// One speaker for the whole run, on a virtual clock: parsing the config and building a speaker,
/// event loop and RIB for each input cost most of an execution. Built once before fuzzing with
/// LeakSanitizer off (Swift reaches parts of it through tagged pointers LSan cannot follow);
/// everything an input allocates is still leak-checked.
final class BGPSessionHarness {
    let clock = ManualClock()
    let loop: EventLoop
    let speaker: BGPSpeaker
    let session: Session
    /// Timer closures hold the speaker and the session weakly; Swift gives an object a side table at
    /// its first weak reference and points to it with tagged bits LSan cannot follow, so the first
    /// weak references are made here, with LSan off, instead of in some input.
    private weak var weakSpeaker: BGPSpeaker?
    private weak var weakSession: Session?
    let peerAddress = SocketAddress(numericHost: "127.0.0.2", port: 179)!

    init?() {
        guard let cfg = try? BGPConfig.parse(text: bgpConfigText), let loop = try? EventLoop(),
              let speaker = try? BGPSpeaker(config: cfg, loop: loop),
              let s = speaker.sessions.first(where: { $0.name == "peer1" }) else { return nil }
        loop.clock = clock.clock
        self.loop = loop
        self.speaker = speaker
        session = s
        weakSpeaker = speaker
        weakSession = s
        // No listening socket (the session is passive and gets its connections from the harness);
        // the static route is in the RIB, so each session exports it when it comes up.
        speaker.connectHook = { _, _ in throw BGPSpeakerError("the fuzzed session never connects") }
        speaker.quiet = true
        speaker.start()
    }
}

nonisolated(unsafe) var bgpSessionHarness: BGPSessionHarness?

func setUpBGPSessionHarness() {
    __lsan_disable()
    bgpSessionHarness = BGPSessionHarness()
    __lsan_enable()
}

/// A live session: each input gets a fresh connection (in memory, no socket) to the same passive session;
/// the peer's OPEN (capabilities from the input) and KEEPALIVE bring it to Established, then the
/// input is the peer's byte stream (mode 0: raw; mode 1: items framed by the harness with a
/// correct marker and length so the fuzzer works on message bodies). Exports are flushed after
/// every item; `show route` (and with flag 0x20 `show protocols all`) is rendered before the
/// session is stopped.
func fuzzBGPSession(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    guard let h = bgpSessionHarness else { fuzzCheck(false, "BGP harness setup failed"); return }
    let s = h.session
    // What a stop keeps (counters, the last error, the error wait) starts fresh for every input.
    s.stats = SessionStats()
    s.lastError = ""
    s.startupDelay = 0
    s.lastProtoError = 0
    s.disabled = false
    // No socket: what the session sends piles up in `out` (emptied after every item).
    let out = MemoryTransport()
    s.start()
    s.acceptIncoming(fd: -1, remote: h.peerAddress, memory: out)
    guard let c = s.conns.first else { fuzzCheck(false, "no connection"); return }
    let flags = r.u8()
    if flags & 0x80 == 0 {
        var caps: [Capability] = [.multiprotocol(.ipv4Unicast)]
        if flags & 1 != 0 { caps.append(.multiprotocol(.ipv6Unicast)) }
        if flags & 2 != 0 { caps.append(.fourOctetAS(65002)) }
        if flags & 4 != 0 { caps.append(.extendedMessage) }
        if flags & 8 != 0 { caps += [.routeRefresh, .enhancedRouteRefresh] }
        if flags & 16 != 0 { caps.append(.addPath([AddPathEntry(.ipv4Unicast, mode: .both)])) }
        let open = OpenMessage(myAS: 65002, holdTime: 90, bgpIdentifier: 0x0A00_0002, capabilities: caps)
        c.ingest(BGPMessage.open(open).encode(options: .initial) + BGPMessage.keepalive.encode(options: .initial))
        fuzzCheck(c.closed || s.established != nil, "session not established after OPEN+KEEPALIVE")
    }
    let framed = flags & 0x40 != 0
    while !r.atEnd && !c.closed {
        var bytes: [UInt8]
        if framed {
            let type = r.u8() % 7
            let body = r.chunk()
            let len = 19 + body.count
            bytes = [UInt8](repeating: 0xFF, count: 16) + [UInt8(len >> 8 & 0xFF), UInt8(len & 0xFF), type] + body
        } else {
            bytes = r.chunk()
        }
        c.ingest(bytes)
        // Export flushes and route refresh answers run on zero-delay timers; the clock stays put.
        h.loop.runTimersDue()
        out.written.removeAll(keepingCapacity: true)
    }
    _ = h.speaker.showRoute()
    if flags & 0x20 != 0 { _ = h.speaker.showProtocols(all: "peer1") }
    s.stop(notification: .administrativeShutdown(message: ""), reason: "fuzz")
    fuzzCheck(s.importedCount == 0 && s.staleCount == 0 && h.speaker.locRIBCount == 1, "routes left after stop: \(h.speaker.locRIBCount)")
    // A stopped connection lingers (holding itself) until its peer closes or a timer fires: move the
    // virtual clock past every timer the input left behind.
    h.clock.advance(by: 3600)
    h.loop.runTimersDue()
    h.loop.runTimersDue()
    // Attribute sets no route uses any more go now rather than at the table's next sweep.
    h.speaker.attrs.sweep()
}

// MARK: - BFD

func fuzzBFD(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let p = BFDSession.Parameters(minTx: UInt32(r.u16()) * 1000 + 1, minRx: UInt32(r.u16()) * 1000, idleTx: 1_000_000,
                                  multiplier: max(1, r.u8()), passive: r.u8() & 1 == 1)
    let s = BFDSession(localDiscriminator: 0x1234, parameters: p)
    var now = 1000.0
    var sent = 0
    s.transmit = { pkt in
        sent += 1
        let bytes = pkt.encode()
        fuzzCheck((try? BFDPacket.decode(bytes)) == pkt, "our own BFD packet does not decode to itself")
    }
    s.start(now: now)
    while !r.atEnd {
        let op = r.u8()
        switch op % 4 {
        case 0, 1:
            let len = Int(r.u8() % 64)
            let bytes = r.bytes(len)
            if let pkt = try? BFDPacket.decode(bytes) { s.receive(pkt, now: now) }
        case 2:
            now += Double(r.u16()) / 1000
            s.tick(now: now)
        default:
            if op & 0x10 != 0 { s.setAdminDown(now: now) } else { s.enable(now: now) }
        }
        if let t = s.nextTransmit { fuzzCheck(t.isFinite, "next transmit \(t)") }
        if let d = s.detectDeadline { fuzzCheck(d.isFinite, "detect deadline \(d)") }
    }
}

// MARK: - metrics HTTP and control socket

func fuzzMetricsHTTP(_ data: UnsafeRawBufferPointer) {
    let input = Array(data)
    switch MetricsHTTPServer.parseHead(input) {
    case .request(let method, let path):
        fuzzCheck(method == "GET" || method == "HEAD", "method \(method)")
        fuzzCheck(!path.contains("?"), "query left in path")
    default: break
    }
}

/// One control-socket request: the bytes a client writes up to the first newline, trimmed as the
/// server does, answered by the daemon's command handler against a small graph.
func fuzzControl(_ data: UnsafeRawBufferPointer) {
    guard let nl = data.firstIndex(of: 0x0A) else { return }
    let line = String(decoding: data[..<nl], as: UTF8.self).trimmingCharacters(in: " \r\t")
    let first = line.split(separator: " ").first { $0 != "--json" }
    // reload and purge re-read files and run scripts of a started daemon; not input parsing.
    if first == "reload" || first == "purge" { return }
    guard let d = try? MeshDaemon(settings: DaemonSettings(name: "me", confDir: "/nonexistent"), loadPeer: { _ in throw HarnessError() }) else { return }
    let a = d.graph.lookupOrCreateNode(named: "a"), b = d.graph.lookupOrCreateNode(named: "b")
    _ = d.graph.addEdge(from: d.graph.myself, to: a, address: "192.0.2.1", port: "655", options: 0, weight: 1)
    _ = d.graph.addEdge(from: a, to: d.graph.myself, address: "192.0.2.2", port: "655", options: 0, weight: 1)
    _ = d.graph.addSubnet(Subnet(parsing: "10.1.0.0/16")!, owner: a)
    _ = d.graph.addSubnet(Subnet(parsing: "10.2.0.0/16")!, owner: b)
    _ = d.graph.run()
    let level = Log.level
    let reply = d.controlCommand(line)
    Log.level = level
    fuzzCheck(!reply.isEmpty, "empty control reply")
}

struct HarnessError: Error {}

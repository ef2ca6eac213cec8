import Foundation
import Glibc
import CNetShim
import MeshCrypto
import MeshIO
import MeshRouting
import TunTap

/// A fixed frame workload through the real frame path, in one thread (plus the RX open helpers when
/// `openLanes` > 1) and without timing, so its
/// cost can be counted exactly (callgrind instructions, malloc calls) instead of timed on a noisy box:
///
///   device read → switch lookup → seqno + seal → sendmmsg (TxWorker, node "a")
///   → loopback UDP →
///   recvmmsg → address lookup → MAC + replay window → open → switch lookup → device write (RxWorker, node "b")
///
/// Both workers are the daemon's own classes with their own sockets; only the devices are fakes
/// (a template frame in, a byte counter out). One round = one TX wakeup (`TxWorker.batch` frames read,
/// sealed and sent) followed by one RX wakeup (received, opened, written).
final class FrameWorkload {
    /// Hands out the template frame `pending` times, then reports "nothing pending".
    final class SourceDevice: NetworkDevice {
        var type: DeviceType { .tap }
        var path: String { "bench" }
        var interface: String { "bench0" }
        var fd: Int32 { -1 }
        let frame: UnsafeMutableRawBufferPointer
        var pending = 0
        /// When set, the last frame of each batch is cut to this length (a GSO run with a shorter tail).
        var shortLast: Int?
        init(frame: [UInt8]) {
            self.frame = .allocate(byteCount: frame.count, alignment: 64)
            self.frame.copyBytes(from: frame)
        }
        deinit { frame.deallocate() }
        func read(into buf: UnsafeMutableRawBufferPointer) -> Int {
            guard pending > 0, buf.count >= frame.count, let dst = buf.baseAddress, let src = frame.baseAddress else { return 0 }
            pending -= 1
            let n = pending == 0 ? min(shortLast ?? frame.count, frame.count) : frame.count
            dst.copyMemory(from: src, byteCount: n)
            return n
        }
        func write(_ frame: UnsafeRawBufferPointer) -> Bool { true }
        func close() {}
    }

    /// Counts what the RX worker delivers (frames, bytes and a checksum of the first bytes).
    final class SinkDevice: NetworkDevice {
        var type: DeviceType { .tap }
        var path: String { "bench" }
        var interface: String { "bench1" }
        var fd: Int32 { -1 }
        var frames = 0
        var bytes = 0
        var mismatched = 0
        /// Frames of `shortLength` bytes whose bytes match the template's prefix.
        var shortFrames = 0
        var shortLength = -1
        let expected: [UInt8]
        init(expected: [UInt8]) { self.expected = expected }
        func read(into buf: UnsafeMutableRawBufferPointer) -> Int { 0 }
        func write(_ frame: UnsafeRawBufferPointer) -> Bool {
            frames += 1
            bytes += frame.count
            // Length, first and last byte (indexing only: no generic accessors, which allocate in debug builds).
            let n = frame.count
            if n == shortLength && n > 0 && n < expected.count {
                if frame[0] == expected[0] && frame[n - 1] == expected[n - 1] { shortFrames += 1 } else { mismatched += 1 }
                return true
            }
            if n != expected.count || n == 0 || frame[0] != expected[0] || frame[n - 1] != expected[n - 1] { mismatched += 1 }
            return true
        }
        func close() {}
    }

    struct SetupError: Error, CustomStringConvertible { let description: String }

    let tx: TxWorker
    let rx: RxWorker
    let source: SourceDevice
    let sink: SinkDevice
    let txFD: Int32
    let rxFD: Int32
    let frameLength: Int

    /// - Parameters: frame length in bytes (Ethernet, 60...1514); cipher and digest by tinc name;
    ///   `openLanes` threads open received datagrams (the RX thread and `openLanes - 1` helpers).
    init(frameLength: Int = 1400, cipher: String = "aes-256-cbc", digest: String = "sha256", macLength: Int = 4,
         openLanes: Int = 1) throws {
        guard (60...1514).contains(frameLength) else { throw SetupError(description: "frame length \(frameLength) outside 60...1514") }
        guard let cs = CipherSuite(name: cipher), let ds = DigestSuite(name: digest) else {
            throw SetupError(description: "unknown cipher \(cipher) or digest \(digest)")
        }
        self.frameLength = frameLength
        let macA: [UInt8] = [0x02, 0, 0, 0, 0, 0x0A], macB: [UInt8] = [0x02, 0, 0, 0, 0, 0x0B]
        var frame = [UInt8](repeating: 0, count: frameLength)
        for i in 0..<6 { frame[i] = macB[i]; frame[6 + i] = macA[i] }
        frame[12] = 0x08; frame[13] = 0x00
        frame[14] = 0x45
        frame[16] = UInt8(truncatingIfNeeded: (frameLength - 14) >> 8); frame[17] = UInt8(truncatingIfNeeded: frameLength - 14)
        frame[22] = 64; frame[23] = 17
        frame[26] = 10; frame[27] = 202; frame[28] = 0; frame[29] = 1
        frame[30] = 10; frame[31] = 202; frame[32] = 0; frame[33] = 2
        for i in 42..<frameLength { frame[i] = UInt8(truncatingIfNeeded: i &* 7) }

        txFD = try FrameWorkload.udpSocket()
        rxFD = try FrameWorkload.udpSocket()
        let txAddr = try FrameWorkload.localAddress(txFD), rxAddr = try FrameWorkload.localAddress(rxFD)

        // Node "a" sends to "b" (owner of macB), node "b" receives from "a" at txAddr.
        func graph(me: String, peer: String, peerMAC: [UInt8], myMAC: [UInt8], peerAddr: SocketAddress) -> MeshGraph {
            let g = MeshGraph(myName: me)
            let p = g.lookupOrCreateNode(named: peer)
            _ = g.addEdge(from: g.myself, to: p, address: "127.0.0.1", port: String(peerAddr.port), options: 0, weight: 10)
            _ = g.addEdge(from: p, to: g.myself, address: "127.0.0.1", port: "655", options: 0, weight: 10)
            _ = g.addSubnet(Subnet(mac: peerMAC), owner: p)
            _ = g.addSubnet(Subnet(mac: myMAC), owner: g.myself)
            _ = g.run()
            p.udpAddress = ("127.0.0.1", String(peerAddr.port))
            return g
        }
        func table(_ g: MeshGraph, _ name: String) -> ForwardingTable {
            var s = DaemonSettings(name: name, confDir: "/nonexistent")
            s.mode = .switch
            return ForwardingTable(graph: g, settings: s, mstNeighbors: [], pmtu: { _ in (0, 1518) },
                                   udpAddress: { n in n.udpAddress.flatMap { a in UInt16(a.port).flatMap { SocketAddress(numericHost: a.host, port: $0) } } })
        }
        let ga = graph(me: "a", peer: "b", peerMAC: macB, myMAC: macA, peerAddr: rxAddr)
        let gb = graph(me: "b", peer: "a", peerMAC: macA, myMAC: macB, peerAddr: txAddr)
        let events = EventChannel(limit: 1 << 16) { _, done in done() }
        source = SourceDevice(frame: frame)
        sink = SinkDevice(expected: frame)
        tx = TxWorker(device: source, sockets: [(family: AF_INET, fd: txFD)], table: Published(table(ga, "a")),
                      macRefresh: 3600, events: events)
        rx = RxWorker(device: sink, sockets: [rxFD], table: Published(table(gb, "b")), toTX: Mailbox<TxCommand>(capacity: 16),
                      replayWindow: 16, events: events, openLanes: openLanes)
        let material = SecureRandom.bytes(cs.isNone ? 1 : cs.keyLength + cs.ivLength)
        let mac = ds.isNone ? 0 : macLength
        let sealer = try PacketCipher(cipher: cs, digest: ds, macLength: mac, keyMaterial: material)
        let opener = try PacketCipher(cipher: cs, digest: ds, macLength: mac, keyMaterial: material)
        guard let bInA = ga.node(named: "b"), let aInB = gb.node(named: "a") else { throw SetupError(description: "graph set-up") }
        tx.mailbox.postLatest(.setKey(Int32(bInA.id), sealer, compression: 0), key: MailboxKey.key(Int32(bInA.id)))
        rx.mailbox.postLatest(.setKey(Int32(aInB.id), opener, compression: 0), key: MailboxKey.key(Int32(aInB.id)))
        tx.handleMailbox()
        rx.handleMailbox()
        if let crew = rx.crew {
            for lane in 1..<crew.lanes {
                let h = Thread { [crew] in crew.runHelper(lane: lane) }
                h.name = "bench-rx\(lane)"
                h.start()
            }
        }
    }

    deinit { rx.crew?.stop(); Glibc.close(txFD); Glibc.close(rxFD) }

    static func udpSocket() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "socket: \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { Glibc.close(fd); throw SetupError(description: "bind 127.0.0.1: \(String(cString: strerror(errno)))") }
        return fd
    }

    static func localAddress(_ fd: Int32) throws -> SocketAddress {
        var s = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &s) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard r == 0 else { throw SetupError(description: "getsockname: \(String(cString: strerror(errno)))") }
        return SocketAddress(storage: s, length: len)
    }

    /// Runs `rounds` TX+RX wakeups of `TxWorker.batch` frames each. Returns the frames delivered.
    @discardableResult
    func run(rounds: Int) -> Int {
        let before = sink.frames
        for _ in 0..<rounds {
            source.pending = TxWorker.batch
            txWakeup()
            rxWakeup()
        }
        return sink.frames - before
    }

    /// What TxWorker.run does per wakeup, minus epoll and the twice-a-second statistics report.
    @inline(never)
    func txWakeup() {
        tx.reloadTable()
        tx.handleMailbox()
        tx.readDevice()
        tx.flush()
    }

    /// What RxWorker.run does per readable socket, minus epoll and the statistics report.
    @inline(never)
    func rxWakeup() {
        rx.reloadTable()
        rx.receive(rxFD)
        rx.passRelays()
    }

    /// `tincd-swift bench-frames [--frames=N] [--frame=BYTES] [--cipher=NAME] [--digest=NAME] [--workers=N]`:
    /// runs N frames (rounded up to whole batches) and prints what arrived; `make bench-callgrind`
    /// runs it under callgrind twice and prints the difference per frame.
    static func main(_ args: [String]) -> Int32 {
        var frames = 6400, frameLength = 1400, cipher = "aes-256-cbc", digest = "sha256", workers = 1
        for a in args {
            let kv = a.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { writeStandardError("bench-frames: unknown argument \(a)\n"); return 1 }
            switch kv[0] {
            case "--frames": frames = Int(kv[1]) ?? -1
            case "--frame": frameLength = Int(kv[1]) ?? -1
            case "--cipher": cipher = kv[1]
            case "--digest": digest = kv[1]
            case "--workers": workers = Int(kv[1]) ?? -1
            default: writeStandardError("bench-frames: unknown argument \(a)\n"); return 1
            }
        }
        guard frames > 0 else { writeStandardError("bench-frames: --frames needs a positive number\n"); return 1 }
        guard (1...64).contains(workers) else { writeStandardError("bench-frames: --workers needs 1-64\n"); return 1 }
        do {
            // The RX worker opens with `workers` lanes (helper threads), as the daemon does.
            let w = try FrameWorkload(frameLength: frameLength, cipher: cipher, digest: digest, openLanes: workers)
            // The TX worker as it runs beside others (shorter send runs, late-packet check); one thread still.
            w.tx.shareSequences(workers: workers)
            let rounds = (frames + TxWorker.batch - 1) / TxWorker.batch
            let delivered = w.run(rounds: rounds)
            print("frames sent=\(rounds * TxWorker.batch) delivered=\(delivered) bad=\(w.sink.mismatched) frame=\(frameLength) cipher=\(cipher) digest=\(digest)")
            return delivered == rounds * TxWorker.batch && w.sink.mismatched == 0 ? 0 : 3
        } catch {
            writeStandardError("bench-frames: \(error)\n")
            return 1
        }
    }
}

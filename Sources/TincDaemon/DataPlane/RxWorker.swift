import Glibc
import CNetShim
import MeshCrypto
import MeshIO
import TunTap

/// The receiving half of the frame path, on its own thread: recvmmsg batches from the UDP sockets,
/// finds the sender, checks MAC and replay window with the inbound keys it alone owns, and writes
/// frames for us to the device. Frames for other nodes are handed to the TX worker in one batch.
final class RxWorker {
    static let batch = 64
    static let slotSize = 2048

    final class Peer {
        let cipher: PacketCipher
        let compression: Int
        var window: ReplayWindow
        init(cipher: PacketCipher, compression: Int, window: Int) {
            self.cipher = cipher
            self.compression = compression
            self.window = ReplayWindow(bytes: window)
        }
    }

    let device: NetworkDevice
    let sockets: [Int32]
    let table: Published<ForwardingTable>
    let mailbox = Mailbox<RxCommand>()
    let toTX: Mailbox<TxCommand>
    let emit: ([DataPlaneEvent]) -> Void
    let replayWindow: Int

    private var peers: [Peer?] = []
    private var outbox = WorkerOutbox()
    private var relays: [TxCommand] = []
    private var t: ForwardingTable
    private var running = true
    private var tryHarderBudget = 0
    private var tryHarderSecond = 0

    /// GRO towards the device when it takes super-frames (TAP with offload).
    private let tap: TunTapDevice?
    private var gro = TCPCoalescer()
    private let inBuf: UnsafeMutableRawPointer
    private let plain: UnsafeMutableRawPointer
    private let inflated: UnsafeMutableRawPointer
    private var lens = [Int32](repeating: 0, count: RxWorker.batch)
    private var addrs = [sockaddr_storage](repeating: sockaddr_storage(), count: RxWorker.batch)
    private var addrLens = [socklen_t](repeating: 0, count: RxWorker.batch)

    init(device: NetworkDevice, sockets: [Int32], table: Published<ForwardingTable>, toTX: Mailbox<TxCommand>,
         replayWindow: Int, emit: @escaping ([DataPlaneEvent]) -> Void) {
        self.device = device
        self.sockets = sockets
        self.table = table
        self.toTX = toTX
        self.replayWindow = replayWindow
        self.emit = emit
        self.t = table.load()
        let tt = device as? TunTapDevice
        tap = tt?.offload == true ? tt : nil
        inBuf = .allocate(byteCount: RxWorker.batch * RxWorker.slotSize, alignment: 64)
        plain = .allocate(byteCount: RxWorker.slotSize + 64, alignment: 64)
        inflated = .allocate(byteCount: RxWorker.slotSize + 64, alignment: 64)
    }

    deinit { inBuf.deallocate(); plain.deallocate(); inflated.deallocate(); gro.deallocate() }

    func run() {
        let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        defer { close(ep) }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        for fd in sockets + [mailbox.fd] {
            ev.data.fd = fd
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)
        }
        var ready = [epoll_event](repeating: epoll_event(), count: 8)
        while running {
            let n = epoll_wait(ep, &ready, 8, 1000)
            if n < 0 && errno != EINTR { break }
            t = table.load()
            for i in 0..<max(0, Int(n)) {
                let fd = ready[i].data.fd
                if fd == mailbox.fd { handleMailbox() } else { receive(fd) }
            }
            if !relays.isEmpty { toTX.post(contentsOf: relays); relays.removeAll(keepingCapacity: true) }
            outbox.flush(now: EventLoop.now(), emit)
        }
    }

    private func handleMailbox() {
        for cmd in mailbox.drain() {
            switch cmd {
            case let .setKey(id, cipher, compression):
                peers.set(Int(id), cipher.map { Peer(cipher: $0, compression: compression, window: replayWindow) })
            case .stop:
                running = false
            }
        }
    }

    private func receive(_ fd: Int32) {
        // A few batches per wakeup, then give the other sockets and the mailbox a turn.
        for _ in 0..<4 {
            let n = lens.withUnsafeMutableBufferPointer { l in
                addrs.withUnsafeMutableBufferPointer { a in
                    addrLens.withUnsafeMutableBufferPointer { al in
                        cns_recvmmsg(fd, inBuf.assumingMemoryBound(to: UInt8.self), Int32(RxWorker.slotSize), Int32(RxWorker.batch),
                                     l.baseAddress, a.baseAddress, al.baseAddress)
                    }
                }
            }
            if n <= 0 { return }
            for i in 0..<Int(n) {
                let len = Int(lens[i])
                if len < 0 { outbox.stats.droppedShort &+= 1; continue }   // truncated: larger than any tinc packet
                outbox.stats.udpInPackets &+= 1
                outbox.stats.udpInBytes &+= UInt64(len)
                handle(inBuf + i * RxWorker.slotSize, len, SocketAddress(storage: addrs[i], length: addrLens[i]))
            }
            flushCoalesced()
            if Int(n) < RxWorker.batch { return }
        }
    }

    private func handle(_ pkt: UnsafeMutableRawPointer, _ len: Int, _ from: SocketAddress) {
        let input = UnsafeRawBufferPointer(start: pkt, count: len)
        let out = UnsafeMutableRawBufferPointer(start: plain, count: RxWorker.slotSize + 64)
        var id: Int32 = -1
        var opened = -1
        if let known = t.nodeByAddress[from] {
            id = known
            guard let p = peer(id) else { outbox.stats.droppedNoKey &+= 1; return }
            guard let n = p.cipher.open(input, into: out) else { outbox.stats.droppedBadMAC &+= 1; return }
            opened = n
        } else {
            // tinc's try_harder: which node's key authenticates this packet? Budgeted per second
            // so a flood of garbage from unknown addresses cannot eat the thread.
            let sec = Int(time(nil))
            if sec != tryHarderSecond { tryHarderSecond = sec; tryHarderBudget = 2000 }
            for (i, p) in peers.enumerated() where p != nil && tryHarderBudget > 0 {
                tryHarderBudget -= 1
                if let n = p!.cipher.open(input, into: out) {
                    id = Int32(i)
                    opened = n
                    outbox.events.append(.udpAddress(id, from))
                    break
                }
            }
            guard id >= 0 else { outbox.stats.droppedUnknownSource &+= 1; return }
        }
        guard opened >= 4, let p = peer(id) else { outbox.stats.droppedShort &+= 1; return }
        let seq = UInt32(bigEndian: plain.loadUnaligned(as: UInt32.self))
        switch p.window.check(seq) {
        case .replayed, .farFuture:
            outbox.stats.droppedReplay &+= 1
            return
        case .accept, .accepted:
            break
        }
        var frame = UnsafeMutableRawPointer(plain + 4)
        var flen = opened - 4
        if p.compression != 0 {
            guard let n = PacketCompression.decompress(level: p.compression, UnsafeRawBufferPointer(start: frame, count: flen),
                                                       into: UnsafeMutableRawBufferPointer(start: inflated, count: RxWorker.slotSize)) else {
                outbox.stats.droppedCompression &+= 1
                return
            }
            frame = inflated
            flen = n
        }
        guard flen >= 14 else { outbox.stats.droppedShort &+= 1; return }
        if frame.load(fromByteOffset: 12, as: UInt8.self) == 0 && frame.load(fromByteOffset: 13, as: UInt8.self) == 0 {
            outbox.events.append(.probe(Array(UnsafeRawBufferPointer(start: frame, count: flen)), from: id))
            return
        }
        switch t.decide(frame, length: flen, source: id) {
        case .drop, .unknownDestination, .unreachableDestination:
            outbox.stats.droppedNoRoute &+= 1
        case .device:
            if t.myClampMSS, Int(id) < t.routes.count {
                MSSClamp.clamp(frame, length: flen, mtu: min(t.routes[Int(id)].mtu, t.myMTU))
            }
            if tap != nil {
                outbox.stats.deviceOutPackets &+= 1
                outbox.stats.deviceOutBytes &+= UInt64(flen)
                if gro.offer(frame, length: flen) { return }
                flushCoalesced()
                if gro.begin(frame, length: flen) { return }
                outbox.stats.deviceOutPackets &-= 1
                outbox.stats.deviceOutBytes &-= UInt64(flen)
            }
            writeDevice(frame, flen)
        case .node:
            relays.append(.route(Array(UnsafeRawBufferPointer(start: frame, count: flen)), from: id, viaTCP: false, deliverLocally: false))
        case .broadcast:
            writeDevice(frame, flen)
            relays.append(.route(Array(UnsafeRawBufferPointer(start: frame, count: flen)), from: id, viaTCP: false, deliverLocally: false))
        }
    }

    @inline(__always)
    private func peer(_ id: Int32) -> Peer? {
        let i = Int(id)
        return i >= 0 && i < peers.count ? peers[i] : nil
    }

    private func flushCoalesced() {
        guard let tap = tap, !gro.isEmpty else { return }
        gro.flush { h, f, n in _ = tap.write(header: h, frame: f, length: n) }
    }

    private func writeDevice(_ f: UnsafeRawPointer, _ len: Int) {
        flushCoalesced()   // keep frame order on the device
        if device.write(UnsafeRawBufferPointer(start: f, count: len)) {
            outbox.stats.deviceOutPackets &+= 1
            outbox.stats.deviceOutBytes &+= UInt64(len)
        }
    }
}

import Glibc
import CNetShim
import MeshCrypto
import MeshIO
import TunTap

/// The receiving half of the frame path, on its own thread: recvmmsg batches from the UDP sockets,
/// finds the sender, checks MAC and replay window with the inbound keys it alone owns, and writes
/// frames for us to the device. Frames for other nodes are handed to the TX worker in one batch.
/// With an `OpenCrew` of several lanes, the MAC checks and decryption of a batch run on several
/// threads; everything after them (replay window, address learning, routing, writes) stays here,
/// in arrival order.
final class RxWorker {
    static let batch = 64
    static let slotSize = 2048

    /// Received seqno from which tinc asks for a new key (§7.7: "received_seqno > 2^30").
    static let inboundRekeySeqno: UInt32 = 1 << 30

    final class Peer {
        let cipher: PacketCipher
        /// One copy of the key per `OpenCrew` lane (lanes[0] is `cipher`); fewer when a copy failed,
        /// and then this key's packets are opened by the RX thread alone.
        let lanes: [PacketCipher]
        let compression: Int
        var window: ReplayWindow
        /// inboundKeyAging was reported for this key (once per key).
        var agingReported = false
        /// Packets from the node's address that failed this key's MAC since the last one that passed.
        var failedInARow = 0
        /// When staleKey was last reported for this key (seconds, EventLoop.now()).
        var staleReportedAt = 0.0
        /// The key this one replaced, for packets sealed with it that were in flight (or sent before
        /// the peer had our new key): it opens them, under its own replay window, until its
        /// `retiredUntil`. At most two earlier keys are kept (a KeyExpire and the answer to the
        /// peer's REQ_KEY right after it replace a key twice within a millisecond). tinc 1.0 drops
        /// such packets. Keys with a MAC only: without one a wrong key cannot be told from a right one.
        var previous: Peer?
        /// A replaced or retired key opens packets until then (batch milliseconds), a current one forever.
        var retiredUntil = UInt64.max
        init(cipher: PacketCipher, compression: Int, window: Int, lanes: Int = 1) {
            self.cipher = cipher
            var copies = [cipher]
            while copies.count < lanes {
                do { copies.append(try cipher.duplicate()) } catch {
                    Log.error("Data plane: cannot copy an inbound packet key for RX open lane \(copies.count): \(error)")
                    break
                }
            }
            self.lanes = copies
            self.compression = compression
            self.window = ReplayWindow(bytes: window)
        }
    }

    let device: NetworkDevice
    let sockets: [Int32]
    let table: Published<ForwardingTable>
    /// Keys, forget requests and stop only (control lane): bounded by the number of node ids.
    let mailbox = Mailbox<RxCommand>(capacity: 1)
    let toTX: Mailbox<TxCommand>
    let events: EventChannel
    let replayWindow: Int
    /// Threads that open received datagrams (nil: this thread alone, datagram by datagram).
    let crew: OpenCrew?
    private var itemCount = 0
    private var froms = [SocketAddress](repeating: SocketAddress(), count: RxWorker.batch)

    private var peers: [Peer?] = []
    private(set) var outbox = WorkerOutbox()
    /// Per-node traffic, drops and last-seen time; read by the control thread (`DataPlane.peerTraffic`).
    let counters: PeerCounters
    /// EventLoop.now() in milliseconds, taken once per receive batch (last-seen stamps).
    private var batchMillis: UInt64 = 1
    private var relays: [TxCommand] = []
    private var t: ForwardingTable
    private var running = true
    private var tryHarder = TryHarderLimiter()
    /// The address last reported for a node id, so a burst from a new address gives one event.
    private var reportedAddress: [Int32: (SocketAddress, Int)] = [:]
    /// Addresses try_harder matched (after MAC and replay window), until the control thread has
    /// published them in a table: later packets from there skip the key search and its budget.
    private var matched: [SocketAddress: Int32] = [:]
    /// noInboundKey last reported per id (second), one report per second at most.
    private var reportedNoKey: [Int32: Int] = [:]

    /// GRO towards the device when it takes super-frames (TAP with offload).
    private let tap: TunTapDevice?
    /// Every queue of a multi-queue device (else just `device`). A frame is written on the queue its
    /// flow hashes to: the kernel remembers which queue a flow's packets came in on and hands us that
    /// flow's outgoing packets on the same queue (tun "automq" steering), so writing everything on
    /// one queue would put every two-way flow on one TX worker.
    private let queues: [NetworkDevice]
    private let tapQueues: [TunTapDevice]
    private var gro = TCPCoalescer()
    private let inBuf: UnsafeMutableRawPointer
    private let plain: UnsafeMutableRawPointer
    private let inflated: UnsafeMutableRawPointer
    private var lens = [Int32](repeating: 0, count: RxWorker.batch)
    private var addrs = [sockaddr_storage](repeating: sockaddr_storage(), count: RxWorker.batch)
    private var addrLens = [socklen_t](repeating: 0, count: RxWorker.batch)

    /// UDP GRO: the kernel coalesces runs of equal-size datagrams from one sender into one receive
    /// (split again here, datagram by datagram). Needs 64 KiB receive slots. Off when a socket
    /// refuses UDP_GRO or with TINCD_SWIFT_GRO=0.
    let udpGRO: Bool
    static let groSlotSize = 65536
    private let recvSlot: Int
    private var segSizes = [Int32](repeating: 0, count: RxWorker.batch)

    init(device: NetworkDevice, queues: [NetworkDevice] = [], sockets: [Int32], table: Published<ForwardingTable>,
         toTX: Mailbox<TxCommand>, replayWindow: Int, events: EventChannel, peerIDCapacity: Int = PeerCounters.defaultCapacity,
         openLanes: Int = 1) {
        crew = openLanes > 1 ? OpenCrew(lanes: openLanes) : nil
        let envOff = getenv("TINCD_SWIFT_GRO").map { String(cString: $0) == "0" } ?? false
        udpGRO = !envOff && !sockets.isEmpty && sockets.allSatisfy { cns_udp_enable_gro($0) == 0 }
        if !udpGRO && !envOff && !sockets.isEmpty {
            Log.notice("UDP GRO (UDP_GRO) not supported by this kernel: one datagram per receive slot")
        }
        recvSlot = udpGRO ? RxWorker.groSlotSize : RxWorker.slotSize
        self.device = device
        self.sockets = sockets
        self.table = table
        self.toTX = toTX
        self.replayWindow = replayWindow
        self.events = events
        self.counters = PeerCounters(capacity: peerIDCapacity)
        self.t = table.load()
        let tt = device as? TunTapDevice
        tap = tt?.offload == true ? tt : nil
        self.queues = queues.isEmpty ? [device] : queues
        let tq = self.queues.compactMap { $0 as? TunTapDevice }
        tapQueues = tap != nil && tq.count == self.queues.count && tq.allSatisfy({ $0.offload }) ? tq : (tap.map { [$0] } ?? [])
        inBuf = .allocate(byteCount: RxWorker.batch * recvSlot, alignment: 64)
        plain = .allocate(byteCount: RxWorker.slotSize + 64, alignment: 64)
        inflated = .allocate(byteCount: RxWorker.slotSize + 64, alignment: 64)
        stampBatch()
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
            reloadTable()
            for i in 0..<max(0, Int(n)) {
                let fd = ready[i].data.fd
                if fd == mailbox.fd { handleMailbox() } else { receive(fd) }
            }
            passRelays()
            outbox.flush(now: EventLoop.now(), events)
        }
    }

    /// Frames for other nodes go to the TX worker in one batch; what its full mailbox refuses is
    /// counted there (TX reports its mailbox's drops).
    func passRelays() {
        if !relays.isEmpty { toTX.post(contentsOf: relays); relays.removeAll(keepingCapacity: true) }
    }

    func handleMailbox() {
        for cmd in mailbox.drain() {
            switch cmd {
            case let .setKey(id, cipher, compression):
                guard id >= 0 else { continue }
                let new = cipher.map { Peer(cipher: $0, compression: compression, window: replayWindow, lanes: crew?.lanes ?? 1) }
                let now = RxWorker.clockMillis()
                if let new, let old = peer(id), old.retiredUntil >= now, old.cipher.macLength > 0, new.cipher.macLength > 0 {
                    old.retiredUntil = min(old.retiredUntil, now &+ keyGraceMillis)
                    old.previous?.previous = nil
                    new.previous = old
                }
                peers.set(Int(id), new)
                reportedNoKey[id] = nil
            case .retireKey(let id):
                guard let p = peer(id) else { continue }
                p.retiredUntil = min(p.retiredUntil, RxWorker.clockMillis() &+ keyGraceMillis)
            case .forget(let id):
                if id >= 0 && Int(id) < peers.count { peers[Int(id)] = nil }
                counters.reset(id)
                matched = matched.filter { $0.value != id }
                reportedAddress[id] = nil
                reportedNoKey[id] = nil
                outbox.events.append(.forgotten(id))
            case .stop:
                running = false
            }
        }
    }

    /// Takes the current forwarding snapshot; a new one carries the addresses try_harder found.
    func reloadTable() {
        let latest = table.load()
        if latest !== t {
            t = latest
            matched.removeAll(keepingCapacity: true)
        }
    }

    /// Inbound keys held (tests).
    func hasKey(_ id: Int32) -> Bool { peer(id) != nil }

    func receive(_ fd: Int32) {
        // A few batches per wakeup, then give the other sockets and the mailbox a turn.
        for _ in 0..<4 {
            let n = lens.withUnsafeMutableBufferPointer { l in
                addrs.withUnsafeMutableBufferPointer { a in
                    addrLens.withUnsafeMutableBufferPointer { al in
                        segSizes.withUnsafeMutableBufferPointer { g in
                            udpGRO ? cns_recvmmsg_gro(fd, inBuf.assumingMemoryBound(to: UInt8.self), Int32(recvSlot), Int32(RxWorker.batch),
                                                   l.baseAddress, a.baseAddress, al.baseAddress, g.baseAddress)
                                : cns_recvmmsg(fd, inBuf.assumingMemoryBound(to: UInt8.self), Int32(recvSlot), Int32(RxWorker.batch),
                                               l.baseAddress, a.baseAddress, al.baseAddress)
                        }
                    }
                }
            }
            if n <= 0 { return }
            stampBatch()
            for i in 0..<Int(n) {
                let len = Int(lens[i])
                if len < 0 { outbox.stats.droppedShort &+= 1; continue }   // truncated: larger than any tinc packet
                let from = SocketAddress(storage: addrs[i], length: addrLens[i])
                if crew != nil { froms[i] = from }
                let base = inBuf + i * recvSlot
                let seg = udpGRO ? Int(segSizes[i]) : 0
                if seg <= 0 || seg >= len {
                    // One datagram; over slotSize it is larger than any tinc packet.
                    if len > RxWorker.slotSize { outbox.stats.droppedShort &+= 1; continue }
                    outbox.stats.udpInPackets &+= 1
                    outbox.stats.udpInBytes &+= UInt64(len)
                    take(base, len, slot: i, from)
                    continue
                }
                // A GRO train: datagrams of `seg` bytes, the last one may be shorter.
                var off = 0
                while off < len {
                    let l = min(seg, len - off)
                    outbox.stats.udpInPackets &+= 1
                    outbox.stats.udpInBytes &+= UInt64(l)
                    if l > RxWorker.slotSize { outbox.stats.droppedShort &+= 1 } else { take(base + off, l, slot: i, from) }
                    off += l
                }
            }
            openAndDeliver()
            flushCoalesced()
            if Int(n) < RxWorker.batch { return }
        }
    }

    /// Last-seen stamps and key retirement use one clock read per batch, not one per packet.
    func stampBatch() { batchMillis = RxWorker.clockMillis() }
    static func clockMillis() -> UInt64 { max(1, UInt64(EventLoop.now() * 1000)) }

    /// How long a replaced or retired inbound key still opens packets: longer than a REQ_KEY/ANS_KEY
    /// round trip across the mesh, short enough that a key we announced as gone soon is.
    var keyGraceMillis: UInt64 = 5000

    /// Opens a packet that failed `p`'s MAC with an earlier key still in its grace (see
    /// `Peer.previous`); returns that key and the plaintext length. A failed MAC leaves the input as
    /// it came (encrypt-then-MAC), so the same in-place buffer can be tried again.
    private func openWithEarlierKey(_ p: Peer, _ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> (Peer, Int)? {
        var q = p.previous
        while let k = q {
            if k.retiredUntil >= batchMillis, let n = k.cipher.open(input, into: out) { return (k, n) }
            q = k.previous
        }
        return nil
    }

    /// One received datagram: handled at once without a crew, else queued for the crew (a known
    /// sender with a key) or for this thread (no key, unknown sender), both in arrival order.
    @inline(__always)
    private func take(_ pkt: UnsafeMutableRawPointer, _ len: Int, slot: Int, _ from: SocketAddress) {
        guard let crew else { handle(pkt, len, from); return }
        if itemCount == OpenCrew.maxItems { openAndDeliver() }
        let it = crew.items + itemCount
        itemCount += 1
        it.pointee.packet = pkt
        it.pointee.length = Int32(truncatingIfNeeded: len)
        it.pointee.slot = Int32(truncatingIfNeeded: slot)
        it.pointee.result = -1
        it.pointee.peer = nil
        if let id = t.nodeByAddress[from] ?? matched[from], let p = peer(id), p.lanes.count >= crew.lanes {
            it.pointee.id = id
            it.pointee.peer = Unmanaged.passUnretained(p)
        }
    }

    /// Opens the queued datagrams on every lane, then does everything that depends on order here:
    /// failed-MAC counts, replay window, address learning, routing, writes. Each item's peer is still
    /// held in `peers`: keys change only between batches (mailbox), on this thread.
    private func openAndDeliver() {
        guard let crew, itemCount > 0 else { return }
        crew.openAll(count: itemCount)
        for k in 0..<itemCount {
            let it = crew.items[k]
            guard let pkt = it.packet else { continue }
            let from = froms[Int(it.slot)]
            guard let held = it.peer else { handle(pkt, Int(it.length), from); continue }
            let p = held.takeUnretainedValue()
            guard it.result >= 0 else {
                if let (q, n) = openWithEarlierKey(p, UnsafeRawBufferPointer(start: pkt, count: Int(it.length)),
                                                   into: UnsafeMutableRawBufferPointer(start: pkt, count: Int(it.length))) {
                    deliver(pkt, n, id: it.id, q, from: from, newAddress: false)
                    continue
                }
                outbox.stats.droppedBadMAC &+= 1
                counters.add(it.id, .dropBadMAC)
                reportFailedMAC(it.id, p)
                continue
            }
            p.failedInARow = 0
            deliver(pkt, Int(it.result), id: it.id, p, from: from, newAddress: false)
        }
        itemCount = 0
    }

    /// One datagram (tests call this directly with a buffer of `slotSize` bytes).
    func handle(_ pkt: UnsafeMutableRawPointer, _ len: Int, _ from: SocketAddress) {
        let input = UnsafeRawBufferPointer(start: pkt, count: len)
        let out = UnsafeMutableRawBufferPointer(start: plain, count: RxWorker.slotSize + 64)
        var id: Int32 = -1
        var opened = -1
        var newAddress = false
        if let known = t.nodeByAddress[from] ?? matched[from] {
            id = known
            guard let p = peer(id) else {
                outbox.stats.droppedNoKey &+= 1
                counters.add(id, .dropNoKey)
                reportNoKey(id)
                return
            }
            guard let n = p.cipher.open(input, into: out) else {
                if let (q, n) = openWithEarlierKey(p, input, into: out) {
                    deliver(plain, n, id: id, q, from: from, newAddress: false)
                    return
                }
                outbox.stats.droppedBadMAC &+= 1
                counters.add(id, .dropBadMAC)
                reportFailedMAC(id, p)
                return
            }
            p.failedInARow = 0
            opened = n
        } else {
            // tinc's try_harder: which node's key authenticates this packet? Budgeted per source
            // address, so garbage from one address cannot starve a roaming peer at another.
            guard peers.contains(where: { $0 != nil }), tryHarder.allow(from, now: Int(time(nil))) else {
                outbox.stats.droppedUnknownSource &+= 1
                return
            }
            for i in peers.indices {
                guard let p = peer(Int32(truncatingIfNeeded: i)), let n = p.cipher.open(input, into: out) else { continue }
                id = Int32(i)
                opened = n
                newAddress = true
                break
            }
            guard id >= 0 else { outbox.stats.droppedUnknownSource &+= 1; return }
        }
        guard let p = peer(id) else { outbox.stats.droppedShort &+= 1; counters.add(id, .dropShort); return }
        deliver(plain, opened, id: id, p, from: from, newAddress: newAddress)
    }

    /// After MAC check and decryption: replay window, address learning, decompression, routing.
    /// `plaintext` holds `opened` bytes: seqno, then the (compressed) frame.
    private func deliver(_ plaintext: UnsafeMutableRawPointer, _ opened: Int, id: Int32, _ p: Peer, from: SocketAddress, newAddress: Bool) {
        guard opened >= 4 else { outbox.stats.droppedShort &+= 1; counters.add(id, .dropShort); return }
        let seq = UInt32(bigEndian: plaintext.loadUnaligned(as: UInt32.self))
        switch p.window.check(seq) {
        case .replayed, .farFuture:
            outbox.stats.droppedReplay &+= 1
            counters.add(id, .dropReplay)
            return
        case .accept, .accepted:
            break
        }
        counters.set(id, .lastSeenMillis, batchMillis)
        // Only a packet that passed MAC and replay window moves a node to a new address: a replayed
        // capture sent from elsewhere cannot redirect its traffic.
        if newAddress {
            if matched.count >= 1024 { matched.removeAll() }
            matched[from] = id
            reportAddress(id, from)
        }
        if p.window.last > RxWorker.inboundRekeySeqno && !p.agingReported {
            p.agingReported = true
            outbox.events.append(.inboundKeyAging(id))
        }
        var frame = plaintext + 4
        var flen = opened - 4
        if p.compression != 0 {
            guard let n = PacketCompression.decompress(level: p.compression, UnsafeRawBufferPointer(start: frame, count: flen),
                                                       into: UnsafeMutableRawBufferPointer(start: inflated, count: RxWorker.slotSize)) else {
                outbox.stats.droppedCompression &+= 1
                counters.add(id, .dropDecompress)
                return
            }
            frame = inflated
            flen = n
        }
        guard flen >= 14 else { outbox.stats.droppedShort &+= 1; counters.add(id, .dropShort); return }
        if frame.load(fromByteOffset: 12, as: UInt8.self) == 0 && frame.load(fromByteOffset: 13, as: UInt8.self) == 0 {
            outbox.events.append(.probe(Array(UnsafeRawBufferPointer(start: frame, count: flen)), from: id))
            return
        }
        counters.count(id, packets: .inPackets, flen)
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

    private func reportAddress(_ id: Int32, _ from: SocketAddress) {
        let now = Int(time(nil))
        if let (a, at) = reportedAddress[id], a == from, now - at < 1 { return }
        if reportedAddress.count > 4096 { reportedAddress.removeAll() }
        reportedAddress[id] = (from, now)
        outbox.events.append(.udpAddress(id, from))
    }

    private func reportNoKey(_ id: Int32) {
        let now = Int(time(nil))
        if let at = reportedNoKey[id], now - at < 1 { return }
        if reportedNoKey.count > 4096 { reportedNoKey.removeAll() }
        reportedNoKey[id] = now
        outbox.events.append(.noInboundKey(id))
    }

    /// Three packets in a row from a node's address fail the MAC of the key we gave it: it most likely
    /// sends with an older key of ours (a late ANS_KEY overtook the newer one). Tell the control
    /// thread, at most once a second per key; a packet that passes resets the count, so garbage
    /// spoofed from the address of a peer that sends real traffic does not trigger it.
    private func reportFailedMAC(_ id: Int32, _ p: Peer) {
        p.failedInARow &+= 1
        guard p.failedInARow >= 3 else { return }
        let now = EventLoop.now()
        guard now - p.staleReportedAt >= 1 else { return }
        p.staleReportedAt = now
        outbox.events.append(.staleKey(id))
    }

    /// The node's inbound key, unless it was retired longer than the grace ago.
    @inline(__always)
    private func peer(_ id: Int32) -> Peer? {
        let i = Int(id)
        guard i >= 0 && i < peers.count, let p = peers[i] else { return nil }
        return p.retiredUntil >= batchMillis ? p : nil
    }

    private func flushCoalesced() {
        guard !tapQueues.isEmpty, !gro.isEmpty else { return }
        gro.flush { h, f, n in _ = tapQueues[FlowHash.queue(f, n, of: tapQueues.count)].write(header: h, frame: f, length: n) }
    }

    private func writeDevice(_ f: UnsafeRawPointer, _ len: Int) {
        flushCoalesced()   // keep frame order on the device
        if queues[FlowHash.queue(f, len, of: queues.count)].write(UnsafeRawBufferPointer(start: f, count: len)) {
            outbox.stats.deviceOutPackets &+= 1
            outbox.stats.deviceOutBytes &+= UInt64(len)
        }
    }
}

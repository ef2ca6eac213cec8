import Glibc
import CNetShim
import MeshCrypto
import MeshIO
import TunTap

/// The sending half of the frame path, on its own thread: reads frames from its device queue in
/// batches, routes them with the published forwarding snapshot, seals them with the cipher contexts
/// it alone owns, and sends each batch with sendmmsg. Frames that need TCP go back to the control
/// thread. There may be several, one per TAP queue; they share only each key's `SendSequence`.
final class TxWorker {
    static let batch = 64
    static let slotSize = 2048          // a frame (≤ 1518) plus room for the 4-byte seqno in front
    static let outSlots = 256
    static let outSlotSize = 2048 + 128 // sealed packet: seqno + frame + padding + MAC

    /// Frames waiting in the mailbox at most (relayed by RX, from TCP PACKETs, probes): about 6 MB.
    static let mailboxCapacity = 4096
    /// Mailbox items handled per wakeup before the device gets its turn again.
    static let mailboxBudget = 512
    /// From this send seqno on, ask the receiver for a new key (REQ_KEY), again every 2^16 packets.
    /// tinc 1.0 receivers renew at 2^30 received themselves; this covers receivers that do not.
    static let rekeySeqno: UInt32 = 1 << 31
    /// The last seqno sent under one key; the key is dropped rather than let the counter wrap
    /// (the frames go over TCP until the new key arrives).
    static let lastSeqno: UInt32 = UInt32.max - 1

    final class Peer {
        let cipher: PacketCipher
        let compression: Int
        let sequence: SendSequence
        init(cipher: PacketCipher, compression: Int, sequence: SendSequence) {
            self.cipher = cipher
            self.compression = compression
            self.sequence = sequence
        }
    }

    let device: NetworkDevice
    let sockets: [(family: Int32, fd: Int32)]
    let table: Published<ForwardingTable>
    let mailbox = Mailbox<TxCommand>(capacity: TxWorker.mailboxCapacity)
    let events: EventChannel
    let macRefresh: Double

    private var peers: [Peer?] = []
    private(set) var outbox = WorkerOutbox()
    /// Per-node traffic and drops; read by the control thread (`DataPlane.peerTraffic`).
    let counters: PeerCounters
    /// The destination of the frame being sent (`sendTo`), whose TCP fallbacks further down count against it.
    private var currentDestination: Int32 = -1
    private var t: ForwardingTable
    private var running = true
    private var reportedMACs: [UInt64: Double] = [:]

    // Preallocated buffers: no allocation per frame in steady state.
    private let inBuf: UnsafeMutableRawPointer
    private let scratch: UnsafeMutableRawPointer
    private let outBuf: UnsafeMutableRawPointer
    /// Fragments and ICMP errors are built here (never the slot being routed).
    private let fragBuf: UnsafeMutableRawPointer
    private var outCount = 0
    private var gsoError: Int32 = 0
    private var outFD = [Int32](repeating: -1, count: TxWorker.outSlots)
    private var outOffsets = [Int32](repeating: 0, count: TxWorker.outSlots)
    private var outLens = [Int32](repeating: 0, count: TxWorker.outSlots)
    private var outNode = [Int32](repeating: -1, count: TxWorker.outSlots)
    private var outFrameLen = [Int](repeating: 0, count: TxWorker.outSlots)
    private var outSeq = [UInt32](repeating: 0, count: TxWorker.outSlots)
    /// The key each queued packet was sealed with (only with `renumberLate`; cleared by flush).
    private var outPeer = [Peer?](repeating: nil, count: TxWorker.outSlots)
    private var outAddrs = [sockaddr_storage](repeating: sockaddr_storage(), count: TxWorker.outSlots)
    private var outAddrLens = [socklen_t](repeating: 0, count: TxWorker.outSlots)

    /// UDP GSO (UDP_SEGMENT) for runs of equal-size datagrams to one address: one skb through the
    /// stack per run instead of one per datagram. Off when a socket lacks it, when the kernel
    /// refuses it with EIO (a device without checksum offload), or with TINCD_SWIFT_GSO=0.
    private(set) var gso: Bool
    /// Set (once) when the kernel made us switch GSO off; DataPlane logs it.
    static let gsoEnvOff = getenv("TINCD_SWIFT_GSO").map { String(cString: $0) == "0" } ?? false

    /// Sealed packets queued before a sendmmsg. Alone, as many as fit. Beside other workers sealing
    /// for the same peers, fewer: a packet waits in the queue while the others take later seqnos and
    /// send them, and the receiver (tinc 1.0: ReplayWindow 16 bytes, 128 packets by default) drops a
    /// packet more than 128 behind the newest it has seen. `DataPlane` sets it to 128 / (2 × workers).
    var flushAfter = TxWorker.outSlots - 16
    /// Set beside other workers: before a send, packets whose seqno fell more than `lateLimit` behind
    /// the newest seqno handed out (this thread was preempted between sealing and sending while the
    /// others went on) are opened and sealed again with a fresh seqno, so the receiver's window
    /// takes them. The old seqno never reaches the wire, so each seqno is still sent at most once.
    var renumberLate = false

    /// What a worker does beside `workers - 1` others (DataPlane and the benchmark use it).
    func shareSequences(workers: Int) {
        guard workers > 1 else { return }
        flushAfter = max(8, 128 / (2 * workers))
        renumberLate = true
    }
    static let lateLimit: UInt32 = 96
    /// Packets sealed again by `renumberLate` (tests, diagnostics).
    private(set) var renumbered = 0

    init(device: NetworkDevice, sockets: [(family: Int32, fd: Int32)], table: Published<ForwardingTable>,
         macRefresh: Double, events: EventChannel, peerIDCapacity: Int = PeerCounters.defaultCapacity) {
        gso = !TxWorker.gsoEnvOff && !sockets.isEmpty && sockets.allSatisfy { cns_udp_gso_supported($0.fd) == 1 }
        if !gso && !TxWorker.gsoEnvOff && !sockets.isEmpty {
            Log.notice("UDP GSO (UDP_SEGMENT) not supported by this kernel: one datagram per send slot")
        }
        self.device = device
        self.sockets = sockets
        self.table = table
        self.macRefresh = macRefresh
        self.events = events
        self.counters = PeerCounters(capacity: peerIDCapacity)
        self.t = table.load()
        inBuf = .allocate(byteCount: TxWorker.batch * TxWorker.slotSize, alignment: 64)
        scratch = .allocate(byteCount: 2 * TxWorker.slotSize + 256, alignment: 64)
        outBuf = .allocate(byteCount: TxWorker.outSlots * TxWorker.outSlotSize, alignment: 64)
        fragBuf = .allocate(byteCount: TxWorker.slotSize, alignment: 64)
        for i in 0..<TxWorker.outSlots { outOffsets[i] = Int32(i * TxWorker.outSlotSize) }
    }

    deinit {
        inBuf.deallocate(); scratch.deallocate(); outBuf.deallocate(); fragBuf.deallocate()
    }

    func run() {
        let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        defer { close(ep) }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = mailbox.fd
        epoll_ctl(ep, EPOLL_CTL_ADD, mailbox.fd, &ev)
        if device.fd >= 0 {
            ev.data.fd = device.fd
            epoll_ctl(ep, EPOLL_CTL_ADD, device.fd, &ev)
        }
        var ready = [epoll_event](repeating: epoll_event(), count: 4)
        while running {
            let n = epoll_wait(ep, &ready, 4, 1000)
            if n < 0 && errno != EINTR { break }
            t = table.load()
            handleMailbox()
            if device.fd >= 0 { readDevice() }
            flush()
            report()
        }
    }

    func report() {
        outbox.stats.droppedQueueFull &+= mailbox.takeDropped()
        outbox.flush(now: EventLoop.now(), events)
    }

    /// Reloads the forwarding snapshot (tests; the run loop does it once per wakeup).
    func reloadTable() { t = table.load() }

    func handleMailbox() {
        for cmd in mailbox.drain(max: TxWorker.mailboxBudget) {
            switch cmd {
            case let .setKey(id, cipher, compression, sequence):
                guard id >= 0 else { continue }
                peers.set(Int(id), cipher.map { Peer(cipher: $0, compression: compression, sequence: sequence ?? SendSequence()) })
            case let .sendProbe(frame, to):
                guard !frame.isEmpty, frame.count <= TxWorker.slotSize - 4 else { continue }
                let slot = inBuf
                frame.withUnsafeBytes { if let b = $0.baseAddress { (slot + 4).copyMemory(from: b, byteCount: $0.count) } }
                sendUDP(slot, frame.count, to: to, probe: true)
            case let .route(frame, from, viaTCP, deliverLocally):
                guard frame.count >= 14, frame.count <= TxWorker.slotSize - 4 else { outbox.stats.droppedShort &+= 1; continue }
                let slot = inBuf
                frame.withUnsafeBytes { if let b = $0.baseAddress { (slot + 4).copyMemory(from: b, byteCount: $0.count) } }
                routeFrame(slot, frame.count, from: from, viaTCP: viaTCP, deliverLocally: deliverLocally)
            case .forget(let id):
                // Frames already queued for this id were sealed with its key; send them first.
                flush()
                if id >= 0 && Int(id) < peers.count { peers[Int(id)] = nil }
                counters.reset(id)
                outbox.events.append(.forgotten(id))
            case .stop:
                running = false
            }
            if outCount >= flushAfter { flush() }
        }
    }

    /// Outbound keys held (tests).
    func hasKey(_ id: Int32) -> Bool { Int(id) >= 0 && Int(id) < peers.count && peers[Int(id)] != nil }

    /// Sets the send seqno of a held key (tests of the wrap guard).
    func setSeqno(_ id: Int32, _ s: UInt32) { if hasKey(id) { peers[Int(id)]?.sequence.set(s) } }

    /// Reads up to one batch of frames from the device, each at offset 4 of its slot so the seqno
    /// can be written in front without copying.
    func readDevice() {
        for i in 0..<TxWorker.batch {
            let slot = inBuf + i * TxWorker.slotSize
            let n = device.read(into: UnsafeMutableRawBufferPointer(start: slot + 4, count: TxWorker.slotSize - 4))
            if n <= 0 { break }
            outbox.stats.deviceInPackets &+= 1
            outbox.stats.deviceInBytes &+= UInt64(n)
            localFrame(slot, n)
            if outCount >= flushAfter { flush() }
        }
    }

    private func localFrame(_ slot: UnsafeMutableRawPointer, _ len: Int) {
        let f = UnsafeRawPointer(slot + 4)
        guard len >= 14 else { return }
        if t.mode == .switch { learn(f) }
        else if t.mode == .router {
            let type = UInt16(f.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(f.load(fromByteOffset: 13, as: UInt8.self))
            // ARP, and ICMPv6 neighbor solicitations (next header 58, type 135), are answered by the control thread.
            if type == 0x0806 || (type == 0x86DD && len >= 55 && f.load(fromByteOffset: 20, as: UInt8.self) == 58 && f.load(fromByteOffset: 54, as: UInt8.self) == 135) {
                outbox.events.append(.localControlFrame(Array(UnsafeRawBufferPointer(start: f, count: len))))
                return
            }
        }
        routeFrame(slot, len, from: t.myID, viaTCP: false, deliverLocally: false)
    }

    /// Switch mode: tell the control thread about new source MACs, and refresh known ones now and then.
    private func learn(_ f: UnsafeRawPointer) {
        if f.load(fromByteOffset: 6, as: UInt8.self) & 1 != 0 { return }
        let k = ForwardingTable.macKey(UnsafeRawBufferPointer(start: f + 6, count: 6))
        let now = EventLoop.now()
        if let last = reportedMACs[k], now - last < macRefresh, t.lookupMAC(f + 6) == t.myID { return }
        reportedMACs[k] = now
        if reportedMACs.count > 65536 { reportedMACs.removeAll() }
        outbox.events.append(.learnedMAC(Array(UnsafeRawBufferPointer(start: f + 6, count: 6))))
    }

    private func routeFrame(_ slot: UnsafeMutableRawPointer, _ len: Int, from source: Int32, viaTCP: Bool, deliverLocally: Bool) {
        sourceMTU = source >= 0 && Int(source) < t.routes.count ? t.routes[Int(source)].mtu : 1518
        currentSource = source
        let decision = t.decide(slot + 4, length: len, source: source)
        switch decision {
        case .drop:
            outbox.stats.droppedNoRoute &+= 1
        case .unknownDestination, .unreachableDestination:
            outbox.stats.droppedNoRoute &+= 1
            if source == t.myID { answerUnreachable(slot + 4, len, known: decision == .unreachableDestination) }
        case .device:
            if t.myClampMSS { MSSClamp.clamp(slot + 4, length: len, mtu: min(sourceMTU, t.myMTU)) }
            writeDevice(slot + 4, len)
        case .node(let id):
            sendTo(id, slot, len, viaTCP: viaTCP)
        case .broadcast:
            if deliverLocally && source != t.myID { writeDevice(slot + 4, len) }
            if t.tunnelServer { return }
            switch t.broadcastMode {
            case .no:
                return
            case .mst:
                // A source newer than this snapshot has no known direction yet: send to every MST link.
                let towards = source == t.myID || source < 0 || Int(source) >= t.routes.count ? -1 : t.routes[Int(source)].nexthop
                for id in t.mstTargets where id != towards { sendTo(id, slot, len, viaTCP: viaTCP) }
            case .direct:
                guard source == t.myID else { return }
                for (i, r) in t.routes.enumerated() where r.directUDP { sendTo(Int32(i), slot, len, viaTCP: viaTCP) }
            }
        }
    }

    private var icmpLimit = ICMPRateLimit()

    /// Router mode: tell the local sender that nobody in the mesh owns (or can reach) that address.
    private func answerUnreachable(_ f: UnsafeRawPointer, _ len: Int, known: Bool) {
        guard icmpLimit.allow(now: Int(time(nil))) else { return }
        let frame = Array(UnsafeRawBufferPointer(start: f, count: len))
        let reply = frame[12] == 0x86
            ? ICMPReply.ipv6(frame, code: known ? ICMPReply.v6AddressUnreachable : ICMPReply.v6NoRoute)
            : ICMPReply.ipv4(frame, code: known ? ICMPReply.v4HostUnreachable : ICMPReply.v4NetUnknown)
        if let r = reply { r.withUnsafeBytes { if let b = $0.baseAddress { writeDevice(b, $0.count) } } }
    }

    private func writeDevice(_ f: UnsafeRawPointer, _ len: Int) {
        if device.write(UnsafeRawBufferPointer(start: f, count: len)) {
            outbox.stats.deviceOutPackets &+= 1
            outbox.stats.deviceOutBytes &+= UInt64(len)
        }
    }

    private func copyFrame(_ slot: UnsafeMutableRawPointer, _ len: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: slot + 4, count: len))
    }

    /// tinc's send_packet: pick `via`, and TCP when the frame came over TCP or TCPOnly applies.
    /// The path MTU of the node the frame being routed came from (tinc clamps to the smaller of both).
    private var sourceMTU = 1518
    private var currentSource: Int32 = -1

    /// `counted`: the frame was already counted for its destination (a fragment of it, or a detour
    /// towards the nexthop), so the per-node counters do not see it twice.
    private func sendTo(_ id: Int32, _ slot: UnsafeMutableRawPointer, _ len: Int, viaTCP: Bool, counted: Bool = false) {
        guard id >= 0, Int(id) < t.routes.count else { return }
        let r = t.routes[Int(id)]
        guard r.reachable else { outbox.stats.droppedNoRoute &+= 1; return }
        let via = (viaTCP || r.via == t.myID) ? r.nexthop : r.via
        guard via >= 0 else { return }
        if t.directOnly && via != id {
            outbox.stats.droppedNoRoute &+= 1
            return
        }
        if t.decrementTTL && currentSource != t.myID && currentSource >= 0 {
            guard TTL.decrement(slot + 4, length: len) else { outbox.stats.droppedNoRoute &+= 1; return }
        }
        if !counted {
            currentDestination = id
            counters.count(id, packets: .outPackets, len)
        }
        let viaRoute = t.routes[Int(via)]
        if via != t.myID, len > 14, let limit = oversizeLimit(slot + 4, len, viaMTU: viaRoute.mtu) {
            handleOversize(slot, len, limit: limit, to: id, viaTCP: viaTCP)
            return
        }
        if viaRoute.options & 0x8 != 0 {
            MSSClamp.clamp(slot + 4, length: len, mtu: min(viaRoute.mtu, sourceMTU))
        }
        if viaTCP || t.myTCPOnly || t.routes[Int(via)].options & 0x2 != 0 {
            outbox.stats.tcpFallbackFrames &+= 1
            countTCP(len)
            outbox.events.append(.sendTCP(copyFrame(slot, len), to: via))
            return
        }
        sendUDP(slot, len, to: via, probe: false)
    }

    /// The frame being sent leaves over TCP: counted against its destination.
    @inline(__always)
    private func countTCP(_ len: Int) {
        if currentDestination >= 0 { counters.count(currentDestination, packets: .outTCPPackets, len) }
    }

    /// tinc's MTU rules (§8.3): the largest frame `via` takes for this frame's type, when the frame
    /// is bigger than that; nil when it may be sent as it is.
    private func oversizeLimit(_ f: UnsafeRawPointer, _ len: Int, viaMTU: Int) -> Int? {
        let type = UInt16(f.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(f.load(fromByteOffset: 13, as: UInt8.self))
        switch t.mode {
        case .router:
            if type == 0x0800 { let l = max(viaMTU, 590); return len > l ? l : nil }
            if type == 0x86DD { let l = max(viaMTU, 1294); return len > l ? l : nil }
            return nil
        case .switch:
            if type == 0x0800 && len > 576 + 14 && len > viaMTU { return viaMTU }
            if type == 0x86DD && len > 1280 + 14 && len > viaMTU { return viaMTU }
            return nil
        case .hub:
            return nil
        }
    }

    /// IPv4 with DF or IPv6: an ICMP error back to the sender; IPv4 without DF: fragments.
    private func handleOversize(_ slot: UnsafeMutableRawPointer, _ len: Int, limit: Int, to id: Int32, viaTCP: Bool) {
        let frame = copyFrame(slot, len)
        var reply: [UInt8]?
        if frame[12] == 0x08 {
            if frame[20] & 0x40 == 0, let frags = ICMPReply.fragmentIPv4(frame, maxPayload: limit - 14 - 20) {
                outbox.stats.fragmented &+= 1
                for frag in frags where !frag.isEmpty && frag.count <= TxWorker.slotSize - 4 {
                    frag.withUnsafeBytes { if let b = $0.baseAddress { (fragBuf + 4).copyMemory(from: b, byteCount: $0.count) } }
                    sendTo(id, fragBuf, frag.count, viaTCP: viaTCP, counted: true)
                }
                return
            }
            reply = ICMPReply.fragmentationNeeded(Array(frame.prefix(limit)), mtu: limit - 14)
        } else {
            reply = ICMPReply.packetTooBig(Array(frame.prefix(limit)), mtu: limit - 14)
        }
        guard let r = reply, icmpLimit.allow(now: Int(time(nil))) else { return }
        if currentSource == t.myID {
            r.withUnsafeBytes { if let b = $0.baseAddress { writeDevice(b, $0.count) } }
        } else if !r.isEmpty && r.count <= TxWorker.slotSize - 4 {
            r.withUnsafeBytes { if let b = $0.baseAddress { (fragBuf + 4).copyMemory(from: b, byteCount: $0.count) } }
            sendTo(currentSource, fragBuf, r.count, viaTCP: false)
        }
    }

    /// tinc's send_udppacket: compress, number, seal, queue for sendmmsg.
    private func sendUDP(_ slot: UnsafeMutableRawPointer, _ len: Int, to id: Int32, probe: Bool) {
        let i = Int(id)
        guard i >= 0, i < t.routes.count else { return }
        let r = t.routes[i]
        guard let p = i < peers.count ? peers[i] : nil else {
            outbox.events.append(.needKey(id))
            if !probe && r.nexthop >= 0 {
                outbox.stats.tcpFallbackFrames &+= 1
                countTCP(len)
                outbox.events.append(.sendTCP(copyFrame(slot, len), to: r.nexthop))
            }
            return
        }
        if !probe && r.options & 0x4 != 0 && len > r.minMTU {
            if r.nexthop >= 0 && r.nexthop != id {
                sendTo(r.nexthop, slot, len, viaTCP: false, counted: true)
            } else {
                outbox.stats.tcpFallbackFrames &+= 1
                countTCP(len)
                outbox.events.append(.sendTCP(copyFrame(slot, len), to: id))
            }
            return
        }
        guard let addr = r.udp, let fd = socketFD(family: addr.family) else {
            if r.nexthop >= 0 && !probe {
                countTCP(len)
                outbox.events.append(.sendTCP(copyFrame(slot, len), to: r.nexthop))
            }
            return
        }
        var plain = slot
        var plainLen = 4 + len
        if p.compression != 0 {
            let n = PacketCompression.compress(level: p.compression, UnsafeRawBufferPointer(start: slot + 4, count: len),
                                               into: UnsafeMutableRawBufferPointer(start: scratch + 4, count: TxWorker.slotSize * 2 - 4))
            guard let n = n else { outbox.stats.droppedCompression &+= 1; counters.add(id, .dropCompress); return }
            plain = scratch
            plainLen = 4 + n
        }
        guard let seqno = p.sequence.next() else {
            // This key's sequence numbers are used up: never send a wrapped seqno. Drop the key,
            // ask for a new one, and let this frame take the TCP path meanwhile.
            peers[i] = nil
            outbox.events.append(.needKey(id))
            outbox.events.append(.outboundKeyAging(id))
            if !probe && r.nexthop >= 0 {
                outbox.stats.tcpFallbackFrames &+= 1
                countTCP(len)
                outbox.events.append(.sendTCP(copyFrame(slot, len), to: r.nexthop))
            }
            return
        }
        // Each seqno is handed out once whichever worker asks, so exactly one worker sees this one.
        if seqno >= TxWorker.rekeySeqno && (seqno - TxWorker.rekeySeqno) & 0xFFFF == 0 {
            outbox.events.append(.outboundKeyAging(id))
        }
        plain.storeBytes(of: seqno.bigEndian, as: UInt32.self)
        if outCount == TxWorker.outSlots { flush() }
        let o = outCount
        let dst = outBuf + o * TxWorker.outSlotSize
        let sealed = p.cipher.seal(UnsafeRawBufferPointer(start: plain, count: plainLen),
                                   into: UnsafeMutableRawBufferPointer(start: dst, count: TxWorker.outSlotSize))
        guard sealed > 0 else { outbox.stats.droppedSealFailed &+= 1; counters.add(id, .dropSealFailed); return }
        outFD[o] = fd
        outLens[o] = Int32(sealed)
        outNode[o] = id
        outFrameLen[o] = len
        outSeq[o] = seqno
        if renumberLate { outPeer[o] = p }
        outAddrs[o] = addr.storage
        outAddrLens[o] = addr.length
        outCount += 1
    }

    /// The UDP socket for an address family (a plain loop: no iterator or closure per frame).
    @inline(__always)
    private func socketFD(family: Int32) -> Int32? {
        var i = 0
        while i < sockets.count {
            if sockets[i].family == family { return sockets[i].fd }
            i += 1
        }
        return nil
    }

    /// See `renumberLate`. Opening costs a fraction of sealing (CBC decrypts in parallel), and it
    /// happens only to packets that waited while about 100 others were sent.
    private func renumberLatePackets() {
        for k in 0..<outCount {
            guard let p = outPeer[k] else { continue }
            outPeer[k] = nil
            guard p.sequence.newest &- outSeq[k] > TxWorker.lateLimit else { continue }
            let slot = outBuf + k * TxWorker.outSlotSize
            guard let n = p.cipher.open(UnsafeRawBufferPointer(start: slot, count: Int(outLens[k])),
                                        into: UnsafeMutableRawBufferPointer(start: scratch, count: 2 * TxWorker.slotSize + 256)),
                  n >= 4, let seqno = p.sequence.next() else { continue }
            scratch.storeBytes(of: seqno.bigEndian, as: UInt32.self)
            let sealed = p.cipher.seal(UnsafeRawBufferPointer(start: scratch, count: n),
                                       into: UnsafeMutableRawBufferPointer(start: slot, count: TxWorker.outSlotSize))
            guard sealed > 0 else { continue }
            outLens[k] = Int32(sealed)
            outSeq[k] = seqno
            renumbered += 1
        }
    }

    /// Sends everything queued, one sendmmsg per run of packets on the same socket.
    func flush() {
        if renumberLate { renumberLatePackets() }
        var i = 0
        while i < outCount {
            let fd = outFD[i]
            var end = i
            while end < outCount && outFD[end] == fd { end += 1 }
            while i < end {
                let n = outOffsets.withUnsafeBufferPointer { offs in
                    outLens.withUnsafeBufferPointer { lens in
                        outAddrs.withUnsafeBufferPointer { addrs in
                            outAddrLens.withUnsafeBufferPointer { alens in
                                gso ? cns_sendmmsg_gso(fd, outBuf, offs.baseAddress! + i, lens.baseAddress! + i, Int32(end - i),
                                                       addrs.baseAddress! + i, alens.baseAddress! + i, &gsoError)
                                    : cns_sendmmsg(fd, outBuf, offs.baseAddress! + i, lens.baseAddress! + i, Int32(end - i),
                                                   addrs.baseAddress! + i, alens.baseAddress! + i)
                            }
                        }
                    }
                }
                if gsoError != 0 {
                    gso = false
                    Log.notice("UDP GSO switched off: the kernel refused a segmented send (\(String(cString: strerror(gsoError))))")
                    gsoError = 0
                }
                if n > 0 {
                    for k in i ..< i + Int(n) { outbox.stats.udpOutPackets &+= 1; outbox.stats.udpOutBytes &+= UInt64(outLens[k]) }
                    i += Int(n)
                    continue
                }
                if -n == EMSGSIZE { outbox.events.append(.tooBig(outNode[i], outFrameLen[i])) }
                else if -n == EAGAIN || -n == ENOBUFS {
                    // Socket buffer full: wait briefly for room rather than dropping the whole batch.
                    var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&pfd, 1, 5) > 0 { continue }
                }
                outbox.stats.droppedSendError &+= 1
                counters.add(outNode[i], .dropSendError)
                i += 1
            }
        }
        outCount = 0
    }
}

import Glibc
import MeshIO

/// Single-hop BFD (RFC 5880 asynchronous mode over RFC 5881 UDP) for the BGP speaker's `bfd on`, on an
/// EventLoop. One receive socket per address family on port 3784 (TTL / hop limit must be 255), one transmit
/// socket per session (source port 49152-65535, TTL 255). Sessions are shared: watching the same neighbor
/// twice reuses the session; it ends (after telling the peer AdminDown) when the last token is released.
/// All methods must be called on the loop's thread; tokens may be released anywhere.
public final class BFDManager: LivenessMonitor {
    public static let controlPort: UInt16 = 3784

    static func wallClock() -> Double {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6
    }

    public struct SessionInfo: CustomStringConvertible {
        public var peer: SocketAddress
        public var interface: String?
        public var state: BFDState
        public var remoteState: BFDState
        public var localDiscriminator: UInt32
        public var remoteDiscriminator: UInt32
        public var diagnostic: BFDDiagnostic
        /// µs
        public var transmitInterval: UInt32
        public var detectionTime: UInt64
        public var received: Int
        public var sent: Int
        /// Wall-clock seconds of the last local state change (birdc `show bfd sessions` Since).
        public var since: Double = 0
        public var description: String {
            "\(peer.host)\(interface.map { "%" + $0 } ?? "") \(state) (remote \(remoteState)) my \(localDiscriminator) your \(remoteDiscriminator) tx \(transmitInterval / 1000) ms detect \(detectionTime / 1000) ms diag \(diagnostic)"
        }
    }

    private struct Key: Hashable {
        var address: [UInt8]
        var interface: String
    }

    private final class Entry {
        let key: Key
        let peer: SocketAddress
        let interface: String?
        let interfaceIndex: UInt32
        let session: BFDSession
        let txFD: Int32
        var timer: EventLoop.TimerID?
        var watchers: [Int: (down: () -> Void, up: () -> Void)] = [:]
        var lastSendError: Int32 = 0
        var since = BFDManager.wallClock()
        init(key: Key, peer: SocketAddress, interface: String?, interfaceIndex: UInt32, session: BFDSession, txFD: Int32) {
            self.key = key; self.peer = peer; self.interface = interface; self.interfaceIndex = interfaceIndex
            self.session = session; self.txFD = txFD
        }
    }

    /// Released by the watcher to stop watching.
    final class Token {
        private weak var manager: BFDManager?
        private let loop: EventLoop
        private let id: Int
        init(manager: BFDManager, loop: EventLoop, id: Int) { self.manager = manager; self.loop = loop; self.id = id }
        deinit {
            let id = self.id
            loop.post { [weak manager] in manager?.release(id) }
        }
    }

    public let loop: EventLoop
    public var options: BFDOptions
    /// Per-interface options (first matching shell pattern wins), as in BIRD's `interface "pattern" { ... }`.
    public var interfaceOptions: [(pattern: String, options: BFDOptions)] = []
    public let port: UInt16

    private var rxFDs: [Int32] = []
    private var entries: [Key: Entry] = [:]
    private var byDiscriminator: [UInt32: Entry] = [:]
    private var watcherKeys: [Int: Key] = [:]
    private var nextWatcher = 1
    private var buffer = [UInt8](repeating: 0, count: 2048)
    private var lastRejectLog: [String: Double] = [:]
    private var closed = false

    /// Opens the receive sockets (IPv4 required, IPv6 if the host has it). `port` is 3784 except in tests.
    public init(loop: EventLoop, options: BFDOptions = BFDOptions(), port: UInt16 = BFDManager.controlPort) throws {
        self.loop = loop
        self.options = options
        self.port = port
        let v4 = try BFDSocket.openReceive(family: AF_INET, port: port)
        rxFDs.append(v4)
        do {
            rxFDs.append(try BFDSocket.openReceive(family: AF_INET6, port: port))
        } catch {
            Log.info(Log.status, "BFD: no IPv6 receive socket: \(error)")
        }
        for fd in rxFDs {
            loop.register(fd, events: .readable) { [weak self] _ in self?.readable(fd) }
        }
    }

    /// From a `protocol bfd` block: its interface options (the first block without a pattern is the default).
    public convenience init(loop: EventLoop, config: BFDProtocolConfig, port: UInt16 = BFDManager.controlPort) throws {
        try self.init(loop: loop, options: BFDOptions(), port: port)
        interfaceOptions = config.interfaces
    }

    deinit { shutdown() }

    /// Sends AdminDown on every session and closes all sockets.
    public func shutdown() {
        guard !closed else { return }
        closed = true
        for e in entries.values { finish(e) }
        entries.removeAll()
        byDiscriminator.removeAll()
        watcherKeys.removeAll()
        for fd in rxFDs { loop.unregister(fd); close(fd) }
        rxFDs.removeAll()
    }

    func options(for interface: String?) -> BFDOptions {
        if let i = interface {
            for (pattern, o) in interfaceOptions where fnmatch(pattern, i, 0) == 0 { return o }
        }
        return options
    }

    // MARK: LivenessMonitor

    public func watch(peer: SocketAddress, local: SocketAddress?, interface: String?,
                      onDown: @escaping () -> Void, onUp: @escaping () -> Void) -> AnyObject {
        watch(peer: peer, local: local, interface: interface, options: nil, onDown: onDown, onUp: onUp)
    }

    /// `watch` with explicit session options (else per-interface options, else `options`).
    public func watch(peer: SocketAddress, local: SocketAddress?, interface: String?, options explicit: BFDOptions?,
                      onDown: @escaping () -> Void, onUp: @escaping () -> Void) -> AnyObject {
        let id = nextWatcher
        nextWatcher += 1
        let token = Token(manager: self, loop: loop, id: id)
        let key = Key(address: peer.addressBytes, interface: interface ?? "")
        let entry: Entry
        if let e = entries[key] {
            entry = e
        } else {
            guard !closed, let e = makeEntry(key: key, peer: peer, local: local, interface: interface,
                                             options: explicit ?? options(for: interface)) else {
                return token   // error logged; the watcher simply never hears Up
            }
            entry = e
        }
        entry.watchers[id] = (onDown, onUp)
        watcherKeys[id] = key
        if entry.session.state == .up { loop.post { onUp() } }
        return token
    }

    private func makeEntry(key: Key, peer: SocketAddress, local: SocketAddress?, interface: String?,
                           options: BFDOptions) -> Entry? {
        var ifindex: UInt32 = 0
        if let name = interface {
            ifindex = UInt32(if_nametoindex(name))
            if ifindex == 0 { Log.warning("BFD: interface \(name) of neighbor \(peer.host) does not exist (yet)") }
        }
        var dest = peer
        dest.port = port
        if dest.family == AF_INET6 && ifindex != 0 {
            // Link-local neighbors need the scope (sin6_scope_id at offset 24).
            withUnsafeMutableBytes(of: &dest.storage) { $0.storeBytes(of: ifindex, toByteOffset: 24, as: UInt32.self) }
        }
        var source = local ?? BFDSocket.wildcard(family: peer.family, port: 0)
        if source.family != peer.family { source = BFDSocket.wildcard(family: peer.family, port: 0) }
        let tx: (fd: Int32, port: UInt16)
        do {
            tx = try BFDSocket.openTransmit(local: source, device: interface)
        } catch {
            Log.error("BFD: cannot start session with \(peer.host): \(error)")
            return nil
        }
        var discr: UInt32 = 0
        repeat { discr = UInt32.random(in: 1...UInt32.max) } while byDiscriminator[discr] != nil
        let session = BFDSession(localDiscriminator: discr, parameters: BFDSession.Parameters(options))
        let e = Entry(key: key, peer: dest, interface: interface, interfaceIndex: ifindex, session: session, txFD: tx.fd)
        session.transmit = { [unowned self, unowned e] p in self.send(p, on: e) }
        session.stateChanged = { [unowned self, unowned e] from, to, diag in self.stateChanged(e, from, to, diag) }
        entries[key] = e
        byDiscriminator[discr] = e
        Log.info(Log.connections, "BFD: session with \(peer.host)\(interface.map { " on " + $0 } ?? "") started (source port \(tx.port), discriminator \(discr))")
        session.start(now: loop.now)
        reschedule(e)
        return e
    }

    func release(_ id: Int) {
        guard let key = watcherKeys.removeValue(forKey: id), let e = entries[key] else { return }
        e.watchers[id] = nil
        guard e.watchers.isEmpty else { return }
        // Last watcher gone: tell the peer we are going away (AdminDown) and drop the session.
        finish(e)
        entries[key] = nil
        byDiscriminator[e.session.localDiscriminator] = nil
        Log.info(Log.connections, "BFD: session with \(e.peer.host) stopped")
    }

    /// Sends one AdminDown (diag 7) and closes the session's socket; callbacks no longer reach the manager.
    private func finish(_ e: Entry) {
        let fd = e.txFD, peer = e.peer
        e.session.transmit = { p in _ = BFDSocket.send(fd, p.encode(), to: peer) }
        e.session.stateChanged = { _, _, _ in }
        e.session.setAdminDown(now: loop.now)
        loop.cancel(e.timer)
        e.timer = nil
        close(fd)
    }

    /// Snapshot of all sessions (loop thread).
    public func sessions() -> [SessionInfo] {
        entries.values.map { e in
            let s = e.session
            return SessionInfo(peer: e.peer, interface: e.interface, state: s.state, remoteState: s.remoteState,
                               localDiscriminator: s.localDiscriminator, remoteDiscriminator: s.remoteDiscriminator,
                               diagnostic: s.localDiagnostic, transmitInterval: s.transmitInterval,
                               detectionTime: s.detectionTime, received: s.received, sent: s.sent, since: e.since)
        }
    }

    // MARK: Events

    private func reschedule(_ e: Entry) {
        loop.cancel(e.timer)
        e.timer = nil
        guard let d = e.session.nextDeadline else { return }
        e.timer = loop.schedule(after: d - loop.now) { [weak self, weak e] in
            guard let self = self, let e = e, self.entries[e.key] === e else { return }
            e.timer = nil
            e.session.tick(now: self.loop.now)
            self.reschedule(e)
        }
    }

    private func send(_ p: BFDPacket, on e: Entry) {
        let err = BFDSocket.send(e.txFD, p.encode(), to: e.peer)
        if err != 0 && err != e.lastSendError {
            Log.info(Log.connections, "BFD: sending to \(e.peer.host): \(errnoText(err))")
        }
        e.lastSendError = err
        if Log.enabled(Log.packets) { Log.debug(Log.packets, "BFD: sent to \(e.peer.host): \(p)") }
    }

    private func stateChanged(_ e: Entry, _ from: BFDState, _ to: BFDState, _ diag: BFDDiagnostic) {
        e.since = BFDManager.wallClock()
        Log.info(Log.connections, "BFD: session with \(e.peer.host) \(from) -> \(to)\(to == .down ? " (\(diag))" : "")")
        let watchers = Array(e.watchers.values)
        if to == .up {
            loop.post { for w in watchers { w.up() } }
        } else if from == .up {
            // RFC 5882 §3.2: a neighbor going AdminDown is not a failure; everything else is.
            if e.session.remoteState == .adminDown && diag == .neighborSignaledSessionDown {
                Log.info(Log.connections, "BFD: \(e.peer.host) went administratively down; not treated as a failure")
            } else {
                loop.post { for w in watchers { w.down() } }
            }
        }
    }

    /// Datagrams read from one receive socket per wakeup: a flood on it cannot starve the loop's other
    /// work (BGP keepalives, meta connections); what is left is read at the next wakeup (level-triggered).
    public var readBudget = 64
    /// Datagrams left unread at the end of a wakeup because the budget was used up (each time it happens).
    public private(set) var budgetExhausted = 0
    /// Datagrams read from the receive sockets, valid or not.
    public private(set) var datagramsRead = 0

    private func readable(_ fd: Int32) {
        let now = loop.now
        for i in 0...readBudget {
            if i == readBudget { budgetExhausted += 1; return }
            var err: Int32 = 0
            let d = buffer.withUnsafeMutableBytes { BFDSocket.receive(fd, into: $0, error: &err) }
            guard let dgram = d else {
                if err != EAGAIN && err != EWOULDBLOCK && err != 0 { Log.warning("BFD: receive: \(errnoText(err))") }
                return
            }
            datagramsRead += 1
            handle(dgram, now: now)
        }
    }

    private func reject(_ source: SocketAddress, _ reason: String, loud: Bool) {
        let msg = "BFD: packet from \(source.host) discarded: \(reason)"
        if loud {
            let now = loop.now
            if let last = lastRejectLog[source.host], now - last < 10 { Log.debug(Log.protocol_, msg); return }
            if lastRejectLog.count >= 1024 { lastRejectLog = lastRejectLog.filter { now - $0.value < 10 } }
            if lastRejectLog.count >= 1024 { Log.debug(Log.protocol_, msg); return }   // many sources at once: stay quiet
            lastRejectLog[source.host] = now
            Log.warning(msg)
        } else {
            Log.debug(Log.protocol_, msg)
        }
    }

    private func handle(_ d: BFDSocket.Datagram, now: Double) {
        // RFC 5881 §5: single-hop packets arrive with TTL / hop limit 255 or not at all (GTSM).
        guard d.ttl == 255 else { reject(d.source, "TTL \(d.ttl) is not 255", loud: false); return }
        let packet: BFDPacket
        do {
            packet = try BFDPacket.decode(buffer[0..<d.length])
        } catch let e as BFDPacketError {
            if case .authenticationNotSupported = e { reject(d.source, e.description, loud: true) }
            else { reject(d.source, e.description, loud: false) }
            return
        } catch { return }
        let addr = d.source.addressBytes
        let entry: Entry?
        if packet.yourDiscriminator != 0 {
            entry = byDiscriminator[packet.yourDiscriminator]
            if let e = entry, e.peer.addressBytes != addr {
                reject(d.source, "discriminator \(packet.yourDiscriminator) belongs to \(e.peer.host)", loud: false)
                return
            }
        } else {
            entry = entries.values.first { $0.peer.addressBytes == addr && ($0.interfaceIndex == 0 || d.interfaceIndex == 0 || $0.interfaceIndex == d.interfaceIndex) }
        }
        guard let e = entry else {
            reject(d.source, "no session (your discriminator \(packet.yourDiscriminator))", loud: false)
            return
        }
        if Log.enabled(Log.packets) { Log.debug(Log.packets, "BFD: received from \(d.source.host): \(packet)") }
        e.session.receive(packet, now: now)
        reschedule(e)
    }
}

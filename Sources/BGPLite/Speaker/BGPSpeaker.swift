// The embeddable BGP-4 speaker: owns the RIBs, the sessions, the listeners and the exports.
// Everything runs on the EventLoop's thread; call the public methods from that thread
// (use loop.post from elsewhere).
import Glibc
import MeshIO
import MeshStatus

public struct BGPSpeakerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public final class BGPSpeaker {
    /// The running configuration (replaced by `reconfigure`).
    public internal(set) var config: BGPConfig
    public let loop: EventLoop
    let fib: FIBSink?
    let liveness: LivenessMonitor?
    /// Optional log hook (every message the speaker logs).
    public var onEvent: ((String) -> Void)?
    /// `template bgp` definitions for addDynamicPeer (BGPConfig does not carry them; see BGPCommand.loadConfig).
    public var templates: [String: BGPProtocolConfig] = [:]
    /// Set before start() after a restart with preserved forwarding: the R bit is advertised
    /// on sessions with `graceful restart on`.
    public var restarting = false
    /// Called (debounced) when a protocol state or the routing table changed.
    public var onStatusChange: (() -> Void)?

    /// The attribute intern table and the route table that counts its references.
    let attrs: AttrTable
    let rib: RIB
    public internal(set) var routerID: UInt32
    var sessions: [Session] = []
    var statics: [StaticOrigin] = []
    /// How each dynamic peer was asked for, so `configure` can rebuild its definition from a changed template.
    var dynamicRequests: [String: DynamicPeerRequest] = [:]
    var meshSources: [String: RouteSource] = [:]
    var kernels: [KernelProtocolConfig] = []
    var fibInstalled: [IPPrefix: IPPrefix] = [:]
    var fibPending: [FIBChange] = []
    var fibFlushScheduled = false
    var establishedSessions: [Session] = []
    /// Connections closed for their session whose NOTIFICATION is still being delivered (SessionIO).
    var lingering: [ObjectIdentifier: Connection] = [:]
    var listeners: [String: Int32] = [:]
    /// The loop's clock (real or virtual) at init, and the wall clock then: every time the speaker
    /// shows (route ages, Since) is derived from the loop's clock, as its timers are.
    let epochMono: Double
    let epochWall = BGPSpeaker.wallClock()
    public private(set) var startedAt: Double
    var started = false
    var statusScheduled = false
    /// Tests: opens a session's outgoing connection instead of a TCP connect (returns the fd).
    var connectHook: ((Session, SocketAddress) throws -> Int32)?
    /// Tests: messages go to `onEvent` only, not to the process log.
    var quiet = false

    public init(config: BGPConfig, loop: EventLoop, fib: FIBSink? = nil, liveness: LivenessMonitor? = nil) throws {
        self.config = config
        self.loop = loop
        self.fib = fib
        self.liveness = liveness
        attrs = AttrTable()
        rib = RIB(attrTable: attrs)
        epochMono = loop.now
        startedAt = epochWall
        guard let rid = config.routerID ?? BGPSpeaker.defaultRouterID() else {
            throw BGPSpeakerError("Cannot determine router ID, please configure it manually")
        }
        routerID = rid
        for p in config.protocols {
            switch p {
            case .bgp(let b):
                guard !b.isTemplate else { continue }
                if sessions.contains(where: { $0.name == b.name }) { throw BGPSpeakerError("Protocol \(b.name) defined twice") }
                let src = rib.addSource(name: b.name, kind: .bgp, preference: UInt32(b.channels.first?.preference ?? 100))
                sessions.append(Session(speaker: self, config: b, source: src, dynamic: false))
            case .static_(let s):
                let src = rib.addSource(name: s.name, kind: .static_, preference: UInt32(s.channel.preference ?? 200))
                statics.append(StaticOrigin(config: s, source: src))
            case .kernel(let k):
                kernels.append(k)
            default:
                break
            }
        }
    }

    // MARK: - Public API

    public func start() {
        guard !started else { return }
        started = true
        startedAt = wallNow()
        log(.notice, "BGP speaker starting (router id \(BGPSpeaker.formatID(routerID)), \(sessions.count) BGP protocols)")
        for s in statics { startStatic(s) }
        for s in sessions { ensureListener(for: s) }
        for s in sessions { s.start() }
    }

    /// After `stop()`, before the process exits: finishes delivering the NOTIFICATIONs (send, shut
    /// down the write side, read until the peer closes) for at most `timeout` seconds, outside the
    /// loop. Exiting with unread input would make the kernel send a RST that discards them.
    public func finishLingering(timeout: Double = 1) {
        let deadline = EventLoop.now() + timeout
        while !lingering.isEmpty {
            let left = deadline - EventLoop.now()
            guard left > 0 else { break }
            let conns = Array(lingering.values)
            var fds = conns.map { pollfd(fd: $0.fd, events: Int16(POLLIN) | ($0.lingerWantsWrite ? Int16(POLLOUT) : 0), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), Int32(min(left, 1) * 1000) + 1)
            for (c, p) in zip(conns, fds) where p.revents != 0 { c.lingerStep() }
        }
        for c in Array(lingering.values) { c.abortLinger() }
    }

    public func stop(notification: NotificationMessage = .administrativeShutdown(message: "")) {
        guard started else { return }
        for s in sessions { s.stop(notification: notification, reason: "Shutdown") }
        for (_, fd) in listeners { loop.unregister(fd); Glibc.close(fd) }
        listeners = [:]
        for s in statics { stopStatic(s) }
        flushFIB()
        started = false
        log(.notice, "BGP speaker stopped")
    }

    /// Adds an iBGP mesh peer discovered by the VPN. Uses `template bgp NAME` (or a configured bgp
    /// protocol of that name) when given; otherwise BIRD's iBGP defaults plus import all,
    /// export all and next hop self, with the local AS of the first configured BGP protocol.
    /// `nextHop6` is our IPv6 address on the shared link, used as the IPv6 next hop when the
    /// channel has no `next hop address` (the session itself runs over IPv4).
    public func addDynamicPeer(name: String, neighbor: IPPrefix, neighborAS: UInt32, localAddress: IPPrefix?, template: String?,
                               nextHop6: IPPrefix? = nil) {
        if sessions.contains(where: { $0.name == name }) {
            log(.warning, "Dynamic peer \(name) already exists")
            return
        }
        let request = DynamicPeerRequest(neighbor: neighbor, neighborAS: neighborAS, localAddress: localAddress,
                                         template: template, nextHop6: nextHop6)
        guard let c = dynamicPeerConfig(name: name, request, warn: true) else { return }
        let src = rib.addSource(name: name, kind: .bgp, preference: UInt32(c.channels.first?.preference ?? 100))
        let s = Session(speaker: self, config: c, source: src, dynamic: true)
        sessions.append(s)
        dynamicRequests[name] = request
        log(.info, "Dynamic peer \(name) added: \(c.neighborAddress?.addressString ?? "?") AS\(neighborAS)", level: 1)
        if started {
            ensureListener(for: s)
            s.start()
        }
        statusChanged()
    }

    /// The definition of a dynamic peer: its template (or BIRD's iBGP defaults) with the neighbor filled in.
    func dynamicPeerConfig(name: String, _ r: DynamicPeerRequest, warn: Bool) -> BGPProtocolConfig? {
        let neighbor = r.neighbor, neighborAS = r.neighborAS, localAddress = r.localAddress
        let template = r.template, nextHop6 = r.nextHop6
        let host = IPPrefix(family: neighbor.family, hi: neighbor.hi, lo: neighbor.lo, length: neighbor.maxLength)
        var c: BGPProtocolConfig
        if let t = template, let tc = templates[t] ?? config.bgpProtocols.first(where: { $0.name == t }) {
            c = tc
            c.name = name
            c.isTemplate = false
            c.disabled = false
        } else {
            if let t = template, warn { log(.warning, "Template \(t) not found; using iBGP defaults for \(name)") }
            c = BGPProtocolConfig(name: name)
            c.localAS = defaultLocalAS
            for f in [IPPrefix.Family.ipv4, .ipv6] {
                var ch = ChannelConfig(family: f)
                ch.importPolicy = .all
                ch.exportPolicy = .all
                ch.nextHopSelf = .on
                c.channels.append(ch)
            }
        }
        if c.localAS == 0 { c.localAS = defaultLocalAS }
        guard c.localAS != 0 else {
            log(.error, "Dynamic peer \(name): no local AS (configure a bgp protocol or template)")
            return nil
        }
        c.neighborAddress = host
        c.neighborAS = neighborAS
        if let l = localAddress { c.localAddress = IPPrefix(family: l.family, hi: l.hi, lo: l.lo, length: l.maxLength) }
        if c.channels.isEmpty {
            var ch = ChannelConfig(family: host.family)
            ch.importPolicy = .all; ch.exportPolicy = .all; ch.nextHopSelf = .on
            c.channels = [ch]
        }
        if let v6 = nextHop6, v6.family == .ipv6 {
            for i in c.channels.indices where c.channels[i].family == .ipv6 && c.channels[i].nextHopAddress == nil {
                c.channels[i].nextHopAddress = IPPrefix(family: .ipv6, hi: v6.hi, lo: v6.lo, length: 128)
            }
        }
        if c.multihop == nil { c.multihop = c.isInternal ? 64 : 0 }
        return c
    }

    public func removeDynamicPeer(name: String) {
        guard let i = sessions.firstIndex(where: { $0.name == name && $0.dynamic }) else { return }
        let s = sessions[i]
        s.stop(notification: .cease(.peerDeconfigured), reason: "Peer removed")
        sessions.remove(at: i)
        establishedSessions.removeAll { $0 === s }
        dynamicRequests[name] = nil
        log(.info, "Dynamic peer \(name) removed", level: 1)
        statusChanged()
    }

    public func originate(_ prefix: IPPrefix, protocolName: String = "mesh") {
        let src = meshSource(protocolName)
        let a = attrs.intern(PathAttributes(), isBGP: false, dest: .unicast, gateway: nil)
        if let ch = rib.update(prefix, RouteEntry(attrs: a, src: src.id, since: nowMs())) { bestChanged(ch) }
    }

    public func withdrawOrigin(_ prefix: IPPrefix, protocolName: String = "mesh") {
        guard let src = meshSources[protocolName] else { return }
        if let ch = rib.remove(prefix, src: src.id) { bestChanged(ch) }
    }

    public var locRIBCount: Int { rib.count }

    /// Every protocol in `show protocols` order: bgp.conf's non-BGP protocols as configured, then
    /// the BGP sessions (configured and automatic). `show protocols` prints these values; the
    /// snapshot is where the state enums become BIRD's words.
    public func protocolStatus() -> [BGPProtocolSnapshot] {
        var out: [BGPProtocolSnapshot] = []
        func other(_ name: String, _ proto: String, table: String = "---", up: Bool = true, received: Int = 0,
                   accepted: Int = 0, exported: Int = 0) -> BGPProtocolSnapshot {
            BGPProtocolSnapshot(name: name, proto: proto, table: table, state: (up ? runningState : ProtocolState.down).description, bgpState: "",
                                since: startedAt, established: false, prefixesReceived: received, prefixesAccepted: accepted,
                                prefixesExported: exported, updatesIn: 0, updatesOut: 0, lastError: "")
        }
        for p in config.protocols {
            switch p {
            case .device(let d): out.append(other(d.name, "Device"))
            case .direct(let d): out.append(other(d.name, "Direct"))
            case .kernel(let k):
                out.append(other(k.name, "Kernel", table: k.channels.first?.table ?? "master4", exported: fibInstalled.count))
            case .bfd(let b): out.append(other(b.name, "BFD"))
            case .static_(let st):
                let so = statics.first { $0.config.name == st.name }
                out.append(other(st.name, "Static", table: st.channel.table, up: !st.common.disabled,
                                 received: st.routes.count, accepted: so?.imported.count ?? 0))
            case .bgp:
                break
            }
        }
        for s in sessions {
            out.append(BGPProtocolSnapshot(name: s.name, proto: "BGP", table: "---", state: s.protoState.description, bgpState: s.sessionState.description,
                                           since: s.since, established: s.established != nil,
                                           prefixesReceived: s.importedCount + s.filteredIn.count,
                                           prefixesAccepted: s.importedCount, prefixesExported: s.adjOut.count,
                                           updatesIn: s.stats.updatesIn, updatesOut: s.stats.updatesOut, lastError: s.lastError))
        }
        return out
    }

    // MARK: - Internals used by sessions

    var defaultLocalAS: UInt32 {
        if let b = config.bgpProtocols.first(where: { $0.localAS != 0 }) { return b.localAS }
        if let t = templates.values.first(where: { $0.localAS != 0 }) { return t.localAS }
        return 0
    }

    func nowMs() -> UInt32 { UInt32(truncatingIfNeeded: Int((loop.now - epochMono) * 1000)) }

    /// Wall-clock seconds now, on the loop's clock.
    func wallNow() -> Double { epochWall + (loop.now - epochMono) }

    /// Non-BGP protocols (static, kernel, device, direct, BFD) run while the speaker runs.
    var runningState: ProtocolState { started ? .up : .down }

    func wallTime(ms: UInt32) -> Double { epochWall + Double(ms) / 1000 }

    /// The text is built only when something takes it (per-message debug lines are frequent).
    func log(_ p: Log.Priority, _ m: @autoclosure () -> String, level: Int = 0) {
        let toLog = !quiet && Log.enabled(level)
        guard toLog || onEvent != nil else { return }
        let text = m()
        if toLog { Log.log(level, p, text) }
        onEvent?(text)
    }

    func filterPrint(_ proto: String, _ text: String) {
        Log.log(0, .info, text)
        onEvent?(text)
    }

    func statusChanged() {
        guard onStatusChange != nil, !statusScheduled else { return }
        statusScheduled = true
        loop.schedule(after: 0.2) { [weak self] in
            guard let self else { return }
            self.statusScheduled = false
            self.onStatusChange?()
        }
    }

    func sessionWentDown(_ s: Session) {
        establishedSessions.removeAll { $0 === s }
        statusChanged()
    }

    /// The selected route for a prefix changed: fan out to every established session and the FIB.
    @inline(__always)
    func bestChanged(_ change: BestChange) {
        if !establishedSessions.isEmpty {
            for s in establishedSessions {
                let out = change.new.flatMap { s.exportRoute(change.prefix, $0) }
                s.queue(change.prefix, out)
            }
        }
        if fib != nil && !kernels.isEmpty { kernelExport(change) }
        if !statusScheduled && onStatusChange != nil { statusChanged() }
    }

    /// `bestChanged` for one imported run (RIB.importRun), session by session: the prefixes in
    /// `selected` now have `new` as their route; `changes` are the run's other changes (prefixes
    /// with several candidates). No prefix is in both.
    func bestChanged(selected: [IPPrefix], new: RouteEntry, changes: [BestChange]) {
        guard !selected.isEmpty || !changes.isEmpty else { return }
        for s in establishedSessions {
            if !selected.isEmpty { s.queueRun(selected, new: new) }
            if !changes.isEmpty { s.queueRun(changes) }
        }
        if fib != nil && !kernels.isEmpty {
            for p in selected { kernelExport(BestChange(prefix: p, old: nil, new: new)) }
            for c in changes { kernelExport(c) }
        }
        if !statusScheduled && onStatusChange != nil { statusChanged() }
    }

    /// Session just reached Established: send the whole table, then End-of-RIB.
    func exportInitial(_ s: Session) {
        s.resolveNextHops()
        establishedSessions.removeAll { $0 === s }
        establishedSessions.append(s)
        var run = ExportRun(s)
        for (p, e) in rib.table {
            if let out = s.exportRoute(p, e, &run) { s.queue(p, out) }
        }
        s.finish(run)
        s.pendingEndOfRIB = Array(s.negotiatedFamilies).sorted { $0.afi < $1.afi }
        scheduleFlush(s)
        statusChanged()
    }

    func scheduleFlush(_ s: Session) {
        guard !s.flushScheduled else { return }
        s.flushScheduled = true
        loop.schedule(after: 0) { [weak s] in s?.flushExports() }
    }

    func scheduleFlushAll() {
        for s in establishedSessions where !s.flushScheduled && s.hasPending { scheduleFlush(s) }
    }

    // MARK: - Kernel (FIB) export

    func kernelExport(_ change: BestChange) {
        let p = change.prefix
        var want: IPPrefix? = nil
        if let e = change.new {
            let src = rib.sources[Int(e.src)]
            for k in kernels where !k.common.disabled {
                guard let ch = k.channels.first(where: { $0.family == p.family }) else { continue }
                let policy = ch.effectiveExportPolicy
                var accept = false
                switch policy {
                case .all: accept = true
                case .none: accept = false
                case .filter(let f):
                    var ctx = e.attrs.filterContext(net: p, source: src)
                    accept = f.run(&ctx, print: { self.filterPrint(k.name, $0) }).0 == .accept
                }
                if accept, e.attrs.dest == .unicast, let gw = e.attrs.gateway { want = gw; break }
            }
        }
        let have = fibInstalled[p]
        if want == have { return }
        if let w = want {
            fibInstalled[p] = w
            fibPending.append(.add(p, nextHop: w, metric: 32))
        } else {
            fibInstalled[p] = nil
            fibPending.append(.remove(p))
        }
        if !fibFlushScheduled {
            fibFlushScheduled = true
            loop.schedule(after: 0) { [weak self] in self?.flushFIB() }
        }
    }

    func flushFIB() {
        fibFlushScheduled = false
        guard !fibPending.isEmpty, let fib else { return }
        let batch = fibPending
        fibPending = []
        fib.apply(batch)
    }

    // MARK: - Listeners

    func ensureListener(for s: Session) {
        guard !s.disabled, connectHook == nil, let n = s.config.neighborAddress else { return }
        let fam = n.family
        let host = s.config.localAddress?.addressString ?? (fam == .ipv4 ? "0.0.0.0" : "::")
        let key = "\(host)|\(s.config.localPort)"
        let fd: Int32
        if let existing = listeners[key] {
            fd = existing
        } else {
            guard let addr = SocketAddress(numericHost: host, port: UInt16(s.config.localPort)) else { return }
            do {
                fd = try BGPSpeaker.listen(addr)
            } catch {
                log(.error, "\(s.name): cannot listen on \(host) port \(s.config.localPort): \(error)")
                return
            }
            listeners[key] = fd
            let port = s.config.localPort
            loop.register(fd, events: .readable) { [weak self] _ in self?.acceptAll(fd, port: port) }
            log(.info, "Listening for BGP on \(host) port \(s.config.localPort)", level: 1)
        }
        if let pw = s.config.password, let peer = SocketAddress(numericHost: n.addressString, port: 0) {
            do { try Sockets.setTCPMD5(fd, peer: peer, key: Array(pw.utf8)) } catch {
                log(.error, "\(s.name): cannot set TCP MD5 key on listening socket: \(error)")
            }
        }
    }

    static func listen(_ addr: SocketAddress) throws -> Int32 {
        let fd = Glibc.socket(addr.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        Sockets.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        if addr.family == AF_INET6 {
            Sockets.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
            Sockets.setOption(fd, Int32(IPPROTO_IPV6), 63 /* IPV6_FREEBIND */, 1)
        } else {
            Sockets.setOption(fd, Int32(IPPROTO_IP), 15 /* IP_FREEBIND */, 1)
        }
        let r = addr.withSockaddr { Glibc.bind(fd, $0, $1) }
        guard r == 0 else { let e = SystemError("bind \(addr)"); Glibc.close(fd); throw e }
        guard Glibc.listen(fd, 16) == 0 else { let e = SystemError("listen"); Glibc.close(fd); throw e }
        return fd
    }

    private func acceptAll(_ lfd: Int32, port: Int) {
        while let (fd, remote) = Sockets.accept(lfd) {
            let rp = IPPrefix(remote.host)
            let local = Sockets.localAddress(fd).flatMap { IPPrefix($0.host) }
            let s = sessions.first { s in
                s.config.neighborAddress == rp && s.config.localPort == port
                    && (s.config.localAddress == nil || s.config.localAddress == local)
            }
            guard let s else {
                log(.info, "Connection from unknown address \(remote.host) (port \(remote.port)) rejected", level: 1)
                Glibc.close(fd)
                continue
            }
            s.acceptIncoming(fd: fd, remote: remote)
        }
    }

    // MARK: - Helpers

    static func wallClock() -> Double {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6
    }

    static func formatID(_ id: UInt32) -> String { "\(id >> 24).\(id >> 16 & 0xff).\(id >> 8 & 0xff).\(id & 0xff)" }

    /// BIRD's default router ID: the lowest non-loopback IPv4 address.
    static func defaultRouterID() -> UInt32? {
        var best: UInt32? = nil
        forEachInterfaceAddress { _, addr in
            guard let p = IPPrefix(addr.host), p.family == .ipv4 else { return }
            let a = p.ipv4Address
            if a >> 24 == 127 || a == 0 { return }
            if best == nil || a < best! { best = a }
        }
        return best
    }

    static func interfaceName(for local: SocketAddress) -> String? {
        var name: String? = nil
        let want = local.addressBytes
        forEachInterfaceAddress { n, addr in
            if name == nil && addr.addressBytes == want { name = n }
        }
        return name
    }

    static func forEachInterfaceAddress(_ body: (String, SocketAddress) -> Void) {
        var ifap: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&ifap) == 0, let first = ifap else { return }
        defer { freeifaddrs(first) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let i = p {
            if let sa = i.pointee.ifa_addr {
                let fam = Int32(sa.pointee.sa_family)
                if fam == AF_INET || fam == AF_INET6 {
                    var ss = sockaddr_storage()
                    let len = fam == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
                    withUnsafeMutableBytes(of: &ss) { dst in dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: len)) }
                    body(String(cString: i.pointee.ifa_name), SocketAddress(storage: ss, length: socklen_t(len)))
                }
            }
            p = i.pointee.ifa_next
        }
    }
}

// MARK: - Adj-RIB-Out queueing

extension Session {
    var hasPending: Bool {
        !pendingGroups.isEmpty || !pendingWithdraw.isEmpty || !pendingEndOfRIB.isEmpty || !pendingRefresh.isEmpty
    }

    var sessionState: BGPSessionState {
        if disabled && established == nil { return .down }
        if state == .active && config.passive { return .passive }
        return .fsm(state)
    }

    /// Records what the Adj-RIB-Out should hold for `p` (nil = withdrawn) and queues the change.
    @inline(__always)
    func queue(_ p: IPPrefix, _ out: AttrSet?) {
        if let o = out {
            guard case .changed(let replaced) = Session.place(o, at: p, in: &adjOut) else { return }
            attrTable.retain(o)
            if let r = replaced { attrTable.release(r); pendingSuperseded = true }
            stats.exportUpdates += 1
            Session.group(p, under: o, &pendingGroups, &pendingIndex)
        } else {
            guard setAdjOut(p, nil) != nil else { return }
            pendingSuperseded = true
            stats.exportWithdraws += 1
            pendingWithdraw.append(p)
        }
        if !flushScheduled { speaker.scheduleFlush(self) }
    }

    enum Placed { case unchanged, changed(replaced: AttrSet?) }

    /// One Adj-RIB-Out lookup: `o` already there -> nothing to send; else `o` takes the slot.
    @inline(__always)
    static func place(_ o: AttrSet, at p: IPPrefix, in map: inout PrefixMap<AttrSet>) -> Placed {
        map.modify(p) { slot -> Placed in
            if let cur = slot, cur === o { return .unchanged }
            let replaced = slot
            slot = o
            return .changed(replaced: replaced)
        }
    }

    /// Adds `p` to the pending group of `o`. Routes arrive in runs sharing one attribute set: the
    /// last group is checked first.
    @inline(__always)
    static func group(_ p: IPPrefix, under o: AttrSet, _ groups: inout [(AttrSet, [IPPrefix])],
                      _ index: inout [ObjectIdentifier: Int]) {
        if let last = groups.indices.last, groups[last].0 === o {
            groups[last].1.append(p)
            return
        }
        let key = ObjectIdentifier(o)
        if let i = index[key] { groups[i].1.append(p) } else {
            index[key] = groups.count
            groups.append((o, [p]))
        }
    }

    /// `queue` for each of a run of changes, in order.
    func queueRun(_ changes: [BestChange]) {
        var batch = takeExportBatch()
        var run = ExportRun(self)
        for c in changes {
            let p = c.prefix
            if let e = c.new, let o = exportRoute(p, e, &run) { batch.place(p, o) } else { batch.withdraw(p) }
        }
        finish(run)
        putBack(&batch)
    }

    /// `queue` for the prefixes of one imported run that all selected `new` (RIB.importRun). The
    /// export decision reads the prefix only through a filter: without one it is made for the
    /// first prefix and reused for the others of its family, its counts added once per prefix.
    func queueRun(_ selected: [IPPrefix], new e: RouteEntry) {
        guard let first = selected.first else { return }
        var batch = takeExportBatch()
        var run = ExportRun(self)
        let fam = first.family
        let fi = fam == .ipv4 ? 0 : 1
        var perPrefix = true, out: AttrSet? = nil, rejected = 0, filtered = 0
        if case .filter = run.policies[fi] {} else {
            perPrefix = false
            let r0 = run.rejected, f0 = run.filtered
            out = exportRoute(first, e, &run)
            rejected = run.rejected - r0
            filtered = run.filtered - f0
            run.rejected = r0
            run.filtered = f0
        }
        for p in selected {
            if perPrefix || p.family != fam {
                if let o = exportRoute(p, e, &run) { batch.place(p, o) } else { batch.withdraw(p) }
                continue
            }
            run.rejected += rejected
            run.filtered += filtered
            if let o = out { batch.place(p, o) } else { batch.withdraw(p) }
        }
        finish(run)
        putBack(&batch)
    }

    /// The Adj-RIB-Out and the pending output, taken into a local for a run (exportRoute touches
    /// neither), so the per-route work needs no dynamic exclusivity checks on this class's
    /// properties.
    private func takeExportBatch() -> ExportBatch {
        var b = ExportBatch(attrTable: attrTable)
        swap(&b.out, &adjOut)
        swap(&b.groups, &pendingGroups)
        swap(&b.index, &pendingIndex)
        swap(&b.withdrawn, &pendingWithdraw)
        return b
    }

    /// Puts a run's batch back and adds what it counted.
    private func putBack(_ b: inout ExportBatch) {
        b.settle()
        swap(&b.out, &adjOut)
        swap(&b.groups, &pendingGroups)
        swap(&b.index, &pendingIndex)
        swap(&b.withdrawn, &pendingWithdraw)
        if b.superseded { pendingSuperseded = true }
        stats.exportUpdates += b.updates
        stats.exportWithdraws += b.withdraws
        if b.updates + b.withdraws > 0 && !flushScheduled { speaker.scheduleFlush(self) }
    }

    func flushExports() {
        flushScheduled = false
        guard let c = established, !c.closed else {
            pendingGroups = []; pendingIndex = [:]; pendingWithdraw = []; pendingEndOfRIB = []; pendingRefresh = []
            return
        }
        var msgs: [[UInt8]] = []
        if !pendingWithdraw.isEmpty {
            let w = pendingWithdraw.filter { adjOut[$0] == nil }
            msgs += UpdateMessage.packWithdrawals(prefixes: w, options: options)
        }
        for (a, ps) in pendingGroups {
            // Only a prefix queued again or withdrawn since it was queued can be out of date.
            let live = pendingSuperseded ? ps.filter { adjOut[$0] === a } : ps
            if !live.isEmpty { msgs += UpdateMessage.packUpdates(attributes: a.bgp, prefixes: live, options: options) }
        }
        pendingGroups = []
        pendingIndex = [:]
        pendingWithdraw = []
        pendingSuperseded = false
        for f in pendingRefresh {
            let enhanced = enhancedRefresh
            if enhanced { msgs.append(BGPMessage.routeRefresh(.borr(f)).encode(options: options)) }
            msgs += encodeAdjRIBOut(f)
            if enhanced { msgs.append(BGPMessage.routeRefresh(.eorr(f)).encode(options: options)) }
        }
        pendingRefresh = []
        for f in pendingEndOfRIB {
            msgs.append(UpdateMessage.endOfRIB(f).encode(options: options))
        }
        if !pendingEndOfRIB.isEmpty { log(.info, "Sent End-of-RIB", level: 2) }
        pendingEndOfRIB = []
        stats.updatesOut += msgs.count
        c.send(msgs)
    }
}

/// A session's Adj-RIB-Out and pending UPDATE groups and withdrawals while a run of changes is
/// queued (Session.queueRun): `place` and `withdraw` are `Session.queue` without the property
/// accesses.
struct ExportBatch {
    var out = PrefixMap<AttrSet>()
    var groups: [(AttrSet, [IPPrefix])] = []
    var index: [ObjectIdentifier: Int] = [:]
    var withdrawn: [IPPrefix] = []
    var superseded = false
    var updates = 0
    var withdraws = 0
    let attrTable: AttrTable
    /// References to add to `held` (a run of routes shares one set), beyond the one counted at
    /// once when it became `held` (so an intern-table sweep in exportRoute keeps it); added
    /// before any release, which could otherwise see a set at zero that is still held.
    private var held: AttrSet? = nil
    private var heldCount = 0

    init(attrTable: AttrTable) { self.attrTable = attrTable }

    /// `o` is what the Adj-RIB-Out should hold for `p`.
    @inline(__always)
    mutating func place(_ p: IPPrefix, _ o: AttrSet) {
        guard case .changed(let replaced) = Session.place(o, at: p, in: &out) else { return }
        if held === o {
            heldCount += 1
        } else {
            if let h = held { attrTable.retain(h, count: heldCount) }
            attrTable.retain(o)
            held = o
            heldCount = 0
        }
        if let r = replaced {
            attrTable.retain(o, count: heldCount)
            heldCount = 0
            attrTable.release(r)
            superseded = true
        }
        updates += 1
        Session.group(p, under: o, &groups, &index)
    }

    /// `p` is no longer exported.
    @inline(__always)
    mutating func withdraw(_ p: IPPrefix) {
        guard let old = out.removeValue(forKey: p) else { return }
        if let h = held { attrTable.retain(h, count: heldCount) }
        heldCount = 0
        attrTable.release(old)
        superseded = true
        withdraws += 1
        withdrawn.append(p)
    }

    /// Adds the references still counted in `held`.
    mutating func settle() {
        if let h = held { attrTable.retain(h, count: heldCount) }
        heldCount = 0
    }
}

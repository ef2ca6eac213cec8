// The per-neighbor BGP finite state machine (RFC 4271 8): Idle / Connect / Active / OpenSent /
// OpenConfirm / Established, collision resolution by router ID (6.8), connect retry and error wait
// with BIRD's timers, passive mode, hold/keepalive negotiation and an optional send-hold timer (RFC 9687).
import Glibc
import MeshIO

struct SessionStats {
    var updatesIn = 0, updatesOut = 0
    var importUpdatesReceived = 0, importUpdatesRejected = 0, importUpdatesFiltered = 0
    var importUpdatesIgnored = 0, importUpdatesAccepted = 0
    var importWithdrawsReceived = 0, importWithdrawsAccepted = 0
    /// BIRD counts a filtered update as a withdraw too (accepted when it removed our route, else ignored).
    var importWithdrawsIgnored = 0
    /// exportRejected: refused before the export filter (back to the sender, split horizon, communities).
    var exportUpdates = 0, exportFiltered = 0, exportRejected = 0, exportWithdraws = 0
}

final class Session {
    // unowned(unsafe): the speaker owns its sessions and outlives them; avoids refcount traffic per route.
    unowned(unsafe) let speaker: BGPSpeaker
    var config: BGPProtocolConfig
    let name: String
    let source: RouteSource
    let dynamic: Bool
    var channels: [ChannelConfig]   // policies replaced by `configure` (BGPSpeaker+Reconfigure)

    var state: BGPState = .idle
    var protoState: ProtocolState = .down
    /// Wall-clock time of the last protocol state change (`show protocols` Since).
    var since: Double
    var conns: [Connection] = []
    var established: Connection?
    var negotiatedFamilies: Set<AFISAFI> = [] {
        didSet { negotiatedUnicast = [negotiatedFamilies.contains(.ipv4Unicast), negotiatedFamilies.contains(.ipv6Unicast)] }
    }
    /// `negotiatedFamilies` has IPv4 / IPv6 unicast: the export path asks per route, a Set lookup hashes.
    private(set) var negotiatedUnicast = [false, false]
    var options = CodecOptions()
    var peerOpen: OpenMessage?
    var localAddress: IPPrefix?
    var localSockAddr: SocketAddress?
    let neighborSockAddr: SocketAddress?
    var stats = SessionStats()
    var lastError = ""
    var disabled: Bool
    var stopped = false
    var startupDelay = 0
    var lastProtoError: Double = 0
    var restartTimer: EventLoop.TimerID?
    var connectTimer: EventLoop.TimerID?
    var holdTimeNegotiated = 0
    /// Our next hop per family (0 = IPv4, 1 = IPv6), chosen when the session comes up (SessionNextHop.swift).
    var familyNextHop: [IPPrefix?] = [nil, nil]
    var keepaliveNegotiated = 0

    // RIBs. The Adj-RIB-In after import filtering is this session's routes in the Loc-RIB (as in
    // BIRD without `import table`): only its size is kept here, per family (0 = IPv4, 1 = IPv6),
    // not counting stale routes (graceful restart), which are counted apart.
    var imported = [0, 0]
    var staleRoutes = [0, 0]
    var filteredIn = Set<IPPrefix>()
    /// Rejected routes with their attributes, for `show route filtered` (`import keep filtered`).
    var keptFiltered: [IPPrefix: (attrs: AttrSet, since: UInt32)] = [:]
    /// What we announced to the peer (counted in AttrSet.refs, see setAdjOut).
    var adjOut = PrefixMap<AttrSet>()
    /// Export attributes per Loc-RIB attribute set (policy `all` or a filter that changed nothing),
    /// and the last answer given; both go when the session or its export policy changes.
    var exportCache: [ObjectIdentifier: (AttrSet, AttrSet)] = [:]
    var lastExport: (AttrSet, AttrSet)?
    var pendingGroups: [(AttrSet, [IPPrefix])] = []
    var pendingIndex: [ObjectIdentifier: Int] = [:]
    var pendingWithdraw: [IPPrefix] = []
    /// A queued prefix was queued again or withdrawn before the flush (flushExports re-checks then).
    var pendingSuperseded = false
    var pendingEndOfRIB: [AFISAFI] = []
    var pendingRefresh: [AFISAFI] = []
    var flushScheduled = false
    var abortUpdate = false

    // Limits.
    var importLimitWarned = false
    var receiveLimitWarned = false

    // Graceful restart (helper side) and enhanced route refresh (receiver side).
    var staleTimer: EventLoop.TimerID?
    var refreshStale: [AFISAFI: Set<IPPrefix>] = [:]

    var bfdToken: AnyObject?

    /// Cached (the import path touches these per route; `speaker` is unowned and slower to reach).
    let rib: RIB
    let attrTable: AttrTable
    /// Per family (index 0 = IPv4, 1 = IPv6): import policy and limits, precomputed from the channels.
    var famImport: [Policy] = [.none, .none]
    var famImportLimit: [Limit?] = [nil, nil]
    var famReceiveLimit: [Limit?] = [nil, nil]
    /// Export policy per family (`exportPolicy`; finding the channel copied a ChannelConfig per route).
    var famExport: [Policy] = [.none, .none]
    var batchSince: UInt32 = 0

    init(speaker: BGPSpeaker, config: BGPProtocolConfig, source: RouteSource, dynamic: Bool) {
        self.speaker = speaker
        self.rib = speaker.rib
        self.attrTable = speaker.attrs
        self.config = config
        self.name = config.name
        self.source = source
        self.dynamic = dynamic
        self.disabled = config.disabled
        self.since = speaker.wallNow()
        var chs = config.channels
        if chs.isEmpty {
            var ch = ChannelConfig(family: config.neighborAddress?.family ?? .ipv4)
            if config.isInternal { ch.importPolicy = .all; ch.exportPolicy = .all }
            chs = [ch]
        }
        self.channels = chs
        if let n = config.neighborAddress {
            neighborSockAddr = SocketAddress(numericHost: n.addressString, port: UInt16(config.neighborPort))
        } else {
            neighborSockAddr = nil
        }
        source.isInternal = config.isInternal
        source.neighborAS = config.neighborAS
        source.neighborAddress = config.neighborAddress
        takeFamilyPolicies()
    }

    /// Precomputes the per-family policies and limits from `channels` (none for a family without one).
    func takeFamilyPolicies() {
        famImport = [.none, .none]
        famExport = [.none, .none]
        famImportLimit = [nil, nil]
        famReceiveLimit = [nil, nil]
        for ch in channels {
            let i = ch.family == .ipv4 ? 0 : 1
            famImport[i] = ch.bgpImportPolicy(isInternal: config.isInternal)
            famExport[i] = ch.bgpExportPolicy(isInternal: config.isInternal)
            famImportLimit[i] = ch.importLimit
            famReceiveLimit[i] = ch.receiveLimit
        }
    }

    var isInternal: Bool { config.isInternal }
    var loop: EventLoop { speaker.loop }

    func channel(_ f: IPPrefix.Family) -> ChannelConfig? { channels.first { $0.family == f } }

    /// Our capability families.
    var localFamilies: [AFISAFI] { channels.map { $0.family == .ipv4 ? .ipv4Unicast : .ipv6Unicast } }

    func log(_ p: Log.Priority, _ m: @autoclosure () -> String, level: Int = 0, debugClass: String? = nil) {
        // `debug { class }` (or `debug protocols`) makes the class's messages unconditional, like BIRD's
        // protocol debugging; without it they follow the daemon's -d level.
        let forced = debugClass.map { (config.debugClasses ?? speaker.config.debugProtocols).contains($0) } ?? false
        speaker.log(p, "\(name): \(m())", level: forced ? 0 : level)
    }

    private func setState(_ s: BGPState) {
        guard s != state else { return }
        log(.debug, "BGP state changed from \(state) to \(s)", level: 2, debugClass: "states")
        state = s
        speaker.statusChanged()
    }

    private func setProtoState(_ s: ProtocolState) {
        guard s != protoState else { return }
        protoState = s
        since = speaker.wallNow()
        speaker.statusChanged()
    }

    // MARK: - Start / stop

    func start() {
        stopped = false
        if disabled {
            setProtoState(.down)
            setState(.idle)
            return
        }
        setProtoState(.start)
        goActive(connectAfter: connectDelay(orElse: 0))
    }

    /// BIRD's bgp_active: `connect delay time` before each outgoing connection of a (re)start.
    private func connectDelay(orElse fallback: Double) -> Double {
        config.connectDelayTime.map { Double(max(1, $0)) } ?? fallback
    }

    func stop(notification: NotificationMessage, reason: String) {
        stopped = true
        loop.cancel(restartTimer); restartTimer = nil
        loop.cancel(connectTimer); connectTimer = nil
        for c in conns {
            if c.state >= .openSent { sendNotification(c, notification) }
            // An administrative stop: the peer's forwarding path is fine, so BFD stays up until the
            // NOTIFICATION is through (an error or BFD-down drop releases it at once, as before).
            if c === established, let watch = bfdToken { c.holdUntilClosed(watch) }
            c.close()
        }
        conns = []
        if established != nil { established = nil; sessionDown(reason: reason, allowGR: false) }
        flushStale()
        setState(.idle)
        setProtoState(.down)
    }

    /// Listening (and, unless passive, connecting after `connectAfter` seconds).
    func goActive(connectAfter: Double) {
        guard !stopped, !disabled else { return }
        setState(.active)
        setProtoState(.start)
        if !config.passive && neighborSockAddr != nil {
            loop.cancel(connectTimer)
            connectTimer = loop.schedule(after: connectAfter) { [weak self] in
                self?.connectTimer = nil
                self?.connect()
            }
        }
    }

    private func connect() {
        guard !stopped, !disabled, established == nil, let dst = neighborSockAddr else { return }
        if conns.contains(where: { $0.outgoing }) { return }
        if conns.contains(where: { $0.state >= .openSent }) {
            // An incoming connection is negotiating; do not start a second one.
            return
        }
        var local: SocketAddress? = nil
        if let l = config.localAddress { local = SocketAddress(numericHost: l.addressString, port: 0) }
        let fd: Int32
        do {
            if let hook = speaker.connectHook {
                fd = try hook(self, dst)
            } else {
                fd = try Sockets.connectTCP(to: dst, bindTo: local, before: { fd in
                if let l = local { _ = l; Sockets.setOption(fd, Int32(IPPROTO_IP), 15 /* IP_FREEBIND */, 1) }
                if let pw = self.config.password { try Sockets.setTCPMD5(fd, peer: dst, key: Array(pw.utf8)) }
            })
            }
        } catch {
            lastError = "Socket: \(error)"
            log(.warning, "Connect to \(dst.host) failed: \(error)")
            scheduleConnectRetry()
            return
        }
        log(.info, "Connecting to \(dst.host) from local address \(config.localAddress?.addressString ?? "(any)")", level: 1, debugClass: "events")
        let c = Connection(fd: fd, outgoing: true, remote: dst, session: self, loop: loop, state: .connect)
        conns.append(c)
        setState(max(state, .connect))
        let timeout = Double(min(max(config.connectRetryTime, 1), 10))
        c.connectTimer = loop.schedule(after: timeout) { [weak self, weak c] in
            guard let self, let c, !c.closed, c.state == .connect else { return }
            c.connectTimer = nil
            if self.config.password != nil {
                self.connectFailedMD5(c, after: timeout)
            } else {
                self.connectionFailed(c, reason: "Connect timed out after \(Int(timeout)) s (no SYN-ACK from \(dst.host))")
            }
        }
        c.watchConnect { [weak self, weak c] err in
            guard let self, let c, !c.closed else { return }
            self.loop.cancel(c.connectTimer); c.connectTimer = nil
            if err != 0 {
                self.connectionFailed(c, reason: "Socket: " + String(cString: strerror(err)))
                return
            }
            self.log(.info, "Connected to \(dst.host)", level: 1, debugClass: "events")
            c.state = .openSent
            c.startReading()
            self.sendOpen(c)
        }
    }

    private func connectFailedMD5(_ c: Connection, after t: Double) {
        let msg = "Connect timed out after \(Int(t)) s while TCP MD5 is configured: no SYN-ACK from \(c.remote.host). "
            + "The kernel drops TCP segments with a missing or wrong MD5 signature (RFC 2385), so this usually means "
            + "the peer has a different password or none (MD5 failure)"
        connectionFailed(c, reason: msg)
    }

    private func scheduleConnectRetry() {
        guard !stopped, !disabled, !config.passive else { return }
        loop.cancel(connectTimer)
        connectTimer = loop.schedule(after: Double(config.connectRetryTime)) { [weak self] in
            self?.connectTimer = nil
            self?.connect()
        }
    }

    /// A connection accepted by the speaker's listener for this neighbor (or, with `memory`, one
    /// without a socket whose input comes through `Connection.ingest`).
    func acceptIncoming(fd: Int32, remote: SocketAddress, memory: MemoryTransport? = nil) {
        // A peer that restarted closed its end of the old session before connecting again; read that
        // EOF (or NOTIFICATION) now if the loop has not delivered it yet.
        established?.readNow()
        if stopped || disabled || restartTimer != nil || protoState == .down {
            log(.info, "Incoming connection from \(remote.host) rejected (protocol is \(disabled ? "disabled" : "in error wait"))", level: 1, debugClass: "events")
            Glibc.close(fd)
            return
        }
        if established != nil {
            // RFC 4271 6.8: a collision with an Established session closes the new connection.
            log(.info, "Incoming connection from \(remote.host) rejected (session already established): Cease, connection collision resolution", level: 1, debugClass: "events")
            let c = Connection(fd: fd, outgoing: false, remote: remote, session: self, loop: loop, state: .openSent, memory: memory)
            sendNotification(c, .cease(.connectionCollision))
            c.close()
            return
        }
        for old in conns where !old.outgoing {
            // The peer gave up its earlier connection and opened a new one.
            log(.info, "Incoming connection from \(remote.host) replaces the earlier incoming one", level: 1, debugClass: "events")
            old.close()
        }
        conns.removeAll { $0.closed }
        log(.info, "Incoming connection from \(remote.host) (port \(remote.port)) accepted", level: 1, debugClass: "events")
        let c = Connection(fd: fd, outgoing: false, remote: remote, session: self, loop: loop, state: .openSent, memory: memory)
        conns.append(c)
        c.startReading()
        sendOpen(c)
    }

    // MARK: - OPEN / negotiation

    func buildOpen() -> OpenMessage {
        var caps: [Capability] = []
        for f in localFamilies { caps.append(.multiprotocol(f)) }
        if config.enableRouteRefresh { caps.append(.routeRefresh); caps.append(.enhancedRouteRefresh) }
        if config.gracefulRestart != .off {
            let fams = config.gracefulRestart == .on
                ? localFamilies.map { GracefulRestartFamily($0, forwardingPreserved: false) } : []
            caps.append(.gracefulRestart(GracefulRestartCapability(
                restartState: speaker.restarting && config.gracefulRestart == .on,
                notification: false, restartTime: UInt16(min(config.gracefulRestartTime, 4095)), families: fams)))
        }
        if config.enableAS4 { caps.append(.fourOctetAS(config.localAS)) }
        if config.enableExtendedMessages { caps.append(.extendedMessage) }
        return OpenMessage(myAS: config.localAS, holdTime: UInt16(config.holdTime),
                           bgpIdentifier: speaker.routerID, capabilities: caps)
    }

    private func sendOpen(_ c: Connection) {
        c.state = .openSent
        setState(max(state, .openSent))
        c.send(BGPMessage.open(buildOpen()).encode(options: .initial))
        c.holdTime = config.startupHoldTime
        armHold(c)
    }

    private func handleOpen(_ c: Connection, _ o: OpenMessage) {
        guard c.state == .openSent, c.peerOpen == nil else {
            let sub: UInt8 = c.state == .openSent ? 1 : c.state == .openConfirm ? 2 : 3
            protocolError(c, BGPError(code: 5, subcode: sub, reason: "unexpected OPEN in \(c.state)"))
            return
        }
        if config.neighborAS != 0 && o.myAS != config.neighborAS {
            var w: [UInt8] = []
            let a = o.myAS > 0xFFFF ? UInt16(BGPWire.asTrans) : UInt16(o.myAS)
            w = [UInt8(a >> 8), UInt8(a & 0xff)]
            protocolError(c, BGPError(code: 2, subcode: 2, data: w, reason: "Bad peer AS: \(o.myAS) (expected \(config.neighborAS))"))
            return
        }
        if o.bgpIdentifier == speaker.routerID && (isInternal || o.myAS == config.localAS) {
            // RFC 6286 2.2: within one AS the identifiers must differ (and collisions could not be resolved).
            protocolError(c, BGPError(code: 2, subcode: 3, reason: "Bad BGP identifier (same as ours)"))
            return
        }
        if let m = config.minHoldTime, o.holdTime != 0, Int(o.holdTime) < m {
            protocolError(c, BGPError(code: 2, subcode: 6, reason: "Unacceptable hold time \(o.holdTime)"))
            return
        }
        c.peerOpen = o
        resolveCollision(c)
    }

    /// RFC 4271 6.8 with RFC 6286 2.3: the side with the higher BGP identifier (unsigned 32-bit
    /// numbers) is dominant; equal identifiers: the higher AS number.
    func weAreDominant(over o: OpenMessage) -> Bool {
        if speaker.routerID != o.bgpIdentifier { return speaker.routerID > o.bgpIdentifier }
        return config.localAS > o.myAS
    }

    /// Connection collision resolution (RFC 4271 6.8), run when the peer's OPEN arrived on `c`.
    /// The connection initiated by the dominant side survives, and both sides reach that verdict
    /// in every order of events because a connection that may still lose never confirms the OPEN:
    /// - the other connection is Established: `c` loses (Cease 7);
    /// - `c` was initiated by the dominant side: the other one is closed (Cease 7), `c` goes on;
    /// - `c` is the other side's pick and the preferred one already has the peer's OPEN: `c` loses;
    /// - the preferred one is our outgoing still in Connect: it is given up (as BIRD does; the peer
    ///   never got an OPEN on it) and `c` goes on;
    /// - the preferred one is in OpenSent: its OPEN is on the way unless the peer gives it up, so
    ///   `c` is held (no KEEPALIVE, so the peer cannot reach Established on it) until the preferred
    ///   connection gets its OPEN (then `c` is closed) or fails (then `c` goes on).
    /// Confirming `c` before knowing (as the RFC's minimum does) lets a peer that reaches
    /// Established on `c` lose it a moment later when the preferred connection's OPEN comes in.
    private func resolveCollision(_ c: Connection) {
        guard let o = c.peerOpen, !c.closed else { return }
        let others = conns.filter { $0 !== c && !$0.closed }
        if others.contains(where: { $0.state == .established }) {
            closeLoser(c, because: "the session is established on the other connection")
            return
        }
        if !others.isEmpty {
            let dominant = weAreDominant(over: o)
            let who = dominant ? "we have" : "\(c.remote.host) has"
            let rule = "\(who) the higher BGP identifier\(speaker.routerID == o.bgpIdentifier ? " (equal; higher AS)" : "")"
            if c.outgoing == dominant {
                for other in others { closeLoser(other, because: rule) }
            } else if let preferred = others.first {
                if preferred.state == .connect {
                    closeLoser(preferred, because: "an OPEN arrived on the incoming connection first")
                } else if preferred.peerOpen != nil {
                    closeLoser(c, because: rule)
                    return
                } else {
                    log(.info, "Connection collision with \(c.remote.host): OPEN on the \(c.outgoing ? "outgoing" : "incoming") connection held until the \(preferred.outgoing ? "outgoing" : "incoming") one resolves (\(rule))", level: 1, debugClass: "events")
                    return
                }
            }
        }
        confirmOpen(c, o)
    }

    /// Closes the losing connection of a collision with Cease, connection collision resolution.
    private func closeLoser(_ c: Connection, because why: String) {
        log(.info, "Connection collision with \(c.remote.host): closing the \(c.outgoing ? "outgoing" : "incoming") connection (\(why))", level: 1, debugClass: "events")
        if c.state >= .openSent { sendNotification(c, .cease(.connectionCollision)) }
        c.close()
        conns.removeAll { $0 === c }
        refreshState()
    }

    /// After a connection went away: a held OPEN is decided again.
    private func resumeHeld() {
        for h in conns where h.held && !h.closed {
            resolveCollision(h)
        }
    }

    /// The session's state follows its most advanced connection (Active when it has none).
    private func refreshState() {
        if established != nil { return }
        if let m = conns.filter({ !$0.closed }).map({ $0.held ? BGPState.openSent : $0.state }).max() { setState(m) }
        else if state > .active { setState(.active) }
    }

    private func confirmOpen(_ c: Connection, _ o: OpenMessage) {
        let fourOctet = config.enableAS4 && o.fourOctetASCapability != nil
        c.options = CodecOptions(fourOctetAS: fourOctet,
                                 extendedMessages: config.enableExtendedMessages && o.supportsExtendedMessages)
        let hold = min(Int(o.holdTime), config.holdTime)
        c.holdTime = hold
        var ka = hold / 3
        if let k = config.keepaliveTime { ka = hold == 0 ? k : min(k, max(1, hold / 3)) }
        c.keepaliveTime = max(ka, hold == 0 ? 0 : 1)
        c.state = .openConfirm
        setState(max(state, .openConfirm))
        c.send(BGPMessage.keepalive.encode(options: c.options))
        armHold(c)
        armKeepalive(c)
        if c.keepaliveWhileHeld && !c.closed {
            c.keepaliveWhileHeld = false
            enterEstablished(c)
        }
    }

    private func enterEstablished(_ c: Connection) {
        guard let o = c.peerOpen else { return }
        for other in conns where other !== c && !other.closed {
            closeLoser(other, because: "the session is established on the other connection")
        }
        conns = [c]
        established = c
        c.state = .established
        peerOpen = o
        options = c.options
        holdTimeNegotiated = c.holdTime
        keepaliveNegotiated = c.keepaliveTime
        var theirs = Set(o.multiprotocolFamilies)
        if theirs.isEmpty { theirs = [.ipv4Unicast] }
        negotiatedFamilies = Set(localFamilies).intersection(theirs)
        source.routerID = o.bgpIdentifier
        source.neighborAS = o.myAS
        if let l = Sockets.localAddress(c.fd), l.family == AF_INET || l.family == AF_INET6 {
            localSockAddr = l
            localAddress = IPPrefix(l.host)
            source.ifname = BGPSpeaker.interfaceName(for: l)
        }
        lastError = ""
        importLimitWarned = false
        receiveLimitWarned = false
        setState(.established)
        setProtoState(.up)
        loop.cancel(connectTimer); connectTimer = nil
        log(.notice, "BGP session established with \(c.remote.host) AS\(o.myAS) (hold \(c.holdTime) s, keepalive \(c.keepaliveTime) s, families \(negotiatedFamilies.map { $0.description }.sorted().joined(separator: ",")))")
        if config.bfd, let mon = speaker.liveness, let peer = neighborSockAddr {
            bfdToken = mon.watch(peer: peer, local: localSockAddr, interface: config.interface,
                                 onDown: { [weak self] in self?.bfdDown() }, onUp: {})
        }
        // Graceful restart: the peer's old routes stay stale until its End-of-RIB or the timer.
        if staleCount > 0, o.gracefulRestart == nil {
            flushStale()
        }
        speaker.exportInitial(self)
    }

    // MARK: - Messages

    func handleMessage(_ c: Connection, _ raw: UnsafeRawBufferPointer) {
        let type = raw[18]
        if type == BGPMessageType.update.rawValue {
            guard c.state == .established else {
                protocolError(c, BGPError(code: 5, subcode: c.state == .openConfirm ? 2 : 1, reason: "UPDATE in \(c.state)"))
                return
            }
            handleUpdate(c, UnsafeRawBufferPointer(rebasing: raw[19...]))
            return
        }
        let msg: BGPMessage
        do throws(BGPError) {
            msg = try BGPMessage.decode(raw, options: c.options)
        } catch {
            protocolError(c, error)
            return
        }
        switch msg {
        case .open(let o):
            handleOpen(c, o)
        case .keepalive:
            if c.state == .openConfirm { enterEstablished(c) }
            else if c.held { c.keepaliveWhileHeld = true }
            else if c.state == .openSent {
                protocolError(c, BGPError(code: 5, subcode: 1, reason: "KEEPALIVE in OpenSent"))
            }
        case .notification(let n):
            let collision = NotificationMessage.cease(.connectionCollision)
            if n.code == collision.code && n.subcode == collision.subcode && c !== established && conns.contains(where: { $0 !== c && !$0.closed }) {
                // The peer resolved a collision: this connection goes, the other one carries on.
                log(.info, "Connection collision: \(c.remote.host) closed the \(c.outgoing ? "outgoing" : "incoming") connection (Cease, connection collision resolution)", level: 1, debugClass: "events")
                dropConnection(c, reason: "Received: \(n)", isError: false, allowGR: false)
                return
            }
            lastError = "Received: \(n)"
            log(.error, "Received: \(n)")
            let isError = n.code != NotificationMessage.ceaseCode
            dropConnection(c, reason: "Received: \(n)", isError: isError, allowGR: false)
        case .routeRefresh(let r):
            guard c.state == .established else {
                protocolError(c, BGPError(code: 5, subcode: c.state == .openConfirm ? 2 : 1, reason: "ROUTE-REFRESH in \(c.state)"))
                return
            }
            handleRouteRefresh(r)
        case .update:
            break
        }
    }

    func afterReadBatch(_ c: Connection) {
        if established === c { speaker.scheduleFlushAll() }
    }

    // MARK: - Timers

    func armHold(_ c: Connection) {
        loop.cancel(c.holdTimer); c.holdTimer = nil
        guard c.holdTime > 0 else { return }
        let remaining = max(0.05, Double(c.holdTime) - (loop.now - c.lastReceived))
        c.holdTimer = loop.schedule(after: remaining) { [weak self, weak c] in
            guard let self, let c, !c.closed else { return }
            c.holdTimer = nil
            if loop.now - c.lastReceived >= Double(c.holdTime) - 0.01 {
                self.lastError = "Error: Hold timer expired"
                self.log(.error, "Error: Hold timer expired")
                self.sendNotification(c, .holdTimerExpired)
                self.dropConnection(c, reason: "Hold timer expired", isError: true, allowGR: true)
            } else {
                self.armHold(c)
            }
        }
    }

    func armKeepalive(_ c: Connection) {
        loop.cancel(c.keepaliveTimer); c.keepaliveTimer = nil
        guard c.keepaliveTime > 0 else { return }
        c.keepaliveTimer = loop.schedule(after: Double(c.keepaliveTime)) { [weak self, weak c] in
            guard let self, let c, !c.closed else { return }
            c.keepaliveTimer = nil
            // Send hold timer (RFC 9687): output stuck for max(8 min, 2 x hold) -> give up.
            let sendHold = max(480.0, 2.0 * Double(c.holdTime))
            if c.pendingOutput > 0 && loop.now - c.lastWriteProgress > sendHold {
                self.lastError = "Error: Send hold timer expired"
                self.log(.error, "Error: Send hold timer expired")
                self.sendNotification(c, .sendHoldTimerExpired)
                self.dropConnection(c, reason: "Send hold timer expired", isError: true, allowGR: true)
                return
            }
            c.send(BGPMessage.keepalive.encode(options: c.options))
            self.armKeepalive(c)
        }
    }

    // MARK: - Errors and teardown

    func sendNotification(_ c: Connection, _ n: NotificationMessage) {
        guard !c.closed, c.state >= .openSent else { return }
        log(.debug, "Sending NOTIFICATION: \(n)", level: 2, debugClass: "packets")
        c.send(BGPMessage.notification(n).encode(options: c.options))
    }

    /// A fatal error on connection `c`: send the NOTIFICATION and close (RFC 4271 6).
    func protocolError(_ c: Connection, _ e: BGPError) {
        lastError = "Error: \(e.notification)"
        log(.error, "Error: \(e.notification) (\(e.reason))")
        sendNotification(c, e.notification)
        dropConnection(c, reason: "Error: \(e.notification)", isError: true, allowGR: false)
    }

    /// Socket errors and EOF.
    func connectionFailed(_ c: Connection, reason: String) {
        guard !c.closed else { return }
        if c.state == .connect {
            lastError = reason
            log(c.outgoing && config.password != nil && reason.contains("MD5") ? .error : .info, reason, level: c.state == .connect && !reason.contains("MD5") ? 1 : 0)
            c.close()
            conns.removeAll { $0 === c }
            if conns.isEmpty { setState(.active) }
            scheduleConnectRetry()
            resumeHeld()
            return
        }
        lastError = reason
        log(.info, reason, level: c === established ? 0 : 1, debugClass: "events")
        dropConnection(c, reason: reason, isError: false, allowGR: true)
    }

    /// Closes `c`; if it carried the session, the session goes down and restarts after the proper wait.
    func dropConnection(_ c: Connection, reason: String, isError: Bool = false, allowGR: Bool = false) {
        let wasEstablished = c === established
        c.close()
        conns.removeAll { $0 === c }
        if wasEstablished {
            established = nil
            sessionDown(reason: reason, allowGR: allowGR)
        }
        guard conns.isEmpty else {
            refreshState()
            resumeHeld()
            return
        }
        if wasEstablished || (c.peerOpen != nil && isError) {
            restartAfterClose(isError: isError)
        } else {
            // Failed before the OPEN exchange completed: stay Active (listening) and retry later.
            setState(.active)
            if c.outgoing || isError { scheduleConnectRetry() } else if connectTimer == nil { goActive(connectAfter: connectDelay(orElse: 1)) }
        }
    }

    /// BIRD bgp_update_startup_delay + restart.
    private func restartAfterClose(isError: Bool) {
        if stopped || disabled {
            setState(.idle)
            setProtoState(.down)
            return
        }
        setProtoState(.start)
        if !isError {
            // Clean close (TCP close, Cease): listen again at once, connect after a short delay.
            goActive(connectAfter: connectDelay(orElse: 1))
            return
        }
        setState(.idle)
        var wait = 1.0
        do {
            let now = loop.now
            if lastProtoError != 0 && now - lastProtoError >= Double(config.errorForgetTime) { startupDelay = 0 }
            lastProtoError = now
            startupDelay = startupDelay == 0 ? config.errorWaitTime.min : min(2 * startupDelay, config.errorWaitTime.max)
            wait = Double(startupDelay)
            log(.info, "Waiting \(startupDelay) s (error wait) before reconnecting", level: 1, debugClass: "events")
        }
        loop.cancel(restartTimer)
        restartTimer = loop.schedule(after: wait) { [weak self] in
            guard let self else { return }
            self.restartTimer = nil
            self.goActive(connectAfter: self.connectDelay(orElse: 0))
        }
    }

    /// The established session ended: routes are flushed (or kept stale for a graceful restart).
    func sessionDown(reason: String, allowGR: Bool) {
        log(.notice, "BGP session down: \(reason)")
        bfdToken = nil
        let grCap = peerOpen?.gracefulRestart
        let helper = allowGR && config.gracefulRestart != .off && grCap != nil
            && !(grCap!.families.isEmpty) && grCap!.restartTime > 0
        if helper, let gr = grCap {
            beginStale(restartTime: Int(gr.restartTime), families: gr.families.map { $0.afiSafi })
        } else {
            flushAdjIn()
        }
        filteredIn = []
        clearKeptFiltered()
        clearAdjOut()
        resetExportCache()
        pendingGroups = []
        pendingIndex = [:]
        pendingWithdraw = []
        pendingEndOfRIB = []
        pendingRefresh = []
        refreshStale = [:]
        negotiatedFamilies = []
        peerOpen = nil
        speaker.sessionWentDown(self)
    }

    /// Withdraws every fresh route of this session (stale ones wait for their timer).
    func flushAdjIn() {
        guard importedCount > 0 else { return }
        for p in rib.prefixes(of: source.id, stale: false) {
            if let ch = rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
        }
        imported = [0, 0]
    }

    private func bfdDown() {
        guard let c = established else { return }
        lastError = "BFD session down"
        log(.error, "BFD session down")
        sendNotification(c, .cease(.bfdDown))
        dropConnection(c, reason: "BFD session down", isError: false, allowGR: false)
    }

    // MARK: - UPDATE import

    private func handleUpdate(_ c: Connection, _ body: UnsafeRawBufferPointer) {
        stats.updatesIn += 1
        let d = UpdateMessage.decode(body: body, options: options)
        let u = d.update
        switch d.action {
        case .sessionReset(let n):
            protocolError(c, BGPError(n, d.reasons.joined(separator: "; ")))
            return
        case .afiSafiDisable:
            protocolError(c, BGPError(code: 3, subcode: 1, reason: "AFI/SAFI error"))
            return
        case .treatAsWithdraw(let reasons):
            log(.warning, "Invalid UPDATE, treating as withdraw (RFC 7606): \(reasons.joined(separator: "; "))")
            for p in u.withdrawnPrefixes { importWithdraw(p) }
            for p in u.announcedPrefixes { importWithdraw(p) }
            stats.importUpdatesRejected += u.announcedPrefixes.count
            return
        case .attributeDiscard(let reasons):
            log(.warning, "Malformed attributes discarded (RFC 7606): \(reasons.joined(separator: "; "))", level: 1, debugClass: "packets")
        case .none:
            break
        }
        if let f = u.endOfRIBFamily {
            handleEndOfRIB(f)
            return
        }
        for p in u.withdrawn { importWithdraw(p) }
        if let mu = u.attributes.mpUnreach, negotiatedFamilies.contains(mu.afiSafi) {
            for p in mu.withdrawn { importWithdraw(p) }
        }
        let mpr = u.attributes.mpReach
        if u.nlri.isEmpty && (mpr?.nlri.isEmpty ?? true) { return }
        var a = u.attributes
        a.mpReach = nil
        a.mpUnreach = nil
        if !isInternal && a.localPref != nil {
            a.localPref = nil  // RFC 7606 7.5 attribute discard (BIRD ignores it too)
        }
        // AS path loop detection (RFC 4271 9.1.2): our AS in the path.
        if config.allowLocalAS == nil {
            let path = a.effectiveASPath
            if path.contains(where: { $0.asns.contains(localAS) }) {
                log(.debug, "Route with our AS\(localAS) in its path ignored (loop)", level: 3, debugClass: "routes")
                for p in u.nlri { importWithdraw(p) }
                for p in mpr?.nlri ?? [] { importWithdraw(p) }
                stats.importUpdatesIgnored += u.nlri.count + (mpr?.nlri.count ?? 0)
                return
            }
        }
        abortUpdate = false
        batchSince = speaker.nowMs()
        if !u.nlri.isEmpty && negotiatedFamilies.contains(.ipv4Unicast) {
            let gw = a.nextHop.map { IPPrefix(ipv4: $0, length: 32) }
            let attrs = attrTable.intern(a, gateway: gw)
            let policy = famImport[0]
            if !importRun(u.nlri, attrs, policy, 0) {
                for p in u.nlri {
                    importRoute(p, attrs, policy)
                    if abortUpdate { return }
                }
            }
        }
        if let r = mpr, !r.nlri.isEmpty, negotiatedFamilies.contains(r.afiSafi) {
            var b = a
            b.nextHop = nil
            b.mpReach = MPReach(afiSafi: r.afiSafi, nextHop: r.nextHop, nlri: [])
            let gw: IPPrefix? = r.afiSafi.afi == 2 ? r.ipv6NextHops.global
                : (r.nextHop.count >= 4 ? IPPrefix(family: .ipv4, bytes: r.nextHop[0..<4], length: 32) : nil)
            let attrs = attrTable.intern(b, gateway: gw)
            let fi = r.afiSafi.afi == 2 ? 1 : 0
            let policy = famImport[fi]
            if !importRun(r.nlri, attrs, policy, fi) {
                for p in r.nlri {
                    importRoute(p, attrs, policy)
                    if abortUpdate { return }
                }
            }
        }
    }

    /// An UPDATE's routes of family index `fi` at once, when `import all` takes them as they are and
    /// nothing needs a look at each route first (no limits, nothing filtered or kept filtered, no
    /// route refresh in progress): the RIB imports the run, then the changes fan out together.
    /// Same outcome as `importRoute` per prefix. Returns false (nothing done) otherwise.
    private func importRun(_ prefixes: [IPPrefix], _ attrs: AttrSet, _ policy: Policy, _ fi: Int) -> Bool {
        guard policy.isAll, famReceiveLimit[fi] == nil, famImportLimit[fi] == nil, filteredIn.isEmpty,
              keptFiltered.isEmpty, refreshStale.isEmpty else { return false }
        var selected: [IPPrefix] = []
        selected.reserveCapacity(prefixes.count)
        var changes: [BestChange] = []
        let r = rib.importRun(prefixes, attrs: attrs, src: source.id, since: batchSince, selected: &selected, changes: &changes)
        stats.importUpdatesReceived += prefixes.count
        stats.importUpdatesAccepted += r.accepted
        stats.importUpdatesIgnored += r.ignored
        imported[fi] += r.fresh
        staleRoutes[fi] -= r.staleRenewed
        speaker.bestChanged(selected: selected, new: r.route, changes: changes)
        return true
    }

    @inline(__always)
    private func importRoute(_ p: IPPrefix, _ attrs: AttrSet, _ policy: Policy) {
        stats.importUpdatesReceived += 1
        var accepted: AttrSet? = attrs
        switch policy {
        case .all: break
        case .none: accepted = nil
        case .filter(let f):
            var ctx = attrs.filterContext(net: p, source: source)
            let orig = ctx
            let (verdict, err) = f.run(&ctx, print: { speaker.filterPrint(self.name, $0) })
            if let err { log(.warning, err) }
            if verdict != .accept { accepted = nil }
            else if ContextDiff(ctx, orig).any { accepted = attrTable.apply(ctx, original: orig, base: attrs) }
        }
        let fam = p.family
        let fi = fam == .ipv4 ? 0 : 1
        let sid = source.id
        if let acc = accepted, famReceiveLimit[fi] == nil, famImportLimit[fi] == nil, filteredIn.isEmpty, keptFiltered.isEmpty {
            importFast(p, acc, fi)
            return
        }
        // This session's route for p: fresh (in the filtered Adj-RIB-In) or stale (graceful restart).
        let old = rib.route(p, src: sid)
        let hadFresh = old.map { !$0.stale } ?? false
        guard let acc = accepted else {
            stats.importUpdatesFiltered += 1
            if let lim = famReceiveLimit[fi], !filteredIn.contains(p), importedCount + filteredIn.count >= lim.count {
                if !limitExceeded(lim, kind: "receive", family: fam) { return }
            }
            filteredIn.insert(p)
            let keep = channel(fam)?.importKeepFiltered == true
            if keep { setKeptFiltered(p, (attrs, batchSince)) }
            if hadFresh {
                imported[fi] -= 1
                stats.importWithdrawsAccepted += 1
                if let ch = rib.remove(p, src: sid) { speaker.bestChanged(ch) }
            } else if keep || rib.table[p] != nil {
                stats.importWithdrawsIgnored += 1
            }
            dropStale(p)
            return
        }
        if !filteredIn.isEmpty { filteredIn.remove(p) }
        if !keptFiltered.isEmpty { setKeptFiltered(p, nil) }
        if !hadFresh {
            if let lim = famReceiveLimit[fi], importedCount + 1 + filteredIn.count > lim.count {
                if !limitExceeded(lim, kind: "receive", family: fam) { return }
            }
            if let lim = famImportLimit[fi], importedCount + 1 > lim.count {
                if !limitExceeded(lim, kind: "import", family: fam) { return }
            }
        } else if old?.attrs === acc {
            stats.importUpdatesIgnored += 1
            if !refreshStale.isEmpty { markRefreshed(p) }
            return
        }
        stats.importUpdatesAccepted += 1
        if !hadFresh {
            imported[fi] += 1
            if old != nil { staleRoutes[fi] -= 1 }   // a stale route announced again is fresh
        }
        if !refreshStale.isEmpty { markRefreshed(p) }
        if let change = rib.update(p, RouteEntry(attrs: acc, src: sid, since: batchSince)) {
            speaker.bestChanged(change)
        }
    }

    /// The common import (accepted, no limits, nothing filtered so far): one Loc-RIB lookup decides
    /// and stores. A route identical to the one held (same interned set, not stale) is ignored.
    @inline(__always)
    private func importFast(_ p: IPPrefix, _ acc: AttrSet, _ fi: Int) {
        var previous: RouteEntry? = nil
        let change = rib.update(p, RouteEntry(attrs: acc, src: source.id, since: batchSince), previous: &previous) { prev in
            guard let prev, !prev.stale, prev.attrs === acc else { return true }
            return false
        }
        if let prev = previous, !prev.stale, prev.attrs === acc {
            stats.importUpdatesIgnored += 1
            if !refreshStale.isEmpty { markRefreshed(p) }
            return
        }
        stats.importUpdatesAccepted += 1
        if let prev = previous {
            if prev.stale { staleRoutes[fi] -= 1; imported[fi] += 1 }   // a stale route announced again is fresh
        } else {
            imported[fi] += 1
        }
        if !refreshStale.isEmpty { markRefreshed(p) }
        if let change { speaker.bestChanged(change) }
    }

    /// A route limit was exceeded by one more route. Returns true when the route may be imported (warn).
    private func limitExceeded(_ lim: Limit, kind: String, family: IPPrefix.Family) -> Bool {
        switch lim.action {
        case .warn:
            if kind == "import" ? !importLimitWarned : !receiveLimitWarned {
                log(.warning, "Protocol \(name) hits route \(kind) limit (\(lim.count)), action: warn")
                if kind == "import" { importLimitWarned = true } else { receiveLimitWarned = true }
            }
            return true
        case .block:
            if kind == "import" ? !importLimitWarned : !receiveLimitWarned {
                log(.warning, "Protocol \(name) hits route \(kind) limit (\(lim.count)), action: block")
                if kind == "import" { importLimitWarned = true } else { receiveLimitWarned = true }
            }
            stats.importUpdatesIgnored += 1
            return false
        case .restart, .disable:
            log(.warning, "Protocol \(name) hits route \(kind) limit (\(lim.count)), action: \(lim.action == .restart ? "restart" : "disable")")
            abortUpdate = true
            let n = NotificationMessage.maximumPrefixes(family == .ipv4 ? .ipv4Unicast : .ipv6Unicast, limit: UInt32(lim.count))
            lastError = "Route \(kind) limit exceeded"
            if let c = established {
                sendNotification(c, n)
                if lim.action == .disable { disabled = true }
                dropConnection(c, reason: "Route \(kind) limit exceeded (\(lim.count))", isError: true, allowGR: false)
            }
            return false
        }
    }

    @inline(__always)
    private func importWithdraw(_ p: IPPrefix) {
        stats.importWithdrawsReceived += 1
        if let r = rib.route(p, src: source.id), !r.stale {
            imported[p.family == .ipv4 ? 0 : 1] -= 1
            stats.importWithdrawsAccepted += 1
            if let ch = rib.remove(p, src: source.id) { speaker.bestChanged(ch) }
        } else {
            stats.importWithdrawsIgnored += 1
            if !filteredIn.isEmpty { filteredIn.remove(p) }
        }
        if !keptFiltered.isEmpty { setKeptFiltered(p, nil) }
        dropStale(p)
    }

    /// Fresh routes of this session in the Loc-RIB (the filtered Adj-RIB-In's size).
    var importedCount: Int { imported[0] + imported[1] }
    /// Stale routes of this session (graceful restart helper).
    var staleCount: Int { staleRoutes[0] + staleRoutes[1] }

    /// Sets (nil: removes) a kept filtered route, counting its attribute set's table reference.
    func setKeptFiltered(_ p: IPPrefix, _ v: (attrs: AttrSet, since: UInt32)?) {
        if let v { attrTable.retain(v.attrs) }
        let old = v.map { keptFiltered.updateValue($0, forKey: p) } ?? keptFiltered.removeValue(forKey: p)
        if let o = old { attrTable.release(o.attrs) }
    }

    func clearKeptFiltered() {
        for (_, v) in keptFiltered { attrTable.release(v.attrs) }
        keptFiltered = [:]
    }

    /// Sets (nil: removes) what the Adj-RIB-Out holds for `p`; returns the previous set.
    @inline(__always)
    @discardableResult
    func setAdjOut(_ p: IPPrefix, _ a: AttrSet?) -> AttrSet? {
        if let a { attrTable.retain(a) }
        let old = adjOut.modify(p) { slot -> AttrSet? in
            let o = slot
            slot = a
            return o
        }
        if let o = old { attrTable.release(o) }
        return old
    }

    func clearAdjOut() {
        for (_, a) in adjOut { attrTable.release(a) }
        adjOut.removeAll()
    }
}

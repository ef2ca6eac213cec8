import Glibc
import CNetShim
import MeshCrypto
import MeshIO
import MeshRouting
import TincProtocol

/// Meta connection lifecycle: accept/connect, authentication, activation, reading, writing, closing.
extension MeshDaemon {
    func acceptConnections(on listenFD: Int32) {
        loop.preconditionInLoop()
        while let (fd, addr) = Sockets.accept(listenFD) {
            // tinc 1.0.35+: at most 10 new connections per second, the rest go to the tarpit.
            let sec = Int(time(nil))
            if conns.acceptsThisSecond.second == sec { conns.acceptsThisSecond.count += 1 } else { conns.acceptsThisSecond = (sec, 1) }
            if conns.acceptsThisSecond.count > 10 {
                Log.info(Log.connections, "Throttling incoming connections")
                conns.tarpit.park(fd)
                continue
            }
            let c = makeConnection(fd: fd, address: addr, outgoing: nil, connecting: false)
            Log.info(Log.connections, "Connection from \(addr)")
            c.handshake = makeHandshake(for: c, role: .responder)
        }
    }

    func makeConnection(fd: Int32, address: SocketAddress, outgoing: Outgoing?, connecting: Bool) -> MetaConnection {
        let c = MetaConnection(id: conns.nextID, fd: fd, address: address, outgoing: outgoing,
                               connecting: connecting, now: loop.now)
        conns.nextID += 1
        conns.all[c.id] = c
        conns.byFD[fd] = c
        loop.register(fd, events: connecting ? [.readable, .writable] : .readable) { [unowned self, unowned c] ev in
            self.handleConnectionEvent(c, ev)
        }
        return c
    }

    func makeHandshake(for c: MetaConnection, role: Handshake.Role) -> Handshake {
        Handshake(role: role, myName: settings.name, myKey: settings.privateKey,
                  metaCipher: CipherSuite.metaCipher(forDataKeyLength: settings.cipher.keyLength),
                  bypassSecurity: settings.bypassSecurity,
                  lookupPeer: { [unowned self, unowned c] name in
                      let p: PeerSettings
                      do { p = try self.peer(name) } catch {
                          throw HandshakeError("Peer \(name) had unknown identity (\(c.address)): \(error)")
                      }
                      c.name = name
                      c.peerSettings = p
                      if p.publicKey == nil && !self.settings.bypassSecurity {
                          throw HandshakeError("No public key known for \(name) (\(c.address))")
                      }
                      return PeerIdentity(key: p.publicKey)
                  },
                  makeAck: { [unowned self, unowned c] name in
                      let p = c.peerSettings ?? PeerSettings(name: name)
                      c.options = self.settings.ackOptions(peer: p)
                      let estimate = p.weight ?? Int((self.loop.now - c.started) * 1000)
                      c.estimatedWeight = estimate
                      return .ack(port: self.myPort, weight: estimate, options: c.options)
                  })
    }

    // MARK: outgoing

    func setupOutgoing(_ name: String) {
        guard name != settings.name else { return }
        guard isValidNodeName(name) else { Log.error("Invalid name for outgoing connection: \(name)"); return }
        let o = conns.outgoings[name] ?? Outgoing(name: name)
        conns.outgoings[name] = o
        if conns.activeByName[name] != nil { return }   // already connected (maybe incoming)
        // A short random delay spreads the first dials of nodes started together (full-mesh
        // ConnectTo), so fewer connections cross and get closed as duplicates.
        o.timer = loop.schedule(after: Double(SecureRandom.uint32() % 300) / 1000) { [unowned self] in
            o.timer = nil
            self.attemptOutgoing(o)
        }
    }

    func attemptOutgoing(_ o: Outgoing) {
        guard !o.cancelled, o.connection == nil else { return }
        // tinc's "Already connected": an active (maybe incoming) connection serves this ConnectTo;
        // when it closes, the retry starts from there.
        if let c = conns.activeByName[o.name] {
            Log.info(Log.connections, "Already connected to \(o.name)")
            if c.outgoing == nil { c.outgoing = o }
            o.connection = c
            return
        }
        let p = try? peer(o.name)
        if p == nil || p!.addresses.isEmpty {
            Log.error("No address known for \(o.name)")
            // tinc waits MaxTimeout when there is nothing to try.
            o.timeout = settings.maxTimeout
            o.timer = loop.schedule(after: o.timeout) { [unowned self] in o.timer = nil; self.attemptOutgoing(o) }
            return
        }
        while let addr = o.nextAddress(peer: p, family: settings.addressFamily) {
            Log.info(Log.connections, "Trying to connect to \(o.name) (\(addr))")
            do {
                let fd = try Sockets.connectTCP(to: addr, before: { [settings] fd in
                    if let dev = settings.bindToInterface { Sockets.bindDevice(fd, dev) }
                })
                let c = makeConnection(fd: fd, address: addr, outgoing: o, connecting: true)
                c.name = o.name
                o.connection = c
                return
            } catch {
                Log.error("Error while connecting to \(o.name) (\(addr)): \(error)")
            }
        }
        retryOutgoing(o)
    }

    /// Back off 5 s more per failed round, clamped to [MinTimeout, MaxTimeout].
    func retryOutgoing(_ o: Outgoing) {
        guard !o.cancelled, !stopping else { return }
        o.timeout = min(max(o.timeout + 5, settings.minTimeout), settings.maxTimeout)
        Log.notice("Trying to re-establish outgoing connection in \(Int(o.timeout)) seconds")
        loop.cancel(o.timer)
        // Up to a second of jitter: two nodes that ConnectTo each other and lost both connections at
        // once would otherwise redial in lockstep and keep closing each other's duplicate.
        let jitter = Double(SecureRandom.uint32() % 1000) / 1000
        o.timer = loop.schedule(after: o.timeout + jitter) { [unowned self] in o.timer = nil; self.attemptOutgoing(o) }
    }

    // MARK: I/O

    func handleConnectionEvent(_ c: MetaConnection, _ ev: EventLoop.Events) {
        guard c.state != .closed else { return }
        if c.state == .connecting {
            guard ev.contains(.writable) || ev.contains(.error) else { return }
            let err = Sockets.pendingError(c.fd)
            if err != 0 {
                Log.error("Error while connecting to \(c.label): \(String(cString: strerror(err)))")
                let o = c.outgoing
                dropConnection(c)
                if let o = o { o.connection = nil; attemptOutgoing(o) }
                return
            }
            Log.info(Log.connections, "Connected to \(c.label)")
            c.state = .authenticating
            c.handshake = makeHandshake(for: c, role: .initiator(expecting: c.outgoing!.name))
            execute(c.handshake.start(), on: c)
            flush(c)
            return
        }
        if ev.contains(.readable) { readFrom(c) }
        if c.state != .closed && ev.contains(.writable) { flush(c) }
    }

    /// Reads at most `metaReadBudget` chunks per wakeup: the loop is level-triggered, so what is
    /// left is read on the next turn, after timers and other sockets had theirs.
    static let metaReadBudget = 16

    func readFrom(_ c: MetaConnection) {
        defer { runPendingGraph() }
        var buf = [UInt8](repeating: 0, count: 65536)
        var reads = 0
        while c.state != .closed {
            reads += 1
            if reads > MeshDaemon.metaReadBudget { break }
            let n = buf.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buf.withUnsafeBytes { c.inbound.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                processInbound(c)
                if n < buf.count { break }
                continue
            }
            if n == 0 {
                if c.state == .authenticating && c.outbound.isEncrypting {
                    Log.error("Connection closed by \(c.label) during authentication; the peer may hold a wrong public key for us or we for it (hosts/\(c.name ?? "?"))")
                } else {
                    Log.info(Log.connections, "Connection closed by \(c.label)")
                }
                terminate(c, report: true)
            } else if errno != EAGAIN && errno != EINTR {
                Log.error("Metadata socket read error for \(c.label): \(String(cString: strerror(errno)))")
                terminate(c, report: true)
            }
            break
        }
        if c.state != .closed { flush(c) }
    }

    func processInbound(_ c: MetaConnection) {
        while c.state != .closed {
            let item: MetaInbound.Item?
            do { item = try c.inbound.next() } catch {
                Log.error("\(error) from \(c.label)")
                fail(c)
                return
            }
            guard let it = item else { return }
            switch it {
            case .packet(let frame):
                Log.debug(Log.traffic, "Got PACKET of \(frame.count) bytes from \(c.label)")
                if let n = c.node { receiveFrameFromTCP(frame, from: n) }
            case .line(let line):
                handleLine(line, from: c)
            }
        }
    }

    func handleLine(_ line: String, from c: MetaConnection) {
        loop.preconditionInLoop()
        let request: Request
        do { request = try Request(parsing: Substring(line)) } catch let e as RequestError {
            if !c.isActive && c.inbound.isDecrypting {
                // The first encrypted line is garbage: the key material did not decrypt correctly.
                Log.error("Bogus data received from \(c.label) during authentication: the peer's METAKEY did not decrypt to a valid stream; one side has a wrong public key (hosts/\(c.name ?? "?") here, or our key in the peer's hosts/\(settings.name))")
                fail(c)
                return
            }
            switch e.kind {
            case .bogus: Log.error("Bogus data received from \(c.label)")
            case .unknown: Log.error("Unknown request from \(c.label): \(line.prefix(80))")
            case .malformed: Log.error("\(e) from \(c.label)")
            }
            fail(c)
            return
        } catch { fail(c); return }
        Log.debug(Log.protocol_, "Got \(request.type.name) from \(c.label): \(line.prefix(Log.enabled(Log.meta) ? 4096 : 120))")
        if !c.isActive {
            do {
                let actions = try c.handshake.receive(request)
                execute(actions, on: c)
            } catch {
                // Handshake errors name the peer; the address tells which machine claimed the name.
                Log.error("\(error) (\(c.address))")
                if case .id = request, c.name == nil { Log.error("Peer \(c.address) rejected") }
                fail(c)
            }
            return
        }
        if !handleActiveRequest(request, line: line, from: c) {
            Log.error("Error while processing \(request.type.name) from \(c.label)")
            terminate(c, report: true)
        }
    }

    func execute(_ actions: [Handshake.Action], on c: MetaConnection) {
        for a in actions {
            switch a {
            case .send(let r): c.send(r)
            case .encryptOutbound(let s): c.outbound.enableEncryption(s)
            case .decryptInbound(let s): c.inbound.enableDecryption(s)
            case let .established(peer, port, weight, options): activate(c, peer: peer, port: port, weight: weight, options: options)
            }
        }
        flush(c)
    }

    /// Most bytes a meta connection may have queued for a peer that does not read. tinc 1.0 has
    /// no bound; a peer that stops reading while others flood us would otherwise hold our memory
    /// until PingTimeout notices.
    static let maxMetaOutbound = 32 << 20

    func flush(_ c: MetaConnection) {
        guard c.fd >= 0, c.state != .connecting else { return }
        if c.outbound.queuedBytes > MeshDaemon.maxMetaOutbound {
            Log.error("\(c.label) is not reading: \(c.outbound.queuedBytes) bytes queued for it, closing the connection")
            terminate(c, report: true)
            return
        }
        let ok = c.outbound.flush(to: c.fd) { fd, buf in
            let n = send(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL))
            return n < 0 ? -Int(errno) : n
        }
        guard ok else {
            if let f = c.outbound.failure {
                Log.error("Error sending to \(c.label): \(f)")
            } else {
                Log.error("Error sending to \(c.label): \(String(cString: strerror(errno)))")
            }
            terminate(c, report: true)
            return
        }
        if c.outbound.queuedBytes == 0 { c.lastFlushed = loop.now }
        loop.modify(c.fd, events: c.outbound.queuedBytes > 0 ? [.readable, .writable] : .readable)
    }

    // MARK: activation (ack_h)

    func activate(_ c: MetaConnection, peer name: String, port: String, weight: Int, options hisOptions: UInt32) {
        if let old = conns.activeByName[name], old !== c {
            Log.info(Log.connections, "Established a second connection with \(old.label), closing old connection")
            // The ConnectTo moves to the new connection, so closing the old one schedules no retry.
            if let o = old.outgoing {
                if c.outgoing != nil && c.outgoing !== o {
                    Log.warning("Two outgoing connections to the same node \(name)!")
                } else {
                    c.outgoing = o
                }
                old.outgoing = nil
                o.connection = c
            }
            // No purge here even if `old` was our only connection: the node stays, `c` replaces it.
            terminate(old, report: false, replacing: true)
            runGraph()
        }
        // Looked up only now: closing `old` may have changed the graph.
        let n = graph.lookupOrCreateNode(named: name)
        // PMTU discovery only when both ends want it; other bits are OR-ed.
        let pmtu = c.options & hisOptions & 0x4
        c.options = ((c.options | hisOptions) & ~UInt32(0x4)) | pmtu
        if let p = c.peerSettings, p.clampMSS == false { c.options &= ~UInt32(0x8) }
        c.state = .active
        c.node = n
        c.name = name
        conns.activeByName[name] = c
        c.pinged = false
        c.lastPingTime = loop.now
        if let o = c.outgoing { o.connection = c }
        Log.info(Log.connections, "Connection with \(c.label) activated")
        // PMTU = N in the peer's host file or in ours lowers the starting path MTU, as in tinc.
        let k = keys(for: n)
        for limit in [c.peerSettings?.pmtu, settings.pmtu].compactMap({ $0 }) where limit < k.mtu { k.mtu = limit }
        sendEverything(to: c)
        // The flush in sendEverything can fail and close `c`; then it must leave no edge behind
        // (one that would be broadcast and never deleted).
        guard c.state == .active, n.attached else {
            Log.info(Log.connections, "Connection with \(c.label) closed while it was being activated")
            return
        }
        let edge = graph.addEdge(from: myself, to: n, address: c.address.host, port: port, options: c.options,
                                 weight: (weight + c.estimatedWeight) / 2)
        c.edge = edge
        broadcast(addEdgeRequest(edge), except: nil)
        runGraph()
    }

    // MARK: closing

    /// Authentication or protocol failure: the socket goes to the tarpit instead of being closed.
    func fail(_ c: MetaConnection) {
        if c.isActive { terminate(c, report: true); return }
        let fd = c.fd
        dropConnection(c, closeSocket: false)
        conns.tarpit.park(fd)
        if let o = c.outgoing, o.connection === c { o.connection = nil; retryOutgoing(o) }
    }

    func dropConnection(_ c: MetaConnection, closeSocket: Bool = true) {
        if c.fd >= 0 {
            loop.unregister(c.fd)
            conns.byFD[c.fd] = nil
        }
        if conns.all.removeValue(forKey: c.id) != nil { conns.requestsSentByClosed += c.requestsSent }
        if closeSocket { c.closeSocket() } else { c.state = .closed }
    }

    /// tinc's terminate_connection: forget the edge (telling everyone when `report`), rerun the graph,
    /// and schedule a reconnect for outgoing connections.
    func terminate(_ c: MetaConnection, report: Bool, replacing: Bool = false) {
        guard c.state != .closed else { return }
        Log.info(Log.connections, "Closing connection with \(c.label)")
        let wasActive = c.isActive
        dropConnection(c)
        if let name = c.name, conns.activeByName[name] === c { conns.activeByName[name] = nil }
        if wasActive, let e = c.edge {
            if report && !stopping { broadcast(.delEdge(nonce: nonce(), from: e.from.name, to: e.to.name), except: nil) }
            graph.removeEdge(e)
            c.edge = nil
            if !stopping {
                runGraph()
                // If the peer is now unreachable, its edge to us is stale too.
                if report, let n = c.node, !n.reachable, let back = graph.edge(from: n, to: myself) {
                    broadcast(.delEdge(nonce: nonce(), from: n.name, to: myself.name), except: nil)
                    graph.removeEdge(back)
                    runGraph()
                }
            }
        }
        if let o = c.outgoing, o.connection === c {
            o.connection = nil
            if !stopping {
                if wasActive { attemptOutgoing(o) } else { retryOutgoing(o) }
            }
        }
        if !stopping && !replacing && conns.activeByName.isEmpty && wasActive { purge() }
    }

    /// tinc's check_dead_connections, run every PingTimeout.
    func checkDeadConnections(now: Double) {
        for c in Array(conns.all.values) {
            if c.lastPingTime + settings.pingTimeout <= now {
                if c.isActive {
                    if c.pinged {
                        Log.info(Log.connections, "\(c.label) didn't respond to PING in \(Int(now - c.lastPingTime)) seconds")
                        terminate(c, report: true)
                        continue
                    } else if c.lastPingTime + settings.pingInterval <= now {
                        c.send(.ping)
                        c.pinged = true
                        c.lastPingTime = now
                        flush(c)
                    }
                } else {
                    if c.state == .connecting {
                        Log.warning("Timeout while connecting to \(c.label)")
                    } else {
                        Log.warning("Timeout from \(c.label) during authentication")
                    }
                    fail(c)
                    continue
                }
            }
            if c.outbound.queuedBytes > 0 && c.lastFlushed + settings.pingTimeout <= now {
                Log.info(Log.connections, "\(c.label) could not flush for \(Int(now - c.lastFlushed)) seconds")
                terminate(c, report: true)
            }
        }
    }

    /// Sends a line to every active connection (except `except`).
    func broadcast(_ r: Request, except: MetaConnection?) {
        Log.debug(Log.protocol_, "Sending \(r.type.name) to everyone (BROADCAST): \(r.line)")
        for c in conns.all.values where c.isActive && c !== except {
            c.queueBroadcast(line: r.line)
            flush(c)
        }
    }

    /// tinc's forward_request: the received line, unchanged, to every other active connection.
    func forward(_ line: String, type: RequestType, from: MetaConnection) {
        for c in conns.all.values where c.isActive && c !== from {
            c.send(line: line, type: type)
            flush(c)
        }
    }

    func nonce() -> String { String(SecureRandom.uint32(), radix: 16) }
}

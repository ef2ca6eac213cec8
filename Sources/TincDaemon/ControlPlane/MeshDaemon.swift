import Glibc
import Foundation
import MeshCrypto
import MeshIO
import MeshMetrics
import MeshRouting
import TincProtocol
import TunTap

/// The running node: owns the event loop, the device, the listeners, the meta connections and the
/// mesh graph, and wires them together. Protocol handling lives in the extensions by concern:
/// connections (+Connections), gossip about nodes/edges/subnets (+Gossip), packet keys (+Keys),
/// frames (+Packets), operator dumps (+Dumps).
public final class MeshDaemon {
    public var settings: DaemonSettings
    public let loop: EventLoop
    public let graph: MeshGraph
    /// A dummy until `start()` opens the configured device, so nothing read before then traps.
    var device: NetworkDevice = DummyDevice()
    /// Queues 2…N of a multi-queue TAP/TUN device, one per extra TX worker (DataPlaneThreads).
    var moreQueues: [NetworkDevice] = []
    /// Made in init so operator views (stats, /metrics, control) work on a daemon that has not
    /// started; `start()` adds the device's names to the environment. Tests swap in one without a
    /// loop, which runs each script to its end before returning.
    var scripts: ScriptRunner
    let loadPeer: (String) throws -> PeerSettings

    var listeners: [(tcp: Int32, udp: Int32, address: SocketAddress)] = []
    /// Meta connections, their indexes, outgoing dials, tarpit and accept throttle.
    let conns = ConnectionTable()
    /// Seen requests, contradictions, pending graph runs, limit warnings, graph dumps.
    let gossip = GossipState()
    /// Packet keys and path MTU per node.
    let keys = KeyTable()
    /// Forwarding snapshots for the data plane, and learned MACs.
    let publisher: DataPlanePublisher
    var peerCache: [String: PeerSettings] = [:]
    var housekeepingTimer: EventLoop.TimerID?
    var myPort: String = "655"
    public internal(set) var stats = DataPlaneStats()
    /// The frame path's threads, while they run (held by the publisher).
    var dataPlane: DataPlane? { publisher.dataPlane }
    var stopping = false
    /// Wall-clock seconds since the epoch when `start()` ran (operator snapshots, /metrics).
    var startTime: Double = 0

    /// - Parameter loadPeer: reads hosts/NAME (throws with a file:line reason).
    public init(settings: DaemonSettings, loadPeer: @escaping (String) throws -> PeerSettings) throws {
        self.settings = settings
        self.loop = try EventLoop()
        self.graph = MeshGraph(myName: settings.name)
        self.loadPeer = loadPeer
        self.publisher = DataPlanePublisher(loop: loop)
        self.scripts = ScriptRunner(confDir: settings.confDir, interpreter: settings.scriptsInterpreter,
                                    baseEnvironment: ["NETNAME": settings.netName ?? "", "NAME": settings.name], loop: loop)
        publisher.buildTable = { [weak self] in self?.buildTable() }
    }

    var myself: Node { graph.myself }

    /// Opens the frame device in `start()`. In-process tests hand in a socketpair-backed device
    /// instead (no root, no /dev/net/tun); everything after the open is the same.
    var openDevice: (DaemonSettings) throws -> (NetworkDevice, [NetworkDevice]) = MeshDaemon.openSystemDevice
    /// `start()` takes the process's signals through a signalfd; several daemons in one test
    /// process leave them alone.
    var takesSignals = true

    /// TUN/TAP through /dev/net/tun, or tinc's dummy device.
    /// The first queue and the further queues (one per extra TX worker; MeshDaemon+DeviceQueues.swift).
    static func openSystemDevice(_ s: DaemonSettings) throws -> (NetworkDevice, [NetworkDevice]) {
        switch s.deviceType {
        case .dummy: return (DummyDevice(), [])
        case .tun, .tap:
            let (first, more) = try openDeviceQueues(s)
            return (first, more)
        }
    }

    /// Opens the device, runs tinc-up, binds the sockets, announces our subnets and starts connecting.
    public func start() throws {
        let s = settings
        keys.lastExpiry = loop.now
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        startTime = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        // Before any thread exists: signals are blocked process-wide and read through signalfd.
        if takesSignals {
            try loop.handleSignals([SIGHUP, SIGTERM, SIGQUIT, SIGINT, SIGALRM, SIGUSR1, SIGUSR2, SIGWINCH]) { [unowned self] sig in
                self.handleSignal(sig)
            }
        }

        (device, moreQueues) = try openDevice(s)
        let offloadNote = (device as? TunTapDevice)?.offload == true ? ", TSO offload on" : ""
        let queueNote = moreQueues.isEmpty ? "" : ", \(moreQueues.count + 1) queues"
        Log.notice("\(device.type == .tap ? "Tap" : device.type == .tun ? "Tun" : "Dummy") device (\(device.path)) is a \(device.type.rawValue) device, interface \(device.interface)\(offloadNote)\(queueNote)")
        scripts.baseEnvironment["DEVICE"] = device.path
        scripts.baseEnvironment["INTERFACE"] = device.interface
        scripts.runAndWait("tinc-up")   // the interface is configured before we go on; event scripts are queued

        for subnet in s.subnets { graph.addSubnet(subnet, owner: myself) }
        if s.strictSubnets { loadStrictSubnets() }
        try openListeners()
        for subnet in s.subnets { runSubnetScript(up: true, owner: myself, subnet: subnet) }
        startDataPlane()
        signal(SIGPIPE, SIG_IGN)
        do { try startBGP() } catch {
            // A broken bgp.conf is fatal at start, like a broken tinc.conf: say where.
            Log.error("BGP: \(error)")
            throw error
        }
        if let path = controlSocketPath {
            let server = ControlServer(path: path, loop: loop) { [unowned self] line in self.controlCommand(line) }
            server.aliases = controlSocketAliases
            do { try server.start(); control = server } catch { Log.error("Could not open control socket: \(error)") }
        }
        startMetrics()   // MetricsAddress (MeshDaemon+Metrics.swift)
        Log.notice("Ready")
        for name in s.connectTo { setupOutgoing(name) }
        scheduleHousekeeping()
    }

    public func run() {
        loop.run()
        shutdown()
    }

    func openListeners() throws {
        let s = settings
        var addrs: [SocketAddress] = []
        if s.bindAddresses.isEmpty {
            addrs = SocketAddress.resolve(host: nil, port: s.port, family: s.addressFamily, passive: true)
        } else {
            for b in s.bindAddresses {
                addrs += SocketAddress.resolve(host: b.host == "*" ? nil : b.host, port: b.port ?? s.port,
                                               family: s.addressFamily, passive: true)
            }
        }
        for a in addrs {
            do {
                let tcp = try Sockets.listenTCP(on: a, bindToDevice: s.bindToInterface)
                var udpAddr = a
                if let bound = Sockets.localAddress(tcp) { udpAddr = bound }
                let udp = try Sockets.bindUDP(on: udpAddr, pmtuDiscovery: s.pmtuDiscovery && !s.tcpOnly,
                                              bindToDevice: s.bindToInterface,
                                              receiveBuffer: s.udpRcvBuf, sendBuffer: s.udpSndBuf)
                listeners.append((tcp, udp, udpAddr))
                if listeners.count == 1 { myPort = String(udpAddr.port) }
                loop.register(tcp, events: .readable) { [unowned self] _ in self.acceptConnections(on: tcp) }
                Log.notice("Listening on \(udpAddr)")
            } catch {
                Log.error("Could not listen on \(a): \(error)")
            }
        }
        guard !listeners.isEmpty else { throw SystemError("Unable to create any listening socket", errno: EADDRNOTAVAIL) }
    }

    func scheduleHousekeeping() {
        housekeepingTimer = loop.schedule(after: settings.pingTimeout) { [unowned self] in
            self.housekeeping()
            self.scheduleHousekeeping()
        }
    }

    /// tinc's main-loop tick: dead connections, PINGs, past-request and MAC ageing, key expiry.
    func housekeeping() {
        loop.preconditionInLoop()
        let now = loop.now
        checkDeadConnections(now: now)
        gossip.seen.age(olderThan: now - settings.pingInterval)
        if settings.mode == .switch { ageLearnedMACs(now: now) }
        if now - keys.lastExpiry >= settings.keyExpire { regenerateKeys() }
        if gossip.contradictions.add > 100 && gossip.contradictions.del > 100 {
            Log.warning("Possible node with same Name as us! Sleeping \(Int(gossip.sleepTime)) seconds.")
            gossip.sleepTime = min(gossip.sleepTime * 2, 3600)
        } else {
            gossip.sleepTime = max(10, gossip.sleepTime / 2)
        }
        gossip.contradictions = (0, 0)
        if gossip.graphChanged, let path = settings.graphDumpFile, now - gossip.lastGraphDump >= 60 || gossip.lastGraphDump == 0 {
            dumpGraph(to: path)
            gossip.lastGraphDump = now
            gossip.graphChanged = false
        }
    }

    /// StrictSubnets: the Subnets in our local hosts/ files are the only ones we accept, so they are
    /// known from the start (gossip about other subnets is forwarded but not used).
    func loadStrictSubnets() {
        let dir = settings.confDir + "/hosts"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names.sorted() where isValidNodeName(name) && name != settings.name {
            guard let p = try? peer(name) else { continue }
            let n = graph.lookupOrCreateNode(named: name)
            for s in p.subnets { graph.addSubnet(s, owner: n) }
        }
    }

    /// GraphDumpFile: the dot graph to a file, or to a command when the value starts with "|".
    /// The command gets the graph on stdin from a private temporary file and runs through the script
    /// queue, so a command that hangs cannot stall the loop that carries BGP keepalives and BFD.
    func dumpGraph(to target: String) {
        let dot = graphDot()
        if target.hasPrefix("|") {
            var template = Array("/tmp/tincd-graph-XXXXXX".utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { b in b.baseAddress.map { mkstemp($0) } ?? -1 }
            guard fd >= 0 else { Log.error("Could not run GraphDumpFile command \(target): mkstemp: \(String(cString: strerror(errno)))"); return }
            let path = template.withUnsafeBufferPointer { b in b.baseAddress.map { String(cString: $0) } ?? "" }
            let file = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            do {
                try file.write(contentsOf: Data(dot.utf8))
                try file.close()
            } catch {
                Log.error("Could not run GraphDumpFile command \(target): writing \(path): \(error)")
                unlink(path)
                return
            }
            scripts.runCommand("GraphDumpFile command", command: String(target.dropFirst()), inputFile: path)
        } else {
            let tmp = target + ".new"
            do {
                try dot.write(toFile: tmp, atomically: false, encoding: .utf8)
                rename(tmp, target)
            } catch {
                Log.error("Could not write GraphDumpFile \(target): \(error)")
            }
        }
    }

    func handleSignal(_ sig: Int32) {
        loop.preconditionInLoop()
        switch sig {
        case SIGTERM, SIGQUIT:
            Log.notice("Got \(sig == SIGTERM ? "TERM" : "QUIT") signal")
            loop.stop()
        case SIGINT:
            if Log.level == 5 { Log.level = savedDebugLevel } else { savedDebugLevel = Log.level; Log.level = 5 }
            Log.notice("Got INT signal, debug level now \(Log.level)")
        case SIGHUP:
            Log.notice("Got HUP signal")
            Log.reopen()
            reload()
            if bgp != nil || access(bgpConfigPath, F_OK) == 0 {
                for line in configureBGP(checkOnly: false).split(separator: "\n") { Log.notice("BGP: \(line)") }
            }
        case SIGALRM:
            Log.notice("Got ALRM signal: flushing event queue")
            retryNow()
        case SIGUSR1:
            dumpConnections()
        case SIGUSR2:
            dumpDeviceStats(); dumpNodes(); dumpEdges(); dumpSubnets()
        case SIGWINCH:
            purge()
        default:
            break
        }
    }

    /// SIGALRM: reconnect now and PING every active connection.
    public func retryNow() {
        for o in conns.outgoings.values where o.connection == nil {
            loop.cancel(o.timer)
            o.timer = nil
            o.timeout = 0
            attemptOutgoing(o)
        }
        for c in conns.all.values where c.isActive {
            c.send(.ping)
            c.pinged = true
            c.lastPingTime = loop.now
            flush(c)
        }
        loop.fireAllTimers()
    }

    /// SIGHUP: re-read ConnectTo and host files; close connections whose host file changed or vanished.
    func reload() {
        do {
            if let reread = reloadSettings { settings = try reread() }
        } catch {
            Log.error("Unable to reread configuration file, exiting: \(error)")
            exitStatus = 1   // like tincd 1.0, which exits 1 when SIGHUP's re-read fails
            loop.stop()
            return
        }
        peerCache.removeAll()
        for c in conns.all.values where c.isActive {
            guard let name = c.name else { continue }
            let old = c.peerSettings?.fileModified ?? 0
            let new = (try? loadPeer(name))
            if new == nil || new!.fileModified != old {
                Log.info(Log.connections, "Host config file of \(name) has been changed")
                terminate(c, report: true)
            }
        }
        let wanted = Set(settings.connectTo)
        for (name, o) in conns.outgoings where !wanted.contains(name) {
            o.cancelled = true
            loop.cancel(o.timer)
            if let c = o.connection { terminate(c, report: true) }
            conns.outgoings[name] = nil
        }
        for name in settings.connectTo where conns.outgoings[name] == nil { setupOutgoing(name) }
    }

    /// The control socket path (nil: none) and its server.
    public var controlSocketPath: String?
    public var controlSocketAliases: [String] = []
    var control: ControlServer?
    var metricsEndpoint: MetricsEndpoint?
    /// Answers `show ...` commands when BGP runs in this process: (arguments, json) -> text.
    public var bgpControl: (([String], Bool) -> String)?
    var bgp: EmbeddedBGP?

    /// What the process exits with once `run()` returns: 1 after a failed reload.
    public private(set) var exitStatus: Int32 = 0

    /// Set by the front end so SIGHUP can re-read the config files.
    public var reloadSettings: (() throws -> DaemonSettings)?
    var savedDebugLevel = 0

    /// Clean shutdown as tinc does it: close connections without DEL_EDGE, subnet-down for own subnets, tinc-down.
    func shutdown() {
        stopping = true
        stopBGP()
        for c in Array(conns.all.values) { terminate(c, report: false) }
        dataPlane?.stop()
        control?.stop()
        metricsEndpoint?.stop()
        for l in listeners { close(l.tcp); close(l.udp) }
        listeners.removeAll()
        conns.tarpit.closeAll()
        for subnet in graph.myself.subnets { runSubnetScript(up: false, owner: myself, subnet: subnet) }
        scripts.runAndWait("tinc-down")   // after the queued subnet-down scripts
        for q in moreQueues { q.close() }
        moreQueues.removeAll()
        device.close()
        Log.notice("Terminating")
    }

    func peer(_ name: String) throws -> PeerSettings {
        if let p = peerCache[name] { return p }
        let p = try loadPeer(name)
        peerCache[name] = p
        return p
    }
}


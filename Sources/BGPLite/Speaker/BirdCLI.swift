// birdc's everyday commands on the speaker: `show protocols|route|bfd sessions`, `enable|disable|
// restart NAME`, `reload [in|out] NAME`, answered with the lines BIRD 2 prints (nest/proto.c,
// nest/rt-show.c, proto/bfd/bfd.c) so scripts written against birdc keep working.
import Glibc
import MeshIO

extension BGPSpeaker {
    public static let birdUsage = """
        show protocols [all] [NAME] | show route [all] [for ADDR|PREFIX] [protocol P] [export P] [filtered] [count]
        | show bfd sessions | enable|disable|restart NAME | reload [in|out] NAME
        """

    /// One birdc command, split in words. A refused command's reply starts with "ERROR ".
    public func birdCommand(_ words: [String]) -> String {
        guard let cmd = words.first else { return "ERROR empty command; usage: \(BGPSpeaker.birdUsage)\n" }
        let args = Array(words.dropFirst())
        switch cmd {
        case "show":
            switch args.first {
            case "protocols"?, "protocol"?:
                var rest = Array(args.dropFirst())
                let verbose = rest.first == "all"
                if verbose { rest.removeFirst() }
                guard rest.count <= 1 else { return "ERROR show protocols: unexpected \(rest[1])\n" }
                if let n = rest.first, !hasProtocol(n) { return "ERROR \(n): no such protocol\n" }
                return showProtocols(name: rest.first, verbose: verbose)
            case "route"?:
                switch parseRouteQuery(Array(args.dropFirst())) {
                case .success(let q): return showRoute(q)
                case .failure(let e): return "ERROR \(e.description)\n"
                }
            case "bfd"?:
                guard args.count == 2, args[1] == "sessions" else { return "ERROR usage: show bfd sessions\n" }
                return showBFDSessions()
            default:
                return "ERROR unknown show command; usage: \(BGPSpeaker.birdUsage)\n"
            }
        case "enable", "disable", "restart":
            guard args.count == 1 else { return "ERROR usage: \(cmd) NAME\n" }
            return protocolCommand(cmd, args[0])
        case "reload":
            var dir = "both"
            var rest = args
            if let d = rest.first, d == "in" || d == "out" { dir = d; rest.removeFirst() }
            guard rest.count == 1 else { return "ERROR usage: reload [in|out] NAME\n" }
            return reload(rest[0], direction: dir)
        default:
            return "ERROR unknown command; usage: \(BGPSpeaker.birdUsage)\n"
        }
    }

    /// Words after `show route`, in any order as BIRD's grammar allows.
    public func parseRouteQuery(_ w: [String]) -> Result<RouteQuery, BGPSpeakerError> {
        var q = RouteQuery()
        var i = 0
        func name(_ what: String) -> Result<String, BGPSpeakerError> {
            guard i + 1 < w.count else { return .failure(BGPSpeakerError("show route \(what): protocol name missing")) }
            let n = w[i + 1]
            guard hasProtocol(n) || meshSources[n] != nil else { return .failure(BGPSpeakerError("\(n): no such protocol")) }
            i += 2
            return .success(n)
        }
        while i < w.count {
            switch w[i] {
            case "all": q.verbose = true; i += 1
            case "count": q.countOnly = true; i += 1
            case "filtered": q.filtered = true; i += 1
            case "for":
                guard i + 1 < w.count, let p = IPPrefix(w[i + 1]) else {
                    return .failure(BGPSpeakerError("show route for: \(i + 1 < w.count ? "bad address \(w[i + 1])" : "address missing")"))
                }
                q.target = p; q.longestMatch = true; i += 2
            case "protocol":
                switch name("protocol") { case .success(let n): q.proto = n; case .failure(let e): return .failure(e) }
            case "export":
                switch name("export") {
                case .success(let n):
                    guard sessions.contains(where: { $0.name == n }) else { return .failure(BGPSpeakerError("show route export: \(n) is not a BGP protocol")) }
                    q.export = n
                case .failure(let e): return .failure(e)
                }
            default:
                // `show route PREFIX`: that network exactly.
                guard let p = IPPrefix(w[i]), w[i].contains("/") else { return .failure(BGPSpeakerError("show route: unknown argument \(w[i])")) }
                q.target = p; q.longestMatch = false; i += 1
            }
        }
        return .success(q)
    }

    // MARK: enable / disable / restart / reload (proto_cmd_*)

    func protocolCommand(_ cmd: String, _ name: String) -> String {
        if let s = sessions.first(where: { $0.name == name }) {
            switch cmd {
            case "disable":
                if s.disabled { return "\(name): already disabled\n" }
                log(.info, "Disabling protocol \(name)")
                s.disabled = true
                s.stop(notification: .administrativeShutdown(), reason: "Disabled by command")
                s.lastError = ""   // BE_MAN_DOWN: a manual shutdown is not shown as an error
                establishedSessions.removeAll { $0 === s }
                return "\(name): disabled\n"
            case "enable":
                if !s.disabled { return "\(name): already enabled\n" }
                log(.info, "Enabling protocol \(name)")
                s.disabled = false
                s.lastError = ""
                if started { ensureListener(for: s); startAfterCommand(s) }
                return "\(name): enabled\n"
            default:
                if s.disabled { return "\(name): already disabled\n" }
                log(.info, "Restarting protocol \(name)")
                s.stop(notification: .administrativeReset(), reason: "Restarted by command")
                s.lastError = ""
                establishedSessions.removeAll { $0 === s }
                if started { startAfterCommand(s) }
                return "\(name): restarted\n"
            }
        }
        if let so = statics.first(where: { $0.config.name == name }) {
            let disabled = so.config.common.disabled || so.disabledByCommand
            switch cmd {
            case "disable":
                if disabled { return "\(name): already disabled\n" }
                log(.info, "Disabling protocol \(name)")
                so.disabledByCommand = true
                so.since = BGPSpeaker.wallClock()
                stopStatic(so)
                return "\(name): disabled\n"
            case "enable":
                if !disabled { return "\(name): already enabled\n" }
                guard !so.config.common.disabled else { return "ERROR \(name) is disabled in bgp.conf; edit it and run configure\n" }
                log(.info, "Enabling protocol \(name)")
                so.disabledByCommand = false
                so.since = BGPSpeaker.wallClock()
                if started { startStatic(so) }
                return "\(name): enabled\n"
            default:
                if disabled { return "\(name): already disabled\n" }
                log(.info, "Restarting protocol \(name)")
                so.since = BGPSpeaker.wallClock()
                stopStatic(so)
                if started { startStatic(so) }
                return "\(name): restarted\n"
            }
        }
        if hasProtocol(name) { return "ERROR \(name): \(cmd) is supported for BGP and static protocols only\n" }
        return "ERROR \(name): no such protocol\n"
    }

    /// BIRD's bgp_active after `enable`/`restart`: the first outgoing connection waits `connect delay
    /// time` (5 s unless configured). Connecting at once raced the peer, still handling our Cease,
    /// which closed the new connection; meanwhile it connects to us itself.
    private func startAfterCommand(_ s: Session) {
        s.start()
        if s.conns.isEmpty { s.goActive(connectAfter: Double(max(1, s.config.connectDelayTime ?? 5))) }
    }

    /// proto_cmd_reload: `in` asks the peer for its routes again (ROUTE-REFRESH; refused when the peer
    /// cannot refresh, as BIRD's channel_reloadable), `out` sends our table again (only what differs
    /// from the Adj-RIB-Out goes out), both by default. A protocol that is not up has nothing to reload.
    func reload(_ name: String, direction: String) -> String {
        if let s = sessions.first(where: { $0.name == name }) {
            if s.disabled { return "\(name): already disabled\n" }
            guard s.established != nil else { return "" }
            let fams = s.channels.map { $0.family }.filter { s.negotiatedFamilies.contains($0 == .ipv4 ? .ipv4Unicast : .ipv6Unicast) }
            if direction != "out" && !(s.peerOpen?.supportsRouteRefresh ?? false) { return "ERROR \(name): reload failed\n" }
            log(.info, "Reloading protocol \(name)")
            if direction != "out" { for f in fams { s.requestRouteRefresh(f == .ipv4 ? .ipv4Unicast : .ipv6Unicast) } }
            if direction != "in" { s.resetExportCache(); s.reexport(fams) }
            return "\(name): reloading\n"
        }
        if let so = statics.first(where: { $0.config.name == name }) {
            if so.config.common.disabled || so.disabledByCommand { return "\(name): already disabled\n" }
            guard started else { return "" }
            log(.info, "Reloading protocol \(name)")
            if direction != "out" {
                let n = StaticOrigin(config: so.config, source: so.source)
                n.since = so.since
                if let i = statics.firstIndex(where: { $0 === so }) { statics[i] = n }
                reloadStatic(from: so, to: n)
            }
            return "\(name): reloading\n"
        }
        if hasProtocol(name) { return "ERROR \(name): reload is supported for BGP and static protocols only\n" }
        return "ERROR \(name): no such protocol\n"
    }

    // MARK: show bfd sessions (bfd_show_sessions)

    func showBFDSessions() -> String {
        let protos = config.protocols.compactMap { p -> String? in if case .bfd(let b) = p { return b.name } else { return nil } }
        guard !protos.isEmpty else { return "There is no BFD protocol running\n" }
        let sessions = (liveness as? BFDManager)?.sessions() ?? []
        var out: [String] = []
        for name in protos {
            guard started else { out.append("\(name): is not up"); continue }
            out.append("\(name):")
            out.append("\(BGPSpeaker.pad("IP address", 25)) \(BGPSpeaker.pad("Interface", 10)) \(BGPSpeaker.pad("State", 10)) \(BGPSpeaker.pad("Since", 12))  \(BGPSpeaker.padLeft("Interval", 8)) \(BGPSpeaker.padLeft("Timeout", 8))")
            for s in sessions.sorted(by: { $0.peer.host < $1.peer.host }) {
                let state: String
                switch s.state {
                case .adminDown: state = "AdminDown"
                case .down: state = "Down"
                case .initial: state = "Init"
                case .up: state = "Up"
                }
                // tx interval is shown only once something was sent (BIRD: s->last_tx ? ... : 0)
                let tx = s.sent > 0 ? Double(s.transmitInterval) / 1e6 : 0
                let timeout = Double(s.detectionTime) / 1e6
                // Single-hop sessions: the interface the BGP session to that neighbor runs over.
                let ifname = s.interface ?? self.sessions.first { $0.config.neighborAddress?.addressString == s.peer.host }?.source.ifname
                out.append("\(BGPSpeaker.pad(s.peer.host, 25)) \(BGPSpeaker.pad(ifname ?? "---", 10)) \(BGPSpeaker.pad(state, 10)) \(BGPSpeaker.pad(BGPSpeaker.timeString(s.since), 12))  \(BGPSpeaker.padLeft(BGPSpeaker.seconds3(tx), 7))  \(BGPSpeaker.padLeft(BGPSpeaker.seconds3(timeout), 7))")
            }
        }
        return out.map { $0 + "\n" }.joined()
    }

    static func padLeft(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

    /// BIRD's `%t`: seconds with three decimals.
    static func seconds3(_ v: Double) -> String {
        let ms = Int((max(0, v) * 1000).rounded())
        let frac = ms % 1000
        return "\(ms / 1000).\(frac < 10 ? "00" : frac < 100 ? "0" : "")\(frac)"
    }
}

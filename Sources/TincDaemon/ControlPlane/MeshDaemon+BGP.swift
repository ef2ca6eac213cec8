import Glibc
import BGPLite
import MeshIO
import MeshRouting

/// The embedded BGP speaker: started when bgp.conf sits beside tinc.conf. The iBGP full mesh is
/// automatic: every reachable node whose host file declares `BGPAddress` gets a session named after
/// it, using the config's `template bgp mesh` (if any); unreachable nodes lose theirs at once.
extension MeshDaemon {
    var bgpConfigPath: String { settings.confDir + "/bgp.conf" }

    func startBGP() throws {
        guard access(bgpConfigPath, R_OK) == 0 else { return }
        let (config, templates) = try loadEmbeddedConfig()
        let fib = try BGPRuntime.fib(for: config)
        let bfd = try BGPRuntime.liveness(for: config, loop: loop)
        let speaker = try BGPSpeaker(config: config, loop: loop, fib: fib, liveness: bfd)
        speaker.templates = templates
        bgp = EmbeddedBGP(speaker: speaker, fib: fib, bfd: bfd, meshTemplate: templates["mesh"] != nil ? "mesh" : nil,
                       localAS: templates["mesh"]?.localAS ?? config.bgpProtocols.first?.localAS ?? 0)
        bgpControl = { [unowned self] args, json in self.bgpCommand(args, json: json) }
        speaker.start()
        Log.notice("BGP speaker started from \(bgpConfigPath)\(templates["mesh"] != nil ? " (automatic iBGP mesh with template mesh)" : "")")
    }

    /// bgp.conf as the embedded speaker accepts it. One process, one log: a `log` statement cannot
    /// redirect BGP's messages away from the daemon's log, and accepting it silently would mislead,
    /// so it is refused where it stands (at start and at configure).
    func loadEmbeddedConfig() throws -> (BGPConfig, [String: BGPProtocolConfig]) {
        let (config, templates) = try BGPCommand.loadConfig(path: bgpConfigPath)
        if let target = config.logTargets.first, let line = config.logLines.first {
            throw BGPConfigError(file: bgpConfigPath, line: line, column: 1,
                                 message: "log \(target): BGPLite inside tincd-swift logs to the daemon's log (-D: stderr or the journal, --logfile, else syslog); remove this statement (`tincd-swift bgp` honours it)")
        }
        return (config, templates)
    }

    /// `configure [check]`, SIGHUP and `reload`: bgp.conf is read again and applied to the running
    /// speaker (BGPSpeaker.reconfigure). The reply starts with "ERROR " when the file was refused.
    /// No bgp.conf at start but one now: the speaker starts.
    func configureBGP(checkOnly: Bool) -> String {
        guard let b = bgp else {
            guard access(bgpConfigPath, F_OK) == 0 else {
                return "ERROR BGP is not running on this node (no \(bgpConfigPath)).\n"
            }
            do {
                if checkOnly {
                    _ = try loadEmbeddedConfig()
                    return "Reading configuration from \(bgpConfigPath)\nConfiguration OK\n"
                }
                try startBGP()
                updateBGPMesh()   // sessions to the nodes already reachable
            } catch {
                Log.error("BGP: \(error)")
                return "ERROR Reading configuration from \(bgpConfigPath)\n\(error)\n"
            }
            return "Reading configuration from \(bgpConfigPath)\nBGP speaker started\nReconfigured\n"
        }
        do { _ = try loadEmbeddedConfig() } catch let e as BGPConfigError where e.message.hasPrefix("log ") {
            return "ERROR Reading configuration from \(bgpConfigPath)\n\(e)\n"
        } catch {}   // other errors: the speaker's configure reports them in its own words
        var (ok, lines) = b.speaker.configure(path: bgpConfigPath, checkOnly: checkOnly)
        if ok && !checkOnly {
            // The mesh sessions' AS and template come from bgp.conf too; when they changed, the
            // sessions are made again (the speaker rebuilt them from the template, but the peer AS
            // it was given is the old one).
            let template = b.speaker.templates["mesh"] != nil ? "mesh" : nil
            let localAS = b.speaker.templates["mesh"]?.localAS ?? b.speaker.config.bgpProtocols.first?.localAS ?? 0
            if template != b.meshTemplate || localAS != b.localAS {
                for name in b.dynamicPeers.keys.sorted() {
                    b.speaker.removeDynamicPeer(name: name)
                    lines.insert("Restarting protocol \(name) (mesh AS or template changed)", at: lines.count - 1)
                }
                b.dynamicPeers = [:]
                b.meshTemplate = template
                b.localAS = localAS
                updateBGPMesh()
            }
        }
        return (ok ? "" : "ERROR ") + lines.joined(separator: "\n") + "\n"
    }

    func stopBGP() {
        guard let b = bgp else { return }
        b.speaker.stop()
        b.speaker.finishLingering(timeout: 1)   // the peers get our Cease before the process exits
        b.fib?.close()
        bgp = nil
    }

    /// Adds and removes the automatic iBGP sessions to match reachability.
    func updateBGPMesh() {
        guard let b = bgp, let mine = settings.bgpAddress, let local = IPPrefix(mine) else { return }
        var wanted: [String: IPPrefix] = [:]
        for n in graph.nodesByName where n.reachable && n !== myself {
            guard let p = try? peer(n.name), let a = p.bgpAddress, let addr = IPPrefix(a) else { continue }
            wanted[n.name] = addr
        }
        for name in b.dynamicPeers.keys where wanted[name] == nil {
            Log.info(Log.status, "BGP: \(name) is unreachable, removing its iBGP session")
            b.speaker.removeDynamicPeer(name: name)
            b.dynamicPeers[name] = nil
        }
        for (name, addr) in wanted where b.dynamicPeers[name] != addr {
            if b.dynamicPeers[name] != nil { b.speaker.removeDynamicPeer(name: name) }
            Log.info(Log.status, "BGP: \(name) is reachable, starting an iBGP session to \(addr.addressString)")
            b.speaker.addDynamicPeer(name: name, neighbor: addr, neighborAS: b.localAS, localAddress: local, template: b.meshTemplate,
                                     nextHop6: settings.bgpAddress6.flatMap { IPPrefix($0) })
            b.dynamicPeers[name] = addr
        }
    }

    /// birdc's commands (BGPSpeaker.birdCommand): `show protocols|route|bfd sessions`, `enable|disable|
    /// restart NAME`, `reload [in|out] NAME`. `--json` gives the typed snapshots of `show protocols` and
    /// `show route`.
    func bgpCommand(_ args: [String], json: Bool) -> String {
        guard let b = bgp else { return "ERROR BGP is not running\n" }
        if json && args.first == "show" && args.count >= 2 {
            switch args[1] {
            case "protocols":
                // `show protocols [all] NAME`: that protocol only, as in the text form.
                let name = args.count >= 4 && args[2] == "all" ? args[3] : args.count == 3 && args[2] != "all" ? args[2] : nil
                return jsonText(b.speaker.protocolStatus().filter { name == nil || $0.name == name })
            case "route":
                switch b.speaker.parseRouteQuery(Array(args.dropFirst(2))) {
                case .success(let q): return jsonText(b.speaker.routeTables(q))
                case .failure(let e): return "ERROR \(e.description)\n"
                }
            default:
                break
            }
        }
        return b.speaker.birdCommand(args)
    }
}

/// The BGP speaker embedded in the VPN daemon, the Linux companions it was built with, and the mesh
/// sessions the daemon manages (not the session FSM state, which is BGPLite's `BGPState`).
final class EmbeddedBGP {
    let speaker: BGPSpeaker
    let fib: KernelFIB?
    let bfd: BFDManager?
    var meshTemplate: String?
    var localAS: UInt32
    var dynamicPeers: [String: IPPrefix] = [:]

    init(speaker: BGPSpeaker, fib: KernelFIB?, bfd: BFDManager?, meshTemplate: String?, localAS: UInt32) {
        self.speaker = speaker
        self.fib = fib
        self.bfd = bfd
        self.meshTemplate = meshTemplate
        self.localAS = localAS
    }
}

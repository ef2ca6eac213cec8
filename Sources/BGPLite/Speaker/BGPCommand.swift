// Standalone mode: `tincd-swift bgp -c DIR [-D] [-d N] [--logfile[=F]] [-R]` runs the speaker alone
// on its own EventLoop with DIR/bgp.conf. SIGUSR1 logs `show protocols` + `show route` and writes
// them to DIR/bgp.status (also refreshed automatically after changes); SIGHUP re-reads bgp.conf
// (`configure`, logged); SIGTERM/SIGINT stop it.
import Glibc
import MeshIO

public enum BGPCommand {
    /// What `tincd-swift bgp` was started with (parsed by TincDaemon's BGPModeCommand).
    public struct Options: Sendable {
        public var configDirectory: String
        public var debug = 0
        /// --logfile given: log to `logfile`, or DIR/bgp.log when it is nil.
        public var useLogfile = false
        public var logfile: String?
        public var restarting = false
        public init(configDirectory: String) { self.configDirectory = configDirectory }
    }

    /// Parses DIR/bgp.conf, keeping `template bgp` definitions for dynamic peers.
    public static func loadConfig(path: String) throws -> (BGPConfig, [String: BGPProtocolConfig]) {
        let text = try readConfigFile(path)
        var p = ConfigParser(text: text, fileName: path, includeLoader: { try readConfigFile($0) })
        let c = try p.parseConfig()
        return (c, p.bgpTemplates)
    }

    public static func run(_ options: Options) -> Int32 {
        let confDir = options.configDirectory
        let debug = options.debug, useLogfile = options.useLogfile, logfile = options.logfile, restarting = options.restarting
        Log.level = debug
        if useLogfile {
            Log.configure(sink: .file(logfile ?? confDir + "/bgp.log"), ident: "tincd-swift-bgp")
        } else {
            Log.configure(sink: .stderr, ident: "tincd-swift-bgp")
        }
        let confPath = confDir + "/bgp.conf"
        let config: BGPConfig
        let templates: [String: BGPProtocolConfig]
        do { (config, templates) = try loadConfig(path: confPath) } catch {
            Log.error("\(error)")
            writeStandardError("tincd-swift bgp: \(error)\n")
            return 1
        }
        // bgp.conf's `log` (the last one, like BIRD's single log target per class) unless --logfile chose.
        if !useLogfile, let target = config.logTargets.last {
            switch target {
            case "stderr": break
            case "syslog": Log.configure(sink: .syslog(ident: "tincd-swift-bgp"), ident: "tincd-swift-bgp")
            default:
                let path = target.hasPrefix("/") ? target : confDir + "/" + target
                guard let f = fopen(path, "a") else {
                    let line = config.logLines.last ?? 0
                    writeStandardError("tincd-swift bgp: \(confPath):\(line):1: log \"\(target)\": cannot open \(path): \(String(cString: strerror(errno)))\n")
                    return 1
                }
                fclose(f)
                Log.configure(sink: .file(path), ident: "tincd-swift-bgp")
            }
        }
        let loop: EventLoop
        let speaker: BGPSpeaker
        let fib: KernelFIB?
        do {
            loop = try EventLoop()
            // protocol kernel / protocol bfd in the config get the real Linux FIB and BFD, as in the daemon.
            fib = try BGPRuntime.fib(for: config)
            speaker = try BGPSpeaker(config: config, loop: loop, fib: fib,
                                     liveness: try BGPRuntime.liveness(for: config, loop: loop))
        } catch {
            Log.error("\(error)")
            writeStandardError("tincd-swift bgp: \(error)\n")
            return 1
        }
        speaker.templates = templates
        speaker.restarting = restarting
        let statusPath = confDir + "/bgp.status"
        func statusText() -> String {
            var s = speaker.showProtocols()
            s += "\n"
            if speaker.locRIBCount <= 20000 { s += speaker.showRoute() } else { s += speaker.showRoute(countOnly: true) }
            s += "\n"
            for name in speaker.sessions.map({ $0.name }) { s += speaker.showProtocols(all: name) + "\n" }
            return s
        }
        func writeStatus() {
            let text = statusText()
            let tmp = statusPath + ".tmp"
            guard let f = fopen(tmp, "w") else { return }
            fputs(text, f)
            fclose(f)
            rename(tmp, statusPath)
        }
        speaker.onStatusChange = { writeStatus() }
        do {
            try loop.handleSignals([SIGTERM, SIGINT, SIGUSR1, SIGHUP]) { sig in
                switch sig {
                case SIGUSR1:
                    let t = statusText()
                    for line in t.split(separator: "\n", omittingEmptySubsequences: false) { Log.notice(String(line)) }
                    writeStatus()
                case SIGHUP:
                    // As BIRD: SIGHUP is `configure` (and the log file is reopened, for logrotate).
                    Log.reopen()
                    let (ok, lines) = speaker.configure(path: confPath, checkOnly: false)
                    for l in lines { if ok { Log.notice(l) } else { Log.error(l) } }
                    writeStatus()
                default:
                    Log.notice("Got \(sig == SIGTERM ? "SIGTERM" : "SIGINT"), shutting down")
                    speaker.stop()
                    speaker.finishLingering(timeout: 1)   // the peers get our Cease before we exit
                    fib?.close()   // our kernel routes go away with us (unless `persist`)
                    writeStatus()
                    loop.stop()
                }
            }
        } catch {
            Log.error("\(error)")
        }
        Log.notice("tincd-swift bgp mode starting with \(confPath)")
        speaker.start()
        writeStatus()
        loop.run()
        return 0
    }
}

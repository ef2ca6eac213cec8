import Glibc
import Foundation
import MeshIO
import TincConfig
import BGPLite
import CBuildInfo

/// The `tincd`-compatible command line: option handling, -K, --kill, detaching, pidfile, logging.
public enum DaemonCommand {
    /// `git describe` of the build (Makefile), or "0.0.0-unknown" from a plain `swift build`.
    public static let versionNumber = String(cString: cbi_version())
    public static let version = "tincd-swift \(versionNumber) (tinc 1.0 protocol 17)"

    public static func main(_ arguments: [String]) -> Int32 {
        // `ctl` and `bgp` are parsed by swift-argument-parser (CLI/); the rest is tincd's getopt.
        if let first = arguments.first, OperatorCLI.subcommandNames.contains(first) { return OperatorCLI.main(arguments) }
        if arguments.first == "bench-crypto" { return CryptoBenchmark.main(Array(arguments.dropFirst())) }
        if arguments.first == "bench-graph" { return GraphBenchmark.main(Array(arguments.dropFirst())) }
        if arguments.first == "bench-frames" { return FrameWorkload.main(Array(arguments.dropFirst())) }
        if arguments.first == "bench-routes" { return RouteTransferBenchmark.main(Array(arguments.dropFirst())) }
        let options: CommandLineOptions
        do { options = try CommandLineOptions.parse(arguments) } catch {
            writeStandardError("tincd-swift: \(error)\nTry `tincd-swift --help' for more information.\n")
            return 1
        }
        if options.showHelp { print(CommandLineOptions.usage); return 0 }
        if options.showVersion { print(version); return 0 }
        let paths: Paths
        do { paths = try Paths(options: options) } catch {
            writeStandardError("tincd-swift: \(error)\n")
            return 1
        }
        if let sig = options.killSignal { return kill(paths: paths, signal: sig) }
        if let bits = options.generateKeys {
            let name = ConfigLoader.readName(confdir: paths.confdir, options: options)
            do {
                let (priv, pub) = try KeyGenerator.generate(bits: bits, confDir: paths.confdir, name: name)
                writeStandardError("Private key written to \(priv)\nPublic key written to \(pub)\n")
                return 0
            } catch {
                writeStandardError("\(error)\n")
                return 1
            }
        }
        return runDaemon(options: options, paths: paths)
    }

    static func kill(paths: Paths, signal: Int32) -> Int32 {
        guard let text = try? String(contentsOfFile: paths.pidfile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            writeStandardError("No other tincd is running for this netname (no pidfile \(paths.pidfile)).\n")
            return 1
        }
        if Glibc.kill(pid, signal) != 0 {
            writeStandardError("The tincd is no longer running: \(String(cString: strerror(errno))).\n")
            if errno == ESRCH { unlink(paths.pidfile) }
            return 1
        }
        return 0
    }

    static func runDaemon(options: CommandLineOptions, paths: Paths) -> Int32 {
        Log.level = options.debugLevel
        // A daemon that detaches keeps none of its caller's descriptors (a caller waiting for EOF on
        // one would otherwise wait for the daemon's whole life); done before the log file is opened.
        if !options.noDetach { closeInheritedDescriptors() }
        let ident = paths.identName
        if options.useLogfile || options.logfile != nil {
            Log.configure(sink: .file(options.logfile ?? paths.logfile), ident: ident)
        } else if options.noDetach {
            Log.configure(sink: .stderr, ident: ident)
        } else {
            Log.configure(sink: .syslog(ident: ident), ident: ident)
        }

        let load = { () throws -> DaemonSettings in
            let (s, warnings) = try SettingsLoader.load(paths: paths, options: options)
            for w in warnings { Log.warning(w) }
            return s
        }
        let settings: DaemonSettings
        do { settings = try load() } catch {
            Log.error("\(error)")
            if case .syslog = logSinkFallback(options) { writeStandardError("\(error)\n") }
            return 1
        }

        if let text = try? String(contentsOfFile: paths.pidfile, encoding: .utf8),
           let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, Glibc.kill(pid, 0) == 0, pid != getpid() {
            Log.error("A tincd is already running with pid \(pid) (pidfile \(paths.pidfile)).")
            return 1
        }
        // Detached, the parent waits for the child's start-up result on this pipe and exits with it.
        var startupPipe: Int32 = -1
        if !options.noDetach {
            guard let w = detach() else { return 1 }
            startupPipe = w
        }
        writePidfile(paths.pidfile)
        defer { unlink(paths.pidfile) }
        if options.mlock && mlockall(MCL_CURRENT | MCL_FUTURE) != 0 {
            Log.error("System call `mlockall' failed: \(String(cString: strerror(errno)))")
            return 1
        }
        Log.notice("\(version) starting, debug level \(Log.level)")

        let daemon: MeshDaemon
        do {
            daemon = try MeshDaemon(settings: settings) { name in
                try SettingsLoader.peer(name: name, confdir: paths.confdir, options: options)
            }
            daemon.reloadSettings = load
            daemon.controlSocketPath = controlSocketPath(configured: settings.controlSocket, pidfile: options.pidfile, paths: paths)
            // `ctl -c DIR` finds the daemon even when --pidfile placed the socket elsewhere.
            if settings.controlSocket == nil, options.pidfile != nil, options.configDirectory != nil, paths.netname == nil {
                daemon.controlSocketAliases = [controlSocketPath(configured: nil, pidfile: nil, paths: paths)]
            }
            try daemon.start()
        } catch {
            Log.error("\(error)")
            return 1
        }
        if options.chroot || options.user != nil {
            if let err = dropPrivileges(chrootDir: options.chroot ? paths.confdir : nil, user: options.user) {
                Log.error(err)
                return 1
            }
        }
        // Started: the waiting parent exits 0; systemd (Type=notify) marks the unit active.
        if startupPipe >= 0 {
            var ok: UInt8 = 0
            _ = Glibc.write(startupPipe, &ok, 1)
            close(startupPipe)
        }
        ServiceNotify.send("READY=1\nSTATUS=Running as \(settings.name)")
        daemon.run()
        // Non-zero after a failed reload, so systemd's Restart=on-failure and scripts see the failure.
        return daemon.exitStatus
    }

    /// ControlSocket from tinc.conf, else next to an explicit --pidfile (tinc 1.1's convention),
    /// else /run/tinc[.NETNAME].sock. With only -c DIR the socket lives in DIR.
    static func controlSocketPath(configured: String?, pidfile: String?, paths: Paths?) -> String {
        if let c = configured { return c }
        if let p = pidfile { return (p.hasSuffix(".pid") ? String(p.dropLast(4)) : p) + ".socket" }
        if let paths = paths, paths.netname == nil, paths.confdir != Paths.defaultConfigBase { return paths.confdir + "/control.socket" }
        return paths?.controlSocket ?? "/run/tinc.sock"
    }

    static func logSinkFallback(_ o: CommandLineOptions) -> Log.Sink {
        (o.useLogfile || o.logfile != nil) ? .file("") : o.noDetach ? .stderr : .syslog(ident: "")
    }

    /// Classic double-fork-free daemonize (like tinc's daemon(0, 0)), except that the parent stays until
    /// the child has opened the device and sockets: it exits 0 once the child writes a byte to the
    /// returned pipe, 1 if the child exits first (a failed start is seen by the caller, unlike tincd 1.0).
    static func detach() -> Int32? {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 { Log.error("Couldn't detach from terminal: pipe: \(String(cString: strerror(errno)))"); return nil }
        let pid = fork()
        if pid < 0 { Log.error("Couldn't detach from terminal: \(String(cString: strerror(errno)))"); return nil }
        if pid > 0 {
            close(fds[1])
            var status: UInt8 = 1
            var n: Int
            repeat { n = read(fds[0], &status, 1) } while n < 0 && errno == EINTR
            exit(n == 1 ? Int32(status) : 1)
        }
        close(fds[0])
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)   // scripts must not hold the parent
        setsid()
        let null = open("/dev/null", O_RDWR)
        if null >= 0 { dup2(null, 0); dup2(null, 1); dup2(null, 2); if null > 2 { close(null) } }
        return fds[1]
    }

    static func closeInheritedDescriptors() {
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for fd in open where fd > 2 { close(fd) }
    }

    static func writePidfile(_ path: String) {
        let text = "\(getpid())\n"
        if (try? text.write(toFile: path, atomically: true, encoding: .utf8)) == nil {
            Log.error("Could not write pid file \(path)")
        }
    }

    static func dropPrivileges(chrootDir: String?, user: String?) -> String? {
        var uid: uid_t = 0, gid: gid_t = 0
        if let u = user {
            guard let pw = getpwnam(u) else { return "unknown user `\(u)'" }
            uid = pw.pointee.pw_uid
            gid = pw.pointee.pw_gid
            if initgroups(u, gid) != 0 { return "System call `initgroups' failed: \(String(cString: strerror(errno)))" }
        }
        if let dir = chrootDir {
            if chroot(dir) != 0 || chdir("/") != 0 { return "System call `chroot' failed: \(String(cString: strerror(errno)))" }
        }
        if user != nil {
            if setgid(gid) != 0 || setuid(uid) != 0 { return "System call `setuid' failed: \(String(cString: strerror(errno)))" }
        }
        return nil
    }
}

import ArgumentParser
import BGPLite

/// `tincd-swift bgp -c DIR [-D] [-d LEVEL] [--logfile[=FILE]] [-R]`: the BGP speaker alone with
/// DIR/bgp.conf (BGPLite's BGPCommand runs it). The flags are spelled as tincd's.
public struct BGPModeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bgp",
        abstract: "Run the BGP speaker alone with DIR/bgp.conf (no mesh), in the foreground.",
        discussion: """
            bgp.conf is BIRD 2's syntax, the subset bgp.conf(5) lists. Signals: SIGHUP re-reads \
            bgp.conf (birdc configure) and reopens the log file; SIGUSR1 logs show protocols and \
            show route and writes them to DIR/bgp.status; SIGTERM and SIGINT stop the speaker \
            (peers get a Cease).
            """)

    @Option(name: [.customShort("c", allowingJoined: true), .customLong("config")],
            help: ArgumentHelp("Directory holding bgp.conf.", valueName: "DIR"), completion: .directory)
    var config: String

    @Flag(name: [.customShort("D"), .customLong("no-detach")], help: "Stay in the foreground (bgp mode always does).")
    var noDetach = false

    @Option(name: [.customShort("d", allowingJoined: true), .customLong("debug")],
            help: ArgumentHelp("Debug level, 0-5.", valueName: "LEVEL"), completion: .list(["0", "1", "2", "3", "4", "5"]))
    var debug = 0

    @Option(name: .customLong("logfile"),
            help: ArgumentHelp("Log to FILE; --logfile alone: DIR/bgp.log (default: stderr, or bgp.conf's log).", valueName: "FILE"),
            completion: .file())
    var logfile: String?

    @Flag(name: .customShort("R"), help: "Graceful restart: advertise the restarting (R) bit.")
    var restarting = false

    public init() {}

    public func validate() throws {
        guard debug >= 0 else { throw ValidationError("debug level must be 0 or more") }
        guard !config.isEmpty else { throw ValidationError("-c DIR: the directory is empty") }
    }

    public func run() throws {
        var o = BGPCommand.Options(configDirectory: config)
        o.debug = debug
        o.useLogfile = logfile != nil
        o.logfile = logfile
        o.restarting = restarting
        let status = BGPCommand.run(o)
        if status != 0 { throw ExitCode(status) }
    }
}

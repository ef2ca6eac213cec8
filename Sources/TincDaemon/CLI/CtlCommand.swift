import ArgumentParser
import MeshIO
import TincConfig

/// `tincd-swift ctl [-c DIR | -n NET | --pidfile F | --socket PATH] [--json] COMMAND …`: one command
/// line to the daemon's control socket (ControlServer), the answer to stdout. The words sent are
/// the ones typed, so the control protocol (one text line, `--json ` prefix) is what it was; the
/// parser only checks them first and explains them (`ctl help COMMAND`, `ctl COMMAND --help`).
public struct CtlCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Query or control a running tincd-swift through its control socket.",
        discussion: """
            The socket is found as the daemon placed it: --socket PATH, else next to --pidfile, \
            else DIR/control.socket for -c DIR, else /run/tinc.NET.sock for -n NET (/run/tinc.sock \
            without one). An answer starting with ERROR goes to stderr and the exit status is 1.
            """,
        subcommands: [DumpCommand.self, InfoCommand.self, StatsCommand.self, ShowCommand.self,
                      EnableCommand.self, DisableCommand.self, RestartCommand.self, ReloadCommand.self,
                      ConfigureCommand.self, RetryCommand.self, PurgeCommand.self, StopCommand.self,
                      DebugCommand.self, LogCommand.self, TopCommand.self])

    @Option(name: [.customShort("c"), .customLong("config")],
            help: ArgumentHelp("The daemon's configuration directory (its -c).", valueName: "DIR"),
            completion: .directory)
    var config: String?

    @Option(name: [.customShort("n"), .customLong("net")],
            help: ArgumentHelp("The daemon's net name (its -n).", valueName: "NET"),
            completion: .shellCommand("for f in /etc/tinc/*/tinc.conf; do [ -f \"$f\" ] && basename \"${f%/tinc.conf}\"; done"))
    var net: String?

    @Option(name: .customLong("pidfile"),
            help: ArgumentHelp("The daemon's --pidfile (the socket is FILE without .pid, plus .socket).", valueName: "FILE"),
            completion: .file())
    var pidfile: String?

    @Option(name: .customLong("socket"), help: ArgumentHelp("The control socket itself.", valueName: "PATH"),
            completion: .file())
    var socket: String?

    @Flag(name: .customLong("json"), help: "Typed JSON answers (docs/CTL-JSON.md); one object per line for log.")
    var json = false

    public init() {}

    public func run() throws {
        throw ValidationError("a command is needed (tincd-swift ctl help lists them)")
    }

    /// The socket path the daemon uses for these options (DaemonCommand.controlSocketPath).
    var socketPath: String {
        if let s = socket { return s }
        return DaemonCommand.controlSocketPath(configured: nil, pidfile: pidfile,
                                               paths: try? Paths(netname: net, configDirectory: config))
    }

    /// Sends one command and exits as the daemon answered.
    func send(_ words: [String]) throws {
        let status: Int32
        do { status = try ControlClient.run(words, json: json, socket: socketPath) } catch {
            writeStandardError("\(error)\n")
            throw ExitCode(1)
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// A ctl subcommand that is one control line: the words it sends.
protocol ControlRequestCommand: ParsableCommand {
    var ctl: CtlCommand { get }
    var words: [String] { get }
}

extension ControlRequestCommand {
    func run() throws { try ctl.send(words) }
}

/// Protocol and node names go into a space-separated line: one word of printable characters.
func checkWord(_ w: String, _ what: String) throws {
    guard !w.isEmpty, w.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
        throw ValidationError("\(what) '\(w)' is not one word of printable ASCII")
    }
}

enum DumpWhat: String, CaseIterable, ExpressibleByArgument {
    case nodes, edges, subnets, connections, graph
}

struct DumpCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Dump nodes, edges, subnets, connections, or the graph (Graphviz dot), as tinc does.")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "What to dump.") var what: DumpWhat
    var words: [String] { ["dump", what.rawValue] }
}

struct InfoCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "One node in detail: state, address, path, PMTU, packet key, edges, subnets.")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "The node's name.") var node: String
    func validate() throws { try checkWord(node, "node name") }
    var words: [String] { ["info", node] }
}

struct StatsCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Data-plane and meta-protocol counters.")
    @ParentCommand var ctl: CtlCommand
    var words: [String] { ["stats"] }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "BGP views as birdc shows them (needs bgp.conf).",
        subcommands: [ShowProtocolsCommand.self, ShowRouteCommand.self, ShowBFDCommand.self])
    func run() throws { throw ValidationError("show what? protocols, route or bfd sessions") }
}

struct ShowProtocolsCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "protocols", abstract: "birdc show protocols [all] [NAME].", aliases: ["protocol"])
    @ParentCommand var ctl: CtlCommand
    @Argument(help: ArgumentHelp("`all` for the details, and/or one protocol's name.", valueName: "all|NAME"),
              completion: .list(["all"]))
    var args: [String] = []
    func validate() throws {
        let rest = args.first == "all" ? Array(args.dropFirst()) : args
        guard rest.count <= 1 else {
            throw ValidationError("show protocols takes [all] [NAME], not '\(args.joined(separator: " "))'")
        }
        for w in rest { try checkWord(w, "protocol name") }
    }
    var words: [String] { ["show", "protocols"] + args }
}

struct ShowRouteCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "birdc show route [all] [for ADDR|PREFIX] [protocol P] [export P] [filtered] [count] [PREFIX].")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: ArgumentHelp("Words of birdc's show route, in any order.", valueName: "query"),
              completion: .list(["all", "count", "filtered", "for", "protocol", "export"]))
    var query: [String] = []
    func validate() throws {
        var i = 0
        while i < query.count {
            switch query[i] {
            case "all", "count", "filtered":
                i += 1
            case "for", "protocol", "export":
                guard i + 1 < query.count else {
                    throw ValidationError("show route \(query[i]) needs \(query[i] == "for" ? "an address or prefix" : "a protocol name")")
                }
                try checkWord(query[i + 1], query[i] == "for" ? "address" : "protocol name")
                i += 2
            default:
                guard query[i].contains("/") else {
                    throw ValidationError("show route: unknown argument '\(query[i])' (all, count, filtered, for ADDR, protocol P, export P, or a PREFIX)")
                }
                try checkWord(query[i], "prefix")
                i += 1
            }
        }
    }
    var words: [String] { ["show", "route"] + query }
}

enum BFDWhat: String, CaseIterable, ExpressibleByArgument { case sessions }

struct ShowBFDCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(commandName: "bfd", abstract: "birdc show bfd sessions.")
    @ParentCommand var ctl: CtlCommand
    @Argument var what: BFDWhat
    var words: [String] { ["show", "bfd", what.rawValue] }
}

/// birdc's `enable|disable|restart NAME`: the verb is the command's name.
protocol ProtocolActionCommand: ControlRequestCommand {
    var name: String { get }
}

extension ProtocolActionCommand {
    func validate() throws { try checkWord(name, "protocol name") }
    var words: [String] { [Self.configuration.commandName ?? "", name] }
}

struct EnableCommand: ProtocolActionCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable a BGP protocol (birdc enable NAME).")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "The protocol's name in bgp.conf.") var name: String
}

struct DisableCommand: ProtocolActionCommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Disable a BGP protocol (birdc disable NAME).")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "The protocol's name in bgp.conf.") var name: String
}

struct RestartCommand: ProtocolActionCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart a BGP protocol (birdc restart NAME).")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "The protocol's name in bgp.conf.") var name: String
}

struct ReloadCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read tinc.conf, hosts/ and bgp.conf (tinc reload); with NAME, re-import and/or re-export one BGP protocol (birdc reload [in|out] NAME).")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: ArgumentHelp("Nothing, or [in|out] and a BGP protocol's name.", valueName: "in|out|NAME"),
              completion: .list(["in", "out"]))
    var args: [String] = []
    func validate() throws {
        switch args.count {
        case 0: return
        case 1:
            guard args[0] != "in" && args[0] != "out" else { throw ValidationError("reload \(args[0]) needs a protocol name") }
            try checkWord(args[0], "protocol name")
        case 2:
            guard args[0] == "in" || args[0] == "out" else { throw ValidationError("reload takes [in|out] NAME, not '\(args.joined(separator: " "))'") }
            try checkWord(args[1], "protocol name")
        default:
            throw ValidationError("reload takes at most [in|out] NAME")
        }
    }
    var words: [String] { ["reload"] + args }
}

enum ConfigureMode: String, CaseIterable, ExpressibleByArgument { case check }

struct ConfigureCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "configure", abstract: "Re-read bgp.conf and apply it (birdc configure); `check` only parses it.")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "Only check the file.") var mode: ConfigureMode?
    var words: [String] { ["configure"] + (mode.map { [$0.rawValue] } ?? []) }
}

struct RetryCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(commandName: "retry", abstract: "Retry outgoing connections now (tinc retry).")
    @ParentCommand var ctl: CtlCommand
    var words: [String] { ["retry"] }
}

struct PurgeCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(commandName: "purge", abstract: "Forget unreachable nodes (tinc purge).")
    @ParentCommand var ctl: CtlCommand
    var words: [String] { ["purge"] }
}

struct StopCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop the daemon (tinc stop).")
    @ParentCommand var ctl: CtlCommand
    var words: [String] { ["stop"] }
}

struct DebugCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(commandName: "debug", abstract: "Set the daemon's debug level (tinc debug).")
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "0 errors and start-up … 5 traffic; higher logs more.", completion: .list(["0", "1", "2", "3", "4", "5"]))
    var level: Int
    func validate() throws { guard level >= 0 else { throw ValidationError("debug level must be 0 or more") } }
    var words: [String] { ["debug", String(level)] }
}

struct LogCommand: ControlRequestCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Stream the daemon's log until interrupted (tinc log).",
        discussion: """
            Every line logged from now on at or below LEVEL (default: the daemon's debug level, \
            following `debug N`), whatever the daemon itself logs to its file, syslog or stderr. A \
            client that reads too slowly loses lines, marked by "*** N log lines dropped ***" \
            ({"dropped":N} with --json); the daemon never waits for it.
            """)
    @ParentCommand var ctl: CtlCommand
    @Argument(help: "Highest debug level to stream.", completion: .list(["0", "1", "2", "3", "4", "5"]))
    var level: Int?
    func validate() throws { if let l = level, l < 0 { throw ValidationError("log level must be 0 or more") } }
    var words: [String] { ["log"] + (level.map { [String($0)] } ?? []) }
}

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top", abstract: "Live per-node traffic, like tinc top.",
        discussion: """
            On a terminal: a full-screen view redrawn every interval; keys n, i, o, t sort by name, \
            in, out or total, c toggles cumulative totals and rates, q quits. When stdout is not a \
            terminal (or with --once / --iterations) it prints tables and exits.
            """)
    @ParentCommand var ctl: CtlCommand
    @Option(name: [.customShort("d"), .customLong("delay")], help: ArgumentHelp("Refresh interval (0.1 to 3600).", valueName: "SECONDS"))
    var delay: String?
    @Flag(help: "Print one table (rates over one interval) and exit, also on a terminal.")
    var once = false
    @Option(help: ArgumentHelp("Print N tables and exit (default when stdout is no terminal: 1).", valueName: "N"))
    var iterations: String?
    @Flag(help: "Totals since each node joined instead of rates.")
    var cumulative = false
    @Option(help: ArgumentHelp("Sort key.", valueName: "name|in|out|total"), completion: .list(["name", "in", "out", "total"]))
    var sort: String?

    /// The words top's own parser takes, so ranges and messages are checked in one place.
    var topArguments: [String] {
        var a: [String] = []
        if let d = delay { a += ["-d", d] }
        if once { a.append("--once") }
        if let n = iterations { a += ["--iterations", n] }
        if cumulative { a.append("--cumulative") }
        if let k = sort { a += ["--sort", k] }
        return a
    }

    func validate() throws {
        do { _ = try ControlTop.Options.parse(topArguments) } catch { throw ValidationError(error.description) }
    }

    func run() throws {
        let status = ControlTop.main(topArguments, socketPath: ctl.socketPath)
        if status != 0 { throw ExitCode(status) }
    }
}

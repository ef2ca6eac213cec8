// tincd 1.0.36 command line, parsed the way its getopt_long loop does (our own code):
//
//   short options "c:DLd::k::n:o:K::RU:" (bundling allowed: -Dd5, -DLc DIR);
//   long options --config= --kill[=] --net= --help --version --no-detach --generate-keys[=]
//   --debug[=] --bypass-security --mlock --chroot --user= --logfile[=] --pidfile= --option=,
//   each abbreviable to a unique prefix (GNU getopt_long), `--` ends the options;
//   no positional arguments.
//
// tinc 1.0.36 detail worth knowing: for -d, -k, -K and --logfile, when no argument is attached
// (`-d5`, `--debug=5`), tincd takes the NEXT argument as the value if it does not start with
// '-'. So `-d 5` sets level 5, `-k USR1` sends USR1 and `-K 4096` makes 4096-bit keys. We
// mirror that.
//
// Deviations (all stricter or friendlier than tinc, never silently different):
//  - Numbers must be whole numbers (tinc uses atoi: `-dfoo` = level 0). Bad values are errors.
//  - `-dd`, `-ddd`: tinc passes "d" as -d's attached argument and sets level atoi("d") = 0.
//    We count every 'd' as one increment (so -dd = 2), which is what users mean.
//  - An empty or invalid netname (containing '/', '\' or starting with '.') is an error (Paths).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `-o [HOST.]KEY=VALUE` option.
public struct ConfigOverride: Equatable, Hashable, Sendable {
    /// The node the option is for; nil = the server config.
    public var host: String?
    public var variable: String
    public var value: String
    /// 1-based position among the `-o` options (tinc's "line number" for them).
    public var index: Int

    public init(host: String?, variable: String, value: String, index: Int) {
        self.host = host
        self.variable = variable
        self.value = value
        self.index = index
    }

    /// Parses the option text with tinc's config-line rules; the part of the variable name
    /// before the first '.' is the host.
    public init(parsing text: String, index: Int) throws {
        let entry = try ConfigFile.parseLine(text, location: .commandLine(option: index))
        if let dot = entry.variable.firstIndex(of: ".") {
            host = String(entry.variable[..<dot])
            variable = String(entry.variable[entry.variable.index(after: dot)...])
        } else {
            host = nil
            variable = entry.variable
        }
        value = entry.value
        self.index = index
    }

    /// As a tree entry located at `command line option -o #index`.
    public var entry: ConfigEntry {
        ConfigEntry(variable: variable, value: value, location: .commandLine(option: index))
    }
}

public struct CommandLineOptions: Equatable, Sendable {
    /// `-c DIR`
    public var configDirectory: String?
    /// `-D`: stay in the foreground.
    public var noDetach = false
    /// `-d[LEVEL]`, starts at 0.
    public var debugLevel = 0
    /// `-k[SIGNAL]`: the signal number to send to the running daemon (nil = not killing).
    public var killSignal: Int32?
    /// `-n NETNAME`; nil when not given or given as `.`.
    public var netname: String?
    /// `-K[BITS]`: key size to generate (nil = not generating). Default 2048, rounded down to
    /// a multiple of 8, at least 512.
    public var generateKeys: Int?
    /// `-L`
    public var mlock = false
    /// `--logfile[=FILE]`: log to a file.
    public var useLogfile = false
    /// The file given to --logfile (nil = default path, see Paths).
    public var logfile: String?
    /// `--pidfile=FILE`
    public var pidfile: String?
    /// `-o` options in command line order.
    public var overrides: [ConfigOverride] = []
    /// `-R`
    public var chroot = false
    /// `-U USER`
    public var user: String?
    /// `--bypass-security`
    public var bypassSecurity = false
    /// `--help`
    public var showHelp = false
    /// `--version`
    public var showVersion = false

    public init() {}

    /// The overrides for the server config (`-o KEY=VALUE` without a host).
    public var serverOverrides: [ConfigOverride] { overrides.filter { $0.host == nil } }

    /// The overrides for one node (`-o NODE.KEY=VALUE`; the node name is case-sensitive).
    public func overrides(for node: String) -> [ConfigOverride] {
        overrides.filter { $0.host == node }
    }

    /// Signal names accepted by `-k` (case-insensitive), in tinc's order.
    public static let signalNames: [(String, Int32)] = [
        ("HUP", SIGHUP), ("TERM", SIGTERM), ("KILL", SIGKILL), ("USR1", SIGUSR1), ("USR2", SIGUSR2),
        ("WINCH", SIGWINCH), ("INT", SIGINT), ("ALRM", SIGALRM), ("ABRT", SIGABRT),
    ]

    public static let usage: String = """
        Usage: tincd [option]...

        tincd-swift: a tinc 1.0 compatible VPN daemon.

          -c, --config=DIR               Read configuration options from DIR.
          -D, --no-detach                Don't fork and detach.
          -d, --debug[=LEVEL]            Increase debug level or set it to LEVEL.
          -k, --kill[=SIGNAL]            Attempt to kill a running tincd and exit.
          -n, --net=NETNAME              Connect to net NETNAME.
          -K, --generate-keys[=BITS]     Generate public/private RSA keypair.
          -L, --mlock                    Lock tinc into main memory.
              --logfile[=FILENAME]       Write log entries to a logfile.
              --pidfile=FILENAME         Write PID to FILENAME.
          -o, --option=[HOST.]KEY=VALUE  Set global/host configuration value.
          -R, --chroot                   chroot to NET dir at startup.
          -U, --user=USER                setuid to given USER at startup.
              --bypass-security          Disable authentication and encryption (debugging only).
              --help                     Display this help and exit.
              --version                  Output version information and exit.

        SIGNAL is one of HUP, TERM, KILL, USR1, USR2, WINCH, INT, ALRM, ABRT or a number.
        Configuration is read from /etc/tinc[/NETNAME] unless -c is given.

        """

    // MARK: parsing

    private enum ArgKind { case none, required, optional }

    private static let longOptions: [(name: String, kind: ArgKind, short: Character)] = [
        ("config", .required, "c"), ("kill", .optional, "k"), ("net", .required, "n"),
        ("help", .none, "1"), ("version", .none, "2"), ("no-detach", .none, "D"),
        ("generate-keys", .optional, "K"), ("debug", .optional, "d"), ("bypass-security", .none, "3"),
        ("mlock", .none, "L"), ("chroot", .none, "R"), ("user", .required, "U"),
        ("logfile", .optional, "4"), ("pidfile", .required, "5"), ("option", .required, "o"),
    ]

    private static let shortOptions: [Character: ArgKind] = [
        "c": .required, "D": .none, "L": .none, "d": .optional, "k": .optional, "n": .required,
        "o": .required, "K": .optional, "R": .none, "U": .required,
    ]

    /// Parses the arguments after the program name (`CommandLine.arguments.dropFirst()`).
    public init(arguments: [String]) throws {
        self = try CommandLineOptions.parse(arguments)
    }

    /// Parses the arguments after the program name.
    public static func parse<C: Collection>(_ arguments: C) throws -> CommandLineOptions where C.Element == String {
        let args = Array(arguments)
        var o = CommandLineOptions()
        var i = 0
        var netnameGiven = false

        // tinc: for optional-argument options, a following argument not starting with '-' is the value.
        func takeNextIfValue() -> String? {
            if i < args.count, !args[i].hasPrefix("-") {
                defer { i += 1 }
                return args[i]
            }
            return nil
        }

        func apply(_ opt: Character, _ arg: String?, display: String) throws {
            // An empty directory, file or user name can only be a mistake.
            if "cU45".contains(opt), let a = arg, a.isEmpty {
                throw CommandLineError(argument: display, message: "Empty argument for option '\(display)'.")
            }
            switch opt {
            case "c":
                if o.configDirectory != nil {
                    throw CommandLineError(argument: display, message: "Only one configuration directory can be given (\(display)).")
                }
                o.configDirectory = arg!
            case "D": o.noDetach = true
            case "L": o.mlock = true
            case "R": o.chroot = true
            case "d":
                guard let a = arg ?? takeNextIfValue() else { o.debugLevel += 1; break }
                if let n = ConfigEntry.strictInt(a), n >= 0 {
                    o.debugLevel = n
                } else {
                    throw CommandLineError(argument: a, message: "Invalid debug level '\(a)': LEVEL must be a non-negative number.")
                }
            case "k":
                guard let a = arg ?? takeNextIfValue() else { o.killSignal = SIGTERM; break }
                if let hit = signalNames.first(where: { $0.0 == a.uppercased() }) {
                    o.killSignal = hit.1
                } else if let n = ConfigEntry.strictInt(a), n > 0, n < 65 {
                    o.killSignal = Int32(n)
                } else {
                    throw CommandLineError(argument: a, message: "Invalid argument '\(a)'; SIGNAL must be a number or one of HUP, TERM, KILL, USR1, USR2, WINCH, INT, ALRM or ABRT.")
                }
            case "n":
                if netnameGiven {
                    throw CommandLineError(argument: display, message: "Only one netname can be given (\(display)).")
                }
                if arg! != "." {
                    // Validity ('/' etc.) is checked by Paths.
                    o.netname = arg!
                    netnameGiven = true
                }
            case "o":
                do {
                    o.overrides.append(try ConfigOverride(parsing: arg!, index: o.overrides.count + 1))
                } catch let e as ConfigError {
                    throw CommandLineError(argument: arg!, message: "Invalid option '-o \(arg!)': \(e.message)")
                }
            case "K":
                guard let a = arg ?? takeNextIfValue() else { o.generateKeys = 2048; break }
                guard let n = ConfigEntry.strictInt(a), n >= 512 else {
                    throw CommandLineError(argument: a, message: "Invalid argument '\(a)'; BITS must be a number equal to or greater than 512.")
                }
                o.generateKeys = n & ~7
            case "U": o.user = arg!
            case "1": o.showHelp = true
            case "2": o.showVersion = true
            case "3": o.bypassSecurity = true
            case "4":
                o.useLogfile = true
                if let a = arg ?? takeNextIfValue() {
                    if o.logfile != nil {
                        throw CommandLineError(argument: a, message: "Only one logfile can be given ('\(a)').")
                    }
                    o.logfile = a
                }
            case "5":
                if o.pidfile != nil {
                    throw CommandLineError(argument: arg!, message: "Only one pidfile can be given ('\(arg!)').")
                }
                o.pidfile = arg!
            default:
                break
            }
        }

        while i < args.count {
            let a = args[i]
            i += 1
            if a == "--" {
                if i < args.count {
                    throw CommandLineError(argument: args[i], message: "Unrecognized argument '\(args[i])'.")
                }
                break
            }
            if a.hasPrefix("--") {
                let body = a.dropFirst(2)
                let namePart: Substring
                var value: String?
                if let eq = body.firstIndex(of: "=") {
                    namePart = body[..<eq]
                    value = String(body[body.index(after: eq)...])
                } else {
                    namePart = body
                }
                let name = String(namePart)
                let matches = longOptions.filter { $0.name.hasPrefix(name) }
                let option: (name: String, kind: ArgKind, short: Character)
                if let exact = longOptions.first(where: { $0.name == name }) {
                    option = exact
                } else if matches.count == 1, !name.isEmpty {
                    option = matches[0]
                } else if matches.count > 1, !name.isEmpty {
                    let list = matches.map { "--" + $0.name }.joined(separator: ", ")
                    throw CommandLineError(argument: a, message: "Option '\(a)' is ambiguous; possibilities: \(list).")
                } else {
                    throw CommandLineError(argument: a, message: "Unrecognized option '\(a)'.")
                }
                switch option.kind {
                case .none:
                    if value != nil {
                        throw CommandLineError(argument: a, message: "Option '--\(option.name)' doesn't allow an argument (in '\(a)').")
                    }
                case .required:
                    if value == nil {
                        guard i < args.count else {
                            throw CommandLineError(argument: a, message: "Option '\(a)' requires an argument.")
                        }
                        value = args[i]
                        i += 1
                    }
                case .optional:
                    break
                }
                try apply(option.short, value, display: a)
                continue
            }
            if a.hasPrefix("-") && a.count > 1 {
                var chars = Substring(a.dropFirst())
                while let c = chars.first {
                    chars = chars.dropFirst()
                    guard let kind = shortOptions[c] else {
                        throw CommandLineError(argument: a, message: "Invalid option -- '\(c)' (in '\(a)').")
                    }
                    switch kind {
                    case .none:
                        try apply(c, nil, display: a)
                    case .optional:
                        let attached = chars.isEmpty ? nil : String(chars)
                        chars = ""
                        if c == "d", let extra = attached, extra.allSatisfy({ $0 == "d" }) {
                            o.debugLevel += 1 + extra.count   // -dd, -ddd: repeated increments
                        } else {
                            try apply(c, attached, display: a)
                        }
                    case .required:
                        var value: String
                        if !chars.isEmpty {
                            value = String(chars)
                            chars = ""
                        } else {
                            guard i < args.count else {
                                throw CommandLineError(argument: a, message: "Option -\(c) requires an argument (in '\(a)').")
                            }
                            value = args[i]
                            i += 1
                        }
                        try apply(c, value, display: a)
                    }
                }
                continue
            }
            throw CommandLineError(argument: a, message: "Unrecognized argument '\(a)'.")
        }
        return o
    }
}

// File locations derived from the command line, as tincd 1.0.36 (Debian build) computes them.
//
//  confdir:  -c DIR, else /etc/tinc/NETNAME with -n NETNAME, else /etc/tinc
//  pidfile:  --pidfile, else /run/tinc[.NETNAME].pid   (not moved by -c, as in tinc)
//  logfile:  --logfile=FILE, else /var/log/tinc[.NETNAME].log
//  control socket (tincd-swift): /run/tinc[.NETNAME].sock (not moved by -c either;
//            the ControlSocket variable overrides it)

public struct Paths: Equatable, Sendable {
    public static let defaultConfigBase = "/etc/tinc"
    public static let defaultRunDirectory = "/run"
    public static let defaultLogDirectory = "/var/log"

    /// nil when no netname (or `-n .`) was given.
    public var netname: String?
    public var confdir: String
    public var pidfile: String
    public var logfile: String
    public var controlSocket: String

    /// `tinc` or `tinc.NETNAME` (syslog ident and file stem).
    public var identName: String { netname.map { "tinc.\($0)" } ?? "tinc" }
    public var hostsDir: String { confdir + "/hosts" }
    public var tincConf: String { confdir + "/tinc.conf" }
    public var confDotD: String { confdir + "/conf.d" }
    /// Default PrivateKeyFile.
    public var privateKeyFile: String { confdir + "/rsa_key.priv" }

    public func hostFile(_ name: String) -> String { hostsDir + "/" + name }

    public init(options: CommandLineOptions) throws {
        try self.init(netname: options.netname, configDirectory: options.configDirectory,
                      pidfile: options.pidfile, logfile: options.logfile)
    }

    /// `netname` "." counts as none. Throws for a netname that contains '/' or '\' or starts
    /// with '.', or is empty.
    public init(netname: String?, configDirectory: String? = nil, pidfile: String? = nil,
                logfile: String? = nil) throws {
        var net = netname
        if net == "." { net = nil }
        if let n = net {
            guard Paths.isValidNetname(n) else {
                throw CommandLineError(argument: n,
                                       message: "Invalid netname '\(n)': it must not be empty, contain '/' or '\\', or start with '.'")
            }
        }
        self.netname = net
        let ident = net.map { "tinc.\($0)" } ?? "tinc"
        if let c = configDirectory {
            confdir = c
        } else if let n = net {
            confdir = Paths.defaultConfigBase + "/" + n
        } else {
            confdir = Paths.defaultConfigBase
        }
        self.pidfile = pidfile ?? "\(Paths.defaultRunDirectory)/\(ident).pid"
        self.logfile = logfile ?? "\(Paths.defaultLogDirectory)/\(ident).log"
        self.controlSocket = "\(Paths.defaultRunDirectory)/\(ident).sock"
    }

    public static func isValidNetname(_ n: String) -> Bool {
        !n.isEmpty && !n.hasPrefix(".") && !n.contains("/") && !n.contains("\\")
    }
}

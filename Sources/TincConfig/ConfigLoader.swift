// Reading a whole configuration directory the way tincd 1.0.36 does:
//   server tree = `-o KEY=VALUE`, tinc.conf, conf.d/*.conf, then `-o NAME.KEY=VALUE` and
//                 hosts/<own Name> once Name is known;
//   peer tree   = `-o PEER.KEY=VALUE`, hosts/PEER.

import Foundation

public enum ConfigLoader {
    /// `[A-Za-z0-9_]+` (ASCII only).
    public static func isValidNodeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(ServerConfig.isNameByte)
    }

    /// Reads tinc.conf, conf.d/*.conf (names ending in `.conf`, in sorted order) and
    /// hosts/<Name>, plus the `-o` options, and validates everything.
    /// A missing hosts/<Name> is only a warning (tinc goes on without it too).
    public static func load(confdir: String, options: CommandLineOptions,
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            hostname: () -> String? = ServerConfig.systemHostname)
        throws -> (ServerConfig, warnings: [String])
    {
        var warnings: [String] = []
        var tree = try serverTree(confdir: confdir, options: options, warnings: &warnings)
        guard let nameEntry = tree.lookup("Name") else {
            throw ConfigError(location: .path("tinc.conf"), message: "Name for tinc daemon required (no Name variable set)")
        }
        let name = try ServerConfig.resolveName(nameEntry, environment: environment, hostname: hostname)

        tree.add(contentsOf: options.overrides(for: name).map(\.entry))
        let hostPath = confdir + "/hosts/" + name
        if FileManager.default.fileExists(atPath: hostPath) {
            let file = try ConfigFile.read(path: hostPath, displayName: "hosts/" + name)
            warnings += file.warnings
            tree.add(contentsOf: file.entries)
        } else {
            warnings.append("hosts/\(name): no such file; our own host variables come from tinc.conf only")
        }
        let config = try ServerConfig(name: name, tree: tree, confdir: confdir,
                                      netname: options.netname, warnings: &warnings)
        return (config, warnings)
    }

    /// The tree of `-o` server options, tinc.conf and conf.d (without hosts/<Name>).
    public static func serverTree(confdir: String, options: CommandLineOptions,
                                  warnings: inout [String]) throws -> ConfigTree {
        var tree = ConfigTree(entries: options.serverOverrides.map(\.entry))
        let main = try ConfigFile.read(path: confdir + "/tinc.conf", displayName: "tinc.conf")
        warnings += main.warnings
        tree.add(contentsOf: main.entries)
        for name in confDotDFiles(confdir: confdir) {
            let file = try ConfigFile.read(path: confdir + "/conf.d/" + name, displayName: "conf.d/" + name)
            warnings += file.warnings
            tree.add(contentsOf: file.entries)
        }
        return tree
    }

    /// Names of the files in conf.d that tinc reads: longer than ".conf" and ending in it
    /// (directories are skipped), sorted.
    public static func confDotDFiles(confdir: String) -> [String] {
        let dir = confdir + "/conf.d"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter { n in
            guard n.utf8.count > 5, n.hasSuffix(".conf") else { return false }
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + n, isDirectory: &isDir) && !isDir.boolValue
        }.sorted()
    }

    /// Best-effort own name (for `-K`, which runs even when the config is incomplete):
    /// nil when tinc.conf cannot be read or Name is missing or invalid.
    public static func readName(confdir: String, options: CommandLineOptions,
                                environment: [String: String] = ProcessInfo.processInfo.environment,
                                hostname: () -> String? = ServerConfig.systemHostname) -> String? {
        var ignored: [String] = []
        guard let tree = try? serverTree(confdir: confdir, options: options, warnings: &ignored),
              let entry = tree.lookup("Name") else { return nil }
        return try? ServerConfig.resolveName(entry, environment: environment, hostname: hostname)
    }

    /// A peer's host config: `-o NAME.KEY=VALUE` options, then hosts/NAME.
    /// A missing file is a ConfigError `hosts/NAME: no such file`.
    /// Unknown variables end up in `HostConfig.warnings`.
    public static func loadHost(name: String, confdir: String, overrides: [ConfigOverride] = []) throws -> HostConfig {
        guard isValidNodeName(name) else {
            throw ConfigError(location: nil, message: "\"\(name)\" is not a valid node name ([A-Za-z0-9_]+)")
        }
        let file = try ConfigFile.read(path: confdir + "/hosts/" + name, displayName: "hosts/" + name)
        var tree = ConfigTree(entries: overrides.filter { $0.host == name }.map(\.entry))
        tree.add(contentsOf: file.entries)
        var warnings = file.warnings
        try Variables.check(tree, rejectUnsupported: false, warnings: &warnings)
        var host = try HostConfig(name: name, tree: tree)
        host.warnings = warnings
        return host
    }

    /// Convenience: `loadHost` with the `-o` options of a parsed command line.
    public static func loadHost(name: String, confdir: String, options: CommandLineOptions) throws -> HostConfig {
        try loadHost(name: name, confdir: confdir, overrides: options.overrides)
    }

    /// Names of the files in hosts/ that are valid node names, sorted (for StrictSubnets,
    /// which reads every host file).
    public static func hostNames(confdir: String) -> [String] {
        let dir = confdir + "/hosts"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.filter(isValidNodeName).sorted()
    }
}

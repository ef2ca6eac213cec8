import ArgumentParser
import MeshIO

/// `tincd-swift ctl …` and `tincd-swift bgp …`, parsed with swift-argument-parser: help for every
/// subcommand, errors for unknown commands and arguments, and shell completion generated from the
/// same declarations (`tincd-swift ctl --generate-completion-script bash|zsh|fish`).
///
/// Everything else on the command line is tincd's and stays with TincConfig.CommandLineOptions,
/// which follows tincd 1.0's getopt flags exactly; this root is never parsed for those.
public struct OperatorCLI: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tincd-swift",
        abstract: "The operator subcommands of tincd-swift.",
        discussion: """
            Without `ctl` or `bgp`, tincd-swift is the daemon and takes tincd's options \
            (tincd-swift --help, tincd-swift(8)).
            """,
        subcommands: [CtlCommand.self, BGPModeCommand.self])

    public init() {}

    /// The first words that select this parser instead of the daemon's (`help ctl show` as AP suggests).
    public static let subcommandNames: Set<String> = ["ctl", "bgp", "help"]

    /// Parses and runs `arguments` (they start with `ctl` or `bgp`); returns the exit status:
    /// 0, 1 when the daemon answered ERROR or the command failed, 64 (EX_USAGE) for a command line
    /// the parser refused.
    public static func main(_ arguments: [String]) -> Int32 {
        if let shell = completionRequest(arguments) {
            guard let s = shell.shell else {
                writeStandardError("tincd-swift: --generate-completion-script: unknown shell '\(shell.name)' (bash, zsh or fish)\n")
                return 64
            }
            print(completionScript(for: s), terminator: "")
            return 0
        }
        do {
            var command = try parseAsRoot(normalized(arguments))
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error).rawValue
            let text = fullMessage(for: error)
            if !text.isEmpty {
                if code == 0 { print(text) } else { writeStandardError(text + "\n") }
            }
            return code
        }
    }

    /// `--generate-completion-script SHELL` (or `=SHELL`) anywhere after `ctl`/`bgp`: the script for
    /// the whole `tincd-swift ctl|bgp` tree, whichever of the two it was asked under.
    static func completionRequest(_ arguments: [String]) -> (name: String, shell: CompletionShell?)? {
        let flag = "--generate-completion-script"
        for (i, a) in arguments.enumerated() {
            var name: String?
            if a == flag { name = i + 1 < arguments.count ? arguments[i + 1] : "" }
            else if a.hasPrefix(flag + "=") { name = String(a.dropFirst(flag.count + 1)) }
            if let n = name { return (n, CompletionShell(rawValue: n)) }
        }
        return nil
    }

    /// tincd's `--logfile[=FILE]` in bgp mode: a bare `--logfile` (no value follows) means DIR/bgp.log,
    /// spelled out here since an option value cannot be optional in the parser. Without -c DIR it
    /// is left alone, and the parser says what is missing.
    static func normalized(_ arguments: [String]) -> [String] {
        guard arguments.first == "bgp" else { return arguments }
        var dir: String?
        for (i, a) in arguments.enumerated() {
            let next = i + 1 < arguments.count ? arguments[i + 1] : nil
            if a == "-c" || a == "--config" { dir = next }
            else if a.hasPrefix("--config=") { dir = String(a.dropFirst(9)) }
            else if a.hasPrefix("-c") && a.count > 2 { dir = String(a.dropFirst(2)) }
        }
        guard let d = dir else { return arguments }
        return arguments.enumerated().map { i, a in
            let next = i + 1 < arguments.count ? arguments[i + 1] : nil
            return a == "--logfile" && (next == nil || next?.hasPrefix("-") == true) ? "--logfile=" + d + "/bgp.log" : a
        }
    }
}

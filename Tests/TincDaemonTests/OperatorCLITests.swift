import XCTest
import ArgumentParser
@testable import TincDaemon

/// `tincd-swift ctl …` / `bgp …` through swift-argument-parser: what each command line sends to the
/// control socket, what it refuses, its help and the completion generated from it.
final class OperatorCLITests: XCTestCase {
    func words(_ args: [String]) throws -> (words: [String], ctl: CtlCommand) {
        let parsed = try OperatorCLI.parseAsRoot(args)
        guard let request = parsed as? any ControlRequestCommand else {
            throw ValidationError("\(args) parsed to \(type(of: parsed)), not a control request")
        }
        return (request.words, request.ctl)
    }

    func testControlLinesAreTheTypedWords() throws {
        let cases: [([String], [String])] = [
            (["ctl", "dump", "nodes"], ["dump", "nodes"]),
            (["ctl", "dump", "graph"], ["dump", "graph"]),
            (["ctl", "info", "bird3"], ["info", "bird3"]),
            (["ctl", "stats"], ["stats"]),
            (["ctl", "show", "protocols"], ["show", "protocols"]),
            (["ctl", "show", "protocols", "all", "isp"], ["show", "protocols", "all", "isp"]),
            (["ctl", "show", "protocol", "isp"], ["show", "protocols", "isp"]),
            (["ctl", "show", "route", "for", "10.1.1.7", "all"], ["show", "route", "for", "10.1.1.7", "all"]),
            (["ctl", "show", "route", "export", "isp", "count"], ["show", "route", "export", "isp", "count"]),
            (["ctl", "show", "route", "10.1.0.0/25"], ["show", "route", "10.1.0.0/25"]),
            (["ctl", "show", "bfd", "sessions"], ["show", "bfd", "sessions"]),
            (["ctl", "enable", "isp"], ["enable", "isp"]),
            (["ctl", "disable", "isp"], ["disable", "isp"]),
            (["ctl", "restart", "isp"], ["restart", "isp"]),
            (["ctl", "reload"], ["reload"]),
            (["ctl", "reload", "isp"], ["reload", "isp"]),
            (["ctl", "reload", "out", "isp"], ["reload", "out", "isp"]),
            (["ctl", "configure"], ["configure"]),
            (["ctl", "configure", "check"], ["configure", "check"]),
            (["ctl", "retry"], ["retry"]),
            (["ctl", "purge"], ["purge"]),
            (["ctl", "stop"], ["stop"]),
            (["ctl", "debug", "5"], ["debug", "5"]),
            (["ctl", "log"], ["log"]),
            (["ctl", "log", "3"], ["log", "3"]),
        ]
        for (args, expected) in cases {
            XCTAssertEqual(try words(args).words, expected, "\(args)")
        }
    }

    func testConnectionOptionsBeforeAndAfterTheCommand() throws {
        let a = try words(["ctl", "-n", "vpn", "--json", "dump", "nodes"])
        XCTAssertEqual(a.ctl.net, "vpn")
        XCTAssertTrue(a.ctl.json)
        XCTAssertEqual(a.ctl.socketPath, "/run/tinc.vpn.sock")
        let b = try words(["ctl", "--socket", "/tmp/x.sock", "show", "route", "--json"])
        XCTAssertEqual(b.ctl.socket, "/tmp/x.sock")
        XCTAssertTrue(b.ctl.json)
        XCTAssertEqual(b.words, ["show", "route"])
        let c = try words(["ctl", "--pidfile", "/run/lab/bird1/tinc.pid", "stats"])
        XCTAssertEqual(c.ctl.socketPath, "/run/lab/bird1/tinc.socket")
        let d = try words(["ctl", "-c", "/etc/tinc/x", "stats"])
        XCTAssertEqual(d.ctl.socketPath, "/etc/tinc/x/control.socket")
        let e = try words(["ctl", "--config=/etc/tinc/y", "stats"])
        XCTAssertEqual(e.ctl.config, "/etc/tinc/y")
    }

    /// Each of these is refused by the parser (exit 64) before anything reaches the daemon.
    func testBadCommandLinesAreRefused() {
        let bad: [[String]] = [
            ["ctl"], ["ctl", "frobnicate"], ["ctl", "dump"], ["ctl", "dump", "routes"], ["ctl", "info"],
            ["ctl", "info", "a b"], ["ctl", "stats", "extra"], ["ctl", "show"], ["ctl", "show", "routes"],
            ["ctl", "show", "route", "for"], ["ctl", "show", "route", "bogus"], ["ctl", "show", "protocols", "a", "b"],
            ["ctl", "show", "bfd"], ["ctl", "enable"], ["ctl", "reload", "in"], ["ctl", "reload", "up", "isp"],
            ["ctl", "configure", "now"], ["ctl", "debug"], ["ctl", "debug", "x"], ["ctl", "debug", "-1"],
            ["ctl", "log", "-2"], ["ctl", "log", "1", "2"], ["ctl", "--bogus", "stats"], ["ctl", "-n"],
            ["bgp"], ["bgp", "-c"], ["bgp", "-c", "/x", "-q"], ["bgp", "-c", "/x", "-d", "five"],
        ]
        // The real entry point says why on stderr and exits 64 without connecting anywhere (a
        // connection attempt would fail with 1: nothing listens on the default socket here).
        for args in bad {
            XCTAssertEqual(OperatorCLI.main(args), 64, "\(args)")
        }
        // All but a missing subcommand (`ctl`, `ctl show`: the command's run says so) fail in the parser itself.
        for args in bad where args != ["ctl"] && args != ["ctl", "show"] {
            XCTAssertThrowsError(try OperatorCLI.parseAsRoot(OperatorCLI.normalized(args)), "\(args) was accepted")
        }
    }

    func testHelpForEverySubcommand() {
        let ctlHelp = OperatorCLI.helpMessage(for: CtlCommand.self, columns: 200)
        for word in ["dump", "info", "stats", "show", "enable", "disable", "restart", "reload", "configure",
                     "retry", "purge", "stop", "debug", "log", "top", "--json", "--socket", "--pidfile"] {
            XCTAssertTrue(ctlHelp.contains(word), "ctl --help lacks \(word):\n\(ctlHelp)")
        }
        let dump = OperatorCLI.helpMessage(for: DumpCommand.self, columns: 200)
        XCTAssertTrue(dump.contains("nodes") && dump.contains("graph"), dump)
        let log = OperatorCLI.helpMessage(for: LogCommand.self, columns: 200)
        XCTAssertTrue(log.contains("dropped"), log)
        let bgp = OperatorCLI.helpMessage(for: BGPModeCommand.self, columns: 200)
        for word in ["-c", "--config", "-D", "-d", "--logfile", "-R"] { XCTAssertTrue(bgp.contains(word), "bgp --help lacks \(word):\n\(bgp)") }
        // --help anywhere is help, exit 0.
        XCTAssertEqual(OperatorCLI.main(["ctl", "show", "route", "--help"]), 0)
    }

    func testBGPModeFlagsAsTincdSpellsThem() throws {
        func parse(_ args: [String]) throws -> BGPModeCommand {
            let p = try OperatorCLI.parseAsRoot(OperatorCLI.normalized(args))
            guard let b = p as? BGPModeCommand else { throw ValidationError("not bgp: \(type(of: p))") }
            return b
        }
        let a = try parse(["bgp", "-c", "/etc/x", "-D", "-d5", "--logfile=/var/log/b.log", "-R"])
        XCTAssertEqual(a.config, "/etc/x")
        XCTAssertEqual(a.debug, 5)
        XCTAssertEqual(a.logfile, "/var/log/b.log")
        XCTAssertTrue(a.restarting)
        let b = try parse(["bgp", "--config=/etc/y", "--logfile", "-d", "2"])
        XCTAssertEqual(b.config, "/etc/y")
        XCTAssertEqual(b.logfile, "/etc/y/bgp.log", "bare --logfile: the default file")
        XCTAssertEqual(try parse(["bgp", "--logfile", "-c", "/d"]).logfile, "/d/bgp.log")
        XCTAssertEqual(try parse(["bgp", "-c/e", "--logfile"]).logfile, "/e/bgp.log")
        XCTAssertEqual(b.debug, 2)
        XCTAssertFalse(b.restarting)
        let c = try parse(["bgp", "-c/etc/z"])
        XCTAssertEqual(c.config, "/etc/z")
        XCTAssertNil(c.logfile)
    }

    func testCompletionIsGeneratedFromTheParser() {
        XCTAssertEqual(OperatorCLI.completionRequest(["ctl", "--generate-completion-script", "bash"])?.shell, .bash)
        XCTAssertEqual(OperatorCLI.completionRequest(["bgp", "--generate-completion-script=zsh"])?.shell, .zsh)
        XCTAssertNil(OperatorCLI.completionRequest(["ctl", "--generate-completion-script", "tcsh"])?.shell)
        XCTAssertEqual(OperatorCLI.main(["ctl", "--generate-completion-script", "tcsh"]), 64)
        let bash = OperatorCLI.completionScript(for: .bash)
        for fragment in ["_tincd-swift_ctl_dump", "nodes", "connections", "_tincd-swift_ctl_show_route", "_tincd-swift_bgp",
                         "--socket", "--logfile", "_tincd-swift_ctl_log"] {
            XCTAssertTrue(bash.contains(fragment), "bash completion lacks \(fragment)")
        }
        let zsh = OperatorCLI.completionScript(for: .zsh)
        XCTAssertTrue(zsh.hasPrefix("#compdef tincd-swift"))
        XCTAssertTrue(zsh.contains("_tincd-swift_ctl_dump"))
    }
}

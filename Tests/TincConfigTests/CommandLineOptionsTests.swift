import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import TincConfig

final class CommandLineOptionsTests: XCTestCase {
    func parse(_ args: String...) throws -> CommandLineOptions {
        try CommandLineOptions(arguments: args)
    }

    func testEmpty() throws {
        XCTAssertEqual(try parse(), CommandLineOptions())
    }

    func testConfig() throws {
        XCTAssertEqual(try parse("-c", "/x").configDirectory, "/x")
        XCTAssertEqual(try parse("-c/x").configDirectory, "/x")
        XCTAssertEqual(try parse("--config=/x").configDirectory, "/x")
        XCTAssertEqual(try parse("--config", "/x").configDirectory, "/x")
        XCTAssertEqual(try parse("-c", "-weird").configDirectory, "-weird")  // required args take anything
        XCTAssertEqual(try parse("--conf=/x").configDirectory, "/x")  // unique prefix
        assertCommandLineError(try parse("-c", "/a", "-c", "/b"), argument: "-c", contains: "Only one configuration directory")
        assertCommandLineError(try parse("-c"), argument: "-c", contains: "requires an argument")
        assertCommandLineError(try parse("--config"), argument: "--config", contains: "requires an argument")
    }

    func testNoDetachMlockChrootUser() throws {
        var o = try parse("-D", "-L", "-R", "-U", "nobody")
        XCTAssertTrue(o.noDetach)
        XCTAssertTrue(o.mlock)
        XCTAssertTrue(o.chroot)
        XCTAssertEqual(o.user, "nobody")
        o = try parse("--no-detach", "--mlock", "--chroot", "--user=tinc")
        XCTAssertTrue(o.noDetach && o.mlock && o.chroot)
        XCTAssertEqual(o.user, "tinc")
        XCTAssertEqual(try parse("-Unobody").user, "nobody")
        assertCommandLineError(try parse("--mlock=yes"), argument: "--mlock=yes", contains: "doesn't allow an argument")
    }

    func testDebugForms() throws {
        XCTAssertEqual(try parse("-d").debugLevel, 1)
        XCTAssertEqual(try parse("-d", "-d").debugLevel, 2)
        XCTAssertEqual(try parse("-d5").debugLevel, 5)
        XCTAssertEqual(try parse("-d", "5").debugLevel, 5)   // tinc 1.0.36 takes the next non-option argument
        XCTAssertEqual(try parse("-dd").debugLevel, 2)       // deviation: tinc would set 0
        XCTAssertEqual(try parse("-ddd").debugLevel, 3)
        XCTAssertEqual(try parse("--debug").debugLevel, 1)
        XCTAssertEqual(try parse("--debug=3").debugLevel, 3)
        XCTAssertEqual(try parse("--debug", "4").debugLevel, 4)
        XCTAssertEqual(try parse("-d", "-D").debugLevel, 1)  // "-D" starts with '-': not a level
        XCTAssertEqual(try parse("-d10", "-d").debugLevel, 11)
        assertCommandLineError(try parse("-dx"), argument: "x", contains: "debug level")
        assertCommandLineError(try parse("--debug=high"), argument: "high")
        assertCommandLineError(try parse("-d", "foo"), argument: "foo")
    }

    func testKillForms() throws {
        XCTAssertNil(try parse().killSignal)
        XCTAssertEqual(try parse("-k").killSignal, SIGTERM)
        XCTAssertEqual(try parse("--kill").killSignal, SIGTERM)
        XCTAssertEqual(try parse("--kill=HUP").killSignal, SIGHUP)
        XCTAssertEqual(try parse("-kusr2").killSignal, SIGUSR2)
        XCTAssertEqual(try parse("-k", "USR1").killSignal, SIGUSR1)  // tinc 1.0.36 takes the next argument
        XCTAssertEqual(try parse("--kill", "WINCH").killSignal, SIGWINCH)
        XCTAssertEqual(try parse("-k9").killSignal, 9)
        XCTAssertEqual(try parse("-kABRT").killSignal, SIGABRT)
        XCTAssertEqual(try parse("-k", "-D").killSignal, SIGTERM)
        let names = ["HUP": SIGHUP, "TERM": SIGTERM, "KILL": SIGKILL, "USR1": SIGUSR1, "USR2": SIGUSR2,
                     "WINCH": SIGWINCH, "INT": SIGINT, "ALRM": SIGALRM, "ABRT": SIGABRT]
        for (n, s) in names {
            XCTAssertEqual(try parse("--kill=" + n.lowercased()).killSignal, s, n)
        }
        assertCommandLineError(try parse("-kBOGUS"), argument: "BOGUS", contains: "SIGNAL")
        assertCommandLineError(try parse("--kill=0"), argument: "0")
    }

    func testNetname() throws {
        XCTAssertEqual(try parse("-n", "office").netname, "office")
        XCTAssertEqual(try parse("-noffice").netname, "office")
        XCTAssertEqual(try parse("--net=office").netname, "office")
        XCTAssertNil(try parse("-n", ".").netname)
        XCTAssertEqual(try parse("-n", ".", "-n", "x").netname, "x")  // like tinc: "." sets nothing
        assertCommandLineError(try parse("-n", "a", "--net=b"), argument: "--net=b", contains: "Only one netname")
    }

    func testGenerateKeys() throws {
        XCTAssertNil(try parse().generateKeys)
        XCTAssertEqual(try parse("-K").generateKeys, 2048)
        XCTAssertEqual(try parse("-K4096").generateKeys, 4096)
        XCTAssertEqual(try parse("-K", "1024").generateKeys, 1024)
        XCTAssertEqual(try parse("--generate-keys").generateKeys, 2048)
        XCTAssertEqual(try parse("--generate-keys=1001").generateKeys, 1000)  // rounded down to bytes
        assertCommandLineError(try parse("-K256"), argument: "256", contains: "512")
        assertCommandLineError(try parse("-Kbig"), argument: "big")
    }

    func testLogfileAndPidfile() throws {
        var o = try parse("--logfile")
        XCTAssertTrue(o.useLogfile)
        XCTAssertNil(o.logfile)
        o = try parse("--logfile=/tmp/t.log")
        XCTAssertTrue(o.useLogfile)
        XCTAssertEqual(o.logfile, "/tmp/t.log")
        XCTAssertEqual(try parse("--logfile", "/tmp/u.log").logfile, "/tmp/u.log")
        XCTAssertNil(try parse("--logfile", "-D").logfile)
        XCTAssertEqual(try parse("--pidfile=/tmp/p").pidfile, "/tmp/p")
        XCTAssertEqual(try parse("--pidfile", "/tmp/p").pidfile, "/tmp/p")
        assertCommandLineError(try parse("--pidfile=/a", "--pidfile=/b"), argument: "/b", contains: "Only one pidfile")
        assertCommandLineError(try parse("--logfile=/a", "--logfile=/b"), argument: "/b", contains: "Only one logfile")
        assertCommandLineError(try parse("--pidfile"), argument: "--pidfile")
        assertCommandLineError(try parse("--pidfile="), argument: "--pidfile=", contains: "Empty")
        assertCommandLineError(try parse("--logfile="), argument: "--logfile=", contains: "Empty")
        assertCommandLineError(try parse("-c", ""), argument: "-c", contains: "Empty")
    }

    func testOptionOverrides() throws {
        let o = try parse("-o", "Mode=switch", "--option=alpha.Port = 700", "-oConnectTo beta", "--option", "x.y.z=1")
        XCTAssertEqual(o.overrides, [
            ConfigOverride(host: nil, variable: "Mode", value: "switch", index: 1),
            ConfigOverride(host: "alpha", variable: "Port", value: "700", index: 2),
            ConfigOverride(host: nil, variable: "ConnectTo", value: "beta", index: 3),
            ConfigOverride(host: "x", variable: "y.z", value: "1", index: 4),
        ])
        XCTAssertEqual(o.serverOverrides.map(\.index), [1, 3])
        XCTAssertEqual(o.overrides(for: "alpha").map(\.variable), ["Port"])
        XCTAssertEqual(o.overrides(for: "Alpha"), [])  // node names are case-sensitive
        assertCommandLineError(try parse("-o", "Port"), argument: "Port", contains: "no value")
        assertCommandLineError(try parse("-o", "Port="), argument: "Port=")
    }

    func testHelpVersionBypass() throws {
        XCTAssertTrue(try parse("--help").showHelp)
        XCTAssertTrue(try parse("--version").showVersion)
        XCTAssertTrue(try parse("--bypass-security").bypassSecurity)
        XCTAssertTrue(try parse("--vers").showVersion)
        XCTAssertTrue(CommandLineOptions.usage.contains("tincd-swift"))
        XCTAssertTrue(CommandLineOptions.usage.contains("--generate-keys[=BITS]"))
    }

    func testBundledShortFlags() throws {
        var o = try parse("-Dd5")
        XCTAssertTrue(o.noDetach)
        XCTAssertEqual(o.debugLevel, 5)
        o = try parse("-DLRc", "/etc/x", "-Dd")
        XCTAssertTrue(o.noDetach && o.mlock && o.chroot)
        XCTAssertEqual(o.configDirectory, "/etc/x")
        XCTAssertEqual(o.debugLevel, 1)
        o = try parse("-Ddd")
        XCTAssertEqual(o.debugLevel, 2)
        o = try parse("-DnVPN")
        XCTAssertEqual(o.netname, "VPN")
        o = try parse("-Dk", "HUP")
        XCTAssertEqual(o.killSignal, SIGHUP)
        assertCommandLineError(try parse("-dD"), argument: "D")  // attached argument of -d, not -D
    }

    func testUnknownFlags() {
        assertCommandLineError(try parse("-x"), argument: "-x", contains: "Invalid option")
        assertCommandLineError(try parse("-Dx"), argument: "-Dx", contains: "'x'")
        assertCommandLineError(try parse("--frobnicate"), argument: "--frobnicate", contains: "Unrecognized option")
        assertCommandLineError(try parse("--c=/x"), argument: "--c=/x", contains: "ambiguous")  // config/chroot
    }

    func testPositionalArgumentsAreErrors() {
        assertCommandLineError(try parse("start"), argument: "start", contains: "Unrecognized argument")
        assertCommandLineError(try parse("-D", "extra"), argument: "extra")
        assertCommandLineError(try parse("-"), argument: "-")
        assertCommandLineError(try parse("--", "x"), argument: "x")
        XCTAssertNoThrow(try parse("-D", "--"))
    }
}

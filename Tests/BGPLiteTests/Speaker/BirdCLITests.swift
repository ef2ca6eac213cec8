import XCTest
import MeshIO
@testable import BGPLite

/// birdc command parsing and the replies that need no peer (the live comparison with bird2 is
/// BirdcParityInteropTests): bad input gets an ERROR naming the problem, never a trap.
final class BirdCLITests: XCTestCase {
    private func speaker(_ loop: EventLoop) throws -> BGPSpeaker {
        let sp = try makeSpeaker("""
            router id 10.0.0.1;
            protocol device {}
            protocol static st { ipv4; route 10.1.0.0/24 blackhole; route 10.1.1.0/24 blackhole; }
            protocol bgp p { local 127.0.0.1 port \(testPortBase + 97) as 65001; neighbor 127.0.0.2 as 65002; passive on;
                ipv4 { import all; export all; import keep filtered; }; }
            """, loop: loop)
        sp.quiet = true
        return sp
    }

    func testBadInputIsRefusedWithTheReason() throws {
        let loop = try EventLoop()
        let sp = try speaker(loop)
        for (words, reason) in [(["show", "route", "for", "junk"], "bad address junk"), (["show", "route", "for"], "address missing"),
                                (["show", "route", "protocol", "nosuch"], "nosuch: no such protocol"),
                                (["show", "route", "export", "st"], "st is not a BGP protocol"),
                                (["show", "route", "sideways"], "unknown argument sideways"),
                                (["show", "protocols", "nosuch"], "nosuch: no such protocol"),
                                (["disable", "nosuch"], "nosuch: no such protocol"), (["enable"], "usage: enable NAME"),
                                (["reload", "in"], "usage: reload [in|out] NAME"), (["reload", "device1"], "supported for BGP and static"),
                                (["show", "bfd"], "usage: show bfd sessions"), ([], "empty command"), (["frobnicate"], "unknown command")] {
            let r = sp.birdCommand(words)
            XCTAssertTrue(r.hasPrefix("ERROR ") && r.contains(reason), "\(words): \(r)")
        }
    }

    func testProtocolsRouteCountAndStaticDisable() throws {
        let loop = try EventLoop()
        let sp = try speaker(loop)
        sp.start()
        defer { sp.stop() }
        XCTAssertEqual(sp.birdCommand(["show", "bfd", "sessions"]), "There is no BFD protocol running\n")
        let one = sp.birdCommand(["show", "protocols", "st"]).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(one.count, 3, "\(one)")   // header, the line, and the final newline
        XCTAssertEqual(one.first, "Name       Proto      Table      State  Since         Info")
        XCTAssertTrue(one[1].hasPrefix("st         Static     master4    up     ") && one[1].hasSuffix("  "), String(one[1]))
        XCTAssertEqual(sp.birdCommand(["show", "route", "count"]),
                       "2 of 2 routes for 2 networks in table master4\n0 of 0 routes for 0 networks in table master6\nTotal: 2 of 2 routes for 2 networks in 2 tables\n")
        XCTAssertEqual(sp.birdCommand(["show", "route", "protocol", "p", "count"]), "0 of 2 routes for 2 networks in table master4\n")
        XCTAssertEqual(sp.birdCommand(["show", "route", "for", "10.9.0.1"]), "Network not found\n")
        XCTAssertEqual(sp.birdCommand(["show", "route", "10.1.0.0/25"]), "Network not found\n")
        XCTAssertTrue(sp.birdCommand(["show", "route", "for", "10.1.1.7"]).hasPrefix("Table master4:\n10.1.1.0/24          blackhole [st "))
        XCTAssertEqual(sp.birdCommand(["show", "route", "filtered"]), "")
        // A session that is not up has nothing to reload; BIRD says nothing.
        XCTAssertEqual(sp.birdCommand(["reload", "p"]), "")
        XCTAssertEqual(sp.birdCommand(["disable", "st"]), "st: disabled\n")
        XCTAssertEqual(sp.birdCommand(["disable", "st"]), "st: already disabled\n")
        XCTAssertTrue(sp.birdCommand(["show", "protocols", "st"]).contains(" down "))
        XCTAssertTrue(sp.birdCommand(["show", "route", "count"]).hasPrefix("0 of 0 routes"))
        XCTAssertEqual(sp.birdCommand(["enable", "st"]), "st: enabled\n")
        XCTAssertTrue(sp.birdCommand(["show", "route", "count"]).hasPrefix("2 of 2 routes"))
        XCTAssertEqual(sp.birdCommand(["disable", "p"]), "p: disabled\n")
        XCTAssertTrue(sp.birdCommand(["show", "protocols", "p"]).contains("p          BGP        ---        down   "))
        XCTAssertEqual(sp.birdCommand(["restart", "p"]), "p: already disabled\n")
        XCTAssertEqual(sp.birdCommand(["enable", "p"]), "p: enabled\n")
        XCTAssertTrue(sp.birdCommand(["show", "protocols", "p"]).contains(" start  "))
    }
}

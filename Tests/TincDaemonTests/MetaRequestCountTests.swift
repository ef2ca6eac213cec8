import Glibc
import MeshIO
import XCTest
import DaemonTestSupport
@testable import TincDaemon

/// `ctl stats` meta_requests_sent (scripts/scale.sh sums it to count what one restart costs the mesh):
/// every request queued on a meta connection counts once per connection -- sent, forwarded or broadcast --
/// and what a closed connection sent stays in the total.
final class MetaRequestCountTests: XCTestCase {
    override func setUp() {
        super.setUp()
        Log.configure(sink: .file("/dev/null"), ident: "test")
    }

    override func tearDown() {
        Log.configure(sink: .stderr, ident: "tinc")
        super.tearDown()
    }

    func testForwardedBroadcastAndClosedConnectionsAreCounted() throws {
        let h = try DaemonHarness()
        let a = h.connect("a", host: "192.0.2.1")
        let b = h.connect("b", host: "192.0.2.2")
        let c = h.connect("c", host: "192.0.2.3")
        let start = h.daemon.conns.requestsSent
        XCTAssertGreaterThan(start, 0, "activation sends everything and floods our new edges")
        XCTAssertEqual(h.daemon.statsSnapshot().metaRequestsSent, start)

        // a new edge from a is forwarded to the two other connections, exactly once each
        h.feed("12 1 a x 192.0.2.9 655 0 10", from: a)
        XCTAssertEqual(h.daemon.conns.requestsSent, start + 2)
        // the same line again is a duplicate: nothing more goes out
        h.feed("12 1 a x 192.0.2.9 655 0 10", from: a)
        XCTAssertEqual(h.daemon.conns.requestsSent, start + 2)

        // closing c: what c sent stays in the total, and our DEL_EDGE for it is broadcast to a and b
        let sentOnC = c.requestsSent
        XCTAssertGreaterThan(sentOnC, 0)
        h.daemon.terminate(c, report: true)
        XCTAssertNil(h.daemon.conns.all[c.id])
        XCTAssertGreaterThanOrEqual(h.daemon.conns.requestsSent, start + 2 + 2)
        XCTAssertEqual(h.daemon.conns.requestsSent, h.daemon.conns.requestsSentByClosed + a.requestsSent + b.requestsSent)
        XCTAssertGreaterThanOrEqual(h.daemon.conns.requestsSentByClosed, sentOnC)
    }
}

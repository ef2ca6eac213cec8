import XCTest
@testable import MeshMetrics

/// The request-head parser the metrics server and the metrics-http fuzz target share.
final class MetricsHeadTests: XCTestCase {
    func head(_ s: String) -> MetricsHTTPServer.Head { MetricsHTTPServer.parseHead(Array(s.utf8)) }

    func testRequestLines() {
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"), .request(method: "GET", path: "/metrics"))
        XCTAssertEqual(head("HEAD /metrics?x=1 HTTP/1.0\n\n"), .request(method: "HEAD", path: "/metrics"))
        XCTAssertEqual(head("GET /metrics HTTP/1.1\r\nHost: a\r\n"), .incomplete)
        XCTAssertEqual(head(""), .incomplete)
        XCTAssertEqual(head("POST /metrics HTTP/1.1\r\n\r\n"), .methodNotAllowed)
        XCTAssertEqual(head("GET /metrics\r\n\r\n"), .bad)
        XCTAssertEqual(head("GET /metrics SPDY/3\r\n\r\n"), .bad)
        XCTAssertEqual(MetricsHTTPServer.parseHead([0xFF, 0xFE, 0x0A, 0x0A]), .bad)
    }
}

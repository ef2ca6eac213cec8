import Foundation
import XCTest
@testable import BGPLite

enum Bird {
    static let path = "/usr/sbin/bird"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs `bird -p -c` on the text; returns (accepted, stderr).
    static func check(_ text: String, name: String = "bgp.conf") throws -> (Bool, String) {
        let dir = NSTemporaryDirectory() + "bgpconf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["-p", "-c", file]
        let errPipe = Pipe()
        p.standardError = errPipe
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (p.terminationStatus == 0, err)
    }
}

func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> BGPConfig? {
    do {
        return try BGPConfig.parse(text: text, fileName: "bgp.conf", includeLoader: nil)
    } catch {
        XCTFail("parse failed: \(error)", file: file, line: line)
        return nil
    }
}

func parseError(_ text: String) -> BGPConfigError? {
    do {
        _ = try BGPConfig.parse(text: text, fileName: "bgp.conf", includeLoader: nil)
        return nil
    } catch {
        return error
    }
}

func route(_ p: String, proto: String = "bgp1", source: RouteSourceKind = .bgp) -> FilterRouteContext {
    FilterRouteContext(net: IPPrefix(p)!, proto: proto, source: source)
}

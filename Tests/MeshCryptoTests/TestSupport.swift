import Foundation
import MeshCrypto
import XCTest

/// Runs an external tool (the openssl CLI, python3) for independent cross-checks.
struct ToolResult {
    let status: Int32
    let stdout: Data
    let stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
    var bytes: [UInt8] { [UInt8](stdout) }
}

@discardableResult
func runTool(_ path: String, _ args: [String], stdin: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> ToolResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    p.standardOutput = outPipe
    p.standardError = errPipe
    p.standardInput = inPipe
    try p.run()
    // stdin and stderr on their own threads so a large output cannot deadlock against a full pipe.
    let group = DispatchGroup()
    final class Box: @unchecked Sendable { var data = Data() }  // written before group.wait() returns
    let errBox = Box()
    DispatchQueue.global().async(group: group) {
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin)) }
        try? inPipe.fileHandleForWriting.close()
    }
    DispatchQueue.global().async(group: group) {
        errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile()
    }
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    group.wait()
    let err = errBox.data
    return ToolResult(status: p.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
}

let opensslPath = "/usr/bin/openssl"

@discardableResult
func openssl(_ args: [String], stdin: [UInt8]? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> ToolResult {
    let r = try runTool(opensslPath, args, stdin: stdin)
    XCTAssertEqual(r.status, 0, "openssl \(args.joined(separator: " ")) failed: \(r.stderr)", file: file, line: line)
    return r
}

func requireOpenSSLCLI() throws {
    guard FileManager.default.isExecutableFile(atPath: opensslPath) else {
        throw XCTSkip("openssl CLI not installed")
    }
}

/// A fresh directory under /tmp, removed by the caller's defer.
func makeTempDir() throws -> URL {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("meshcrypto-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func hexLower(_ b: [UInt8]) -> String { Hex.encode(b).lowercased() }

/// Deterministic bytes for known-answer tests.
func pattern(_ n: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

import Foundation
import XCTest
@testable import TincConfig

/// A temporary config directory, deleted by `remove()` (call it from tearDown / defer).
final class TempConfigDir {
    let path: String

    init() throws {
        let base = NSTemporaryDirectory() + "tincconfig-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base + "/hosts", withIntermediateDirectories: true)
        path = base
    }

    func write(_ relative: String, _ text: String) throws {
        let full = path + "/" + relative
        let dir = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Asserts that `body` throws a ConfigError whose description contains every fragment.
func assertConfigError<T>(_ body: @autoclosure () throws -> T, contains fragments: [String],
                          file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a ConfigError containing \(fragments)", file: file, line: line)
    } catch let e as ConfigError {
        for f in fragments {
            XCTAssertTrue(e.description.contains(f), "\"\(e.description)\" does not contain \"\(f)\"", file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// Asserts that `body` throws a CommandLineError naming `argument`.
func assertCommandLineError<T>(_ body: @autoclosure () throws -> T, argument: String, contains fragment: String? = nil,
                               file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a CommandLineError for \(argument)", file: file, line: line)
    } catch let e as CommandLineError {
        XCTAssertEqual(e.argument, argument, file: file, line: line)
        XCTAssertTrue(e.description.contains(argument) || argument.isEmpty, "\"\(e.description)\" does not name \(argument)", file: file, line: line)
        if let f = fragment {
            XCTAssertTrue(e.description.contains(f), "\"\(e.description)\" does not contain \"\(f)\"", file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// Builds a server config from tinc.conf text (plus optional extra lines for hosts/<name>).
func serverConfig(_ tincConf: String, host: String? = nil, args: [String] = [],
                  env: [String: String] = [:]) throws -> (ServerConfig, [String]) {
    let dir = try TempConfigDir()
    defer { dir.remove() }
    try dir.write("tinc.conf", tincConf)
    if let host = host {
        try dir.write("hosts/alpha", host)
    }
    let options = try CommandLineOptions(arguments: args)
    let (cfg, warnings) = try ConfigLoader.load(confdir: dir.path, options: options, environment: env,
                                                hostname: { "test-host" })
    return (cfg, warnings)
}

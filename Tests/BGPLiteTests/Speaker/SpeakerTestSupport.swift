import XCTest
import Foundation
import MeshIO
@testable import BGPLite

/// Runs `loop` until `condition` holds or `timeout` passes; returns the condition's final value.
@discardableResult
func runLoop(_ loop: EventLoop, timeout: Double, until condition: @escaping () -> Bool) -> Bool {
    let deadline = EventLoop.now() + timeout
    func tick() {
        if condition() || EventLoop.now() > deadline { loop.stop(); return }
        loop.schedule(after: 0.01, tick)
    }
    loop.schedule(after: 0, tick)
    loop.run()
    return condition()
}

/// Lets the loop run for `seconds`.
func spin(_ loop: EventLoop, _ seconds: Double) {
    runLoop(loop, timeout: seconds) { false }
}

/// A port range unlikely to collide with parallel test processes.
let testPortBase: Int = 20000 + Int(getpid() % 400) * 100

func makeSpeaker(_ text: String, loop: EventLoop, file: StaticString = #filePath, line: UInt = #line) throws -> BGPSpeaker {
    if let l = ProcessInfo.processInfo.environment["BGPTEST_LOG"], let n = Int(l) { Log.level = n }
    let c = try BGPConfig.parse(text: text)
    return try BGPSpeaker(config: c, loop: loop)
}

extension BGPSpeaker {
    func session(_ name: String) -> Session { sessions.first { $0.name == name }! }
    func routeLines(proto: String) -> [String] {
        showRoute().split(separator: "\n").map(String.init).filter { $0.contains("[\(proto) ") }
    }
}

/// Two-speaker eBGP/iBGP config on loopback addresses with distinct ports.
func loopbackBGP(name: String, localIP: String, localAS: Int, localPort: Int, peerIP: String, peerAS: Int, peerPort: Int,
                 routerID: String, channel: String = "import all; export all;", extra: String = "", statics: [String] = []) -> String {
    let st = statics.isEmpty ? "" : """
    protocol static st_\(name) {
        ipv4;
    \(statics.map { "    route \($0) blackhole;" }.joined(separator: "\n"))
    }

    """
    return """
    router id \(routerID);
    \(st)
    protocol bgp \(name) {
        local \(localIP) port \(localPort) as \(localAS);
        neighbor \(peerIP) port \(peerPort) as \(peerAS);
        connect retry time 2;
        error wait time 1, 2;
        ipv4 { \(channel) };
    \(extra)
    }
    """
}

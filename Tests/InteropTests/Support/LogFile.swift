import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Read access to a growing text file (daemon log, events file). Offsets are byte offsets, so a test can
/// remember `size` before an action and look only at what was written after it.
struct LogFile {
    let url: URL

    var size: Int {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    }

    /// The whole text (invalid UTF-8 is repaired, logs may quote peer garbage).
    func text(from offset: Int = 0) -> String {
        guard let data = FileManager.default.contents(atPath: url.path), offset < data.count else { return "" }
        return String(decoding: data.subdata(in: max(0, offset)..<data.count), as: UTF8.self)
    }

    func lines(from offset: Int = 0) -> [String] {
        text(from: offset).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Last `n` lines, for failure messages.
    func tail(_ n: Int = 40) -> String {
        let l = lines()
        return l.suffix(n).joined(separator: "\n")
    }

    func firstLine(from offset: Int = 0, where predicate: (String) -> Bool) -> String? {
        lines(from: offset).first(where: predicate)
    }

    /// Waits for a line containing `substring` (case-sensitive unless `caseInsensitive`).
    @discardableResult
    func waitForLine(containing substring: String, from offset: Int = 0, caseInsensitive: Bool = false,
                     timeout: TimeInterval) -> String? {
        waitForLine(from: offset, timeout: timeout) { line in
            caseInsensitive ? line.range(of: substring, options: .caseInsensitive) != nil : line.contains(substring)
        }
    }

    /// Waits for a line matching the regular expression `pattern`.
    @discardableResult
    func waitForLine(matching pattern: String, from offset: Int = 0, caseInsensitive: Bool = false,
                     timeout: TimeInterval) -> String? {
        let regex = try! NSRegularExpression(pattern: pattern, options: caseInsensitive ? [.caseInsensitive] : [])
        return waitForLine(from: offset, timeout: timeout) { line in
            regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
        }
    }

    @discardableResult
    func waitForLine(from offset: Int = 0, timeout: TimeInterval, where predicate: (String) -> Bool) -> String? {
        var found: String?
        waitUntil(timeout: timeout, poll: 0.1) {
            found = firstLine(from: offset, where: predicate)
            return found != nil
        }
        return found
    }
}

func lineMatches(_ line: String, _ pattern: String, caseInsensitive: Bool = true) -> Bool {
    let regex = try! NSRegularExpression(pattern: pattern, options: caseInsensitive ? [.caseInsensitive] : [])
    return regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
}

/// One line of a node's events file, written by the harness's scripts:
/// `<event> <NODE> <SUBNET> <REMOTEADDRESS>` with `-` for an empty/unset variable.
/// Events: tinc-up, tinc-down (NODE = own NAME), host-up, host-down, subnet-up, subnet-down.
struct TincEvent: Equatable, CustomStringConvertible {
    let kind: String
    let node: String
    let subnet: String
    let remoteAddress: String

    init?(line: String) {
        let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard f.count >= 4 else { return nil }
        kind = f[0]; node = f[1]; subnet = f[2]; remoteAddress = f[3]
    }

    var description: String { "\(kind) \(node) \(subnet) \(remoteAddress)" }

    /// SUBNET as tinc 1.0.36 sets it ("10.1.0.0/24", weight stripped). Also tolerates "#weight" and a missing "/32".
    func subnetMatches(_ expected: String) -> Bool {
        func norm(_ s: String) -> String {
            var s = s
            if let hash = s.firstIndex(of: "#") { s = String(s[..<hash]) }
            if !s.contains("/") { s += s.contains(":") ? "/128" : "/32" }
            // IPv6: tinc 1.0.36 prints every group ("fd81:0:0:2:0:0:0:0/64"); compare canonical forms.
            if s.contains(":"), let slash = s.firstIndex(of: "/") {
                let addr = String(s[..<slash])
                var raw = in6_addr()
                var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                if inet_pton(AF_INET6, addr, &raw) == 1, inet_ntop(AF_INET6, &raw, &buf, socklen_t(buf.count)) != nil {
                    s = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } + s[slash...]
                }
            }
            return s.lowercased()
        }
        return norm(subnet) == norm(expected)
    }
}

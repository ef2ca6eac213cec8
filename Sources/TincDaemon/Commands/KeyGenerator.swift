import Glibc
import Foundation
import MeshCrypto

/// `tincd -K`: appends a new RSA key pair to rsa_key.priv and hosts/NAME, disabling older keys
/// in those files by renaming their BEGIN/END lines to "OLD", exactly like tinc 1.0.
public enum KeyGenerator {
    public static func generate(bits requested: Int, confDir: String, name: String?) throws -> (privatePath: String, publicPath: String) {
        var bits = requested
        if bits < 512 {
            throw SettingsError("Invalid key size \(bits) specified! It should be at least 512 bits.")
        }
        bits &= ~7
        FileHandle.standardError.write("Generating \(bits) bits keys:\n".data(using: .utf8)!)
        let key = try RSAKey.generate(bits: bits)
        FileHandle.standardError.write("Done.\n".data(using: .utf8)!)
        let privPath = confDir + "/rsa_key.priv"
        let pubPath = name.map { confDir + "/hosts/" + $0 } ?? confDir + "/rsa_key.pub"
        try append(key.privatePEM(), to: privPath, mode: 0o600)
        try append(key.publicPEM(), to: pubPath, mode: 0o644)
        return (privPath, pubPath)
    }

    static func append(_ pem: String, to path: String, mode: mode_t) throws {
        if let old = try? String(contentsOfFile: path, encoding: .utf8), old.contains("-----BEGIN RSA") || old.contains("-----END RSA") {
            FileHandle.standardError.write("Warning: old key(s) found and disabled.\n".data(using: .utf8)!)
            let disabled = old.replacingOccurrences(of: "-----BEGIN RSA", with: "-----BEGIN OLD RSA")
                .replacingOccurrences(of: "-----END RSA", with: "-----END OLD RSA")
            try disabled.write(toFile: path, atomically: false, encoding: .utf8)
        }
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SettingsError("Error opening file `\(path)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if mode == 0o600 { fchmod(fd, mode) }
        let text = "\n" + pem + (pem.hasSuffix("\n") ? "" : "\n")
        let ok = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) == $0.count - 1 }
        guard ok else { throw SettingsError("Error writing `\(path)': \(String(cString: strerror(errno)))") }
    }
}

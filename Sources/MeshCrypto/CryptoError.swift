import COpenSSL

/// A failure from MeshCrypto. `message` carries OpenSSL's own error text when OpenSSL was the cause,
/// because "decrypt failed" alone is useless when debugging a key mismatch with a real tincd.
public struct CryptoError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    /// `what`, followed by everything on this thread's OpenSSL error queue (which is emptied).
    static func openSSL(_ what: String) -> CryptoError {
        var buf = [CChar](repeating: 0, count: 1024)
        cos_drain_errors(&buf, buf.count)
        let detail = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return CryptoError(detail.isEmpty ? what : "\(what): \(detail)")
    }
}

/// Called from every entry point that may touch a cipher: Blowfish lives in the legacy provider,
/// which must be loaded before the first lookup. pthread_once inside, so it is cheap to repeat.
@inline(__always)
func ensureOpenSSLProviders() {
    _ = cos_init()
}

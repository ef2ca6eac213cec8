import Glibc
import MeshCrypto
import MeshIO

/// `tincd-swift bench-crypto [--cipher=NAME] [--digest=NAME] [--frame=BYTES] [--seconds=S]`:
/// the data plane's seal+open pipeline in-process (seqno + frame, exactly as the workers build it),
/// so `make bench` can print it beside `openssl speed` for the same suite.
public enum CryptoBenchmark {
    public static func main(_ args: [String]) -> Int32 {
        var cipherName = "aes-256-cbc", digestName = "sha256", frame = 1400, seconds = 2.0, macLength = 4
        for a in args {
            let kv = a.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { writeStandardError("bench-crypto: unknown argument \(a)\n"); return 1 }
            switch kv[0] {
            case "--cipher": cipherName = kv[1]
            case "--digest": digestName = kv[1]
            case "--frame": frame = Int(kv[1]) ?? frame
            case "--seconds": seconds = Double(kv[1]) ?? seconds
            case "--maclength": macLength = Int(kv[1]) ?? macLength
            default: writeStandardError("bench-crypto: unknown argument \(a)\n"); return 1
            }
        }
        guard let cipher = CipherSuite(name: cipherName), let digest = DigestSuite(name: digestName) else {
            writeStandardError("bench-crypto: unknown cipher or digest\n")
            return 1
        }
        let material = SecureRandom.bytes(cipher.isNone ? 1 : cipher.keyLength + cipher.ivLength)
        guard let sealer = try? PacketCipher(cipher: cipher, digest: digest, macLength: digest.isNone ? 0 : macLength, keyMaterial: material),
              let opener = try? PacketCipher(cipher: cipher, digest: digest, macLength: digest.isNone ? 0 : macLength, keyMaterial: material) else {
            writeStandardError("bench-crypto: cannot key \(cipherName)/\(digestName)\n")
            return 1
        }
        let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: frame + 4, alignment: 64)
        let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: frame + 4 + sealer.overhead + 64, alignment: 64)
        let opened = UnsafeMutableRawBufferPointer.allocate(byteCount: frame + 4 + 64, alignment: 64)
        defer { plain.deallocate(); sealed.deallocate(); opened.deallocate() }
        SecureRandom.fill(plain)
        var count = 0
        var seq: UInt32 = 0
        let start = EventLoop.now()
        var now = start
        while now - start < seconds {
            for _ in 0..<256 {
                seq &+= 1
                plain.storeBytes(of: seq.bigEndian, as: UInt32.self)
                let n = sealer.seal(UnsafeRawBufferPointer(plain), into: sealed)
                guard opener.open(UnsafeRawBufferPointer(rebasing: sealed[0..<n]), into: opened) != nil else {
                    writeStandardError("bench-crypto: open failed\n")
                    return 1
                }
            }
            count += 256
            now = EventLoop.now()
        }
        let fps = Double(count) / (now - start)
        print("cipher=\(cipher.name) digest=\(digest.name) frame=\(frame) frames/s=\(Int(fps)) MB/s=\(Int(fps * Double(frame) / 1e6))")
        return 0
    }
}

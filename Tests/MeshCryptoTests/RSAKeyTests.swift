import Foundation
import MeshCrypto
import XCTest

final class RSAKeyTests: XCTestCase {
    // 512-bit key made with `openssl genrsa -traditional 512` (e = 65537). Small on purpose: KAT only.
    static let katPEM = """
    -----BEGIN RSA PRIVATE KEY-----
    MIIBPAIBAAJBAO912V32/GLOs8AeX7BWPm2lp/CDQmFDfMeXgJZ6svyqTMwGILwN
    egX4qWb8iehUvaFHvhJNmZgjV8rgpRloCLsCAwEAAQJADq5Y/0vPOXeWyaaTE0qW
    VT6cx0Ak57WthschGRi4tIjWA9u/WzZF/wSxCuh7owxbg1L5GLS4Q5KKJC0LNbab
    gQIhAPqnhgp+AVytmOss8CklOcw/rRI5eJd3tHd5+bySBZlhAiEA9JE12OOZGVAM
    Jbj+1gZCaMzdzFx5tYZSu7Lx5/iNC5sCIQCZuR4i1y58qVbMfK35fgQZeL/rGmYT
    9u0uDReVh7R5YQIhANK8OTDtVOO51O3ATV3wQNL7DHdmi709xBZWaBmhUy/XAiEA
    72FhSs36GoqMxYU9ifLXOMVtUpxbhrPlXXqy0Bnsw/o=
    -----END RSA PRIVATE KEY-----

    """
    // m = 0x5A 01 02 .. 3F; c = pow(m, 65537, n) computed independently with Python's pow().
    static let katM = "5A0102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F"
    static let katC = "D6657EB9BB3C2E9CBEF738C1298FF7FFFF25FA6983B6DB2DCBBA7A67A751826BD85E4113E36D32431805F48CD7991F6C6B490DF5225123071AF9EB2CC7A8679B"

    // A second 512-bit key with e = 0xFFFF (`openssl genpkey ... rsa_keygen_pubexp:65535`), for tinc's
    // obsolete hex PublicKey/PrivateKey forms. c = pow(m, 65535, n), again from Python.
    static let hexN = "A41CD82D9646D181B085EB58E8147CF45F7F8E352299CC6A3F9FD87AD9D0D7C2CD703C77819175713D070D557CCA7C3E88538B667FD0218D92974719E4D2DDE9"
    static let hexD = "88AC962CBD1D0342D676BD6FADE60DDDC90D91498D7446929A43069985D2D420B70687047F69794326313C457429589AE52775DE8F415D775DB60EF2FE3057FF"
    static let hexC = "3866EA73EC211611B5ED9E2C0A63AAA2B324B5ACD0638A954D1B79B79A283D0353EA7A53F782FF307D97A6C04CE3F6461F061909702186C816677DEA86FB08FA"

    func testKnownAnswerRawRSA() throws {
        let key = try RSAKey(privatePEM: Self.katPEM)
        XCTAssertEqual(key.size, 64)
        XCTAssertTrue(key.isPrivate)
        let m = Hex.decode(Self.katM)!
        let c = try key.rawEncrypt(m)
        XCTAssertEqual(Hex.encode(c), Self.katC)
        XCTAssertEqual(try key.rawDecrypt(Hex.decode(Self.katC)!), m)

        // The public half alone (as read from hosts/NAME) gives the same ciphertext.
        let pub = try RSAKey(publicPEM: key.publicPEM())
        XCTAssertFalse(pub.isPrivate)
        XCTAssertEqual(try pub.rawEncrypt(m), c)
        XCTAssertThrowsError(try pub.rawDecrypt(c))
    }

    func testObsoleteHexForms() throws {
        let pub = try RSAKey(publicModulusHex: Self.hexN)
        XCTAssertEqual(pub.size, 64)
        XCTAssertFalse(pub.isPrivate)
        let m = Hex.decode(Self.katM)!
        XCTAssertEqual(Hex.encode(try pub.rawEncrypt(m)), Self.hexC)

        let priv = try RSAKey(modulusHex: Self.hexN.lowercased(), privateExponentHex: Self.hexD)
        XCTAssertTrue(priv.isPrivate)
        XCTAssertEqual(try priv.rawDecrypt(Hex.decode(Self.hexC)!), m)
        XCTAssertEqual(try priv.rawEncrypt(m), Hex.decode(Self.hexC)!)
        // PKCS#1 cannot carry a key without CRT factors; the public half still exports.
        XCTAssertEqual(priv.privatePEM(), "")
        XCTAssertThrowsError(try priv.exportPrivatePEM())
        XCTAssertTrue(pub.publicPEM().hasPrefix("-----BEGIN RSA PUBLIC KEY-----"))

        XCTAssertThrowsError(try RSAKey(publicModulusHex: ""))
        XCTAssertThrowsError(try RSAKey(publicModulusHex: "12G4"))
        XCTAssertThrowsError(try RSAKey(modulusHex: Self.hexN, privateExponentHex: "xyz"))
    }

    func testGeneratePEMRoundTripAndRawRoundTrip() throws {
        let key = try RSAKey.generate(bits: 2048)
        XCTAssertEqual(key.size, 256)
        XCTAssertTrue(key.isPrivate)
        let privPEM = key.privatePEM()
        let pubPEM = key.publicPEM()
        XCTAssertTrue(privPEM.hasPrefix("-----BEGIN RSA PRIVATE KEY-----\n"), privPEM)
        XCTAssertTrue(privPEM.hasSuffix("-----END RSA PRIVATE KEY-----\n"))
        XCTAssertTrue(pubPEM.hasPrefix("-----BEGIN RSA PUBLIC KEY-----\n"), pubPEM)
        XCTAssertTrue(pubPEM.hasSuffix("-----END RSA PUBLIC KEY-----\n"))

        let priv2 = try RSAKey(privatePEM: privPEM)
        let pub2 = try RSAKey(publicPEM: pubPEM)
        XCTAssertEqual(priv2.publicPEM(), pubPEM)
        XCTAssertEqual(pub2.publicPEM(), pubPEM)
        XCTAssertEqual(priv2.privatePEM(), privPEM)
        XCTAssertEqual(pub2.privatePEM(), "")
        XCTAssertTrue(ERRPeek.isClean)

        // METAKEY style: random K with the top bit cleared, encrypted with the peer's public key.
        for _ in 0..<5 {
            var k = SecureRandom.bytes(pub2.size)
            k[0] &= 0x7F
            let c = try pub2.rawEncrypt(k)
            XCTAssertEqual(c.count, 256)
            XCTAssertEqual(try priv2.rawDecrypt(c), k)
            XCTAssertEqual(try key.rawDecrypt(c), k)
        }
        // Small values still come back full width, left-padded.
        var one = [UInt8](repeating: 0, count: 256)
        one[255] = 1
        XCTAssertEqual(try pub2.rawEncrypt(one), one)  // 1^e = 1
        XCTAssertEqual(try key.rawDecrypt(one), one)
    }

    func testRawRejectsWrongSizesAndOversizedValues() throws {
        let key = try RSAKey(privatePEM: Self.katPEM)
        XCTAssertThrowsError(try key.rawEncrypt([1, 2, 3]))
        XCTAssertThrowsError(try key.rawDecrypt([UInt8](repeating: 1, count: 65)))
        // m >= n must fail, not wrap around.
        let tooBig = [UInt8](repeating: 0xFF, count: 64)
        XCTAssertThrowsError(try key.rawEncrypt(tooBig)) { err in
            XCTAssertTrue("\(err)".contains("raw RSA encrypt failed"), "\(err)")
        }
    }

    func testBadPEMErrorsCarryOpenSSLText() {
        XCTAssertThrowsError(try RSAKey(privatePEM: "not a key")) { err in
            let e = err as! CryptoError
            XCTAssertTrue(e.message.contains("cannot read RSA private key PEM"), e.message)
            XCTAssertTrue(e.message.count > "cannot read RSA private key PEM".count, "expected OpenSSL detail: \(e.message)")
        }
        XCTAssertThrowsError(try RSAKey(publicPEM: "-----BEGIN RSA PUBLIC KEY-----\n!!!!\n-----END RSA PUBLIC KEY-----\n"))
        XCTAssertThrowsError(try RSAKey.publicKey(inText: "Address = 1.2.3.4\nPort = 655\n"))
    }

    func testPublicKeyInHostsFileText() throws {
        let key = try RSAKey(privatePEM: Self.katPEM)
        let other = try RSAKey.generate(bits: 512)
        let pkcs1 = key.publicPEM()
        let old = other.publicPEM()
            .replacingOccurrences(of: "BEGIN RSA PUBLIC KEY", with: "BEGIN OLD RSA PUBLIC KEY")
            .replacingOccurrences(of: "END RSA PUBLIC KEY", with: "END OLD RSA PUBLIC KEY")
        let broken = "-----BEGIN RSA PUBLIC KEY-----\nAAAA====\n-----END RSA PUBLIC KEY-----\n"
        let text = "# hosts/alpha\r\nAddress = 10.0.0.1\r\nSubnet = 10.1.0.0/16\r\n\r\n" + old + "\n" + broken + "\n" + pkcs1 + "Port = 655\n"
        let found = try RSAKey.publicKey(inText: text)
        XCTAssertEqual(found.publicPEM(), pkcs1)
        XCTAssertFalse(found.isPrivate)
    }

    func testOpenSSLGeneratedKeysAreReadable() throws {
        try requireOpenSSLCLI()
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let privPath = dir.appendingPathComponent("rsa_key.priv").path
        try openssl(["genrsa", "-traditional", "-out", privPath, "1024"])
        let privText = try String(contentsOfFile: privPath, encoding: .utf8)
        XCTAssertTrue(privText.contains("BEGIN RSA PRIVATE KEY"))
        let priv = try RSAKey(privatePEM: privText)
        XCTAssertEqual(priv.size, 128)

        let pkcs1 = try openssl(["rsa", "-in", privPath, "-RSAPublicKey_out"]).text
        XCTAssertTrue(pkcs1.contains("BEGIN RSA PUBLIC KEY"))
        let pub = try RSAKey(publicPEM: pkcs1)
        XCTAssertEqual(pub.publicPEM(), pkcs1)
        XCTAssertEqual(priv.publicPEM(), pkcs1)

        let spki = try openssl(["rsa", "-in", privPath, "-pubout"]).text
        XCTAssertTrue(spki.contains("BEGIN PUBLIC KEY"))
        let pubFromSPKI = try RSAKey(publicPEM: spki)
        XCTAssertEqual(pubFromSPKI.publicPEM(), pkcs1)
        XCTAssertEqual(try RSAKey.publicKey(inText: "Address = x\n" + spki).publicPEM(), pkcs1)

        let pkcs8 = try openssl(["pkey", "-in", privPath]).text
        XCTAssertTrue(pkcs8.contains("BEGIN PRIVATE KEY"))
        XCTAssertEqual(try RSAKey(privatePEM: pkcs8).publicPEM(), pkcs1)

        // Raw RSA must agree with `openssl pkeyutl -pkeyopt rsa_padding_mode:none` both ways.
        var k = SecureRandom.bytes(128)
        k[0] &= 0x7F
        let theirs = try openssl(["pkeyutl", "-encrypt", "-inkey", privPath, "-pkeyopt", "rsa_padding_mode:none"], stdin: k).bytes
        XCTAssertEqual(try pub.rawEncrypt(k), theirs)
        XCTAssertEqual(try priv.rawDecrypt(theirs), k)
        let ours = try pub.rawEncrypt(k)
        let back = try openssl(["pkeyutl", "-decrypt", "-inkey", privPath, "-pkeyopt", "rsa_padding_mode:none"], stdin: ours).bytes
        XCTAssertEqual(back, k)
        XCTAssertTrue(ERRPeek.isClean, "successful calls leave no stale OpenSSL errors behind")
    }

    func testOurPEMIsReadableByOpenSSL() throws {
        try requireOpenSSLCLI()
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = try RSAKey.generate(bits: 1024)
        let privPath = dir.appendingPathComponent("priv.pem").path
        let pubPath = dir.appendingPathComponent("pub.pem").path
        try key.privatePEM().write(toFile: privPath, atomically: true, encoding: .utf8)
        try key.publicPEM().write(toFile: pubPath, atomically: true, encoding: .utf8)

        try openssl(["rsa", "-in", privPath, "-check", "-noout"])
        let modPriv = try openssl(["rsa", "-in", privPath, "-noout", "-modulus"]).text
        let modPub = try openssl(["rsa", "-RSAPublicKey_in", "-in", pubPath, "-noout", "-modulus"]).text
        XCTAssertTrue(modPriv.hasPrefix("Modulus="))
        XCTAssertEqual(modPriv, modPub)
        let text = try openssl(["rsa", "-RSAPublicKey_in", "-in", pubPath, "-noout", "-text"]).text
        XCTAssertTrue(text.contains("Exponent: 65537"), text)
        // Re-exported by OpenSSL in PKCS#1 form it is byte-identical to ours.
        let again = try openssl(["rsa", "-RSAPublicKey_in", "-in", pubPath, "-RSAPublicKey_out"]).text
        XCTAssertEqual(again, key.publicPEM())
    }
}

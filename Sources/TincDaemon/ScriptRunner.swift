import Glibc
import MeshIO
import CNetShim

/// Runs tinc's hook scripts (`tinc-up`, `host-up`, `subnet-up`, …) from the config directory,
/// synchronously like tinc 1.0 so ordering between scripts is preserved.
public final class ScriptRunner {
    let confDir: String
    let interpreter: String?
    var baseEnvironment: [String: String]

    public init(confDir: String, interpreter: String?, baseEnvironment: [String: String]) {
        self.confDir = confDir
        self.interpreter = interpreter
        self.baseEnvironment = baseEnvironment
    }

    /// Runs `<confdir>/<name>` if it exists. Returns false when it ran and failed.
    @discardableResult
    public func run(_ name: String, extra: [String: String] = [:]) -> Bool {
        let path = confDir + "/" + name
        guard access(path, F_OK) == 0 else { return true }
        Log.info(Log.status, "Executing script \(name)")
        var env = ProcessEnvironment.current
        for (k, v) in baseEnvironment { env[k] = v }
        for (k, v) in extra { env[k] = v }
        let argv: [String] = interpreter.map { [$0, path] } ?? [path]
        let status = ProcessEnvironment.spawnAndWait(argv: argv, environment: env)
        if status != 0 {
            Log.error("Script \(name) exited with non-zero status \(status)")
            return false
        }
        return true
    }
}

enum ProcessEnvironment {
    static var current: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let e = p.pointee {
            let s = String(cString: e)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    /// fork+exec with the given environment; the child gets an unblocked signal mask (we block signals for signalfd).
    static func spawnAndWait(argv: [String], environment: [String: String]) -> Int32 {
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        let pid = fork()
        if pid == 0 {
            cns_unblock_all_signals()
            execve(cArgs[0]!, cArgs, cEnv)
            // Not executable: try through /bin/sh like system() would.
            let sh: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh")] + cArgs
            execve("/bin/sh", sh, cEnv)
            _exit(127)
        }
        guard pid > 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

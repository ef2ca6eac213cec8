import Glibc

/// Writes to file descriptor 2, unbuffered. Glibc's `stderr` is a mutable C global that Swift 6 will
/// not share between threads, and an unbuffered write keeps lines from different threads whole.
public func writeStandardError(_ text: String) {
    text.withCString { p in
        var left = strlen(p)
        var at = p
        while left > 0 {
            let n = write(2, at, left)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            left -= n
            at += n
        }
    }
}

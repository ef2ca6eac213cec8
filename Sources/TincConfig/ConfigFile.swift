// Reading tinc 1.0 configuration files (tinc.conf, conf.d/*.conf, hosts/NAME).
//
// Line rules (tinc 1.0.36):
//  - `Variable = Value` or `Variable Value`: the name ends at the first space, tab or '=';
//    then spaces/tabs, at most one '=', spaces/tabs; the rest is the value.
//  - Trailing spaces, tabs and the CR of CRLF are stripped.
//  - Empty lines and lines whose first character is '#' are comments (no inline comments).
//  - Lines from one starting with `-----BEGIN` to one starting with `-----END` are skipped
//    (PEM keys inside host files).
//  - An empty value is an error.
// Our choices where tinc is undefined or unhelpful:
//  - A line made only of whitespace counts as empty (tinc reads before the buffer there).
//  - A line starting with whitespace gets an empty variable name in tinc, which nothing ever
//    looks up, so tinc silently ignores it. We ignore it too, but with a warning.
//  - A setting line longer than 2048 bytes is an error (tinc splits it into two lines).

import Foundation

/// One `Variable = Value` setting with its origin.
public struct ConfigEntry: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The variable name as written (comparisons are case-insensitive).
    public var variable: String
    public var value: String
    public var location: ConfigLocation

    public init(variable: String, value: String, location: ConfigLocation) {
        self.variable = variable
        self.value = value
        self.location = location
    }

    /// Lowercased variable name, the key used for lookups.
    public var key: String { variable.lowercased() }

    public var description: String { "\(location): \(variable) = \(value)" }
}

/// The parsed contents of one config file.
public struct ConfigFile: Equatable, Sendable {
    /// The name used in locations and messages (e.g. `hosts/alpha`).
    public var displayName: String
    public var entries: [ConfigEntry]
    /// Non-fatal remarks (e.g. ignored indented lines), already prefixed with `file:line: `.
    public var warnings: [String]

    public init(displayName: String, entries: [ConfigEntry], warnings: [String] = []) {
        self.displayName = displayName
        self.entries = entries
        self.warnings = warnings
    }

    /// Longest setting line tinc 1.0 reads in one piece.
    public static let maxLineLength = 2048

    /// Reads and parses a file. `displayName` defaults to the path.
    /// A missing or unreadable file is a `ConfigError` located at `.path(displayName)`.
    public static func read(path: String, displayName: String? = nil) throws -> ConfigFile {
        let name = displayName ?? path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ConfigError(location: .path(name), message: "no such file")
        }
        if isDir.boolValue {
            throw ConfigError(location: .path(name), message: "is a directory, not a config file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(location: .path(name), message: "cannot read file")
        }
        return try parse(bytes: [UInt8](data), displayName: name)
    }

    /// Parses file contents given as a string.
    public static func parse(_ text: String, displayName: String) throws -> ConfigFile {
        try parse(bytes: Array(text.utf8), displayName: displayName)
    }

    /// Parses raw file bytes. Lines are split on LF (done on bytes: Swift treats CRLF as one
    /// Character, so splitting a String on "\n" would miss CRLF line ends).
    public static func parse(bytes: [UInt8], displayName: String) throws -> ConfigFile {
        var entries: [ConfigEntry] = []
        var warnings: [String] = []
        var inPEM = false
        var lineNumber = 0
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if bytes.last == 0x0A { lines.removeLast() }  // no phantom line after the final newline

        for raw in lines {
            lineNumber += 1
            var line = Array(raw)
            while let last = line.last, last == 0x20 || last == 0x09 || last == 0x0D {
                line.removeLast()
            }
            if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
            if inPEM {
                if line.starts(with: Array("-----END".utf8)) { inPEM = false }
                continue
            }
            if line.starts(with: Array("-----BEGIN".utf8)) {
                inPEM = true
                continue
            }
            let location = ConfigLocation.file(displayName, line: lineNumber)
            if line.count > maxLineLength {
                throw ConfigError(location: location,
                                  message: "line too long (more than \(maxLineLength) characters)")
            }
            if line[0] == 0x20 || line[0] == 0x09 {
                warnings.append("\(location): line starts with whitespace; ignored (as tinc does)")
                continue
            }
            let text = String(decoding: line, as: UTF8.self)
            entries.append(try parseLine(text, location: location))
        }
        return ConfigFile(displayName: displayName, entries: entries, warnings: warnings)
    }

    /// Splits one setting line (already known not to be a comment) into variable and value.
    /// Used for file lines and for `-o` options. Throws when the value is empty.
    public static func parseLine(_ line: String, location: ConfigLocation) throws -> ConfigEntry {
        var scalars = Substring(line).unicodeScalars[...]
        // trailing blanks / CR
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" {
            scalars.removeLast()
        }
        let isSeparator: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "=" }
        let isBlank: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" }
        let nameEnd = scalars.firstIndex(where: isSeparator) ?? scalars.endIndex
        let variable = String(String.UnicodeScalarView(scalars[scalars.startIndex..<nameEnd]))
        var rest = scalars[nameEnd...]
        while let c = rest.first, isBlank(c) { rest.removeFirst() }
        if rest.first == "=" {
            rest.removeFirst()
            while let c = rest.first, isBlank(c) { rest.removeFirst() }
        }
        let value = String(String.UnicodeScalarView(rest))
        if value.isEmpty {
            throw ConfigError(location: location,
                              variable: variable.isEmpty ? nil : variable,
                              message: "no value given")
        }
        return ConfigEntry(variable: variable, value: value, location: location)
    }
}

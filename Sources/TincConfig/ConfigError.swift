// Errors produced while reading and validating tinc configuration.

/// Where a configuration value came from.
public enum ConfigLocation: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// A line of a config file. `file` is the display name, relative to the config
    /// directory when the loader read it (e.g. `tinc.conf`, `conf.d/x.conf`, `hosts/alpha`).
    case file(String, line: Int)
    /// A whole file (e.g. a missing `hosts/NAME`).
    case path(String)
    /// The n-th `-o` option on the command line (1-based, like tinc's numbering).
    case commandLine(option: Int)

    public var description: String {
        switch self {
        case let .file(file, line): return "\(file):\(line)"
        case let .path(file): return file
        case let .commandLine(n): return "command line option -o #\(n)"
        }
    }

    /// The file display name, if the location is in a file.
    public var file: String? {
        switch self {
        case let .file(f, _), let .path(f): return f
        case .commandLine: return nil
        }
    }

    /// The line number (or `-o` index for command line options); 0 for whole files.
    public var line: Int {
        switch self {
        case let .file(_, l): return l
        case .path: return 0
        case let .commandLine(n): return n
        }
    }

    var isCommandLine: Bool {
        if case .commandLine = self { return true }
        return false
    }
}

/// A configuration error. `description` reads like
/// `hosts/alpha:3: Port: "65536" is not a valid port`.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: ConfigLocation?
    /// The variable the problem is about, as written in the file (nil when not applicable).
    public var variable: String?
    public var message: String

    public init(location: ConfigLocation?, variable: String? = nil, message: String) {
        self.location = location
        self.variable = variable
        self.message = message
    }

    /// An error about one entry: its location and variable name are taken from the entry.
    public init(_ entry: ConfigEntry, _ message: String) {
        self.init(location: entry.location, variable: entry.variable, message: message)
    }

    public var description: String {
        var s = ""
        if let location = location { s += "\(location): " }
        if let variable = variable { s += "\(variable): " }
        return s + message
    }
}

/// An error in the command line arguments. `description` names the bad argument.
public struct CommandLineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The offending argument as given (may be empty when an argument is missing).
    public var argument: String
    public var message: String

    public init(argument: String, message: String) {
        self.argument = argument
        self.message = message
    }

    public var description: String { message }
}

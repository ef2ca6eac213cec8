// tincd-swift: the executable only hands the command line to the libraries.
import Glibc
import TincDaemon

exit(DaemonCommand.main(Array(CommandLine.arguments.dropFirst())))

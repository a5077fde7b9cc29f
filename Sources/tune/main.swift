import Foundation
import Platform
import Tuning

// A child measuring one OpenBLAS core type (see OpenBLASCoreTypes) parses no command line.
if CommandLine.arguments.dropFirst().first == OpenBLASCoreTypes.childArgument {
  exit(OpenBLASCoreTypes.childMain(Array(CommandLine.arguments.dropFirst(2))))
}

// An invalid SCALETUNE_ISA is refused before any work: every kernel choice reads it.
do {
  _ = try ISAMask.fromEnvironment()
} catch {
  FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
  exit(64)
}
TuneCommand.main()

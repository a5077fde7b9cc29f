import Foundation
import Platform

// An invalid SCALETUNE_ISA is refused before any work: every kernel choice reads it.
do {
  _ = try ISAMask.fromEnvironment()
} catch {
  FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
  exit(64)
}
TrainCommand.main()

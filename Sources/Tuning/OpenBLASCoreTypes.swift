import Foundation
import Kernels
import Profile

/// OpenBLAS reads OPENBLAS_CORETYPE once, when it loads: each core type is measured in a child
/// process (`tune bench gemm --backend openblas` with the variable set), and the JSON it prints is
/// read back.
public enum OpenBLASCoreTypes {
  public struct Measurement: Sendable {
    public var coreType: String
    public var result: GEMMBenchmarkResult?
    public var failure: String?
  }

  public static func measure(
    coreTypes: [String], executable: String, shape: GEMMShape, precision: String, threads: Int, repeats: Int
  ) -> [Measurement] {
    coreTypes.map { core in
      let process = Process()
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = [
        "bench", "gemm", "--backend", "openblas", "--precision", precision, "--shape", shape.description, "--threads", String(threads),
        "--repeats", String(repeats), "--json",
      ]
      var environment = ProcessInfo.processInfo.environment
      environment["OPENBLAS_CORETYPE"] = core
      process.environment = environment
      let output = Pipe()
      process.standardOutput = output
      process.standardError = FileHandle.nullDevice
      do { try process.run() } catch {
        return Measurement(coreType: core, result: nil, failure: "could not start \(executable): \(error.localizedDescription)")
      }
      let data = output.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      guard process.terminationStatus == 0 else {
        return Measurement(coreType: core, result: nil, failure: "child exited with status \(process.terminationStatus)")
      }
      guard let results = try? JSONDecoder().decode([GEMMBenchmarkResult].self, from: data), let first = results.first else {
        return Measurement(coreType: core, result: nil, failure: "child printed no readable result")
      }
      return Measurement(coreType: core, result: first, failure: nil)
    }
  }
}

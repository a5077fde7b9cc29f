import Foundation
import Kernels
import NumberFormats
import Platform
import Profile

/// OpenBLAS reads OPENBLAS_CORETYPE once, when it loads: each core type is measured in a child
/// process of this executable with the variable set. Parent and child speak through this type
/// alone (a JSON request as the child's argument, a JSON result on its standard output), not
/// through the command line's flags or its printed output.
public enum OpenBLASCoreTypes {
  /// The first argument that makes the executable a child: `tune` hands the process to
  /// `childMain` before it parses any command line.
  public static let childArgument = "--scaletune-openblas-child"

  public struct Measurement: Sendable {
    public var coreType: String
    public var result: GEMMBenchmarkResult?
    public var failure: String?
  }

  struct Request: Codable {
    var shape: GEMMShape
    var precision: Precision
    var threads: Int
    var repeats: Int
  }

  public static func measure(
    coreTypes: [String], executable: String, shape: GEMMShape, precision: Precision, threads: Int, repeats: Int
  ) -> [Measurement] {
    coreTypes.map { core in
      let request = Request(shape: shape, precision: precision, threads: threads, repeats: repeats)
      guard let argument = try? String(decoding: JSONEncoder().encode(request), as: UTF8.self) else {
        return Measurement(coreType: core, result: nil, failure: "could not encode the request")
      }
      let process = Process()
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = [childArgument, argument]
      var environment = ProcessInfo.processInfo.environment
      environment["OPENBLAS_CORETYPE"] = core
      process.environment = environment
      let output = Pipe(), errors = Pipe()
      process.standardOutput = output
      process.standardError = errors
      do { try process.run() } catch {
        return Measurement(coreType: core, result: nil, failure: "could not start \(executable): \(error.localizedDescription)")
      }
      let data = output.fileHandleForReading.readDataToEndOfFile()
      let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      process.waitUntilExit()
      guard process.terminationStatus == 0 else {
        return Measurement(coreType: core, result: nil, failure: "child exited with status \(process.terminationStatus)" + (message.isEmpty ? "" : ": \(message)"))
      }
      guard let result = try? JSONDecoder().decode(GEMMBenchmarkResult.self, from: data) else {
        return Measurement(coreType: core, result: nil, failure: "child printed no readable result")
      }
      return Measurement(coreType: core, result: result, failure: nil)
    }
  }

  /// The child: verifies, then times OpenBLAS on the request, prints the result as JSON. Returns
  /// the exit status (0, or 1 with the reason on standard error).
  public static func childMain(_ arguments: [String]) -> Int32 {
    do {
      guard arguments.count == 1, let request = try? JSONDecoder().decode(Request.self, from: Data(arguments[0].utf8)) else {
        throw KernelError.invalidParameters("\(childArgument) takes one JSON request (shape, precision, threads, repeats)")
      }
      let topology = try Topology()
      let results = try GEMMBenchmark.run(
        problem: GEMMProblem(shape: request.shape), precision: request.precision,
        candidate: GEMMChoice(backend: .openblas, precision: request.precision, threads: request.threads), features: ISAFeatures.current,
        context: KernelContext(threads: request.threads, placement: .perCore(topology)), repeats: request.repeats)
      FileHandle.standardOutput.write(try JSONEncoder().encode(results[0]))
      return 0
    } catch {
      FileHandle.standardError.write(Data("\(error)\n".utf8))
      return 1
    }
  }
}

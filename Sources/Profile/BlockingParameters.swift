/// How the native GEMM blocks and parallelises: data, not constants in loops (BLIS keeps one such
/// table per architecture). MC and NC are multiples of the micro-kernel's MR and NR.
public struct BlockingParameters: Codable, Hashable, Sendable, CustomStringConvertible {
  public enum ParallelLoop: String, Codable, Sendable, CaseIterable {
    /// Threads split the rows of C (each packs its own A blocks and all of B).
    case ic
    /// Threads split the columns of C (each packs its own B panels and all of A).
    case jc
  }

  public var microKernel: String
  public var mc: Int
  public var kc: Int
  public var nc: Int
  public var threads: Int
  public var parallelLoop: ParallelLoop

  public init(microKernel: String, mc: Int, kc: Int, nc: Int, threads: Int = 1, parallelLoop: ParallelLoop = .ic) {
    self.microKernel = microKernel
    self.mc = mc
    self.kc = kc
    self.nc = nc
    self.threads = threads
    self.parallelLoop = parallelLoop
  }

  public var description: String { "kernel=\(microKernel),mc=\(mc),kc=\(kc),nc=\(nc),threads=\(threads),loop=\(parallelLoop.rawValue)" }

  /// Why these parameters cannot run with a micro-kernel of this shape; nil when they can.
  public func problem(mr: Int, nr: Int) -> String? {
    if mc < mr || mc % mr != 0 { return "mc=\(mc) must be a positive multiple of MR=\(mr)" }
    if nc < nr || nc % nr != 0 { return "nc=\(nc) must be a positive multiple of NR=\(nr)" }
    if kc < 1 { return "kc=\(kc) must be at least 1" }
    if threads < 1 { return "threads=\(threads) must be at least 1" }
    return nil
  }
}

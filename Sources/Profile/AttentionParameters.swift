/// Tile sizes and threads of the flash kernels.
public struct FlashParameters: Codable, Hashable, Sendable, CustomStringConvertible {
  /// Query rows per block.
  public var br: Int
  /// Key/value rows per block.
  public var bc: Int
  public var threads: Int
  /// The GEMM micro-kernel for the two block products (nil: the first this CPU can run).
  public var microKernel: String?
  /// How the forward's threads split the work: batch × heads × this many interleaved shares of
  /// each head's query blocks (1: whole heads; more, when there are fewer heads than threads, at
  /// the cost of packing each head's K and V once per share).
  public var querySplit: Int

  public init(br: Int = 64, bc: Int = 64, threads: Int = 1, microKernel: String? = nil, querySplit: Int = 1) {
    self.br = br
    self.bc = bc
    self.threads = threads
    self.microKernel = microKernel
    self.querySplit = querySplit
  }

  public var description: String {
    "br=\(br),bc=\(bc),threads=\(threads)" + (microKernel.map { ",kernel=\($0)" } ?? "") + (querySplit > 1 ? ",split=\(querySplit)" : "")
  }
}

/// Threads and GEMM blocking of the materialised-scores attention.
public struct MaterializedParameters: Codable, Hashable, Sendable, CustomStringConvertible {
  public var threads: Int
  /// The native GEMM blocking for both products (nil: the micro-kernel flash would use, with
  /// blocking sized for the problem).
  public var blocking: BlockingParameters?

  public init(threads: Int = 1, blocking: BlockingParameters? = nil) {
    self.threads = threads
    self.blocking = blocking
  }

  public var description: String { "threads=\(threads)" + (blocking.map { ",\($0)" } ?? "") }
}

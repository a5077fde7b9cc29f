import NumberFormats

/// The GEMM implementations ScaleTune can run and tune.
public enum GEMMBackend: String, CaseIterable, Codable, Sendable {
  /// The reference triple loop (fp64 accumulation): for checking, far too slow to tune.
  case naive
  /// OpenBLAS sgemm/dgemm.
  case openblas
  /// BLIS-style loops in Swift around SIMD micro-kernels.
  case native
  /// bf16 on AMX tiles (or AVX512-BF16 dot products): needs those units.
  case amx
  /// BLIS (libblis): fp32 and fp64, its kernels for the sub-configuration it selects at load.
  case blis
  /// oneDNN (libdnnl): dnnl_sgemm for fp32, its matmul primitive for bf16 and fp16.
  case onednn

  public enum ParseError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    public var description: String {
      guard case .unknown(let name) = self else { return "" }
      return "unknown GEMM backend \"\(name)\"; expected one of: \(GEMMBackend.allCases.map(\.rawValue).joined(separator: ", "))"
    }
  }

  public static func parse(_ text: String) throws -> GEMMBackend {
    guard let backend = GEMMBackend(rawValue: text.lowercased()) else { throw ParseError.unknown(text) }
    return backend
  }

  /// What the amx backend takes: values that are exact in bf16 once decoded.
  public static let amxPrecisions: [Precision] = [.bf16, .mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4]
}

/// A kernel parameter written as `key=value` that is not one the kernel takes, or not valid.
public enum ChoiceError: Error, Equatable, CustomStringConvertible {
  case unknownParameter(String, known: [String])
  case badValue(String, String, expected: String)

  public var description: String {
    switch self {
    case .unknownParameter(let name, let known):
      return known.isEmpty ? "unknown parameter \"\(name)\"; this backend takes none" : "unknown parameter \"\(name)\"; expected: \(known.joined(separator: ", "))"
    case .badValue(let name, let value, let expected): return "parameter \(name)=\(value) is not valid; expected \(expected)"
    }
  }

  static func positive(_ name: String, _ parameters: [String: String]) throws -> Int? {
    guard let text = parameters[name] else { return nil }
    guard let value = Int(text), value > 0 else { throw ChoiceError.badValue(name, text, expected: "a positive integer") }
    return value
  }
}

extension BlockingParameters {
  /// The keys of the `key=value` form.
  public static let keys = ["kernel", "mc", "kc", "nc", "loop", "threads"]

  /// The `key=value` form (every key, as `applying` reads it back).
  public var parameters: [String: String] {
    ["kernel": microKernel, "mc": String(mc), "kc": String(kc), "nc": String(nc), "loop": parallelLoop.rawValue, "threads": String(threads)]
  }

  /// These parameters with the ones `parameters` names replaced: the one parser of the
  /// `key=value` form (`tune bench --params`, records of older profiles).
  /// - Throws: `ChoiceError` for a key outside `keys` or a value that is not valid.
  public func applying(_ parameters: [String: String], ignoring ignored: Set<String> = []) throws -> BlockingParameters {
    if let unknown = parameters.keys.sorted().first(where: { !Self.keys.contains($0) && !ignored.contains($0) }) {
      throw ChoiceError.unknownParameter(unknown, known: Self.keys)
    }
    var copy = self
    if let kernel = parameters["kernel"] { copy.microKernel = kernel }
    copy.mc = try ChoiceError.positive("mc", parameters) ?? mc
    copy.kc = try ChoiceError.positive("kc", parameters) ?? kc
    copy.nc = try ChoiceError.positive("nc", parameters) ?? nc
    copy.threads = try ChoiceError.positive("threads", parameters) ?? threads
    if let loop = parameters["loop"] {
      guard let value = ParallelLoop(rawValue: loop) else { throw ChoiceError.badValue("loop", loop, expected: "ic or jc") }
      copy.parallelLoop = value
    }
    return copy
  }
}

/// One GEMM configuration: what the tuner records, the profile stores and the kernels run
/// (`GEMMPlan` in Kernels). Backend, the precision of the operands, threads, and for the native
/// and amx backends their blocking (micro-kernel, MC/KC/NC, parallel loop).
public struct GEMMChoice: Codable, Hashable, Sendable, CustomStringConvertible {
  public var backend: GEMMBackend
  public var precision: Precision
  public var threads: Int
  /// Native and amx only; its `threads` always equals `threads`.
  public var blocking: BlockingParameters?

  public init(backend: GEMMBackend, precision: Precision = .fp32, blocking: BlockingParameters? = nil, threads: Int = 1) {
    self.backend = backend
    self.precision = precision
    self.blocking = blocking
    self.threads = blocking?.threads ?? threads
  }

  /// `backend[key=value,…]`, the `key=value` part as `parameters` gives it.
  public var description: String {
    "\(backend.rawValue)[" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "]"
  }

  /// The `key=value` form: the blocking's keys, or `threads` alone.
  public var parameters: [String: String] { blocking?.parameters ?? ["threads": String(threads)] }

  /// A choice from the `key=value` form of a record (older profiles stored only that).
  /// - Throws: `ChoiceError` when the blocking backends miss a key or a value is not valid.
  public init(backend: GEMMBackend, precision: Precision, parameters: [String: String]) throws {
    let threads = try ChoiceError.positive("threads", parameters) ?? 1
    switch backend {
    case .native, .amx:
      guard let kernel = parameters["kernel"] else { throw ChoiceError.badValue("kernel", "", expected: "a micro-kernel name") }
      for key in ["mc", "kc", "nc"] where parameters[key] == nil { throw ChoiceError.badValue(key, "", expected: "a positive integer") }
      let blocking = try BlockingParameters(microKernel: kernel, mc: 1, kc: 1, nc: 1, threads: threads)
        .applying(parameters, ignoring: ["mcPanels", "journal", "core"])
      self.init(backend: backend, precision: precision, blocking: blocking)
    case .naive, .openblas, .blis, .onednn:
      self.init(backend: backend, precision: precision, threads: threads)
    }
  }
}

/// The attention implementations.
public enum AttentionBackend: String, CaseIterable, Codable, Sendable {
  /// Online softmax over blocks: O(seq) memory.
  case flash
  /// The scores materialised per head, two native GEMMs.
  case gemm
}

/// One attention configuration: backend, storage precision of Q, K and V, threads, and flash's
/// tiles (Br, Bc, micro-kernel, query split).
public struct AttentionChoice: Codable, Hashable, Sendable, CustomStringConvertible {
  public var backend: AttentionBackend
  public var precision: Precision
  public var threads: Int
  /// Flash only; its `threads` always equals `threads`.
  public var flash: FlashParameters?

  public init(backend: AttentionBackend, precision: Precision = .fp32, flash: FlashParameters? = nil, threads: Int = 1) {
    self.backend = backend
    self.precision = precision
    self.flash = flash
    self.threads = flash?.threads ?? threads
  }

  public static let flashKeys = ["br", "bc", "kernel", "split", "threads"]

  /// The `key=value` form.
  public var parameters: [String: String] {
    guard let flash else { return ["threads": String(threads)] }
    var values = ["br": String(flash.br), "bc": String(flash.bc), "split": String(flash.querySplit), "threads": String(flash.threads)]
    if let kernel = flash.microKernel { values["kernel"] = kernel }
    return values
  }

  public var description: String {
    "\(backend.rawValue)[" + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "]"
  }

  /// A choice from the `key=value` form (`tune bench attention --params`, records of older
  /// profiles); missing flash keys keep `defaults`' values.
  public init(
    backend: AttentionBackend, precision: Precision, parameters: [String: String], defaults: FlashParameters = FlashParameters(),
    ignoring ignored: Set<String> = []
  ) throws {
    let threads = try ChoiceError.positive("threads", parameters) ?? defaults.threads
    switch backend {
    case .gemm:
      if let key = parameters.keys.sorted().first(where: { $0 != "threads" && !ignored.contains($0) }) {
        throw ChoiceError.unknownParameter(key, known: [])
      }
      self.init(backend: .gemm, precision: precision, threads: threads)
    case .flash:
      if let key = parameters.keys.sorted().first(where: { !Self.flashKeys.contains($0) && !ignored.contains($0) }) {
        throw ChoiceError.unknownParameter(key, known: Self.flashKeys)
      }
      let flash = FlashParameters(
        br: try ChoiceError.positive("br", parameters) ?? defaults.br, bc: try ChoiceError.positive("bc", parameters) ?? defaults.bc,
        threads: threads, microKernel: parameters["kernel"] ?? defaults.microKernel,
        querySplit: try ChoiceError.positive("split", parameters) ?? defaults.querySplit)
      self.init(backend: .flash, precision: precision, flash: flash)
    }
  }
}

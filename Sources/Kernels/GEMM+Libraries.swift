import CLibraries
import Foundation
import NumberFormats
import Profile

/// What one accelerated library is on this machine: loaded (with its identity) or not, and why.
public struct LibraryStatus: Sendable {
  public let name: String
  /// Its version ("0.9.0", "2.6.3"); nil when it did not load.
  public let version: String?
  /// What it selected for this CPU: BLIS's sub-configuration ("zen3"), oneDNN's effective ISA
  /// ("avx512_core_bf16").
  public let selected: String?
  /// Its threading runtime ("openmp", "omp").
  public let threading: String?
  /// Why it cannot be used; nil when it loaded.
  public let failure: String?

  public var loaded: Bool { failure == nil }

  public init(name: String, version: String?, selected: String?, threading: String?, failure: String?) {
    self.name = name
    self.version = version
    self.selected = selected
    self.threading = threading
    self.failure = failure
  }
}

/// The text of a NUL-terminated buffer a C call filled.
func cString(_ buffer: [CChar]) -> String {
  String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// BLIS (`libblis.so.4`, opened locally at first use): fp32 and fp64 GEMM with a thread count per call.
public enum BLISGEMM {
  /// Loaded once per process.
  public static let status: LibraryStatus = {
    var error = [CChar](repeating: 0, count: 512)
    guard st_blis_load(&error, Int32(error.count)) == 0 else {
      return LibraryStatus(name: "BLIS", version: nil, selected: nil, threading: nil, failure: cString(error))
    }
    return LibraryStatus(
      name: "BLIS", version: String(cString: st_blis_version()), selected: String(cString: st_blis_arch()),
      threading: String(cString: st_blis_threading()), failure: nil)
  }()

  static func run(_ p: GEMMProblem, a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>, threads: Int) {
    let s = p.shape
    st_blis_sgemm(
      p.transA ? 1 : 0, p.transB ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), Float(p.alpha), a.base, Int64(a.ld), b.base, Int64(b.ld),
      Float(p.beta), c.base, Int64(c.ld), Int32(threads))
  }

  static func run(_ p: GEMMProblem, a: MatrixPointer<Double>, b: MatrixPointer<Double>, c: MutableMatrixPointer<Double>, threads: Int) {
    let s = p.shape
    st_blis_dgemm(
      p.transA ? 1 : 0, p.transB ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), p.alpha, a.base, Int64(a.ld), b.base, Int64(b.ld),
      p.beta, c.base, Int64(c.ld), Int32(threads))
  }
}

/// oneDNN (`libdnnl.so.2`, opened locally at first use): `dnnl_sgemm` for fp32, the matmul
/// primitive for bf16 and fp16 (fp32 output), on OpenMP threads set per call.
public enum OneDNNGEMM {
  public static let status: LibraryStatus = {
    var error = [CChar](repeating: 0, count: 512)
    guard st_dnnl_load(&error, Int32(error.count)) == 0 else {
      return LibraryStatus(name: "oneDNN", version: nil, selected: nil, threading: nil, failure: cString(error))
    }
    var (major, minor, patch): (Int32, Int32, Int32) = (0, 0, 0)
    var hash = [CChar](repeating: 0, count: 64)
    st_dnnl_version(&major, &minor, &patch, &hash, Int32(hash.count))
    // The commit it was built from, where the build recorded one (Debian's says "N/A").
    let commit = cString(hash)
    let version = "\(major).\(minor).\(patch)" + (commit.isEmpty || commit == "N/A" ? "" : " (\(commit.prefix(12)))")
    return LibraryStatus(
      name: "oneDNN", version: version, selected: isaName(Int(st_dnnl_effective_isa())),
      threading: String(cString: st_dnnl_cpu_runtime()), failure: nil)
  }()

  /// oneDNN 2.x's `dnnl_cpu_isa_t` values, by the names ONEDNN_MAX_CPU_ISA takes.
  public static let isaLevels: [(name: String, value: Int)] = [
    ("sse41", 0x1), ("avx", 0x3), ("avx2", 0x7), ("avx2_vnni", 0x407), ("avx512_core", 0x27), ("avx512_core_vnni", 0x67),
    ("avx512_core_bf16", 0xe7), ("avx512_core_amx", 0x3e7),
  ]

  static func isaName(_ value: Int) -> String {
    if value == 0 { return "all" }
    return isaLevels.first { $0.value == value }?.name ?? String(format: "0x%x", value)
  }

  /// The precisions it multiplies: fp32 (dnnl_sgemm), and bf16 and fp16 (matmul) where it has
  /// an implementation for this CPU, which only creating the primitive tells.
  public static let precisions: [Precision] = [.fp32, .bf16, .fp16]

  static func run(_ p: GEMMProblem, a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>, threads: Int) {
    let s = p.shape
    let status = st_dnnl_sgemm(
      p.transA ? 1 : 0, p.transB ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), Float(p.alpha), a.base, Int64(a.ld), b.base, Int64(b.ld),
      Float(p.beta), c.base, Int64(c.ld), Int32(threads))
    precondition(status == 0, "dnnl_sgemm failed (status \(status)) on a checked plan for \(s)")
  }
}

/// oneDNN matmul primitives for one problem (one per C leading dimension it meets), each with its
/// stream. Created once per plan: creating a primitive costs milliseconds, running it
/// microseconds. Its lock keeps calls (and the streams they use) from overlapping.
final class OneDNNMatmul: @unchecked Sendable {
  private var handles: [Int: OpaquePointer] = [:]
  let problem: GEMMProblem
  let precision: Precision
  let implementation: String
  private let lock = NSLock()

  /// - Throws: `KernelError.unsupported` with oneDNN's own reason when it has no implementation.
  init(_ problem: GEMMProblem, precision: Precision) throws {
    guard precision == .bf16 || precision == .fp16 else {
      throw KernelError.unsupported(backend: "onednn", reason: "its matmul runs bf16 or fp16 here, not \(precision)")
    }
    let handle = try Self.create(problem, precision: precision, ldc: problem.shape.n)
    self.problem = problem
    self.precision = precision
    implementation = String(cString: st_dnnl_matmul_implementation(handle))
    handles[problem.shape.n] = handle
  }

  static func create(_ problem: GEMMProblem, precision: Precision, ldc: Int) throws -> OpaquePointer {
    let s = problem.shape
    var error = [CChar](repeating: 0, count: 512)
    guard let handle = st_dnnl_matmul_create(
      precision == .bf16 ? 0 : 1, Int64(s.m), Int64(s.n), Int64(s.k), problem.transA ? 1 : 0, problem.transB ? 1 : 0, Int64(ldc),
      Float(problem.alpha), Float(problem.beta), &error, Int32(error.count))
    else { throw KernelError.unsupported(backend: "onednn", reason: cString(error)) }
    return handle
  }

  deinit {
    for handle in handles.values { st_dnnl_matmul_destroy(handle) }
  }

  /// Bytes of the bf16/fp16 copies of A and B that a call on fp32 operands needs (in the
  /// caller's scratch: the kernel context's, one buffer for every plan).
  var scratchBytes: Int { (problem.aHeight * problem.aWidth + problem.bHeight * problem.bWidth) * 2 }

  /// From fp32 operands (as the problem's transposes lay them out): each rounded to the
  /// precision into `scratch` (`scratchBytes`), then multiplied.
  func run(a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>, threads: Int, scratch: UnsafeMutableRawPointer) {
    lock.lock()
    defer { lock.unlock() }
    convertAndExecute(a: a, b: b, c: c, threads: threads, scratch: scratch)
  }

  /// Under the lock.
  private func convertAndExecute(
    a: MatrixPointer<Float>, b: MatrixPointer<Float>, c: MutableMatrixPointer<Float>, threads: Int, scratch: UnsafeMutableRawPointer
  ) {
    let p = problem
    let copyA = scratch.bindMemory(to: UInt16.self, capacity: scratchBytes / 2)
    let copyB = copyA + p.aHeight * p.aWidth
    Self.convert(a, rows: p.aHeight, columns: p.aWidth, into: copyA, precision: precision)
    Self.convert(b, rows: p.bHeight, columns: p.bWidth, into: copyB, precision: precision)
    execute(a: UnsafeRawPointer(copyA), b: UnsafeRawPointer(copyB), c: c, threads: threads)
  }

  /// From stored operands in the TN layout (A M×K rows, B N×K rows): bf16 ones are read in place.
  func run(a: QuantizedMatrix, b: QuantizedMatrix, c: MutableMatrixPointer<Float>, threads: Int, scratch: UnsafeMutableRawPointer) {
    lock.lock()
    defer { lock.unlock() }
    if precision == .bf16, let bitsA = a.bf16Bits, let bitsB = b.bf16Bits {
      bitsA.withUnsafeBytes { ra in bitsB.withUnsafeBytes { rb in execute(a: ra.baseAddress!, b: rb.baseAddress!, c: c, threads: threads) } }
      return
    }
    let da = a.dequantized(), db = b.dequantized()
    da.withUnsafeBufferPointer { pa in db.withUnsafeBufferPointer { pb in
      convertAndExecute(a: MatrixPointer(pa.baseAddress!, ld: a.columns), b: MatrixPointer(pb.baseAddress!, ld: b.columns), c: c, threads: threads, scratch: scratch)
    } }
  }

  /// Under the lock.
  private func execute(a: UnsafeRawPointer, b: UnsafeRawPointer, c: MutableMatrixPointer<Float>, threads: Int) {
    let handle: OpaquePointer
    if let made = handles[c.ld] {
      handle = made
    } else {
      // The implementation was found for ldc = N; another stride of C does not change it.
      handle = try! Self.create(problem, precision: precision, ldc: c.ld)
      handles[c.ld] = handle
    }
    let status = st_dnnl_matmul_run(handle, a, b, c.base, Int32(threads))
    precondition(status == 0, "oneDNN matmul failed (status \(status)) on a checked plan for \(problem.shape)")
  }

  /// rows × columns fp32 (ld apart) to contiguous bf16 (round to nearest even) or fp16.
  static func convert(_ source: MatrixPointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<UInt16>, precision: Precision) {
    for r in 0..<rows {
      let row = source.base + r * source.ld
      let destination = out + r * columns
      if precision == .bf16 {
        for j in 0..<columns { destination[j] = BFloat16.round(row[j].bitPattern) }
      } else {
        for j in 0..<columns { destination[j] = Float16(row[j]).bitPattern }
      }
    }
  }
}

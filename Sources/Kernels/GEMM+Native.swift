import Profile
import Foundation
import Platform

public enum KernelError: Error, Equatable, CustomStringConvertible {
  case unknownMicroKernel(name: String, known: [String])
  case invalidParameters(String)
  case unsupported(backend: String, reason: String)

  public var description: String {
    switch self {
    case .unknownMicroKernel(let name, let known):
      return "unknown micro-kernel \"\(name)\"; this CPU can run: \(known.joined(separator: ", "))"
    case .invalidParameters(let reason):
      return "invalid parameters: \(reason)"
    case .unsupported(let backend, let reason):
      return "backend \(backend) cannot run here: \(reason)"
    }
  }
}

/// Where GEMM threads run: one hardware thread each, cycling over `pus` when there are more threads.
public struct ThreadPlacement: Sendable {
  public let topology: Topology?
  public let pus: [Int]

  public init(topology: Topology?, pus: [Int]) {
    self.topology = topology
    self.pus = pus
  }

  /// One thread per core, in topology order.
  public static func perCore(_ topology: Topology) -> ThreadPlacement {
    ThreadPlacement(topology: topology, pus: topology.firstThreadOfEachCore)
  }

  func pus(for threads: Int) -> [Int] {
    guard !pus.isEmpty, topology != nil else { return [] }
    return (0..<threads).map { pus[$0 % pus.count] }
  }
}

/// The BLIS-style GEMM: loops NC → KC → MC → NR → MR around a micro-kernel, packing A and B into
/// contiguous micro-panels. Threads split C's rows (ic) or columns (jc), each running the serial
/// loops on its part with its own packing buffers, so they share nothing but C's disjoint tiles.
public enum NativeGEMM {
  /// The loops for one call, from `GEMMPlan` (which resolved `kernel` from
  /// `parameters.microKernel` and the sources from the problem's transposes).
  static func drive<T: GEMMScalar, A: PanelSource, B: PanelSource>(
    _ problem: GEMMProblem, a: A, b: B, c: MutableMatrixPointer<T>, parameters: BlockingParameters,
    kernel: MicroKernel<T>, context: KernelContext
  ) throws where A.Scalar == T, B.Scalar == T {
    if let reason = parameters.problem(mr: kernel.mr, nr: kernel.nr) { throw KernelError.invalidParameters(reason) }
    try context.check(threads: parameters.threads, for: "the native GEMM")
    partition(problem, c: c, parameters: parameters, mr: kernel.mr, nr: kernel.nr, context: context) { index, rows, columns in
      context.withPackBuffers(thread: index, T.self, parameters: parameters, kernel: kernel) { buffers in
        serial(problem, rows: rows, columns: columns, a: a, b: b, c: c, parameters: parameters, kernel: kernel, buffers: buffers)
      }
    }
  }

  /// Splits C among threads along the parallel loop, whole MR (ic) or NR (jc) units each, and runs
  /// `body(thread, rows, columns)` for every part on the context's threads. An empty C, or
  /// k = 0 (C = β·C), is done here.
  static func partition<T: GEMMScalar>(
    _ problem: GEMMProblem, c: MutableMatrixPointer<T>, parameters: BlockingParameters, mr: Int, nr: Int, context: KernelContext,
    _ body: (Int, Range<Int>, Range<Int>) -> Void
  ) {
    let shape = problem.shape
    if shape.m == 0 || shape.n == 0 { return }
    if shape.k == 0 {
      scale(c, rows: 0..<shape.m, columns: 0..<shape.n, by: T(problem.beta))
      return
    }
    let along = parameters.parallelLoop == .ic ? shape.m : shape.n
    let unit = parameters.parallelLoop == .ic ? mr : nr
    let units = (along + unit - 1) / unit
    let threads = max(1, min(parameters.threads, units))
    let parts: [Range<Int>] = (0..<threads).map { t in (units * t / threads * unit)..<min(along, units * (t + 1) / threads * unit) }
    context.parallel(threads) { index in
      let part = parts[index]
      body(index, parameters.parallelLoop == .ic ? part : 0..<shape.m, parameters.parallelLoop == .jc ? part : 0..<shape.n)
    }
  }

  static func serial<T: GEMMScalar, A: PanelSource, B: PanelSource>(
    _ problem: GEMMProblem, rows: Range<Int>, columns: Range<Int>, a: A, b: B, c: MutableMatrixPointer<T>,
    parameters: BlockingParameters, kernel: MicroKernel<T>, buffers: PackBuffers<T>
  ) where A.Scalar == T, B.Scalar == T {
    let (mr, nr) = (kernel.mr, kernel.nr)
    let k = problem.shape.k
    let alpha = T(problem.alpha)
    let ldc = c.ld
    for jc in stride(from: columns.lowerBound, to: columns.upperBound, by: parameters.nc) {
      let ncHere = min(parameters.nc, columns.upperBound - jc)
      for pc in stride(from: 0, to: k, by: parameters.kc) {
        let kcHere = min(parameters.kc, k - pc)
        // A pre-packed B (a weight packed once) is read where it lies.
        let bPanels = b.packedPanels(rows: jc, count: ncHere, k: pc, depth: kcHere, width: nr) ?? {
          b.pack(rows: jc, count: ncHere, k: pc, depth: kcHere, width: nr, into: buffers.b, scratch: buffers.scratch)
          return UnsafePointer(buffers.b)
        }()
        let beta = pc == 0 ? T(problem.beta) : 1
        for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: parameters.mc) {
          let mcHere = min(parameters.mc, rows.upperBound - ic)
          a.pack(rows: ic, count: mcHere, k: pc, depth: kcHere, width: mr, into: buffers.a, scratch: buffers.scratch)
          macroKernel(
            a: buffers.a, b: bPanels, m: mcHere, n: ncHere, k: kcHere, c: MutableMatrixPointer(c.base + ic * ldc + jc, ld: ldc),
            alpha: alpha, beta: beta, kernel: kernel, edge: buffers.edge)
        }
      }
    }
  }

  /// C[m×n] = α·A·B + β·C from packed operands: A as MR-row micro-panels of depth k, B as NR-column
  /// micro-panels of depth k (the layout `PanelSource.pack` writes). Edge tiles go through `edge`
  /// (MR×NR scratch), so only existing elements of C are read or written; with β = 0, C is not read.
  /// `aDepth`: the depth A's panels were packed with, when only their first k steps are used.
  @inline(__always)
  static func macroKernel<T: GEMMScalar>(
    a: UnsafeMutablePointer<T>, b: UnsafePointer<T>, m: Int, n: Int, k: Int, c: MutableMatrixPointer<T>, alpha: T, beta: T,
    kernel: MicroKernel<T>, edge: UnsafeMutablePointer<T>, aDepth: Int? = nil
  ) {
    let (mr, nr, ldc, run) = (kernel.mr, kernel.nr, c.ld, kernel.run)
    let aStride = (aDepth ?? k) * mr
    for jr in stride(from: 0, to: n, by: nr) {
      let nrHere = min(nr, n - jr)
      let bPanel = b + (jr / nr) * k * nr
      for ir in stride(from: 0, to: m, by: mr) {
        let mrHere = min(mr, m - ir)
        let aPanel = UnsafePointer(a + (ir / mr) * aStride)
        let tile = c.base + ir * ldc + jr
        if mrHere == mr && nrHere == nr {
          run(k, aPanel, bPanel, tile, ldc, alpha, beta)
        } else {
          // Edge tile: compute the full MR×NR into scratch, then write only what exists.
          run(k, aPanel, bPanel, edge, nr, 1, 0)
          writeEdge(edge, nr: nr, to: tile, ldc: ldc, rows: mrHere, columns: nrHere, alpha: alpha, beta: beta)
        }
      }
    }
  }

  /// tile = α·edge + β·tile on the `rows` × `columns` that exist (edge: a full MR×NR tile, ld NR).
  @inline(__always)
  static func writeEdge<T: GEMMScalar>(
    _ edge: UnsafeMutablePointer<T>, nr: Int, to tile: UnsafeMutablePointer<T>, ldc: Int, rows: Int, columns: Int, alpha: T, beta: T
  ) {
    for i in 0..<rows {
      for j in 0..<columns {
        let product = alpha * edge[i * nr + j]
        tile[i * ldc + j] = beta == 0 ? product : product + beta * tile[i * ldc + j]
      }
    }
  }

  static func scale<T: GEMMScalar>(_ c: MutableMatrixPointer<T>, rows: Range<Int>, columns: Range<Int>, by beta: T) {
    for i in rows {
      for j in columns { c.base[i * c.ld + j] = beta == 0 ? 0 : beta * c.base[i * c.ld + j] }
    }
  }
}

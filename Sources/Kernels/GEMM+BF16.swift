import Profile
import CKernels
import NumberFormats
import Platform

/// A bf16 micro-kernel in C: C[MR×NR] = α·A·B + β·C from packed bf16 panels, fp32 accumulation.
/// The layouts are described in bf16_kernels.c.
public struct BF16MicroKernel: Sendable {
  public enum Layout: Sendable {
    /// k in pairs, one 32-bit (a, a') per row and (b, b') per column: vdpbf16ps.
    case pairs
    /// k in chunks of 32, A and B as 16-row AMX tiles.
    case tiles
  }

  public let name: String
  public let mr: Int
  public let nr: Int
  public let layout: Layout
  public let requires: [String]
  /// Runs on AMX tiles, configured on its thread by the context (`KernelContext.withTiles`).
  let usesTiles: Bool
  /// (k groups, A panel, B panel, C, ldc, α, β)
  let run: @Sendable (Int, UnsafePointer<UInt16>, UnsafePointer<UInt16>, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void

  /// k is padded with zeros to a multiple of this.
  public var kGroup: Int { layout == .pairs ? 2 : 32 }

  public func isUsable(on features: ISAFeatures) -> Bool { requires.allSatisfy(features.usable) }

  public static let amx = BF16MicroKernel(
    name: "amx-bf16-32x32", mr: 32, nr: 32, layout: .tiles, requires: ["amx_tile", "amx_bf16", "avx512f"], usesTiles: true
  ) { ck_amx_bf16_32x32(Int64($0), $1, $2, $3, Int64($4), $5, $6) }

  public static let avx512 = BF16MicroKernel(
    name: "avx512bf16-12x32", mr: 12, nr: 32, layout: .pairs, requires: ["avx512f", "avx512_bf16"], usesTiles: false
  ) { ck_bf16_avx512_12x32(Int64($0), $1, $2, $3, Int64($4), $5, $6) }

  /// Portable C over the same layouts: slow, for testing the packing and the driver on any CPU.
  public static let pairsReference = BF16MicroKernel(
    name: "reference-pairs-12x32", mr: 12, nr: 32, layout: .pairs, requires: [], usesTiles: false
  ) { ck_bf16_pairs_reference(12, 32, Int64($0), $1, $2, $3, Int64($4), $5, $6) }

  public static let tilesReference = BF16MicroKernel(
    name: "reference-tiles-32x32", mr: 32, nr: 32, layout: .tiles, requires: [], usesTiles: false
  ) { ck_amx_tiles_reference(Int64($0), $1, $2, $3, Int64($4), $5, $6) }

  /// The hardware kernels, fastest first.
  public static let hardware = [amx, avx512]
  public static let all = hardware + [pairsReference, tilesReference]

  public static func usable(_ features: ISAFeatures) -> [BF16MicroKernel] { hardware.filter { $0.isUsable(on: features) } }

  public static func named(_ name: String) -> BF16MicroKernel? { all.first { $0.name == name } }
}

/// GEMM with bf16 products and fp32 accumulation: the native driver's loops (NC → KC → MC → NR →
/// MR, threads over C's rows or columns) around a bf16 micro-kernel. Operands are packed as fp32
/// panels first (so every PanelSource works: fp32 in memory, or fp8/MX/NVFP4 decoded), then
/// rounded to bf16 (nearest even) into the kernel's layout, k padded with zeros.
public enum BF16GEMM {
  static func drive<A: PanelSource, B: PanelSource>(
    _ problem: GEMMProblem, a: A, b: B, c: MutableMatrixPointer<Float>, parameters: BlockingParameters, kernel: BF16MicroKernel,
    context: KernelContext
  ) throws where A.Scalar == Float, B.Scalar == Float {
    if let reason = parameters.problem(mr: kernel.mr, nr: kernel.nr) { throw KernelError.invalidParameters(reason) }
    try context.check(threads: parameters.threads, for: "the amx GEMM")
    if kernel.usesTiles, ck_request_amx_permission() != 0 {
      throw KernelError.unsupported(backend: "amx", reason: "Linux refused the AMX tile-data permission (arch_prctl ARCH_REQ_XCOMP_PERM)")
    }
    NativeGEMM.partition(problem, c: c, parameters: parameters, mr: kernel.mr, nr: kernel.nr, context: context) { index, rows, columns in
      let work = { serial(problem, rows: rows, columns: columns, a: a, b: b, c: c, parameters: parameters, kernel: kernel, thread: index, context: context) }
      if kernel.usesTiles { context.withTiles(thread: index, work) } else { work() }
    }
  }

  static func serial<A: PanelSource, B: PanelSource>(
    _ problem: GEMMProblem, rows: Range<Int>, columns: Range<Int>, a: A, b: B, c: MutableMatrixPointer<Float>,
    parameters: BlockingParameters, kernel: BF16MicroKernel, thread: Int, context: KernelContext
  ) where A.Scalar == Float, B.Scalar == Float {
    let (mr, nr, group, k) = (kernel.mr, kernel.nr, kernel.kGroup, problem.shape.k)
    let mcRounded = (parameters.mc + mr - 1) / mr * mr, ncRounded = (parameters.nc + nr - 1) / nr * nr
    let kcPadded = (parameters.kc + group - 1) / group * group
    // fp32 panels, then their bf16 copies (two bf16 per float of the count), an edge tile, scratch.
    let counts = [mcRounded * parameters.kc, ncRounded * parameters.kc, mcRounded * kcPadded / 2 + 1, ncRounded * kcPadded / 2 + 1, mr * nr, parameters.kc]
    context.withFloats(thread: thread, counts: counts) { buffers in
      let (aPanels, bPanels, edge, scratch) = (buffers[0], buffers[1], buffers[4], buffers[5])
      let aBF16 = UnsafeMutableRawPointer(buffers[2]).bindMemory(to: UInt16.self, capacity: mcRounded * kcPadded)
      let bBF16 = UnsafeMutableRawPointer(buffers[3]).bindMemory(to: UInt16.self, capacity: ncRounded * kcPadded)
      let alpha = Float(problem.alpha)
      for jc in stride(from: columns.lowerBound, to: columns.upperBound, by: parameters.nc) {
        let ncHere = min(parameters.nc, columns.upperBound - jc)
        for pc in stride(from: 0, to: k, by: parameters.kc) {
          let kcHere = min(parameters.kc, k - pc)
          let padded = (kcHere + group - 1) / group * group
          b.pack(rows: jc, count: ncHere, k: pc, depth: kcHere, width: nr, into: bPanels, scratch: scratch)
          convert(bPanels, panels: (ncHere + nr - 1) / nr, width: nr, depth: kcHere, padded: padded, layout: kernel.layout, isA: false, into: bBF16)
          let beta = pc == 0 ? Float(problem.beta) : 1
          for ic in stride(from: rows.lowerBound, to: rows.upperBound, by: parameters.mc) {
            let mcHere = min(parameters.mc, rows.upperBound - ic)
            a.pack(rows: ic, count: mcHere, k: pc, depth: kcHere, width: mr, into: aPanels, scratch: scratch)
            convert(aPanels, panels: (mcHere + mr - 1) / mr, width: mr, depth: kcHere, padded: padded, layout: kernel.layout, isA: true, into: aBF16)
            macroKernel(
              a: aBF16, b: bBF16, m: mcHere, n: ncHere, padded: padded, c: MutableMatrixPointer(c.base + ic * c.ld + jc, ld: c.ld), alpha: alpha,
              beta: beta, kernel: kernel, edge: edge)
          }
        }
      }
    }
  }

  /// C[m×n] = α·A·B + β·C from bf16 panels packed to depth `padded` (a multiple of the kernel's
  /// k group; `aPadded`: A's packing depth when only the first `padded` are used). Edge tiles go
  /// through `edge` (MR×NR fp32), so only existing elements of C are touched.
  static func macroKernel(
    a: UnsafeMutablePointer<UInt16>, b: UnsafeMutablePointer<UInt16>, m: Int, n: Int, padded: Int, c: MutableMatrixPointer<Float>, alpha: Float,
    beta: Float, kernel: BF16MicroKernel, edge: UnsafeMutablePointer<Float>, aPadded: Int? = nil
  ) {
    let (mr, nr, groups) = (kernel.mr, kernel.nr, padded / kernel.kGroup)
    let aStride = (aPadded ?? padded) * mr
    for jr in stride(from: 0, to: n, by: nr) {
      let nrHere = min(nr, n - jr)
      let bPanel = UnsafePointer(b + (jr / nr) * padded * nr)
      for ir in stride(from: 0, to: m, by: mr) {
        let mrHere = min(mr, m - ir)
        let aPanel = UnsafePointer(a + (ir / mr) * aStride)
        let tile = c.base + ir * c.ld + jr
        if mrHere == mr && nrHere == nr {
          kernel.run(groups, aPanel, bPanel, tile, c.ld, alpha, beta)
        } else {
          kernel.run(groups, aPanel, bPanel, edge, nr, 1, 0)
          NativeGEMM.writeEdge(edge, nr: nr, to: tile, ldc: c.ld, rows: mrHere, columns: nrHere, alpha: alpha, beta: beta)
        }
      }
    }
  }

  /// fp32 micro-panels (`PanelSource.pack`'s layout: in[(panel·depth + p)·width + r]) to the
  /// kernel's bf16 layout, depth padded with zeros to `padded`.
  static func convert(
    _ source: UnsafePointer<Float>, panels: Int, width: Int, depth: Int, padded: Int, layout: BF16MicroKernel.Layout, isA: Bool,
    into out: UnsafeMutablePointer<UInt16>
  ) {
    @inline(__always) func value(_ from: UnsafePointer<Float>, _ p: Int, _ r: Int) -> UInt16 {
      p < depth ? BFloat16.round(from[p * width + r].bitPattern) : 0
    }
    for panel in 0..<panels {
      let from = source + panel * depth * width
      let to = out + panel * padded * width
      switch layout {
      case .pairs:
        // to[((p/2)·width + r)·2 + p%2]
        for pair in 0..<(padded / 2) {
          let row = to + pair * width * 2
          for r in 0..<width {
            row[r * 2] = value(from, 2 * pair, r)
            row[r * 2 + 1] = value(from, 2 * pair + 1, r)
          }
        }
      case .tiles:
        for chunk in 0..<(padded / 32) {
          for half in 0..<2 {
            let tile = to + (chunk * 2 + half) * 16 * 32
            for line in 0..<16 {
              for element in 0..<32 {
                if isA {
                  // Row `line` of A's half, k along the row.
                  tile[line * 32 + element] = value(from, chunk * 32 + element, half * 16 + line)
                } else {
                  // k-pair `line`, column element/2, member element%2.
                  tile[line * 32 + element] = value(from, chunk * 32 + line * 2 + element % 2, half * 16 + element / 2)
                }
              }
            }
          }
        }
      }
    }
  }
}

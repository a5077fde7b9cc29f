import NumberFormats
import Profile

/// A GEMM's B operand packed once, in the native driver's layout for one plan's KC and NR: a
/// weight that every micro-batch of a step multiplies skips its packing (and, stored in a lower
/// precision, its decoding) on every call. The caller repacks it (`repack`) when the weight changes.
///
/// Layout: op(B)ᵀ (N × K) in blocks of KC along k; block b holds ⌈N/NR⌉ panels of NR rows,
/// panel j at offset(b) + j·depth_b·NR, element (r, p) at [(p − b·KC)·NR + r mod NR] of its
/// panel, rows past N zero. A request for exactly one block's panels (what the driver asks
/// when its KC and NR are these) is answered in place; any other is packed from this layout.
public final class PackedOperand: PanelSource, @unchecked Sendable {
  public typealias Scalar = Float
  /// op(B)ᵀ's rows (N) and depth (K).
  public let rows: Int
  public let depth: Int
  public let kc: Int
  public let nr: Int
  let panels: Int
  let storage: UnsafeMutablePointer<Float>
  let count: Int

  init(rows: Int, depth: Int, kc: Int, nr: Int) {
    self.rows = rows
    self.depth = depth
    self.kc = kc
    self.nr = nr
    panels = (rows + nr - 1) / nr
    count = panels * nr * depth
    storage = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
  }

  deinit { storage.deallocate() }

  /// Bytes it holds.
  public var bytes: Int { count * MemoryLayout<Float>.stride }

  /// Repacks from `source` (op(B)ᵀ rows, N × K): after the weight changed.
  func fill<S: PanelSource>(from source: S) where S.Scalar == Float {
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, kc))
    defer { scratch.deallocate() }
    for p0 in stride(from: 0, to: depth, by: kc) {
      let here = min(kc, depth - p0)
      source.pack(rows: 0, count: rows, k: p0, depth: here, width: nr, into: storage + p0 * panels * nr, scratch: scratch)
    }
  }

  public func packedPanels(rows r0: Int, count: Int, k p0: Int, depth here: Int, width: Int) -> UnsafePointer<Float>? {
    guard width == nr, p0 % kc == 0, here == min(kc, depth - p0), r0 % nr == 0, r0 + count <= rows else { return nil }
    return UnsafePointer(storage + p0 * panels * nr + (r0 / nr) * here * nr)
  }

  public func pack(rows r0: Int, count: Int, k p0: Int, depth here: Int, width: Int, into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    for panel in 0..<((count + width - 1) / width) {
      for p in 0..<here {
        let column = out + (panel * here + p) * width
        for r in 0..<width {
          let row = r0 + panel * width + r
          guard row < r0 + count else {
            column[r] = 0
            continue
          }
          let k = p0 + p
          let block = k / kc, blockDepth = min(kc, depth - block * kc)
          column[r] = storage[block * kc * panels * nr + (row / nr) * blockDepth * nr + (k - block * kc) * nr + row % nr]
        }
      }
    }
  }
}

extension GEMMPlan {
  /// The KC and NR a pre-packed B must have for this plan; nil when its backend reads no packed B
  /// (only the native fp32 backend does).
  var packedLayout: (kc: Int, nr: Int)? {
    if case .native32(let micro, let blocking) = kernel { return (blocking.kc, micro.nr) }
    return nil
  }

  /// B packed for this plan: from fp32 in memory, laid out as the problem's transB says.
  /// - Throws: `KernelError.unsupported` unless the plan is the native fp32 backend's.
  public func pack(b: MatrixPointer<Float>) throws -> PackedOperand {
    let operand = try emptyPackedB()
    operand.fill(from: DenseSource.b(b, problem))
    return operand
  }

  /// B packed for this plan from a stored operand (N × K rows, as `.stored` takes), decoded once.
  public func pack(b: QuantizedMatrix) throws -> PackedOperand {
    guard b.rows == problem.shape.n, b.columns == problem.shape.k else {
      throw KernelError.invalidParameters("stored B is \(b.rows)×\(b.columns); \(problem.shape) needs \(problem.shape.n)×\(problem.shape.k)")
    }
    let operand = try emptyPackedB()
    operand.fill(from: QuantizedSource(b))
    return operand
  }

  /// Packs new values of the same B into `operand` (after the weight changed), reusing its memory.
  public func repack(_ operand: PackedOperand, from b: MatrixPointer<Float>) throws {
    try checkPacked(operand)
    operand.fill(from: DenseSource.b(b, problem))
  }

  func emptyPackedB() throws -> PackedOperand {
    guard let layout = packedLayout else {
      throw KernelError.unsupported(backend: choice.backend.rawValue, reason: "only the native fp32 GEMM takes a pre-packed B (this plan is \(choice))")
    }
    return PackedOperand(rows: problem.shape.n, depth: problem.shape.k, kc: layout.kc, nr: layout.nr)
  }

  func checkPacked(_ operand: PackedOperand) throws {
    guard let layout = packedLayout else {
      throw KernelError.unsupported(backend: choice.backend.rawValue, reason: "only the native fp32 GEMM takes a pre-packed B (this plan is \(choice))")
    }
    guard operand.rows == problem.shape.n, operand.depth == problem.shape.k, operand.kc == layout.kc, operand.nr == layout.nr else {
      throw KernelError.invalidParameters(
        "the pre-packed B holds \(operand.rows)×\(operand.depth) packed with kc=\(operand.kc), NR=\(operand.nr); this plan needs "
          + "\(problem.shape.n)×\(problem.shape.k) with kc=\(layout.kc), NR=\(layout.nr): pack it with this plan")
    }
  }
}

import NumberFormats

/// Where the native GEMM reads an operand from. Both operands are seen as a logical R×K matrix
/// whose rows are packed: A as op(A) (M×K), B as op(B)ᵀ (N×K). Packing writes micro-panels
/// `width` rows wide: out[(panel · depth + p) · width + r], zero past the last row, so the
/// micro-kernel reads one contiguous column of `width` values per step of k.
public protocol PanelSource: Sendable {
  associatedtype Scalar: GEMMScalar
  /// - Parameters:
  ///   - r0, count: the rows to pack; `depth` values of k from `p0`.
  ///   - scratch: at least `depth` Floats, for sources that decode a row segment first.
  func pack(rows r0: Int, count: Int, k p0: Int, depth: Int, width: Int, into out: UnsafeMutablePointer<Scalar>, scratch: UnsafeMutablePointer<Float>)
  /// The panels `pack` would write for this request, where the source already holds them in
  /// that layout (a pre-packed operand); nil otherwise.
  func packedPanels(rows r0: Int, count: Int, k p0: Int, depth: Int, width: Int) -> UnsafePointer<Scalar>?
}

extension PanelSource {
  public func packedPanels(rows r0: Int, count: Int, k p0: Int, depth: Int, width: Int) -> UnsafePointer<Scalar>? { nil }
}

/// A dense matrix in memory. Logical element (r, p) is base[r·ld + p], or base[p·ld + r] when
/// `transposed`.
public struct DenseSource<T: GEMMScalar>: PanelSource {
  public let matrix: MatrixPointer<T>
  public let transposed: Bool

  public init(_ matrix: MatrixPointer<T>, transposed: Bool) {
    self.matrix = matrix
    self.transposed = transposed
  }

  /// op(A) for a GEMM operand A.
  public static func a(_ a: MatrixPointer<T>, _ problem: GEMMProblem) -> DenseSource { DenseSource(a, transposed: problem.transA) }
  /// op(B)ᵀ for a GEMM operand B.
  public static func b(_ b: MatrixPointer<T>, _ problem: GEMMProblem) -> DenseSource { DenseSource(b, transposed: !problem.transB) }

  public func pack(rows r0: Int, count: Int, k p0: Int, depth: Int, width: Int, into out: UnsafeMutablePointer<T>, scratch: UnsafeMutablePointer<Float>) {
    let ld = matrix.ld
    let base = matrix.base
    let panels = (count + width - 1) / width
    if transposed {
      // Logical rows are contiguous in memory: walk memory row by row (one step of k each) and
      // deal each row's values out to the panels, eight at a time, so reads are sequential.
      for p in 0..<depth {
        let source = base + (p0 + p) * ld + r0
        for panel in 0..<panels {
          let rowsHere = min(width, count - panel * width)
          let column = out + panel * depth * width + p * width
          let from = source + panel * width
          var r = 0
          while r + 8 <= rowsHere {
            UnsafeMutableRawPointer(column + r).storeBytes(of: UnsafeRawPointer(from + r).loadUnaligned(as: SIMD8<T>.self), as: SIMD8<T>.self)
            r += 8
          }
          while r < rowsHere {
            column[r] = from[r]
            r += 1
          }
          while r < width {
            column[r] = 0
            r += 1
          }
        }
      }
    } else {
      // Logical rows run along k in memory: per panel, walk k outside and the panel's rows
      // inside, so the writes are sequential and each row is read as its own stream.
      for panel in 0..<panels {
        let rowsHere = min(width, count - panel * width)
        let first = base + (r0 + panel * width) * ld + p0
        let destination = out + panel * depth * width
        for p in 0..<depth {
          let column = destination + p * width
          for r in 0..<rowsHere { column[r] = first[r * ld + p] }
          for r in rowsHere..<width { column[r] = 0 }
        }
      }
    }
  }
}

/// A low-precision operand (row-major, reduction dimension along rows), decoded to fp32 while
/// packing: its storage precision, fp32 arithmetic.
public struct QuantizedSource: PanelSource {
  public let matrix: QuantizedMatrix

  public init(_ matrix: QuantizedMatrix) { self.matrix = matrix }

  public func pack(rows r0: Int, count: Int, k p0: Int, depth: Int, width: Int, into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
    var panelStart = 0
    var destination = out
    while panelStart < count {
      let rowsHere = min(width, count - panelStart)
      for r in 0..<rowsHere {
        matrix.decodeRow(r0 + panelStart + r, columns: p0..<(p0 + depth), into: scratch)
        for p in 0..<depth { destination[p * width + r] = scratch[p] }
      }
      if rowsHere < width {
        for p in 0..<depth { for r in rowsHere..<width { destination[p * width + r] = 0 } }
      }
      destination += depth * width
      panelStart += width
    }
  }
}

import Profile
import Testing

@testable import Kernels
@testable import NumberFormats
@testable import Platform

/// A weight packed once gives, call after call, exactly what packing it on every call gives.
@Suite struct PrepackedTests {
  static let kernel = Float.searchableMicroKernels(ISAFeatures.current)[0]

  static func plan(_ problem: GEMMProblem, threads: Int, loop: BlockingParameters.ParallelLoop) throws -> GEMMPlan {
    let blocking = BlockingParameters(microKernel: kernel.name, mc: 2 * kernel.mr, kc: 24, nc: 2 * kernel.nr, threads: threads, parallelLoop: loop)
    return try GEMMPlan(problem, choice: GEMMChoice(backend: .native, precision: .fp32, blocking: blocking))
  }

  static func multiply(_ plan: GEMMPlan, a: [Float], b: [Float]?, packed: PackedOperand?, c: [Float], context: KernelContext) throws -> [Float] {
    let p = plan.problem
    var c = c
    try a.withUnsafeBufferPointer { ap in try c.withUnsafeMutableBufferPointer { cp in
      let aPointer = MatrixPointer(ap.baseAddress!, ld: p.aWidth), cPointer = MutableMatrixPointer(cp.baseAddress!, ld: p.shape.n)
      if let packed {
        try plan.check(.packed(a: aPointer, b: packed, c: cPointer), in: context)
        plan.run(.packed(a: aPointer, b: packed, c: cPointer), in: context)
      } else {
        try b!.withUnsafeBufferPointer { bp in
          let operands = GEMMOperands.fp32(a: aPointer, b: MatrixPointer(bp.baseAddress!, ld: p.bWidth), c: cPointer)
          try plan.check(operands, in: context)
          plan.run(operands, in: context)
        }
      }
    } }
    return c
  }

  @Test(arguments: [false, true], [1, 2])
  func aPackedWeightGivesWhatPackingEveryCallGives(transB: Bool, threads: Int) throws {
    // X·W (NN) and dY·Wᵀ (NT), accumulating (β = 1), with several KC blocks and NR edges.
    let problem = GEMMProblem(shape: GEMMShape(m: 37, n: 3 * Self.kernel.nr + 5, k: 61), transA: false, transB: transB, alpha: 1, beta: 1)
    let plan = try Self.plan(problem, threads: threads, loop: threads > 1 ? .jc : .ic)
    var random = SeededRandom(seed: 21)
    let a = random.normal(problem.aHeight * problem.aWidth), c = random.normal(problem.shape.m * problem.shape.n)
    var w = random.normal(problem.bHeight * problem.bWidth)
    let context = KernelContext(threads: 2)
    let packed = try w.withUnsafeBufferPointer { try plan.pack(b: MatrixPointer($0.baseAddress!, ld: problem.bWidth)) }
    #expect(packed.bytes >= problem.shape.n * problem.shape.k * 4)
    for _ in 0..<3 {
      let fromPacked = try Self.multiply(plan, a: a, b: nil, packed: packed, c: c, context: context)
      let fromMemory = try Self.multiply(plan, a: a, b: w, packed: nil, c: c, context: context)
      #expect(fromPacked.map(\.bitPattern) == fromMemory.map(\.bitPattern))
    }
    // The weight changes (an optimizer step): repacked in place, the product follows.
    for index in w.indices { w[index] *= 0.5 }
    try w.withUnsafeBufferPointer { try plan.repack(packed, from: MatrixPointer($0.baseAddress!, ld: problem.bWidth)) }
    let after = try Self.multiply(plan, a: a, b: nil, packed: packed, c: c, context: context)
    #expect(after.map(\.bitPattern) == (try Self.multiply(plan, a: a, b: w, packed: nil, c: c, context: context)).map(\.bitPattern))
  }

  @Test func aStoredWeightIsDecodedOnceAndGivesTheStoredProduct() throws {
    let problem = GEMMProblem(shape: GEMMShape(m: 29, n: 45, k: 50), transA: false, transB: true)
    let plan = try Self.plan(problem, threads: 2, loop: .ic)
    var random = SeededRandom(seed: 22)
    let a = random.normal(29 * 50), w = random.normal(45 * 50)
    let stored = QuantizedMatrix(w, rows: 45, columns: 50, precision: .fp8e4m3)
    let packed = try plan.pack(b: stored)
    let decoded = stored.dequantized()
    let context = KernelContext(threads: 2)
    let zero = [Float](repeating: 0, count: 29 * 45)
    let fromPacked = try Self.multiply(plan, a: a, b: nil, packed: packed, c: zero, context: context)
    #expect(fromPacked.map(\.bitPattern) == (try Self.multiply(plan, a: a, b: decoded, packed: nil, c: zero, context: context)).map(\.bitPattern))
  }

  @Test func aPackedWeightOfAnotherPlanIsRefusedAndAnyRequestIsServed() throws {
    let problem = GEMMProblem(shape: GEMMShape(m: 16, n: 40, k: 30))
    let plan = try Self.plan(problem, threads: 1, loop: .ic)
    var random = SeededRandom(seed: 23)
    let w = random.normal(30 * 40)
    let packed = try w.withUnsafeBufferPointer { try plan.pack(b: MatrixPointer($0.baseAddress!, ld: 40)) }
    let other = try GEMMPlan(problem, choice: GEMMChoice(
      backend: .native, precision: .fp32,
      blocking: BlockingParameters(microKernel: Self.kernel.name, mc: Self.kernel.mr, kc: 16, nc: Self.kernel.nr)))
    let a = random.normal(16 * 30)
    #expect(throws: KernelError.self) { _ = try Self.multiply(other, a: a, b: nil, packed: packed, c: [Float](repeating: 0, count: 16 * 40), context: KernelContext()) }
    #expect(throws: KernelError.self) {
      _ = try GEMMPlan(problem, choice: GEMMChoice(backend: .openblas, precision: .fp32)).pack(b: QuantizedMatrix(w, rows: 40, columns: 30, precision: .bf16))
    }
    // A request in another layout is packed from the packed one: the same panels as from memory.
    for (r0, count, p0, depth, width) in [(3, 17, 5, 11, 8), (0, 40, 0, 30, 6), (16, 24, 24, 6, 16)] {
      var fromPacked = [Float](repeating: .nan, count: (count + width - 1) / width * width * depth), fromMemory = fromPacked
      var scratch = [Float](repeating: 0, count: depth)
      fromPacked.withUnsafeMutableBufferPointer { out in scratch.withUnsafeMutableBufferPointer { s in
        packed.pack(rows: r0, count: count, k: p0, depth: depth, width: width, into: out.baseAddress!, scratch: s.baseAddress!)
      } }
      w.withUnsafeBufferPointer { wp in
        fromMemory.withUnsafeMutableBufferPointer { out in scratch.withUnsafeMutableBufferPointer { s in
          DenseSource.b(MatrixPointer(wp.baseAddress!, ld: 40), problem)
            .pack(rows: r0, count: count, k: p0, depth: depth, width: width, into: out.baseAddress!, scratch: s.baseAddress!)
        } }
      }
      #expect(fromPacked == fromMemory, "rows \(r0)+\(count), k \(p0)+\(depth), width \(width)")
    }
  }
}

import Foundation
import Testing

@testable import Kernels

/// fastTanh against libm's tanh in Double, over the range a GELU meets and beyond.
@Suite struct FastTanhTests {
  @Test func absoluteErrorIsBelow3e7AndRelativeBelow1e6() {
    var worstAbsolute = 0.0, worstRelative = 0.0
    var x: Float = -20
    while x <= 20 {
      let exact = Foundation.tanh(Double(x)), got = Double(fastTanh(x))
      worstAbsolute = max(worstAbsolute, abs(got - exact))
      if x != 0 { worstRelative = max(worstRelative, abs(got - exact) / abs(exact)) }
      x = x.nextUp.addingProduct(abs(x), 1e-4)  // dense near 0, ~40 000 points in all
    }
    #expect(worstAbsolute < 3e-7, "absolute \(worstAbsolute)")
    #expect(worstRelative < 1e-6, "relative \(worstRelative)")
  }

  @Test func edgesAreRight() {
    #expect(fastTanh(0) == 0)
    #expect(fastTanh(.infinity) == 1 && fastTanh(-.infinity) == -1)
    #expect(fastTanh(1000) == 1 && fastTanh(-1000) == -1)
    #expect(fastTanh(.nan).isNaN)
    #expect(fastTanh(1e-30) == 1e-30)
  }
}

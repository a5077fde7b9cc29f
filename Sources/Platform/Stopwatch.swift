/// Repeated timing of one piece of work: a warm-up call, calibration so that one sample lasts at
/// least `minimumSeconds`, then `repeats` samples. Returns seconds per call, one per sample; the
/// caller summarises them (median, min, max).
public enum Stopwatch {
  public static func secondsPerCall(repeats: Int, minimumSeconds: Double, _ body: () -> Void) -> [Double] {
    precondition(repeats >= 1 && minimumSeconds >= 0, "repeats >= 1")
    body()
    var calls = 1
    while true {
      let start = monotonicSeconds()
      for _ in 0..<calls { body() }
      let elapsed = monotonicSeconds() - start
      if elapsed >= minimumSeconds || calls >= 1 << 20 { break }
      calls = max(calls * 2, Int(Double(calls) * minimumSeconds / max(elapsed, 1e-9) * 1.1))
    }
    return (0..<repeats).map { _ in
      let start = monotonicSeconds()
      for _ in 0..<calls { body() }
      return (monotonicSeconds() - start) / Double(calls)
    }
  }
}

/// Repeated timing of pieces of work: a warm-up call, calibration so that one sample lasts at
/// least `minimumSeconds`, then `repeats` samples. Results are seconds per call, one per sample;
/// the caller summarises them (median, min, max).
public enum Stopwatch {
  public static func secondsPerCall(repeats: Int, minimumSeconds: Double, _ body: () -> Void) -> [Double] {
    withoutActuallyEscaping(body) { interleaved(repeats: repeats, minimumSeconds: minimumSeconds, [$0])[0] }
  }

  /// Times several bodies in turns (one sample of each per round), so that a slow phase of a
  /// shared machine hits all of them alike: the way to compare two implementations.
  public static func interleaved(repeats: Int, minimumSeconds: Double, _ bodies: [() -> Void]) -> [[Double]] {
    precondition(repeats >= 1 && minimumSeconds >= 0, "repeats >= 1")
    let calls = bodies.map { calibrate(minimumSeconds: minimumSeconds, $0) }
    var samples = Array(repeating: [Double](), count: bodies.count)
    for _ in 0..<repeats {
      for (index, body) in bodies.enumerated() {
        let start = monotonicSeconds()
        for _ in 0..<calls[index] { body() }
        samples[index].append((monotonicSeconds() - start) / Double(calls[index]))
      }
    }
    return samples
  }

  /// Calls per sample: doubled from one (after a warm-up call) until a sample lasts long enough.
  static func calibrate(minimumSeconds: Double, _ body: () -> Void) -> Int {
    body()
    var calls = 1
    while true {
      let start = monotonicSeconds()
      for _ in 0..<calls { body() }
      let elapsed = monotonicSeconds() - start
      if elapsed >= minimumSeconds || calls >= 1 << 20 { return calls }
      calls = max(calls * 2, Int(Double(calls) * minimumSeconds / max(elapsed, 1e-9) * 1.1))
    }
  }
}

/// Repeated timing of pieces of work: a warm-up call, calibration so that one sample lasts at
/// least `minimumSeconds`, then `repeats` samples. Results are seconds per call, one per sample;
/// the caller summarises them (median, min, max).
public enum Stopwatch {
  /// - Parameter warmedUp: the caller has just run `body` (to verify it, say), so no separate
  ///   warm-up call is needed.
  public static func secondsPerCall(repeats: Int, minimumSeconds: Double, warmedUp: Bool = false, _ body: () -> Void) -> [Double] {
    withoutActuallyEscaping(body) { interleaved(repeats: repeats, minimumSeconds: minimumSeconds, warmedUp: warmedUp, [$0])[0] }
  }

  /// Takes `repeats` samples, then more (up to `maxRepeats`) until the fastest `repeats` of them
  /// lie within `spread` of each other: a noisy phase costs more samples instead of a wrong figure.
  public static func secondsPerCallSettled(
    repeats: Int, maxRepeats: Int, spread: Double, minimumSeconds: Double, warmedUp: Bool = false, _ body: () -> Void
  ) -> [Double] {
    var samples = secondsPerCall(repeats: repeats, minimumSeconds: minimumSeconds, warmedUp: warmedUp, body)
    while samples.count < maxRepeats {
      let best = samples.sorted().prefix(repeats)
      if let low = best.first, let high = best.last, low > 0, (high - low) / low <= spread { break }
      samples += secondsPerCall(repeats: 1, minimumSeconds: minimumSeconds, warmedUp: true, body)
    }
    return samples
  }

  /// Times several bodies in turns (one sample of each per round), so that a slow phase of a
  /// shared machine hits all of them alike: the way to compare two implementations.
  public static func interleaved(repeats: Int, minimumSeconds: Double, warmedUp: Bool = false, _ bodies: [() -> Void]) -> [[Double]] {
    precondition(repeats >= 1 && minimumSeconds >= 0, "repeats >= 1")
    var samples = Array(repeating: [Double](), count: bodies.count)
    var calls: [Int] = []
    for (index, body) in bodies.enumerated() {
      let (count, firstSample) = calibrate(minimumSeconds: minimumSeconds, warmedUp: warmedUp, body)
      calls.append(count)
      // A single call that already lasts a whole sample is a sample: no need to run it again.
      if let firstSample { samples[index].append(firstSample) }
    }
    while samples.contains(where: { $0.count < repeats }) {
      for (index, body) in bodies.enumerated() where samples[index].count < repeats {
        let start = monotonicSeconds()
        for _ in 0..<calls[index] { body() }
        samples[index].append((monotonicSeconds() - start) / Double(calls[index]))
      }
    }
    return samples
  }

  /// Calls per sample: grown from one (after a warm-up call, unless `warmedUp`) until a sample
  /// lasts long enough. When the very first timed single call is long enough, it is returned as a
  /// sample too.
  static func calibrate(minimumSeconds: Double, warmedUp: Bool, _ body: () -> Void) -> (calls: Int, firstSample: Double?) {
    if !warmedUp { body() }
    var calls = 1
    while true {
      let start = monotonicSeconds()
      for _ in 0..<calls { body() }
      let elapsed = monotonicSeconds() - start
      if elapsed >= minimumSeconds || calls >= 1 << 20 { return (calls, calls == 1 ? elapsed : nil) }
      calls = max(calls * 2, Int(Double(calls) * minimumSeconds / max(elapsed, 1e-9) * 1.1))
    }
  }
}

/// A body that can throw, as the plain closure the stopwatch times: after the first error it
/// does nothing, and `check()` throws that error once the timing is over, so that a run that
/// failed is never taken for a (very fast) sample.
public final class TimedRun: @unchecked Sendable {
  private let body: () throws -> Void
  private var failure: Error?

  public init(_ body: @escaping () throws -> Void) { self.body = body }

  public func callAsFunction() {
    guard failure == nil else { return }
    do { try body() } catch { failure = error }
  }

  /// Throws the first error a call raised, if any.
  public func check() throws {
    if let failure { throw failure }
  }
}

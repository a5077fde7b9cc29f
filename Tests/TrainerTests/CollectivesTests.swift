import Foundation
import Testing

@testable import Trainer

/// The shared-memory collectives on groups of 1–5 member threads: each result against the sum
/// or copy computed directly, bit-identical on every member.
@Suite struct CollectivesTests {
  /// Runs body(member) on a thread per member and waits for all.
  static func together(_ members: [SharedMemoryCommunicator], _ body: @escaping @Sendable (SharedMemoryCommunicator) -> Void) {
    let group = DispatchGroup()
    for member in members {
      group.enter()
      Thread {
        body(member)
        group.leave()
      }.start()
    }
    group.wait()
  }

  static func values(_ member: Int, _ count: Int) -> [Float] { (0..<count).map { Float(member + 1) * 0.1 + Float($0) * 0.001 } }

  @Test(arguments: [1, 2, 3, 5], [1, 7, 1000])
  func everyCollectiveMatchesItsDefinition(size: Int, count: Int) {
    let members = SharedMemoryGroup(size: size).members()
    let results = ResultTable<[[Float]]>(count: size)
    Self.together(members) { m in
      var outputs: [[Float]] = []
      var buffer = Self.values(m.rank, count)
      buffer.withUnsafeMutableBufferPointer { m.allReduce($0.baseAddress!, count: count) }
      outputs.append(buffer)
      buffer = Self.values(m.rank, count)
      buffer.withUnsafeMutableBufferPointer { m.reduceScatter($0.baseAddress!, count: count) }
      outputs.append(Array(buffer[m.shard(count: count)]))
      buffer = Self.values(m.rank, count)
      buffer.withUnsafeMutableBufferPointer { m.allGather($0.baseAddress!, count: count) }
      outputs.append(buffer)
      buffer = Self.values(m.rank, count)
      buffer.withUnsafeMutableBufferPointer { m.broadcast($0.baseAddress!, count: count, root: size - 1) }
      outputs.append(buffer)
      // A ring of send/recv: each member sends its values to the next.
      if size > 1 {
        let mine = Self.values(m.rank, count)
        mine.withUnsafeBufferPointer { m.send($0.baseAddress!, count: count, to: (m.rank + 1) % size) }
        var received = [Float](repeating: 0, count: count)
        received.withUnsafeMutableBufferPointer { m.recv($0.baseAddress!, count: count, from: (m.rank + size - 1) % size) }
        outputs.append(received)
      }
      results.set(m.rank, outputs)
    }
    let sum = (0..<count).map { i in (0..<size).reduce(Float(0)) { $0 + Self.values($1, count)[i] } }
    for rank in 0..<size {
      let out = results.values[rank]!
      #expect(out[0] == sum, "all-reduce on member \(rank) of \(size)")
      #expect(out[1] == Array(sum[members[rank].shard(count: count)]), "reduce-scatter shard of member \(rank)")
      let gathered = (0..<count).map { i in Self.values((0..<size).first { members[$0].shard(count: count).contains(i) }!, count)[i] }
      #expect(out[2] == gathered, "all-gather on member \(rank)")
      #expect(out[3] == Self.values(size - 1, count), "broadcast to member \(rank)")
      if size > 1 { #expect(out[4] == Self.values((rank + size - 1) % size, count), "recv on member \(rank)") }
    }
  }
}

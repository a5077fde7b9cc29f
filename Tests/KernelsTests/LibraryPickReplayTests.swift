import Autotune
import Foundation
import Platform
import Profile
import Testing

@testable import Tuning

/// The GEMM tuner's pick replayed on what it recorded: every library's verified rate per entry
/// from a real `tune` on an AMD EPYC (Zen 4, 2 cores, AVX-512 and AVX512-BF16: native, OpenBLAS,
/// BLIS, the bf16 kernels and oneDNN), re-picked with no kernel run.
@Suite struct LibraryPickReplayTests {
  static func entries() throws -> [GEMMEntry] {
    let url = try #require(Bundle.module.url(forResource: "gemm-libraries-epyc-zen4-2threads", withExtension: "json", subdirectory: "Fixtures"))
    return try JSONDecoder().decode([GEMMEntry].self, from: Data(contentsOf: url))
  }

  @Test func theRecordedPickIsTheFastestVerifiedLibraryOfEachEntry() throws {
    let entries = try Self.entries()
    #expect(entries.count >= 10)
    var libraries = Set<String>()
    for entry in entries {
      let label = "\(entry.precision) \(entry.shape)\(entry.transA == true ? " tA" : "")\(entry.transB == true ? " tB" : "")"
      guard let index = GEMMTuner.pick(entry.candidates) else {
        #expect(entry.winner == nil, "\(label): a winner recorded where no candidate is verified")
        continue
      }
      let pick = entry.candidates[index]
      #expect(pick.status == .ok, "\(label)")
      #expect(pick.backend == entry.winner?.backend && pick.parameters == entry.winner?.parameters, "\(label): replay picks \(pick.backend), the tune picked \(entry.winner?.backend.rawValue ?? "none")")
      let verified = entry.candidates.filter { $0.status == .ok }
      #expect(verified.allSatisfy { $0.gflops!.median <= pick.gflops!.median }, "\(label)")
      libraries.formUnion(verified.map(\.backend.rawValue))
      // A library that could not run is recorded with its own reason, never as the pick.
      for record in entry.candidates where record.status == .pruned { #expect(record.reason?.isEmpty == false, "\(label): \(record.backend) pruned without a reason") }
    }
    #expect(libraries.isSuperset(of: ["native", "openblas", "blis", "onednn"]), "\(libraries)")
  }

  @Test func wrongPrunedAndTimedOutRecordsNeverWin() {
    func record(_ backend: GEMMBackend, _ status: TrialStatus, _ gflops: Double?) -> GEMMCandidateRecord {
      GEMMCandidateRecord(backend: backend, parameters: [:], status: status, gflops: gflops.map { Statistics(samples: [$0]) })
    }
    let records = [record(.onednn, .wrong, 900), record(.blis, .pruned, nil), record(.openblas, .ok, 180), record(.native, .ok, 190), record(.amx, .timeout, nil)]
    #expect(GEMMTuner.pick(records) == 3)
    #expect(GEMMTuner.pick([record(.blis, .pruned, nil)]) == nil)
  }
}

import Foundation
import Profile
import Kernels
import Platform
import Tuning
import Testing

@Suite struct GEMMCLITests {
  @Test func badFlagsAreRejectedWithTheExpectedForm() throws {
    let precision = try tune(["gemm", "--precision", "fp7"])
    #expect(precision.status != 0 && precision.stderr.contains("fp7") && precision.stderr.contains("mxfp8-e4m3"))
    let shape = try tune(["gemm", "--shapes", "1024x1024"])
    #expect(shape.status != 0 && shape.stderr.contains("MxNxK"))
    let budget = try tune(["gemm", "--budget", "-3"])
    #expect(budget.status != 0 && budget.stderr.contains("--budget"))
    let backend = try tune(["bench", "gemm", "--backend", "cublas"])
    #expect(backend.status != 0 && backend.stderr.contains("cublas") && backend.stderr.contains("openblas"))
    let params = try tune(["bench", "gemm", "--params", "kernel"])
    #expect(params.status != 0 && params.stderr.contains("key=value"))
  }

  @Test func aBackendTheMachineCannotRunSaysWhy() throws {
    // fp32 on amx fails on every machine: no bf16 unit here, or (where there is one) not a bf16 operand.
    let result = try tune(["bench", "gemm", "--backend", "amx", "--precision", "fp32", "--shape", "64x64x64"])
    #expect(result.status != 0)
    #expect(result.stderr.contains("amx") && result.stderr.lowercased().contains("bf16"), "\(result.stderr)")
    let fp = try tune(["bench", "gemm", "--backend", "openblas", "--precision", "bf16", "--shape", "64x64x64"])
    #expect(fp.status != 0 && fp.stderr.contains("fp32 or fp64"), "\(fp.stderr)")
  }

  @Test func benchVerifiesAndTimesOneConfiguration() throws {
    let result = try tune(["bench", "gemm", "--backend", "native", "--shape", "67x45x31", "--threads", "2", "--repeats", "2", "--versus", "openblas", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    #expect(rows.count == 2)
    #expect(rows.allSatisfy { $0["passed"] as? Bool == true })
    #expect(rows[0]["ratioToVersus"] is Double)
    // A stored precision: the kernel's own error on what it multiplied, and what bf16 costs
    // against fp64 on the inputs before they were stored.
    let bf16 = try tune(["bench", "gemm", "--backend", "native", "--precision", "bf16", "--shape", "40x33x70", "--repeats", "1", "--json"])
    #expect(bf16.status == 0, "\(bf16.stderr)")
    let row = try #require((try JSONSerialization.jsonObject(with: Data(bf16.stdout.utf8)) as? [[String: Any]])?.first)
    let (own, cost) = (row["verificationError"] as? Double ?? 1, row["precisionError"] as? Double ?? 0)
    #expect(own < 1e-6 && cost > 1e-4 && cost < 1e-2, "verification \(own), against fp64 \(cost)")
    // B packed once against B packed every call: both verified, the ratio between them.
    let packed = try tune(["bench", "gemm", "--shape", "40x33x70", "--prepacked", "--repeats", "1", "--json"])
    #expect(packed.status == 0, "\(packed.stderr)")
    let pair = try #require(try JSONSerialization.jsonObject(with: Data(packed.stdout.utf8)) as? [[String: Any]])
    #expect(pair.count == 2 && pair[0]["prepackedB"] as? Bool == true && pair.allSatisfy { $0["passed"] as? Bool == true } && pair[0]["ratioToVersus"] is Double)
  }

  /// A run killed mid-tuning loses nothing it measured: the next run reuses the journal.
  @Test func theJournalSurvivesAKilledRun() throws {
    let directory = try scratch()
    let journal = directory + "/journal.jsonl"
    let process = Process()
    process.executableURL = try tuneBinary()
    process.arguments = ["gemm", "--quick", "--precision", "fp32,bf16", "--journal", journal, "--output", directory + "/p.json", "--quiet"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(60)
    var lines = 0
    while Date() < deadline && process.isRunning {
      lines = ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n").count
      if lines >= 2 { break }
      usleep(2000)
    }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    #expect(lines >= 1, "the journal had results before the kill")
    let again = try tune(["gemm", "--quick", "--precision", "fp32,bf16", "--journal", journal, "--output", directory + "/p.json"])
    #expect(again.status == 0, "\(again.stderr)")
    #expect(again.stderr.contains("reusing"), "the second run reuses what the first measured")
    let profile = try ProfileStore.read(directory + "/p.json")
    #expect(profile.kernels?.gemm?.entries.contains { $0.precision == .bf16 && $0.winner != nil } == true)
  }
}

@Suite struct ResourceCLITests {
  /// The two cases a new user met: a GEMM far beyond memory and a thousand threads on two cores.
  @Test func workBeyondTheMachineIsRefusedBeforeItStarts() throws {
    let huge = try tune(["bench", "gemm", "--shape", "100000x100000x100000"])
    #expect(huge.status == 1 && !huge.signaled, "\(huge.stderr)")
    #expect(huge.stderr.contains("needs about") && huge.stderr.contains("GB") && huge.stderr.contains("GiB") && huge.stderr.contains("What would fit"), "\(huge.stderr)")
    let threads = try tune(["bench", "gemm", "--threads", "1000", "--shape", "64x64x64"])
    #expect(threads.status == 1 && threads.stderr.contains("--threads 1000") && threads.stderr.contains("--oversubscribe"), "\(threads.stderr)")
    let over = try tune(["bench", "gemm", "--threads", "1000", "--shape", "16x16x16", "--oversubscribe", "--repeats", "1", "--json"])
    #expect(over.status == 0, "\(over.stderr)")
    let row = try #require((try JSONSerialization.jsonObject(with: Data(over.stdout.utf8)) as? [[String: Any]])?.first)
    #expect((row["oversubscribed"] as? String)?.contains("1000 threads") == true)
    let attention = try tune(["bench", "attention", "--shape", "1x512x100000x128", "--repeats", "1"])
    #expect(attention.status == 1 && attention.stderr.contains("needs about"), "\(attention.stderr)")
    let formats = try tune(["bench", "formats", "--count", "9223372036854775807"])
    #expect(formats.status == 1 && formats.stderr.contains("needs about"), "\(formats.stderr)")
    // A journal path that names someone else's file is refused, and the file left alone.
    let directory = try scratch()
    let profile = directory + "/mine.json"
    try Data("{\"schema\": \"scaletune.profile/1\"}\n".utf8).write(to: URL(fileURLWithPath: profile))
    let journal = try tune(["gemm", "--quick", "--journal", profile, "--fresh", "--output", directory + "/p.json"])
    #expect(journal.status != 0 && journal.stderr.contains("not a tuning journal"), "\(journal.stderr)")
    #expect(try String(contentsOfFile: profile, encoding: .utf8) == "{\"schema\": \"scaletune.profile/1\"}\n")
  }
}

@Suite struct ModelGEMMCLITests {
  /// `tune gemm --model` tunes the model's own training GEMMs, transposes recorded, so that a
  /// trainer finds each of its products in the profile.
  @Test func aModelsTrainingGEMMsAreTunedWithTheirTransposes() throws {
    let directory = try scratch()
    let result = try tune([
      "gemm", "--quick", "--model", "tiny", "--micro-batch", "2", "--precision", "fp32", "--budget", "10", "--journal", directory + "/j.jsonl",
      "--output", directory + "/p.json", "--quiet",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let profile = try ProfileStore.read(directory + "/p.json")
    let entries = try #require(profile.kernels?.gemm?.entries)
    // tiny: hidden 32, 4 heads of which 2 key/value, seq 16; 2 × 16 tokens.
    #expect(entries.contains { ($0.m, $0.n, $0.k) == (32, 64, 32) && $0.transA == nil && $0.transB == nil })
    #expect(entries.contains { ($0.m, $0.n, $0.k) == (32, 32, 64) && $0.transB == true }, "qkv dX = dY·Wᵀ")
    #expect(entries.contains { ($0.m, $0.n, $0.k) == (32, 64, 32) && $0.transA == true }, "qkv dW = Xᵀ·dY")
    let machine = try #require(profile.machine)
    let choices = try KernelChoices(profile: profile, path: directory + "/p.json", machineFingerprint: machine.fingerprint)
    let measured = entries.filter { $0.winner != nil }
    #expect(!measured.isEmpty)
    for entry in measured {
      let lookup = choices.gemm(m: entry.m, n: entry.n, k: entry.k, transA: entry.transA ?? false, transB: entry.transB ?? false, precision: .fp32)
      #expect(lookup.source == .exact, "\(entry.label)")
    }
    for (flags, expected) in [
      (["--model", "gpt5"], "small"), (["--model-file", directory + "/none.json"], "no such file"),
      (["--micro-batch", "2"], "--model"), (["--model", "tiny", "--shapes", "8x8x8"], "--shapes"), (["--model", "tiny", "--micro-batch", "0"], "--micro-batch"),
    ] {
      let bad = try tune(["gemm", "--quick"] + flags)
      #expect(bad.status != 0 && bad.stderr.contains(expected), "\(flags): \(bad.stderr)")
    }
  }
}

@Suite struct AttentionCLITests {
  @Test func quickAttentionTuningWritesAVerifiedSection() throws {
    let directory = try scratch()
    let result = try tune(["attention", "--quick", "--output", directory + "/p.json", "--quiet"])
    #expect(result.status == 0, "\(result.stderr)")
    let profile = try ProfileStore.read(directory + "/p.json")
    let section = try #require(profile.kernels?.attention)
    // Two problems, each in fp32 and bf16.
    #expect(section.entries.count == 4)
    #expect(Set(section.entries.map(\.precision)) == [.fp32, .bf16])
    #expect(section.gemmRates?.map(\.precision) == [.fp32, .bf16])
    for entry in section.entries {
      let winner = try #require(entry.winner)
      // The kernel's own error: fp32 products on decoded inputs stay near fp32 rounding; a winner
      // with bf16 products (AMX or AVX512-BF16, where the CPU has them) rounds Q, K, V and the
      // probabilities to bf16 and is held to the tuner's bf16 tolerance.
      let bf16Products = winner.parameters["kernel"].map { ["amx", "bf16"].contains(where: $0.contains) } ?? false
      #expect(winner.status == .ok && (winner.maxError ?? 1) <= (bf16Products ? 2e-2 : 1e-4), "\(entry.precision) \(winner.parameters)")
      // Both backends were verified and timed; flash's backward passed its gradient check.
      #expect(entry.candidates.contains { $0.backend == .gemm && $0.status == .ok })
      let flash = try #require(entry.candidates.first { $0.backend == .flash && $0.backwardGflops != nil })
      #expect((flash.backwardError ?? 1) <= 2e-4)
      // bf16 storage costs accuracy against the unquantised inputs; fp32 does not.
      let cost = try #require(winner.precisionError)
      #expect(entry.precision == .bf16 ? cost > 1e-4 : cost <= 1e-4, "\(entry.precision): \(cost)")
    }
    let bad = try tune(["attention", "--seq", "12,x", "--quick"])
    #expect(bad.status != 0 && bad.stderr.contains("--seq"))
    let badPrecision = try tune(["attention", "--quick", "--attention-precision", "mxfp4"])
    #expect(badPrecision.status != 0 && badPrecision.stderr.contains("bf16"), "\(badPrecision.stderr)")
  }

  @Test func benchAttentionRunsEachBackendAndRejectsBadFlags() throws {
    let gemm = try tune(["bench", "attention", "--shape", "1x2x40x16", "--backend", "gemm", "--precision", "fp8-e4m3", "--repeats", "1", "--gemm-size", "256", "--json"])
    #expect(gemm.status == 0, "\(gemm.stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(gemm.stdout.utf8)) as? [String: Any])
    #expect(object["precision"] as? String == "fp8-e4m3")
    #expect((object["maxErrorAgainstReference"] as? Double ?? 1) <= 1e-4)
    // bf16 products through the portable kernel over the AMX tile layout: checked like any other.
    let tiles = try tune([
      "bench", "attention", "--shape", "1x2x40x16", "--causal", "--precision", "bf16", "--params", "br=16,bc=32,kernel=reference-tiles-32x32",
      "--repeats", "1", "--gemm-size", "64", "--json",
    ])
    #expect(tiles.status == 0, "\(tiles.stderr)")
    let checked = try #require(try JSONSerialization.jsonObject(with: Data(tiles.stdout.utf8)) as? [String: Any])
    #expect((checked["maxErrorAgainstReference"] as? Double ?? 1) <= 2e-2)
    for (flags, expected) in [
      (["--params", "kernel=avx9-1x1"], "avx9-1x1"),
      (["--backend", "gemm", "--backward"], "no backward"), (["--backend", "blas"], "flash or gemm"), (["--precision", "fp6"], "precision"),
      (["--backend", "gemm", "--params", "br=8"], "takes none"),
    ] {
      let bad = try tune(["bench", "attention", "--shape", "1x2x40x16"] + flags)
      #expect(bad.status != 0 && bad.stderr.contains(expected), "\(flags): \(bad.stderr)")
    }
  }
}

@Suite struct BenchFromProfileTests {
  /// profile → choice → run: bench runs the profile's winner for the shape and sets the rate it
  /// measures now beside the one the profile recorded; another machine's profile is refused.
  @Test func benchRunsTheProfilesChoiceAndRefusesAForeignOne() throws {
    let directory = try scratch()
    let path = directory + "/p.json"
    let tuned = try tune(["gemm", "--quick", "--precision", "fp32", "--shapes", "96x80x64", "--budget", "5", "--journal", directory + "/j.jsonl", "--output", path, "--quiet"])
    #expect(tuned.status == 0, "\(tuned.stderr)")
    let winner = try #require(try ProfileStore.read(path).kernels?.gemm?.entries.first?.winner)
    let result = try tune(["bench", "gemm", "--profile", path, "--shape", "96x80x64", "--repeats", "1", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let row = try #require((try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])?.first)
    #expect((row["fromProfile"] as? String)?.contains("tuned for this shape") == true)
    #expect(abs((row["recordedGflops"] as? Double ?? 0) - (winner.gflops?.median ?? 1)) < 1e-9)
    let candidate = try #require(row["candidate"] as? [String: Any])
    #expect(candidate["backend"] as? String == winner.backend.rawValue && row["passed"] as? Bool == true)
    // The same profile said to come from another machine.
    var foreign = try ProfileStore.read(path)
    foreign.kernels?.gemm?.fingerprint = "0123456789abcdef"
    try ProfileStore.write(foreign, to: directory + "/foreign.json")
    let refused = try tune(["bench", "gemm", "--profile", directory + "/foreign.json", "--shape", "96x80x64", "--repeats", "1"])
    #expect(refused.status != 0 && refused.stderr.contains("another machine") && refused.stderr.contains("--force"), "\(refused.stderr)")
    let forced = try tune(["bench", "gemm", "--profile", directory + "/foreign.json", "--force", "--shape", "96x80x64", "--repeats", "1"])
    #expect(forced.status == 0, "\(forced.stderr)")
    let both = try tune(["bench", "gemm", "--profile", path, "--backend", "native"])
    #expect(both.status != 0 && both.stderr.contains("--backend"))
  }
}

@Suite struct OpenBLASChildTests {
  /// Each core type is measured in a child of `tune` through the library's own request and result,
  /// not through `tune bench`'s flags or printed text.
  @Test func aChildMeasuresTheCoreTypeItWasStartedWith() throws {
    let measured = OpenBLASCoreTypes.measure(
      coreTypes: ["Haswell"], executable: try tuneBinary().path, shape: GEMMShape(m: 64, n: 48, k: 32), precision: .fp32, threads: 1, repeats: 1)
    let result = try #require(measured.first?.result, "\(measured.first?.failure ?? "")")
    #expect(result.passed && result.openblasCore?.lowercased() == "haswell" && (result.gflops?.median ?? 0) > 0)
    let bad = try tune([OpenBLASCoreTypes.childArgument, "{not json"])
    #expect(bad.status == 1 && bad.stderr.contains("JSON request"))
  }
}

/// BLIS and oneDNN as a person meets them: what is missing or capped is said, with the fix, and
/// nothing else stops.
@Suite struct LibraryCLITests {
  @Test func allLibrariesRunInterleavedInOneBench() throws {
    let result = try tune(["bench", "gemm", "--backend", "native", "--versus", "openblas,blis,onednn", "--shape", "67x45x31", "--threads", "2", "--repeats", "2", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    #expect(rows.compactMap { ($0["candidate"] as? [String: Any])?["backend"] as? String } == ["native", "openblas", "blis", "onednn"])
    #expect(rows.allSatisfy { $0["passed"] as? Bool == true })
    #expect(rows.dropFirst().allSatisfy { $0["ratioToFirst"] is Double })
  }

  @Test func aMissingLibraryIsNamedWithItsPackageAndTheProbeGoesOn() throws {
    let missing = ["SCALETUNE_BLIS_LIBRARY": "/nonexistent/libblis.so.4"]
    let bench = try tune(["bench", "gemm", "--backend", "blis", "--shape", "16x16x16", "--repeats", "1"], environment: missing)
    #expect(bench.status != 0)
    #expect(bench.stderr.contains("/nonexistent/libblis.so.4") && bench.stderr.contains("libblis-dev"), "\(bench.stderr)")
    let probe = try tune(["probe", "--no-measure", "--quiet"], environment: missing)
    #expect(probe.status == 0, "\(probe.stderr)")
    #expect(probe.stdout.contains("BLIS") && probe.stdout.contains("not usable") && probe.stdout.contains("blis-unavailable"), "\(probe.stdout)")
    #expect(probe.stdout.contains("oneDNN    2."), "\(probe.stdout)")
  }

  /// The planted mismatch of the issue: ONEDNN_MAX_CPU_ISA=avx2 on a CPU that offers more.
  @Test func aCappedOneDNNIsReportedWithTheFix() throws {
    let probe = try tune(["probe", "--no-measure", "--quiet"], environment: ["ONEDNN_MAX_CPU_ISA": "avx2"])
    #expect(probe.status == 0, "\(probe.stderr)")
    guard ISAFeatures.current.usable("avx512f") else { return }  // an AVX2 CPU: nothing is capped
    #expect(probe.stdout.contains("onednn-isa-mismatch") && probe.stdout.contains("unset ONEDNN_MAX_CPU_ISA"), "\(probe.stdout)")
    // Without avx512_core, oneDNN 2.6 has no bf16 matmul: refused with its own words.
    let bench = try tune(["bench", "gemm", "--backend", "onednn", "--precision", "bf16", "--shape", "32x32x32", "--repeats", "1"],
                         environment: ["ONEDNN_MAX_CPU_ISA": "avx2"])
    #expect(bench.status != 0 && bench.stderr.contains("oneDNN bf16 matmul: unimplemented"), "\(bench.stderr)")
  }
}

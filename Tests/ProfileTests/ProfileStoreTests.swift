import Platform
import Foundation
import Testing

@testable import Profile

@Suite struct ProfileStoreTests {
  @Test func writtenProfileRoundTripsAndLeavesNoTemporaryFile() throws {
    let directory = try temporaryDirectory()
    let path = directory + "/nested/profile.json"
    let profile = Profile(machine: sampleMachine(), kernels: KernelsSection(attention: sampleAttention()), provenance: Provenance(runs: [sampleRun()]))
    try ProfileStore.write(profile, to: path)
    #expect(try ProfileStore.read(path) == profile)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/nested")
    #expect(leftovers == ["profile.json"])
  }

  @Test func writtenProfileValidatesAgainstTheShippedSchema() throws {
    let value = try JSONValue.parse(Data(try sampleProfileJSON().utf8))
    #expect(try SchemaValidator.profileSchema().validate(value) == [])
  }

  @Test func mergeKeepsOtherSectionsAndAppendsTheRun() throws {
    let path = try temporaryDirectory() + "/p.json"
    let kernels = KernelsSection(attention: sampleAttention())
    try ProfileStore.write(Profile(machine: sampleMachine(), kernels: kernels, provenance: Provenance(runs: [sampleRun()])), to: path)
    let notes = try ProfileStore.merge(machine: sampleMachine(fingerprint: "fedcba9876543210"), run: sampleRun(100), into: path)
    let merged = try ProfileStore.read(path)
    #expect(merged.kernels == kernels)
    #expect(merged.machine?.fingerprint == "fedcba9876543210")
    #expect(merged.provenance.runs.count == 2)
    #expect(notes.count == 1 && notes[0].contains("0123456789abcdef"))
  }

  @Test func mergeNeverOverwritesAMalformedProfile() throws {
    let path = try temporaryDirectory() + "/broken.json"
    try Data("{\"schema\": \"scaletune.profile/1\", \"machine\": ".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: ProfileError.self) { try ProfileStore.merge(machine: sampleMachine(), run: sampleRun(), into: path) }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"schema\": \"scaletune.profile/1\", \"machine\": ")
  }

  @Test func statisticsTakeTheMedianOfOddAndEvenCounts() {
    #expect(Statistics(samples: [3, 1, 2]).median == 2)
    #expect(Statistics(samples: [4, 1, 2, 3]).median == 2.5)
    #expect(Statistics(samples: [4, 1, 2, 3]).runs == 4)
    #expect(Statistics(samples: [5, 1]).min == 1 && Statistics(samples: [5, 1]).max == 5)
  }
}

/// A profile or model file that never ends is refused at once, naming the file and the limit.
@Suite struct EndlessInputTests {
  @Test func devicesFIFOsAndHugeFilesAreRefusedBeforeAnyRead() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let fifo = directory + "/profile.fifo"
    #expect(mkfifo(fifo, 0o600) == 0)
    // No writer ever opens the FIFO: a blocking open or read would hang here.
    #expect(throws: ProfileError.notRegularFile(path: fifo, kind: "a FIFO (named pipe)")) { try ProfileStore.read(fifo) }
    #expect(throws: ProfileError.notRegularFile(path: "/dev/zero", kind: "a character device")) { try ProfileStore.read("/dev/zero") }
    let huge = directory + "/huge.json"
    #expect(FileManager.default.createFile(atPath: huge, contents: nil))
    #expect(truncate(huge, off_t(ProfileStore.sizeLimit) + 1) == 0)
    do {
      _ = try ProfileStore.read(huge)
      Issue.record("a file past the limit was read")
    } catch {
      #expect("\(error)".contains("\(huge): is 64 MiB or more, larger than any profile (the limit is 64 MiB)"), "\(error)")
    }
    #expect(throws: ModelConfigError.self) { try ModelConfig.load("/dev/zero") }
    do {
      _ = try ModelConfig.load(fifo)
    } catch {
      #expect("\(error)".contains("is a FIFO (named pipe); expected a JSON model file"), "\(error)")
    }
  }

  @Test func aFileGrowingPastTheLimitWhileReadIsCut() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/p.json"
    try Data(repeating: 0x20, count: 5000).write(to: URL(fileURLWithPath: path))
    #expect(throws: BoundedFile.Failure.tooLarge(bytes: 5000, limit: 4096)) { try BoundedFile.read(path, limit: 4096) }
    #expect(try BoundedFile.read(path, limit: 5000).count == 5000)
  }
}

/// Everything that can be wrong with a profile on disk, each naming the file and what was expected.
public enum ProfileError: Error, Equatable, CustomStringConvertible {
  case notFound(path: String)
  case isDirectory(path: String)
  /// A FIFO, a device, a socket: something that may never end.
  case notRegularFile(path: String, kind: String)
  case tooLarge(path: String, bytes: UInt64, limit: UInt64)
  case unreadable(path: String, reason: String)
  case malformedJSON(path: String, detail: String)
  case notAProfile(path: String)
  case wrongSchema(path: String, found: String, expected: String)
  case missingField(path: String, field: String, expected: String)
  case wrongType(path: String, field: String, expected: String, found: String)
  case invalidValue(path: String, field: String, problem: String)
  case unwritable(path: String, reason: String)
  /// Kernel choices measured on another machine.
  case foreignMachine(path: String, profileFingerprint: String, machineFingerprint: String)

  public var description: String {
    switch self {
    case .foreignMachine(let path, let theirs, let ours):
      return "\(path): its kernel choices were measured on another machine (fingerprint \(theirs); this machine is \(ours)), "
        + "so they are not applied. Run `tune` here for a profile of this machine, or pass --force to apply them anyway "
        + "(the kernels still run only what this CPU can; only their speed is not this machine's)"
    case .notFound(let path):
      return "\(path): no such file; expected a ScaleTune profile (JSON) written by `tune`"
    case .isDirectory(let path):
      return "\(path): is a directory; expected a profile file (results/<host>-<time>.json)"
    case .notRegularFile(let path, let kind):
      return "\(path): is \(kind), not a regular file; expected a profile file (results/<host>-<time>.json), which is read whole"
    case .tooLarge(let path, let bytes, let limit):
      return "\(path): is \(BoundedFile.describe(bytes)) or more, larger than any profile (the limit is \(BoundedFile.describe(limit))); expected a profile file written by `tune`"
    case .unreadable(let path, let reason):
      return "\(path): cannot be read (\(reason))"
    case .malformedJSON(let path, let detail):
      return "\(path): not valid JSON (\(detail)); expected a ScaleTune profile"
    case .notAProfile(let path):
      return "\(path): is JSON but not a ScaleTune profile: expected an object with \"schema\": \"\(Profile.currentSchema)\""
    case .wrongSchema(let path, let found, let expected):
      return "\(path): schema is \"\(found)\"; this tool reads \"\(expected)\". Re-run `tune` to write a current profile"
    case .missingField(let path, let field, let expected):
      return "\(path): field `\(field)` is missing; expected \(expected)"
    case .wrongType(let path, let field, let expected, let found):
      return "\(path): field `\(field)` is \(found); expected \(expected)"
    case .invalidValue(let path, let field, let problem):
      return "\(path): field `\(field)`: \(problem)"
    case .unwritable(let path, let reason):
      return "\(path): cannot be written (\(reason))"
    }
  }
}

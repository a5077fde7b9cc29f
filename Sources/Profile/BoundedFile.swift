import Foundation

/// Reads a whole file that a person named, refusing at once what would never end: anything that
/// is not a regular file (a FIFO, a device such as /dev/zero or /dev/stdin, a socket) and a file
/// larger than `limit`. Opened without blocking (a FIFO with no writer would hang `open`), checked
/// on the open descriptor, and read no further than the limit (a file that grows while read).
public enum BoundedFile {
  public enum Failure: Error, Equatable {
    case notFound
    case directory
    /// What it is instead ("a FIFO", "a character device", …).
    case notRegular(String)
    case tooLarge(bytes: UInt64, limit: UInt64)
    case unreadable(String)
  }

  /// The bytes of the regular file at `path`, at most `limit` of them.
  public static func read(_ path: String, limit: UInt64) throws(Failure) -> Data {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else {
      let code = errno
      throw code == ENOENT || code == ENOTDIR ? .notFound : .unreadable(String(cString: strerror(code)))
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .unreadable(String(cString: strerror(errno))) }
    switch info.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw .directory
    case S_IFIFO: throw .notRegular("a FIFO (named pipe)")
    case S_IFCHR: throw .notRegular("a character device")
    case S_IFBLK: throw .notRegular("a block device")
    case S_IFSOCK: throw .notRegular("a socket")
    default: throw .notRegular("not a regular file")
    }
    let size = UInt64(max(0, info.st_size))
    guard size <= limit else { throw .tooLarge(bytes: size, limit: limit) }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
      if count < 0 {
        if errno == EINTR { continue }
        throw .unreadable(String(cString: strerror(errno)))
      }
      if count == 0 { break }
      data.append(contentsOf: buffer[0..<count])
      guard UInt64(data.count) <= limit else { throw .tooLarge(bytes: UInt64(data.count), limit: limit) }
    }
    return data
  }

  /// Why a file of `expected` content cannot be read, as a person reads it after the path.
  public static func reason(_ failure: Failure, expected: String) -> String {
    switch failure {
    case .notFound: return "no such file"
    case .directory: return "is a directory; expected \(expected)"
    case .notRegular(let kind): return "is \(kind); expected \(expected)"
    case .tooLarge(let bytes, let limit): return "is \(describe(bytes)) or more, past the \(describe(limit)) limit for \(expected)"
    case .unreadable(let reason): return reason
    }
  }

  /// "64 MiB".
  public static func describe(_ bytes: UInt64) -> String {
    if bytes >= 1 << 30 { return String(format: "%.0f GiB", Double(bytes) / Double(1 << 30)) }
    return bytes >= 1 << 20 ? String(format: "%.0f MiB", Double(bytes) / Double(1 << 20)) : String(format: "%.0f KiB", Double(bytes) / 1024)
  }
}

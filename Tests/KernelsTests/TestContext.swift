import Kernels

/// A kernel context for one test: four threads, more than any test asks for, unpinned (tests run
/// side by side). Each test makes its own, as each rank of a trainer does.
var kernelContext: KernelContext { KernelContext(threads: 4) }

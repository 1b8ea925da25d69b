import Foundation
import Testing

@testable import RukoSandbox

/// SandboxCancellation without root: signals and hang-ups set it; nothing else does.
@Suite("sandbox cancellation")
struct CancellationTests {
    @Test("a signal it was armed for cancels it, and is remembered")
    func signalCancels() throws {
        let cancellation = try SandboxCancellation()
        #expect(!cancellation.isCancelled)
        try cancellation.cancelOnSignals([SIGUSR2])
        #expect(raise(SIGUSR2) == 0)
        #expect(cancellation.isCancelled)
        #expect(SandboxCancellation.receivedSignal == SIGUSR2)
    }

    @Test("the reader of a pipe going away is a hang-up; cancel() ends the wait without one")
    func hangUp() throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[1]) }
        let cancellation = try SandboxCancellation()
        close(fds[0])  // the reader (sshd) is gone
        #expect(cancellation.waitForCancellation(orHangUpOf: fds[1]))

        var other: [Int32] = [-1, -1]
        #expect(pipe(&other) == 0)
        defer {
            close(other[0])
            close(other[1])
        }
        let quiet = try SandboxCancellation()
        quiet.cancel()
        #expect(!quiet.waitForCancellation(orHangUpOf: other[1]))
        #expect(quiet.isCancelled)
    }
}

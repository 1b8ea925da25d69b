// RukoSandboxTests

// RukoSandbox: see docs/architecture.md.

// RukoCapabilities: see docs/architecture.md.

// RukoShim: see docs/architecture.md.

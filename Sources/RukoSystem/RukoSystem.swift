// RukoSystem: see docs/architecture.md.

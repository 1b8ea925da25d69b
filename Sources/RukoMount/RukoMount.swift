// RukoMount: see docs/architecture.md.

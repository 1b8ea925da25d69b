// RukoSeccomp: see docs/architecture.md.

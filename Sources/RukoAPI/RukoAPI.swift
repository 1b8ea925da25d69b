// RukoAPI: see docs/architecture.md.

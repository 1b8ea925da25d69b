// RukoArchive: see docs/architecture.md.

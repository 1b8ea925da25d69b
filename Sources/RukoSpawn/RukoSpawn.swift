// RukoSpawn: see docs/architecture.md.

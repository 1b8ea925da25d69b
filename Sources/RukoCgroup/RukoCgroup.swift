// RukoCgroup: see docs/architecture.md.

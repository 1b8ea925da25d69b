// RukoBuild: see docs/architecture.md.

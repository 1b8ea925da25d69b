// RukoArchiveTests

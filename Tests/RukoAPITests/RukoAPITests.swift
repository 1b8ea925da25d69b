// RukoAPITests

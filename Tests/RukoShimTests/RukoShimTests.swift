// RukoShimTests

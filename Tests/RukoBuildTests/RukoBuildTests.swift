// RukoBuildTests

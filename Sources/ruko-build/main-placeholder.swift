// ruko-build entry point.

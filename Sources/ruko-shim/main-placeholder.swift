// ruko-shim entry point.

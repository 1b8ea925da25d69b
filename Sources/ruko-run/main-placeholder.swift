// ruko-run entry point.

// ruko-api entry point.

"""The applications the benchmark serves: one module per framework, same routes in each."""

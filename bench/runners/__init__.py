"""One runner per load tool: its command line for a scenario, run pinned to the client CPUs
and bounded by a timeout (``load_tool.py``), and its result line read into that tool's result
type (``bench/results.py``)."""

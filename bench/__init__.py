"""Benchmarks: Berth against its peers, driven by ``bench/run.py`` (``make bench``).

The harness (runs under any Python 3.11+, standard library only):

- ``run.py``: the entry point; ``cli.py``: the options, ``--only`` selection and the run;
- ``servers.py``, ``scenarios.py``, ``targets.py``: what is measured (servers, one scenario
  type per kind of load) and the comparisons with their targets;
- ``plan.py``: the load's shape and where things run; ``paths.py``: where files are;
- ``peers.py``: the peers' venv; ``provenance.py``: machine and commit for the results;
- ``processes.py``: server processes; ``hot_path.py``: the check that a Berth server runs
  the hot path its name says (compiled or pure Python); ``checks.py``: the check of an answer
  before measuring;
- ``cpus.py``: CPU pinning; ``procfs.py``: /proc readers (CPU time, RSS, descriptors);
- ``measure.py``: one scenario on every server, in rounds; ``runners/``: one runner per
  load tool (wrk, ws_load, rate_load, memory, fanout_load, instructions) and the CPU-counted
  tool run they share;
- the instruction count: ``callgrind.py`` (valgrind's callgrind, driven through vgdb),
  ``counted_load.py`` (the fixed-count client), ``instructions.py`` (per request from two
  windows);
- ``results.py``: one result type per load tool; ``cells.py``: a server x scenario cell;
  ``report.py``: what is printed; ``results_file.py``: ``bench/results/<stamp>.json``;
  ``chart.py``: its SVG chart of the comparisons (``<stamp>.svg``, ``docs/img/``).

The load clients (run as scripts by the bench venv's Python): ``ws_load.py``, ``rate_load.py``,
``memory.py`` and ``fanout_load.py``, with ``loadgen.py`` (their loop and result line),
``http_wire.py``, ``ws_wire.py`` and ``fanout_wire.py`` (the wire formats) and
``held_connections.py`` (memory's idle connections); ``redis_server.py`` is the run's Redis.
The apps under test are in ``apps/``; ``middleware_cost.py`` is a tool of its own.
"""

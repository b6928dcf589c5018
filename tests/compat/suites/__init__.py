"""aiohttp's extensions' own test suites, run against aiohttp and against Berth (issue 16).

- ``pins.py``: which extensions, their exact sdists, what each run leaves out and why, and
  the pinned test-time requirements of the suites' venv;
- ``cache.py``: downloads the sdists once per machine into ``.cache/compat-sdists/``,
  unpacks them, and builds the venv the suites run in (keyed by the pins);
- ``run.py``: runs one suite in a subprocess, on aiohttp or on Berth, reads its junit
  report, and compares the two runs;
- ``berth_compat.py``: the pytest plugin the Berth runs load first (``-p berth_compat``),
  which installs ``runtime.compat.aiohttp`` before anything imports ``aiohttp.web``.

Nothing of the extensions is kept in this repository: their code and tests live only in
the cache.
"""

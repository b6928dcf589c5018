"""Long runs (``make soak``): the same small app under real gunicorn, served once by Berth's
worker and once by aiohttp's, with figures side by side.

``python -m tests.soak [ws-churn|idle-slow|sigterm|all] [--seconds N] [--quick]
[--server berth|aiohttp|both]`` (``python -m tests.soak --help`` for the rest).

- ``soak_app.py``: the app, written once against ``web`` from ``runtime`` or ``aiohttp``
  (chosen by the ``SOAK_SERVER`` environment variable);
- ``servers.py``: one gunicorn master per run (``-w 2``, a free loopback port,
  ``--no-control-socket``), its workers found in /proc, their RSS and descriptors;
- ``clients.py``: the bounded clients (legitimate GETs, idle keep-alive, slowloris, slow body,
  a connect storm, WebSocket churn), reusable by short CI tests;
- ``ws_churn.py``, ``idle_slow.py``, ``sigterm.py``: the scenarios;
- ``report.py``: tables, percentiles and the ``SOAK_RESULT {json}`` line.

Nothing here is a pytest test (no ``test_*.py``): the runs take minutes. All traffic goes to
127.0.0.1; every client loop is bounded in count and time.
"""

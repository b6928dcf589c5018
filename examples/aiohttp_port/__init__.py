"""A chat written for aiohttp and its extensions, served by Berth in compatibility mode.

Every import in it is aiohttp's or an extension's (aiohttp-jinja2, aiohttp-session,
aiohttp-cors); nothing names Berth. On Berth::

    gunicorn examples.aiohttp_port.app:create_app \\
        -k runtime.workers.GunicornAiohttpCompatWorker -w 2

and, unchanged, on aiohttp itself::

    gunicorn examples.aiohttp_port.app:create_app -k aiohttp.GunicornWebWorker -w 2

tests/compat/test_port.py drives both through real HTTP and WebSockets; docs/compat.md
("An application ported") walks through it.
"""

"""The development server that reloads: ``python -m runtime pkg.mod:create_app --reload``.

A supervisor process binds the listening socket once and hands it to one child server at a
time. On a change to a watched file it starts a new child on the same socket, waits until
that child says it loaded, and only then stops the old one gracefully: no request is
refused during a reload, and an edit that fails to import leaves the last good version
serving (docs/development.md).
"""

"""Applications the deploy end-to-end tests serve through nginx and gunicorn."""

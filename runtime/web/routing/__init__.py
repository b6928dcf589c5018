"""Routing: the router (``dispatcher``), resources and routes, route tables, sub-applications,
class-based views and static files (docs/architecture.md)."""

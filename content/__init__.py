"""Content library: approved materials on demand, with MLR review, search and recommendations."""

# Importing these registers the demo materials with seed-demo and `flask content ...` commands.
from content import cli, demo  # noqa: F401
from content.views import blueprint

__all__ = ["blueprint"]

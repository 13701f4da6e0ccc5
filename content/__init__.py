"""Content library: approved materials on demand, with MLR review, search and recommendations."""

from content import demo  # noqa: F401  (registers the demo materials with seed-demo)
from content.views import blueprint

__all__ = ["blueprint"]

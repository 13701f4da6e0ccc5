"""Content library: approved materials on demand, with MLR review, search and recommendations."""

from content.views import blueprint

__all__ = ["blueprint"]

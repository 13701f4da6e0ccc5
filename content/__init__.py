"""Content library: approved materials on demand, with MLR review, search and recommendations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from portal.models import User


@dataclasses.dataclass(frozen=True)
class Interests:
    """The topics an HCP chose to follow: products (ids) and therapeutic areas. "For you" puts
    their material first."""

    product_ids: frozenset[int] = frozenset()
    areas: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.product_ids or self.areas)


@dataclasses.dataclass
class ContentExtension:
    """What content keeps per app, in ``app.extensions["content"]``."""

    # The topics an HCP follows: the account package answers (content never imports it).
    interests: Callable[[User], Interests] | None = None


def extension(app: Flask) -> ContentExtension:
    """The content state of ``app``, created on first use (another package's ``init_app`` may
    plug into it before content's own has run)."""
    state = app.extensions.get("content")
    if state is None:
        state = app.extensions["content"] = ContentExtension()
    assert isinstance(state, ContentExtension)
    return state


def register_interests(app: Flask, provider: Callable[[User], Interests]) -> None:
    """Let ``provider`` answer which topics an HCP follows (one small query at most: "For you"
    asks it on every HCP home page)."""
    extension(app).interests = provider


def init_app(app: Flask) -> None:
    """Wire the library into ``app``: its pages under ``/library`` with ``flask content ...``,
    the home page panel and the demo materials of ``seed-demo``."""
    from content import cli, demo, views  # noqa: F401  (cli adds its commands to the blueprint)
    from portal.main.panels import register_home_panel
    from portal.services.demo import register_demo_seeder

    extension(app)
    app.register_blueprint(views.blueprint, url_prefix="/library")
    register_home_panel(app, views.home_panel)
    register_demo_seeder(app, demo.seed_materials)

"""The account team and the HCP's own account.

- :mod:`contact_rule`: one rule for every staff-initiated contact (channels, quiet hours, pause,
  the company's minimum gap, the HCP's cap), and the contact ledger's only writer;
- :mod:`preferences`: the HCP's contact preferences; :mod:`coordination`: who touched an HCP;
- :mod:`timeline`: an HCP's record as a viewer may see it (``/hcps/<id>``, ``timeline.json``);
- :mod:`roster`: a territory's HCPs (``/hcps/``); :mod:`planning`: pre-call planning;
- :mod:`call_notes`: interactions staff record, medical requests filed on the HCP's behalf;
- :mod:`outreach`: materials shared with an HCP, meeting requests both ways (with ``.ics``);
- :mod:`worklist`: the rep's and MSL's home page;
- the pages: :mod:`hcp_views` (``/hcps``), :mod:`account_views` (``/account``),
  :mod:`roster_views` (``/hcps/``), :mod:`call_note_views` (``/hcps/<id>/notes``),
  :mod:`outreach_views` (``/outreach``); ``flask contacts check`` (:mod:`cli`).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the account team into ``app``: its pages, ``flask contacts``, the worklist on the
    home page and its demo data."""
    from content import register_interests
    from portal.accounts import (
        account_views,
        call_note_views,
        cli,
        demo,
        hcp_views,
        outreach_views,
        preferences,
        roster_views,
        worklist,
    )
    from portal.main.panels import register_home_panel
    from portal.services.demo import register_demo_seeder

    app.register_blueprint(hcp_views.blueprint, url_prefix="/hcps")
    app.add_template_global(hcp_views.hcp_link, "hcp_link")
    app.register_blueprint(roster_views.blueprint, url_prefix="/hcps")
    app.register_blueprint(call_note_views.blueprint, url_prefix="/hcps")
    app.register_blueprint(account_views.blueprint, url_prefix="/account")
    # The topics an HCP follows lead the library's "For you" (content never imports accounts).
    register_interests(app, preferences.interests_of)
    app.register_blueprint(outreach_views.blueprint, url_prefix="/outreach")
    app.cli.add_command(cli.contacts_cli)
    register_home_panel(app, worklist.home_panel)
    register_demo_seeder(app, demo.seed_account_team)

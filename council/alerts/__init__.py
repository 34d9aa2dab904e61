"""Alerts: saved searches ("tell me when 'Radweg' appears") over the site search.

A saved search belongs to an account (a councillor: found with that account's current Viewer, so
non-public hits only where the account may see them) or to a resident without an account (always the
anonymous Viewer; the e-mail address must be confirmed by double opt-in). New matches since the last
digest are remembered per search (``saved_search_hit``) and sent as a daily digest mail
(``jobs``: ``alerts.digest``); an account's searches are also a private RSS feed whose token is stored
only as its hash.
"""

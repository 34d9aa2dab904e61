"""OParl 1.1: the public API is a view over the records.

``serialize`` turns loaded records into OParl JSON objects (pure functions over the records and a base
URL: no database access); ``lists`` holds the queries behind the object and list URLs, always for the
anonymous viewer (the API is public-only: non-public meetings, items, papers and files never appear),
plus parsing and checking of the list filters. The HTTP side is ``web/controllers/oparl.py``; the
vendor extras and URL scheme are documented in ``docs/oparl.md``.
"""

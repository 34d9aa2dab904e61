"""The council's records and everything that lives beside them.

`council` is the bottom layer: it imports nothing from `streaming`, `transcripts`, `votes` or `web`.
Its rooms: `core` (settings, database, migrations, jobs), `records` (the OParl-shaped models),
`live` (the meeting timeline and event bus), `documents`, `search`, `accounts`, `demo`.
"""

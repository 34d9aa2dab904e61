"""The live meeting: the append-only timeline of a meeting and the event bus that carries it.

The clerk's console (a later issue) writes timeline events; the public page (SSE), streaming
(chapters, consent slate), transcripts (segment ↔ agenda item/speaker) and votes all read them.
"""

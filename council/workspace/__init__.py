"""The councillor's workspace: reading a meeting's documents (ZIP, merged PDF with a table of
contents, watermarked downloads of non-public PDFs) and annotations (private or faction-shared notes
anchored to a page and a text quote, re-anchored when a document gets a new version).

Access always goes through ``council.records.access``: nothing here decides on its own who may see a
document; notes add one rule — a faction note is for members of that faction only.
"""

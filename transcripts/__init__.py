"""Whisper transcripts: engine, live captions, batch job, alignment. Imports only council."""

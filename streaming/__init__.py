"""Live streaming and the video archive (ingest, packager, HLS, WHEP, chapters). Imports only council."""

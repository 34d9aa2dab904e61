"""Live streaming and the video archive (ingest, packager, HLS, WHEP, chapters). Imports only council.

Design of the core (``manager``, ``packager``, ``sources``, ``playlist``, ``slate``, ``captions``,
``archive``, ``jobs``):

- ``StreamManager`` (manager.py) is the API web and the WHIP side use: ``start_stream(meeting_id,
  source)`` → ``LiveStream``; ``stop_stream`` closes the archive; ``status``, ``audio`` (the AudioTap),
  ``add_caption`` (the CaptionSink), ``disk_status``, ``issue_key``/``verify_key``. Errors:
  ``streaming.errors`` (StreamBusy 409, StreamNotFound 404, BadSource 400).
- One supervised ffmpeg per live stream (packager.py), command built with ffmpeg-python
  (ffmpeg.py): H.264 in → ``-c:v copy``; otherwise libx264 with GOP = segment length. Each run writes
  a raw *part* (``raw/part-NNNN.m3u8``); a second output is the 16 kHz mono PCM audio tap on stdout.
- The composer publishes every finished raw segment into ``public/`` (hard link), or a matching slate
  segment while the timeline says a non-consenting speaker is on (read from the database: no bus
  subscription is needed, nothing is missed). A journal (``segments.jsonl``) records every public
  segment; playlists, captions, chapters' media times and the MP4 come from it.
- Public playlist: a sliding live window (``settings.hls_list_size``), then the full VOD with
  ENDLIST. Discontinuities at new parts and around slate runs; program-date-time on every segment.
- Archive: ``stop_stream`` writes the VOD playlist and queues the ``streaming.finalize`` job (MP4
  remux, ``Recording.state = ready``), which then calls the ``on_archived`` callback.
- Crash recovery: ``StreamManager.start()`` archives streams left ``live`` up to their last finished
  segment; ``start_stream`` on the same meeting later resumes the same recording as a new part.
- ffmpeg's RTMP listener accepts any stream name (it only logs a warning): the packager kills a run
  whose stream name is not the key before any of its segments is published, and re-arms.
"""

"""Streaming pieces without processes: playlists, consent, commands, keys, captions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from council.live.media import Caption
from streaming.captions import media_time, render_full_vtt, render_segment_vtt
from streaming.ffmpeg import packager_command
from streaming.keys import hash_key, new_key, verify_key
from streaming.playlist import ConsentTimeline, Entry, parse_media_playlist, render_media_playlist
from streaming.sources import PipeSource, RtmpListen, TestPattern

T0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def _entries(n: int, *, slate_at: set[int] = frozenset(), part2_at: int | None = None) -> list[Entry]:  # type: ignore[assignment]
    out: list[Entry] = []
    for i in range(n):
        part = 2 if part2_at is not None and i >= part2_at else 1
        slate = i in slate_at
        prev = out[-1] if out else None
        disc = prev is not None and (prev.part != part or prev.slate != slate)
        out.append(Entry(i, part, f"r{i}.ts", T0 + timedelta(seconds=i), 1.0, 1.4 + i, slate, disc))
    return out


def test_raw_playlist_parse() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:00:00.100+0100\n#EXTINF:1.000000,\npart-0001-00000.ts\n"
        "#EXTINF:0.900000,\npart-0001-00001.ts\n"
    )
    segs = parse_media_playlist(text)
    assert [s.name for s in segs] == ["part-0001-00000.ts", "part-0001-00001.ts"]
    assert segs[0].pdt == datetime(2026, 11, 25, 16, 0, 0, 100000, tzinfo=UTC)
    assert segs[1].pdt == segs[0].pdt + timedelta(seconds=1)  # filled in from the previous one


def test_live_window_and_vod() -> None:
    entries = _entries(10, slate_at={3, 4}, part2_at=8)
    live = render_media_playlist(entries, segment_seconds=1, ended=False, window=4)
    assert "#EXT-X-MEDIA-SEQUENCE:6" in live and "#EXT-X-ENDLIST" not in live
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:2" in live  # into and out of the slate run were cut off
    assert live.count("#EXT-X-DISCONTINUITY\n") == 1  # the new part
    assert live.count("#EXT-X-PROGRAM-DATE-TIME:") == 4
    vod = render_media_playlist(entries, segment_seconds=1, ended=True)
    assert vod.endswith("#EXT-X-ENDLIST\n") and "#EXT-X-PLAYLIST-TYPE:VOD" in vod
    assert vod.count("#EXT-X-DISCONTINUITY\n") == 3 and vod.count("#EXTINF") == 10


def test_consent_timeline() -> None:
    tl = ConsentTimeline()
    tl.add(1, "speaker.started", T0 + timedelta(seconds=10), False)
    tl.add(2, "speaker.started", T0 + timedelta(seconds=20), True)
    tl.add(3, "speaker.started", T0 + timedelta(seconds=30), False)
    tl.add(4, "agenda_item.started", T0 + timedelta(seconds=40), None)
    at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
    assert not tl.slate_between(at(5), at(6))
    assert tl.slate_between(at(9.5), at(10.5))  # a non-consenting speaker starts inside the segment
    assert tl.slate_between(at(15), at(16))
    assert tl.slate_between(at(19.5), at(20.5))  # still on at the start
    assert not tl.slate_between(at(21), at(22))
    assert tl.slate_between(at(35), at(36)) and not tl.slate_between(at(41), at(42))
    assert tl.last_id == 4


def test_commands_copy_vs_transcode(tmp_path: Path) -> None:
    pl, pat = tmp_path / "p.m3u8", tmp_path / "p-%05d.ts"
    h264 = packager_command("ffmpeg", PipeSource(), pl, pat, 1.0)
    assert h264.video_copy and h264.cmd[h264.cmd.index("-c:v") + 1] == "copy" and h264.uses_stdin
    assert "-nostdin" not in h264.cmd and "pipe:0" in h264.cmd and "pipe:1" in h264.cmd
    rtmp = packager_command("ffmpeg", RtmpListen(port=1935, key="abc"), pl, pat, 2.0)
    assert rtmp.video_copy and rtmp.audio_copy and "-listen" in rtmp.cmd
    pattern = packager_command("ffmpeg", TestPattern(size="320x240", rate=10), pl, pat, 1.0)
    cmd = pattern.cmd
    assert not pattern.video_copy and cmd[cmd.index("-c:v") + 1] == "libx264"
    assert cmd[cmd.index("-g") + 1] == "10" and cmd[cmd.index("-sc_threshold") + 1] == "0"
    assert "expr:gte(t,n_forced*1)" in cmd
    assert "program_date_time+independent_segments+temp_file" in cmd
    assert cmd[cmd.index("-hls_list_size") + 1] == "0"
    assert TestPattern(width=640, height=360, fps=25).size == "640x360"


def test_keys() -> None:
    key, digest = new_key()
    assert len(key) >= 10 and digest == hash_key(key) and verify_key(key, digest)
    assert not verify_key(key + "x", digest) and not verify_key("", digest) and not verify_key(key, None)


def test_captions_vtt() -> None:
    entries = _entries(5)
    c = Caption(1, T0 + timedelta(seconds=2.25), T0 + timedelta(seconds=3.5), "a <b> --> c")
    seg = render_segment_vtt(entries[2], [c])
    assert "X-TIMESTAMP-MAP=MPEGTS:306000,LOCAL:00:00:00.000" in seg
    assert "00:00:00.250 --> 00:00:01.500" in seg and "a &lt;b&gt; → c" in seg
    assert media_time(entries, T0 + timedelta(seconds=2.25)) == 2.25
    assert "00:00:02.250 --> 00:00:03.500" in render_full_vtt(entries, [c])

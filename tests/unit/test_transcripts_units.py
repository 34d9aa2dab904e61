"""Transcripts without the model: energy VAD, alignment to the timeline, WebVTT, validation, model files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from council.core.settings import Settings
from transcripts import model_files
from transcripts.align import Timeline
from transcripts.engine import Segment, keep_segment
from transcripts.service import clean_text
from transcripts.vad import SAMPLE_RATE, UtteranceSegmenter, has_sound, quietest_cut
from transcripts.webvtt import timestamp, webvtt

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    """A voice-like signal: a 220 Hz tone with syllables (4 Hz loudness dips), not a steady hum."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)
    return (level * syllables * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 0.0005, int(seconds * SAMPLE_RATE)).astype(np.float32)


def feed(seg: UtteranceSegmenter, audio: np.ndarray, block: int = 320) -> list:
    out = []
    for i in range(0, len(audio), block):  # 20 ms blocks, as a live tap delivers them
        out += seg.push(audio[i : i + block])
    return out + seg.flush()


def test_segmenter_cuts_at_pauses_with_stream_positions() -> None:
    audio = np.concatenate([quiet(1.0), tone(2.0), quiet(1.0), tone(1.5), quiet(0.2)])
    utts = feed(UtteranceSegmenter(), audio)
    assert len(utts) == 2
    first, second = utts
    assert abs(first.start / SAMPLE_RATE - 1.0) < 0.25  # starts just before the tone (padding)
    assert abs(first.voice_end / SAMPLE_RATE - 3.0) < 0.1
    assert abs(second.start / SAMPLE_RATE - 4.0) < 0.25
    assert not first.forced
    assert len(first.samples) / SAMPLE_RATE < 2.6  # trailing silence trimmed to the padding


def test_segmenter_forces_a_split_in_long_speech_and_ignores_clicks() -> None:
    audio = np.concatenate([tone(33.0), quiet(1.0), tone(0.06), quiet(1.0)])
    utts = feed(UtteranceSegmenter(max_utterance_s=15.0), audio)
    assert [u.forced for u in utts] == [True, True, False]
    assert all(len(u.samples) / SAMPLE_RATE <= 15.01 for u in utts)
    assert sum(len(u.samples) for u in utts) / SAMPLE_RATE == pytest.approx(33.0, abs=0.6)


def test_steady_noise_becomes_the_floor() -> None:
    hum = np.random.default_rng(2).normal(0, 0.05, 40 * SAMPLE_RATE).astype(np.float32)
    utts = feed(
        UtteranceSegmenter(max_utterance_s=15.0), np.concatenate([hum, hum[:SAMPLE_RATE] + tone(1.0)])
    )
    # the noise may open utterances at first, but the floor catches up: not 40 s of "speech"
    assert sum(len(u.samples) for u in utts) / SAMPLE_RATE < 30


def test_quietest_cut_and_has_sound() -> None:
    audio = np.concatenate([tone(5.0), quiet(0.5), tone(5.0)])
    cut = quietest_cut(audio, 2 * SAMPLE_RATE, len(audio))
    assert 5.0 <= cut / SAMPLE_RATE <= 5.5
    assert has_sound(audio)
    assert not has_sound(quiet(3.0))
    assert not has_sound(np.zeros(0, dtype=np.float32))


def ev(kind: str, seconds: float, **kw: object) -> dict:
    return {"kind": kind, "at": T0 + timedelta(seconds=seconds), "id": int(seconds * 10), **kw}


TIMELINE = [
    ev("meeting.opened", 0),
    ev("agenda_item.started", 10, agenda_item_id=1),
    ev("speaker.started", 20, agenda_item_id=1, person_id=7, consent=True),
    ev("speaker.ended", 40, agenda_item_id=1, person_id=7, consent=True),
    ev("speaker.started", 50, agenda_item_id=1, person_id=8, consent=False),
    ev("speaker.ended", 60, agenda_item_id=1, person_id=8, consent=False),
    ev("agenda_item.ended", 70, agenda_item_id=1),
    ev("agenda_item.started", 70, agenda_item_id=2),
    ev("meeting.closed", 100),
]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_alignment_agenda_item_speaker_chair_unknown() -> None:
    tl = Timeline(1, TIMELINE, private_item_ids=[2])
    before = tl.assign(at(-5), at(-1))
    assert (before.agenda_item_id, before.person_id, before.speaker_role) == (None, None, "unknown")
    opened = tl.assign(at(2), at(5))
    assert (opened.agenda_item_id, opened.speaker_role) == (None, "unknown")
    chair = tl.assign(at(12), at(18))
    assert (chair.agenda_item_id, chair.person_id, chair.speaker_role, chair.public) == (
        1,
        None,
        "chair",
        True,
    )
    speech = tl.assign(at(18), at(30))  # mostly inside the speech: the speaker's
    assert (speech.person_id, speech.speaker_role, speech.public) == (7, "speaker", True)
    after = tl.assign(at(101), at(105))
    assert (after.agenda_item_id, after.speaker_role) == (None, "unknown")


def test_non_consenting_speech_is_private_even_in_part() -> None:
    tl = Timeline(1, TIMELINE)
    assert not tl.assign(at(52), at(58)).public
    assert tl.assign(at(52), at(58)).person_id == 8
    edge = tl.assign(at(44), at(51))  # mostly the chair, one second of the private speech
    assert edge.speaker_role == "chair" and not edge.public
    assert not tl.captions_allowed(at(44), at(51))
    assert tl.captions_allowed(at(41), at(49))


def test_consent_change_mid_speech_and_missing_consent() -> None:
    events = [
        ev("meeting.opened", 0),
        ev("agenda_item.started", 1, agenda_item_id=1),
        ev("speaker.started", 10, agenda_item_id=1, person_id=7, consent=True),
        ev("speaker.started", 20, agenda_item_id=1, person_id=7, consent=False),
        ev("speaker.ended", 30, agenda_item_id=1, person_id=7, consent=False),
        ev("speaker.started", 40, agenda_item_id=1, person_id=9, consent=None),
    ]
    tl = Timeline(1, events)
    assert tl.assign(at(11), at(19)).public
    assert not tl.assign(at(21), at(29)).public
    assert not tl.assign(at(41), at(45)).public  # no recorded consent counts as none


def test_captions_stop_for_private_items_and_meetings() -> None:
    assert not Timeline(1, TIMELINE, private_item_ids=[2]).captions_allowed(at(75), at(80))
    assert Timeline(1, TIMELINE, private_item_ids=[2]).assign(at(75), at(80)).public  # members may read
    assert not Timeline(1, TIMELINE, meeting_public=False).captions_allowed(at(12), at(15))


def test_segment_filter_drops_invented_text() -> None:
    assert keep_segment(Segment(0, 2, "Ich eröffne die Sitzung.", avg_logprob=-0.3, no_speech_prob=0.05))
    assert not keep_segment(Segment(0, 2, "Untertitel im Auftrag des ZDF, 2020", avg_logprob=-0.2))
    assert not keep_segment(Segment(0, 2, "Vielen Dank.", avg_logprob=-0.9, no_speech_prob=0.5))
    assert keep_segment(Segment(0, 2, "Vielen Dank.", avg_logprob=-0.2, no_speech_prob=0.01))
    assert not keep_segment(Segment(0, 2, "Ja", avg_logprob=-1.2, no_speech_prob=0.8))
    assert not keep_segment(Segment(0, 2, "ja ja ja ja", avg_logprob=-0.2, compression_ratio=3.1))
    assert not keep_segment(Segment(0, 2, "   "))


@dataclass
class Cue:
    start_s: float
    end_s: float
    text: str
    public: bool = True
    speaker_name: str | None = None


def test_webvtt_cues_escaped_and_private_left_out() -> None:
    vtt = webvtt(
        [
            Cue(3723.5, 3725.0, "Antrag <b>angenommen</b> & --> fertig\n\nneu", speaker_name="Anna <Becker>"),
            Cue(1.0, 1.0, "kurz"),
            Cue(5.0, 6.0, "geheim", public=False),
        ]
    )
    assert vtt.startswith("WEBVTT\n\n1\n00:00:01.000 --> 00:00:01.500\nkurz\n")
    assert "01:02:03.500 --> 01:02:05.000" in vtt
    assert "<v Anna &lt;Becker&gt;>Antrag &lt;b&gt;angenommen&lt;/b&gt; &amp; --&gt; fertig neu" in vtt
    assert "geheim" not in vtt
    assert timestamp(6 * 3600 + 0.0004) == "06:00:00.000"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a\x00b", "Nullzeichen"),
        ("a\ud800b", "ungültige"),
        ("x" * 5001, "zu lang"),
        ("a\x07", "Steuerzeichen"),
    ],
)
def test_clean_text_rejects_bad_input(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        clean_text(text)


def test_clean_text_normalises() -> None:
    assert clean_text("  Mu\u0308ller\n ") == "Müller"


def test_model_assembly_checks_the_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "MODEL_BIN_SHA256", "0" * 64)
    settings = Settings(var_dir=tmp_path)
    with pytest.raises(model_files.ModelFilesError, match="Prüfsumme"):
        model_files.ensure_model_dir(settings)
    target = model_files.default_model_dir(settings)
    assert not target.exists()  # nothing half-written left behind
    assert [p.name for p in target.parent.iterdir()] == ["whisper-base.lock"]


def test_configured_model_dir_must_hold_a_model(tmp_path: Path) -> None:
    with pytest.raises(model_files.ModelFilesError, match=r"model\.bin"):
        model_files.ensure_model_dir(Settings(var_dir=tmp_path, whisper_model_dir=str(tmp_path / "nope")))

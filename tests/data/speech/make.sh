#!/usr/bin/env bash
# Makes the German test clips for the transcript tests (run from anywhere; needs espeak-ng and the
# project's venv for imageio-ffmpeg's ffmpeg). Output: 16 kHz mono Ogg/Opus clips + references.json.
# The clips are checked in so the tests never need espeak-ng; re-run only to change them.
set -euo pipefail
cd "$(dirname "$0")"
FFMPEG="$(../../../.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')"

declare -A VOICE TEXT
VOICE[chair]="de";    TEXT[chair]="Ich eröffne die Sitzung des Rates der Stadt Hennef. Wir kommen zum Tagesordnungspunkt eins, der Genehmigung der Niederschrift der letzten Sitzung."
VOICE[member_a]="de+m3"; TEXT[member_a]="Der Ausschuss empfiehlt, den Bebauungsplan für das Gewerbegebiet an der Frankfurter Straße zu beschließen. Die Kosten betragen rund zwei Millionen Euro."
VOICE[member_b]="de+f2"; TEXT[member_b]="Ich halte den Antrag für richtig, weil die Bürgerinnen und Bürger schon lange auf den neuen Radweg an der Schule warten."
# agenda words for the biasing tests (tests/integration/test_transcripts_bias.py): a place, a motion title
VOICE[agenda]="de+m1"; TEXT[agenda]="Wir kommen zum Tagesordnungspunkt sieben, Ausbau des Breitbandnetzes in Uckerath und Stoßdorf. Der Beschlussvorschlag wurde mit zwei Gegenstimmen und drei Enthaltungen angenommen."

python3 - > references.json <<PY
import json
print(json.dumps({
  "chair": {"voice": "${VOICE[chair]}", "text": "${TEXT[chair]}"},
  "member_a": {"voice": "${VOICE[member_a]}", "text": "${TEXT[member_a]}"},
  "member_b": {"voice": "${VOICE[member_b]}", "text": "${TEXT[member_b]}"},
  "agenda": {"voice": "${VOICE[agenda]}", "text": "${TEXT[agenda]}"},
}, ensure_ascii=False, indent=2))
PY

# ./make.sh agenda  re-makes only the named clips (Opus output differs between runs; keep the others)
NAMES=("$@"); [ ${#NAMES[@]} -gt 0 ] || NAMES=(chair member_a member_b agenda)
for name in "${NAMES[@]}"; do
  espeak-ng -v "${VOICE[$name]}" -s 150 -w "/tmp/rathaus_$name.wav" "${TEXT[$name]}"
  "$FFMPEG" -hide_banner -loglevel error -y -i "/tmp/rathaus_$name.wav" -ac 1 -ar 16000 \
    -c:a libopus -b:a 32k "$name.opus"
  rm -f "/tmp/rathaus_$name.wav"
done
ls -l ./*.opus

#!/usr/bin/env bash
# Makes the demo corpus: three short "chapters" of synthetic speech, read by espeak-ng from the
# public-domain text of "A Scandal in Bohemia" (The Adventures of Sherlock Holmes, 1892), encoded
# as 22.05 kHz mono 48 kbit/s MP3 like a small audiobook. Needs Debian's espeak-ng and lame.
# The MP3s are committed, so running the demo needs neither; rerun this only to change them.
set -euo pipefail
cd "$(dirname "$0")"

chapter() {
  local name=$1 text=$2
  espeak-ng -v en-gb -s 150 -w "$name.wav" "$text"
  lame --quiet -m m -b 48 --resample 22.05 "$name.wav" "$name.mp3"
  rm "$name.wav"
}

chapter sherlock_01_demo "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name. In his eyes she eclipses and predominates the whole of her sex. It was not that he felt any emotion akin to love for Irene Adler."
chapter sherlock_02_demo "All emotions, and that one particularly, were abhorrent to his cold, precise but admirably balanced mind. He was, I take it, the most perfect reasoning and observing machine that the world has seen, but as a lover he would have placed himself in a false position."
chapter sherlock_03_demo "He never spoke of the softer passions, save with a gibe and a sneer. They were admirable things for the observer, excellent for drawing the veil from men's motives and actions. And yet there was but one woman to him, and that woman was the late Irene Adler, of dubious and questionable memory."

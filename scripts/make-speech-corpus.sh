#!/usr/bin/env bash
# Makes a larger corpus of synthetic speech for measuring experiments/small.yaml where the real
# LibriVox recording cannot be downloaded: the opening paragraphs of "A Scandal in Bohemia" (public
# domain) read by espeak-ng in several voices and speeds, one MP3 per "chapter" (22.05 kHz mono,
# 48 kbit/s, like a small audiobook). Chapter 01 holds the first paragraph (the val split).
# Usage: scripts/make-speech-corpus.sh OUT_DIR [ROUNDS]   (Debian: apt-get install espeak-ng lame)
set -euo pipefail
out=${1:?usage: make-speech-corpus.sh OUT_DIR [ROUNDS]}
rounds=${2:-6}
mkdir -p "$out"

paragraphs=(
"To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name. In his eyes she eclipses and predominates the whole of her sex. It was not that he felt any emotion akin to love for Irene Adler. All emotions, and that one particularly, were abhorrent to his cold, precise but admirably balanced mind. He was, I take it, the most perfect reasoning and observing machine that the world has seen, but as a lover he would have placed himself in a false position. He never spoke of the softer passions, save with a gibe and a sneer. They were admirable things for the observer, excellent for drawing the veil from men's motives and actions. But for the trained reasoner to admit such intrusions into his own delicate and finely adjusted temperament was to introduce a distracting factor which might throw a doubt upon all his mental results. Grit in a sensitive instrument, or a crack in one of his own high-power lenses, would not be more disturbing than a strong emotion in a nature such as his. And yet there was but one woman to him, and that woman was the late Irene Adler, of dubious and questionable memory."
"I had seen little of Holmes lately. My marriage had drifted us away from each other. My own complete happiness, and the home-centred interests which rise up around the man who first finds himself master of his own establishment, were sufficient to absorb all my attention, while Holmes, who loathed every form of society with his whole Bohemian soul, remained in our lodgings in Baker Street, buried among his old books, and alternating from week to week between cocaine and ambition, the drowsiness of the drug, and the fierce energy of his own keen nature."
"He was still, as ever, deeply attracted by the study of crime, and occupied his immense faculties and extraordinary powers of observation in following out those clues, and clearing up those mysteries which had been abandoned as hopeless by the official police. From time to time I heard some vague account of his doings: of his summons to Odessa in the case of the Trepoff murder, of his clearing up of the singular tragedy of the Atkinson brothers at Trincomalee, and finally of the mission which he had accomplished so delicately and successfully for the reigning family of Holland."
"One night, it was on the twentieth of March, eighteen eighty-eight, I was returning from a journey to a patient, for I had now returned to civil practice, when my way led me through Baker Street. As I passed the well-remembered door, which must always be associated in my mind with my wooing, and with the dark incidents of the Study in Scarlet, I was seized with a keen desire to see Holmes again, and to know how he was employing his extraordinary powers."
"His rooms were brilliantly lit, and, even as I looked up, I saw his tall, spare figure pass twice in a dark silhouette against the blind. He was pacing the room swiftly, eagerly, with his head sunk upon his chest and his hands clasped behind him. To me, who knew his every mood and habit, his attitude and manner told their own story. He was at work again. He had risen out of his drug-created dreams and was hot upon the scent of some new problem. I rang the bell and was shown up to the chamber which had formerly been in part my own."
"His manner was not effusive. It seldom was; but he was glad, I think, to see me. With hardly a word spoken, but with a kindly eye, he waved me to an armchair, threw across his case of cigars, and indicated a spirit case and a gasogene in the corner. Then he stood before the fire and looked me over in his singular introspective fashion. Wedlock suits you, he remarked. I think, Watson, that you have put on seven and a half pounds since I saw you."
)
voices=(en-gb en-us en-gb-x-rp en-gb-scotland en-029 en-gb-x-gbclan)
speeds=(150 135 165 145 175 140)

n=1
for ((r = 0; r < rounds; r++)); do
  for ((p = 0; p < ${#paragraphs[@]}; p++)); do
    # Only the first reading of the first paragraph is chapter 01 (val); the rest are train.
    if ((r == 0 && p == 0)); then id=01; else id=$(printf '%02d' $((n + 1))); n=$((n + 1)); fi
    voice=${voices[$(((r + p) % ${#voices[@]}))]}
    speed=${speeds[$(((r * 2 + p) % ${#speeds[@]}))]}
    espeak-ng -v "$voice" -s "$speed" -p $((35 + (r * 7 + p * 5) % 30)) -w "$out/tmp.wav" "${paragraphs[$p]}"
    lame --quiet -m m -b 48 --resample 22.05 "$out/tmp.wav" "$out/holmes_${id}_espeak.mp3"
  done
done
rm -f "$out/tmp.wav"
echo "$(ls "$out"/*.mp3 | wc -l) chapters in $out"

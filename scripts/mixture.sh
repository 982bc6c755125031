# The recognizer's training mixture, sourced by scripts/gpu-recipe.sh and
# scripts/train-default.sh: sampling weight of each source (docs/recognizer.md, "Data mixture").
# Real line sets of $MEDOCR_DATA (NAME-lines/), then the synthetic sources.
MIXTURE_REAL="poilus=0.25 lectaurep=0.12 copiste=0.15 peraire=0.08 cremma-mss19=0.05 cremma-mss20=0.01 celestine=0.01"
MIXTURE_SYNTH="certlines=0.23 synthlines=0.10"

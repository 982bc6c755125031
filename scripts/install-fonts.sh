#!/usr/bin/env bash
# Install the handwriting fonts medocr's synthesiser draws with, from registry packages:
# Debian fonts-* packages (apt) and npm @fontsource/* families (their .woff files).
# Idempotent: does nothing for what is already there. Needs root for apt (or sudo).
set -euo pipefail

DEBIAN_FONTS="fonts-dejavu-core fonts-dkg-handwriting fonts-breip fonts-bwht fonts-dancingscript
 fonts-ecolier-court fonts-femkeklaver fonts-humor-sans fonts-joscelyn fonts-kaushanscript
 fonts-klee fonts-kristi fonts-rufscript fonts-sjfonts fonts-comic-neue fonts-tomsontalks
 fonts-levien-typoscript"
FONTSOURCE="caveat indie-flower homemade-apple shadows-into-light reenie-beanie
 nothing-you-could-do cedarville-cursive zeyada gochi-hand kalam sacramento la-belle-aurore
 covered-by-your-grace just-me-again-down-here dawning-of-a-new-day mrs-saint-delafield
 over-the-rainbow waiting-for-the-sunrise patrick-hand architects-daughter"

if [ "$(id -u)" = 0 ]; then SUDO=""; FONT_DIR=/usr/local/share/fonts/medocr-fontsource
else SUDO="sudo"; FONT_DIR="$HOME/.local/share/fonts/medocr-fontsource"; fi

missing=""
for pkg in $DEBIAN_FONTS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "install-fonts: apt-get install$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install-fonts: npm not found, skipping the @fontsource families (Debian fonts are enough to run)"
  exit 0
fi
mkdir -p "$FONT_DIR"
todo=""
for family in $FONTSOURCE; do
  [ -f "$FONT_DIR/$family-latin-400-normal.woff" ] || todo="$todo @fontsource/$family"
done
if [ -n "$todo" ]; then
  echo "install-fonts: npm @fontsource:$todo"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm install --no-audit --no-fund --silent --no-save $todo >/dev/null)
  for family in $FONTSOURCE; do
    src="$work/node_modules/@fontsource/$family/files/$family-latin-400-normal.woff"
    [ -f "$src" ] && cp "$src" "$FONT_DIR/"
    lic="$work/node_modules/@fontsource/$family/LICENSE"
    [ -f "$lic" ] && cp "$lic" "$FONT_DIR/$family.LICENSE"
  done
fi
echo "install-fonts: done ($(ls "$FONT_DIR"/*.woff 2>/dev/null | wc -l) @fontsource fonts in $FONT_DIR)"

#!/usr/bin/env bash
# check_report.sh DIR — check a report written by "plot report -o DIR" in a
# real browser (Debian's headless Chromium):
#   1. every <img> of DIR/index.html loads (naturalWidth > 0): a copy of the
#      report gets a small script that marks each image on the load event, and
#      Chromium's --dump-dom output is counted;
#   2. a screenshot of the page is taken and its path printed on stdout.
# The report itself is not modified. Exit status: 0 when every image loaded,
# 1 when one did not (they are listed), 2 on usage or setup errors.
# Chromium: apt-get install -y chromium (set CHROMIUM to use another binary).
set -euo pipefail

die() { echo "check_report: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: check_report.sh DIR"
dir=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
[ -f "$dir/index.html" ] || die "$dir/index.html: no such file (write it with: plot report -o $1 RUN...)"
chrome=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chrome" ] || die "$chrome not found: apt-get install -y chromium"

work=$(mktemp -d "${TMPDIR:-/tmp}/check_report.XXXXXX")
profile="$work/profile"
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --hide-scrollbars --user-data-dir="$profile")

# 1. Image check on a copy with the marking script appended.
cp -r "$dir" "$work/copy"
cat >> "$work/copy/index.html" <<'JS'
<script>
window.addEventListener("load", function () {
  var imgs = document.getElementsByTagName("img");
  for (var i = 0; i < imgs.length; i++) {
    var ok = imgs[i].complete && imgs[i].naturalWidth > 0;
    imgs[i].setAttribute("data-loaded", ok ? "1" : "0");
  }
  document.body.setAttribute("data-checked", String(imgs.length));
});
</script>
JS
dom="$work/dom.html"
"$chrome" "${flags[@]}" --virtual-time-budget=10000 --dump-dom "file://$work/copy/index.html" >"$dom" 2>"$work/chromium-dom.log" ||
  die "chromium failed (log: $work/chromium-dom.log)"
grep -q 'data-checked=' "$dom" || die "the page's load event never ran (DOM dump: $dom)"
total=$(grep -o '<img [^>]*>' "$dom" | wc -l)
loaded=$(grep -o '<img [^>]*data-loaded="1"[^>]*>' "$dom" | wc -l || true)
if [ "$total" -eq 0 ]; then
  echo "check_report: $dir/index.html has no images" >&2
  exit 1
fi
if [ "$loaded" -ne "$total" ]; then
  echo "check_report: $((total - loaded)) of $total images did not load:" >&2
  grep -o '<img [^>]*data-loaded="0"[^>]*>' "$dom" | sed -n 's/.*src="\([^"]*\)".*/  \1/p' >&2
  exit 1
fi

# 2. Screenshot of the unmodified page.
shot="$work/screenshot.png"
"$chrome" "${flags[@]}" --window-size=1400,2600 --virtual-time-budget=10000 --screenshot="$shot" \
  "file://$dir/index.html" >"$work/chromium-shot.log" 2>&1 || die "chromium screenshot failed (log: $work/chromium-shot.log)"
[ -s "$shot" ] || die "no screenshot written (log: $work/chromium-shot.log)"
rm -rf "$profile" "$work/copy"
echo "check_report: $loaded of $total images loaded" >&2
echo "$shot"

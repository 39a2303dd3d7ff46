#!/usr/bin/env bash
# Draws the curves of scripts/bench.sh's `curves` section as PNGs, one per
# curve (history, concurrency, total, fleet, backlog), from its JSON (one
# object per line: curve, panel, series, x, y, unit, kind, pass).
#
#   scripts/plot-curves.sh CURVES.json OUTDIR
#
# Each panel of a curve is one plot over x (log scale): measured series as
# lines with points, ceilings dashed, targets dotted; a measured point that
# misses its target is circled in red, not left out.  Needs jq and gnuplot
# (scripts/deps.sh installs both).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: plot-curves.sh CURVES.json OUTDIR" >&2; exit 2; }
json=$1 out=$2
[ -s "$json" ] || { echo "plot-curves.sh: $json is missing or empty" >&2; exit 1; }
for t in jq gnuplot; do
  command -v "$t" >/dev/null || { echo "plot-curves.sh: $t is missing (scripts/deps.sh)" >&2; exit 1; }
done
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

xlabel() {
  case $1 in
    history) echo "samples of the device" ;;
    concurrency) echo "connections" ;;
    total) echo "samples in the store" ;;
    fleet) echo "distinct devices" ;;
    backlog) echo "messages queued at the broker" ;;
    *) echo x ;;
  esac
}
title() {
  case $1 in
    history) echo "History length: statistics of one device" ;;
    concurrency) echo "Concurrency: random 1-hour ranges and /health" ;;
    total) echo "Total data: a full recalculation" ;;
    fleet) echo "Fleet size: ingest end to end (single objects, QoS 1)" ;;
    backlog) echo "Backlog: ingest draining after a restart" ;;
    *) echo "$1" ;;
  esac
}

for curve in $(jq -r '.curve' "$json" | awk '!seen[$0]++'); do
  mapfile -t panels < <(jq -r --arg c "$curve" 'select(.curve == $c) | .panel' "$json" | awk '!seen[$0]++')
  gp=$work/$curve.gp
  {
    echo "set terminal pngcairo size 900,$((300 * ${#panels[@]} + 60)) font 'sans,10'"
    echo "set output '$out/$curve.png'"
    echo "set multiplot layout ${#panels[@]},1 title \"$(title "$curve")\""
    echo "set termoption noenhanced; set logscale x; set grid; set datafile missing 'null'"
    # The same x range and plot width in every panel; the keys on the right.
    jq -r --arg c "$curve" 'select(.curve == $c) | .x' "$json" |
      awk 'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { printf "set xrange [%g:%g]\n", lo / 1.5, hi * 1.5 }'
    echo "set key outside right top; set lmargin at screen 0.09; set rmargin at screen 0.58"
    echo "set xlabel '$(xlabel "$curve")'"
  } >"$gp"
  p=0
  for panel in "${panels[@]}"; do
    p=$((p + 1))
    unit=$(jq -r --arg c "$curve" --arg p "$panel" 'select(.curve == $c and .panel == $p) | .unit' "$json" | head -n 1)
    echo "set ylabel '$panel ($unit)'" >>"$gp"
    # A log y axis where the values span more than a factor of 20.
    if jq -r --arg c "$curve" --arg p "$panel" 'select(.curve == $c and .panel == $p and .y != null and .y > 0) | .y' "$json" |
      awk 'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { exit !(NR && hi > 20 * lo) }'; then
      echo "set logscale y" >>"$gp"
    else
      echo "unset logscale y; set yrange [0:*]" >>"$gp"
    fi
    plots=()
    s=0
    while IFS= read -r series; do
      s=$((s + 1))
      dat=$work/$curve-$p-$s.dat
      jq -r --arg c "$curve" --arg p "$panel" --arg s "$series" \
        'select(.curve == $c and .panel == $p and .series == $s) | "\(.x) \(.y // "null") \(if .pass == false then .y else "null" end)"' \
        "$json" >"$dat"
      kind=$(jq -r --arg c "$curve" --arg p "$panel" --arg s "$series" \
        'select(.curve == $c and .panel == $p and .series == $s) | .kind' "$json" | head -n 1)
      name=${series//\'/}
      case $kind in
        ceiling) plots+=("'$dat' using 1:2 with linespoints dt 2 lw 2 title '$name'") ;;
        target) plots+=("'$dat' using 1:2 with lines dt 3 lw 2 lc rgb '#888888' title '$name'") ;;
        *)
          plots+=("'$dat' using 1:2 with linespoints lw 2 pt 7 title '$name'")
          if awk '$3 != "null" { found = 1 } END { exit !found }' "$dat"; then
            plots+=("'$dat' using 1:3 with points pt 6 ps 3 lw 2 lc rgb 'red' title '$name: misses its target'")
          fi
          ;;
      esac
    done < <(jq -r --arg c "$curve" --arg p "$panel" 'select(.curve == $c and .panel == $p) | .series' "$json" | awk '!seen[$0]++')
    (IFS=,; echo "plot ${plots[*]}") >>"$gp"
  done
  echo "unset multiplot" >>"$gp"
  gnuplot "$gp" || { echo "plot-curves.sh: gnuplot failed on $curve (script: $gp)" >&2; cp "$gp" "$out/"; exit 1; }
  echo "plot-curves.sh: $out/$curve.png"
done

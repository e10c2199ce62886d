#!/usr/bin/env bash
# examples/experiment/results.sh: the experiment's table and plot.
#
#   results.sh table OUT RUN...   markdown table on stdout
#   results.sh plot OUT RUN...    OUT/results.png: validation SI-SDR per epoch
#
# The table, per run: parameters, steps, training wall time, the median
# over test tracks of BSSEval v4 SDR per stem (each track's value the
# median over its 1 s windows: the MUSDB18 convention), their mean, and the
# mean SI-SDR over tracks and stems.  From OUT/scores/RUN.{bss,sisdr}.csv
# (sisdr --csv) and OUT/runs/RUN/.  Without gnuplot the plot is skipped
# with one line, and the status is 0.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: results.sh table|plot OUT RUN..." >&2; exit 2; }
what=$1 out=$2
shift 2
stems="drums bass other vocals"

# median over tracks of column COL (3: SDR) of a CSV, per source, in stem order
medians() {
	awk -F, -v col="$2" -v stems="$stems" '
	NR > 1 { v[$2, ++n[$2]] = $col }
	END {
		split(stems, s, " ")
		for (i = 1; i <= 4; i++) {
			k = s[i]; m = n[k]
			for (a = 1; a <= m; a++) x[a] = v[k, a]
			for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
				if (x[b] < x[a]) { t = x[a]; x[a] = x[b]; x[b] = t }
			med = m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
			printf "%.2f ", med
		}
	}' "$1"
}

case $what in
table)
	echo "| run | parameters | steps | training | SDR drums | SDR bass | SDR other | SDR vocals | SDR mean | SI-SDR mean |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for r in "$@"; do
		model=$(cat "$out/est/$r/done")
		params=$(sepnet-fwd --info -m "$model" | awk '$1 == "parameters" { print $2 }')
		read -r d b o v <<<"$(medians "$out/scores/$r.bss.csv" 3)"
		mean=$(awk -v a="$d" -v b="$b" -v c="$o" -v e="$v" 'BEGIN { printf "%.2f", (a + b + c + e) / 4 }')
		si=$(awk -F, 'NR > 1 { s += $3; n++ } END { printf "%.2f", s / n }' "$out/scores/$r.sisdr.csv")
		secs=$(cat "$out/runs/$r/seconds")
		printf '| %s | %s | %s | %s s | %s | %s | %s | %s | %s | %s |\n' "$r" "$params" \
			"$(cat "$out/runs/$r/steps")" "$secs" "$d" "$b" "$o" "$v" "$mean" "$si"
	done
	echo
	echo "SDR: BSSEval v4 (sisdr --bss), median over 1 s windows per track, then over the $(awk -F, 'NR > 1 { t[$1] } END { print length(t) }' "$out/scores/$1.bss.csv") test tracks; SI-SDR: mean over tracks and stems (dB)."
	;;
plot)
	if ! command -v gnuplot > /dev/null; then
		echo "results.sh: $out/results.png skipped, gnuplot not found (as root: apt-get install gnuplot-nox)"
		exit 0
	fi
	{
		echo 'set terminal pngcairo size 900,500 noenhanced'
		echo "set output \"$out/results.png.tmp\""
		echo 'set xlabel "epoch"; set ylabel "validation SI-SDR (dB)"; set key bottom right; set grid'
		plot="plot"
		for r in "$@"; do
			echo "\$d_${r//[^A-Za-z0-9]/_} << EOD"
			awk '/"type":"epoch"/ && /"valid_sisdr":/ {
				e = $0; sub(/.*"epoch":/, "", e); sub(/[,}].*/, "", e)
				v = $0; sub(/.*"valid_sisdr":/, "", v); sub(/[,}].*/, "", v)
				print e, v }' "$out/runs/$r/metrics.jsonl"
			echo EOD
			plot+=" \$d_${r//[^A-Za-z0-9]/_} using 1:2 with linespoints title \"$r\","
		done
		echo "${plot%,}"
	} > "$out/results.gp"
	gnuplot "$out/results.gp"
	mv "$out/results.png.tmp" "$out/results.png"
	;;
*)
	echo "usage: results.sh table|plot OUT RUN..." >&2
	exit 2
	;;
esac

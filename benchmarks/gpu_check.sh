#!/usr/bin/env bash
# GPU check of zs (docs/gpu.md): about 8 minutes on one modern GPU.
#
#   1. the tests marked `gpu` (ZS_TEST_GPU=1): precision policy against fixture A, device
#      resolution, CPU/CUDA sampling, checkpoints and resume, one GPU per dask worker,
#      a real out-of-memory as a failed stage, the FAISS GPU index (with faiss-gpu);
#   2. benchmarks/bench_generator.py on CUDA: one PADing iteration with the R50 Mask2Former
#      at PADing's 928 x 928 against the same step read from a COCO-shaped store, then a
#      20,000-iteration PADing-default run from that store, with its wall time;
#   3. `zs demo --device cuda`, timed.
#
# Figures go to $OUT/gpu-check.json if OUT is set, else ./gpu-check/gpu-check.json (and a log
# per step beside it). Without a CUDA device it stops at once with an error (exit 2).
#
#   benchmarks/gpu_check.sh              # run it (PYTHON=... to choose the interpreter)
#   benchmarks/gpu_check.sh --dry-run    # print the plan and the commands, run nothing
#   benchmarks/gpu_check.sh --rehearse   # the same plumbing on the CPU at toy sizes (~1 min):
#                                        # gpu tests skipped, tiny benchmark, demo planned only
#
# Knobs (environment): PYTHON, ZS_GPU_CHECK_BUDGET_S (total, default 470 s),
# ZS_GPU_CHECK_STORE_IMAGES (default 10000: larger than the reader's 512 MB cache, so the
# run pays chunk decoding as on COCO's 45617), ZS_GPU_CHECK_ITERATIONS (default 20000),
# ZS_GPU_CHECK_WORK (scratch directory, default a temp dir, removed).
set -uo pipefail

DRY=0
REHEARSE=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  --rehearse) REHEARSE=1 ;;
  "") ;;
  -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "error: unknown option '$1' (use --dry-run, --rehearse or --help)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
FIGDIR="${OUT:-$PWD/gpu-check}"
FIGURES="$FIGDIR/gpu-check.json"
BUDGET="${ZS_GPU_CHECK_BUDGET_S:-470}"
STORE_IMAGES="${ZS_GPU_CHECK_STORE_IMAGES:-10000}"
ITERATIONS="${ZS_GPU_CHECK_ITERATIONS:-20000}"
DEVICE=cuda SIZE=928 IMAGES=12 REPEATS=20 TESTENV="ZS_TEST_GPU=1" DEMO=""
if [[ $REHEARSE == 1 ]]; then
  DEVICE=cpu SIZE=64 IMAGES=2 REPEATS=2 STORE_IMAGES=64 ITERATIONS=4 TESTENV="" DEMO="--dry-run"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

# name | cap in seconds | command (run from the repository root; $WORK is the scratch dir)
STEPS=(
  "gpu-tests|150|$TESTENV \"\$PYTHON\" -m pytest -p no:xdist -q -rs -m gpu tests"
  "bench-generator|270|\"\$PYTHON\" benchmarks/bench_generator.py --device $DEVICE --size $SIZE --images $IMAGES --repeats $REPEATS --compare-threads '' --store-images $STORE_IMAGES --iterations $ITERATIONS --workdir \"\$WORK/bench\" --json \"\$FIGDIR/bench_generator.json\""
  "demo|240|\"\$PYTHON\" -m zs.cli demo --device $DEVICE --out \"\$WORK/demo\" $DEMO"
)

if [[ $DRY == 1 ]]; then
  echo "gpu_check (dry run): python $PYTHON, figures $FIGURES, budget ${BUDGET}s"
  echo "check: CUDA visible to torch (else: error, exit 2)"
  for s in "${STEPS[@]}"; do
    IFS='|' read -r name cap cmd <<<"$s"
    echo "step $name (at most ${cap}s): $cmd"
  done
  exit 0
fi

if [[ $REHEARSE == 0 ]] && ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "error: gpu_check.sh needs a CUDA device, and torch ($PYTHON) sees none (CUDA_VISIBLE_DEVICES='${CUDA_VISIBLE_DEVICES-unset}')" >&2
  exit 2
fi

mkdir -p "$FIGDIR"
FIGDIR="$(cd "$FIGDIR" && pwd)"
FIGURES="$FIGDIR/gpu-check.json"
WORK="${ZS_GPU_CHECK_WORK:-$(mktemp -d -t zs-gpu-check-XXXX)}"
[[ -z "${ZS_GPU_CHECK_WORK:-}" ]] && trap 'rm -rf "$WORK"' EXIT
export PYTHON WORK FIGDIR
START=$SECONDS
: >"$FIGDIR/steps.tsv"
nvidia-smi >"$FIGDIR/nvidia-smi.txt" 2>&1 || true
cd "$ROOT"

for s in "${STEPS[@]}"; do
  IFS='|' read -r name cap cmd <<<"$s"
  left=$((BUDGET - (SECONDS - START)))
  limit=$(( cap < left ? cap : left ))
  if (( limit < 20 )); then
    printf '%s\t%s\t%s\t%s\n' "$name" "-" "0" "not run: budget spent" >>"$FIGDIR/steps.tsv"
    echo "== $name: not run (budget of ${BUDGET}s spent)"
    continue
  fi
  echo "== $name (at most ${limit}s): $cmd"
  t0=$SECONDS
  timeout --signal=INT --kill-after=15 "$limit" bash -c "$cmd" >"$FIGDIR/$name.log" 2>&1
  rc=$?
  secs=$((SECONDS - t0))
  case $rc in 0) status=ok ;; 124|137) status="timed out after ${limit}s" ;; *) status="failed (exit $rc)" ;; esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$status" >>"$FIGDIR/steps.tsv"
  echo "   $status in ${secs}s (log: $FIGDIR/$name.log)"
  tail -n 3 "$FIGDIR/$name.log" | sed 's/^/   | /'
done

"$PYTHON" - "$FIGDIR" "$FIGURES" "$WORK" "$DEVICE" <<'PY'
"""Gather the step table, the benchmark's JSON, pytest's summary and the demo's results."""
import json, sys
from pathlib import Path

figdir, out, work, device = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
import torch
from zs.runtime import compute_entry, resolve_device

steps = {}
for line in (figdir / "steps.tsv").read_text().splitlines():
    name, rc, secs, status = line.split("\t")
    steps[name] = {"exit": None if rc == "-" else int(rc), "seconds": int(secs), "status": status}
log = figdir / "gpu-tests.log"
if log.is_file():
    lines = [l for l in log.read_text().splitlines() if l.strip()]
    steps.get("gpu-tests", {})["summary"] = lines[-1] if lines else ""
bench = figdir / "bench_generator.json"
if bench.is_file():
    steps.setdefault("bench-generator", {})["figures"] = json.loads(bench.read_text())
summary = work / "demo" / "summary.txt"
if summary.is_file():
    steps.setdefault("demo", {})["summary"] = summary.read_text()
fig = {"compute": compute_entry(resolve_device(device)), "gpu_count": torch.cuda.device_count(), "steps": steps}
if device == "cpu":
    fig["rehearsal"] = "CPU rehearsal of the plumbing at toy sizes: no GPU figure"
tmp = out.with_suffix(".tmp")
tmp.write_text(json.dumps(fig, indent=2) + "\n")
tmp.replace(out)
run = steps.get("bench-generator", {}).get("figures", {}).get("run")
print(f"figures: {out}")
if run:
    print(f"PADing-default run: {run['iterations']} iterations in {run['wall_s']:.1f} s wall "
          f"({run['wall_s'] / run['iterations'] * 1e3:.2f} ms/it)")
PY
fails=$(awk -F'\t' '$4 != "ok"' "$FIGDIR/steps.tsv" | wc -l)
if (( fails > 0 )); then
  echo "error: $fails step(s) did not pass; see $FIGDIR/steps.tsv" >&2
  exit 1
fi
echo "all steps passed in $((SECONDS - START))s"

#!/usr/bin/env bash
# One prepared GPU check for issue 5 (about 3-4 minutes on one H100): the 1.3B preset, bf16, seq 2048,
# compiled, then the same eagerly as a baseline in the same session; JSON results go to ${OUT:-.}.
# Each run has its own time limit so the script always ends and prints what it measured.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python}
OUT_DIR=${OUT:-.}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
common=(--device cuda --preset llm-jp-1.3b --seq-len 2048 --warmup-steps 3)
timeout 150 "$PY" bench/bench_train.py "${common[@]}" --micro-batch-size 8 --steps 30 --compile --max-seconds 45 \
    --json "$OUT_DIR/bench_train_llmjp1.3b_compile.json" 2>&1 | grep -v -e UserWarning -e "^  if not" | tail -40
echo "rc(compile)=${PIPESTATUS[0]}"
# A card with room for twice the micro-batch (H200, 141 GB; mb 8 peaked at 50 GiB on an H100) also tries mb 16:
# larger matmuls were the difference between 36% (mb 4) and 44% (mb 8) MFU on the H100. bench_train halves on OOM.
mem_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1)
if [ "${mem_mib:-0}" -ge 120000 ]; then
    timeout 150 "$PY" bench/bench_train.py "${common[@]}" --micro-batch-size 16 --steps 20 --compile --max-seconds 45 \
        --json "$OUT_DIR/bench_train_llmjp1.3b_compile_mb16.json" 2>&1 | grep -v -e UserWarning -e "^  if not" | tail -20
    echo "rc(compile mb16)=${PIPESTATUS[0]}"
fi
timeout 70 "$PY" bench/bench_train.py "${common[@]}" --micro-batch-size 8 --steps 15 --max-seconds 25 \
    --json "$OUT_DIR/bench_train_llmjp1.3b_eager.json" 2>&1 | grep -v -e UserWarning -e "^  if not" | tail -10
echo "rc(eager)=${PIPESTATUS[0]}"

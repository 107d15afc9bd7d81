#!/usr/bin/env bash
# Side-by-side benchmark against JAX (jit, complex128) and PyTorch (autograd, complex128).
#
#   bash bench/peers/run.sh
#
# 1. Creates bench/peers/.venv (gitignored) with the versions pinned in requirements.txt (JAX for
#    CPU, and PyTorch from PyPI, which brings CUDA wheels: several GB), unless it is up to date.
# 2. For 1 thread and for 2, back to back: our criterion bench (`cargo bench --bench peers`), then
#    bench/peers/peers.py for JAX and for PyTorch, each with glibc's default malloc and with a
#    tuned one (see TUNED_MALLOC).
# 3. Prints the machine, the versions and one markdown table (ours, JAX, PyTorch, ratios), and
#    writes the same to bench/peers/last-run.md (OUT=path to write elsewhere, OUT= for nowhere).
#
# Threads: 1 thread is `taskset -c 0`, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
# intra_op_parallelism_threads=1" for JAX, torch.set_num_threads(1) and OMP_NUM_THREADS=1 for
# PyTorch; 2 threads is `taskset -c 0,1` and 2 for each. Ours: RAYON_NUM_THREADS, which sizes the
# pool of the crate's `parallel` feature (FFT passes, reductions) and of `scalar_dual_lanes`'s
# blocks; fused elementwise chains and the scalar tape are serial. PyTorch with 2 threads
# runs with OMP_WAIT_POLICY=PASSIVE (TORCH_OMP_WAIT_POLICY= to leave libgomp's default): on a
# shared machine whose load exceeds its cores, libgomp's spinning barriers wait a scheduler slice
# for a descheduled sibling at every parallel region, measured at 40-150x slower (phase_value/256:
# 154 ms instead of 4 ms).
#
# Malloc: glibc's default malloc gives freed blocks of a MiB and more back to the kernel (munmap,
# or a trim of the heap top), so code that allocates fresh large buffers on each call pays the page
# faults of touching them again (JAX at 1024²: 8192 faults a call, 4 KiB each). TUNED_MALLOC raises
# the mmap and trim thresholds so that freed blocks stay in the heap, and keeps every thread on the
# main arena (MALLOC_ARENA_MAX=1): without that, JAX's computations sometimes land in a thread
# arena, whose 64 MiB heaps are unmapped when they empty whatever the trim threshold, and pay 10⁴
# faults a call at 1024² (seen in one of two runs). It also asks for transparent huge pages for
# everything malloc hands out (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc 2.35 and later), as
# the crate does for its own large buffers (src/pages.rs): the strided passes of a 1024² FFT touch
# a new 4 KiB page at every row, and 2 MiB pages spare those TLB misses, for the peers as for us.
# Every library, ours included,
# runs both ways and both figures are shown; the ratios are ours with the default malloc over the
# better of the peer's two (conservative). Ours: the tape's array buffers come from a per-thread
# pool, the field is an `Rc` the tape shares, and the gradient is lent in the backward pass's own
# buffer (`grad_ref`), so ours touches no fresh memory per call.
#
# Environment knobs:
#   CRITERION_ARGS  arguments for criterion (default: --warm-up-time 1 --measurement-time 3)
#   PEERS_ARGS      extra arguments for peers.py (e.g. --quick)
#   THREADS         thread counts (default: "1 2")
#   TUNED_MALLOC    the tuned malloc's environment (default above)
#   TORCH_OMP_WAIT_POLICY  for PyTorch with more than 1 thread (default PASSIVE; empty: unset)
#   CARGO_TARGET_DIR where criterion's results are read from (default: target)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

CRITERION_ARGS="${CRITERION_ARGS:---warm-up-time 1 --measurement-time 3}"
PEERS_ARGS="${PEERS_ARGS:-}"
THREADS="${THREADS:-1 2}"
TUNED_MALLOC="${TUNED_MALLOC:-MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_ARENA_MAX=1 GLIBC_TUNABLES=glibc.malloc.hugetlb=1}"
TORCH_OMP_WAIT_POLICY="${TORCH_OMP_WAIT_POLICY-PASSIVE}"
OUT="${OUT-$here/last-run.md}"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$here/.venv"
results="$here/.results"
py="$venv/bin/python"

log() { printf '==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# The virtual environment

if [[ ! -x "$py" ]] || ! cmp -s "$here/requirements.txt" "$venv/requirements.installed"; then
    log "creating $venv (jax[cpu], torch: several GB)"
    python3 -m venv "$venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.installed"
fi

# ---------------------------------------------------------------------------------------------
# Runs

rm -rf "$results"
mkdir -p "$results"
ours="$results/ours.jsonl"
peers="$results/peers.jsonl"
: >"$ours"
: >"$peers"

log "building the bench"
cargo bench --bench peers --no-run >&2

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
date_start="$(date -u '+%Y-%m-%d %H:%M UTC')"
first="${THREADS%% *}"
for t in $THREADS; do
    cpus="$(seq -s, 0 $((t - 1)))"
    for malloc in default tuned; do
        env_=(RAYON_NUM_THREADS="$t")
        if [[ "$malloc" == tuned ]]; then
            read -r -a tuned <<<"$TUNED_MALLOC"
            env_+=("${tuned[@]}")
        fi
        log "ours, $t thread(s), $malloc malloc: ${env_[*]}"
        # shellcheck disable=SC2086
        env "${env_[@]}" taskset -c "$cpus" cargo bench --bench peers -- $CRITERION_ARGS \
            >"$results/ours-$t-$malloc.log" 2>&1 || {
            tail -30 "$results/ours-$t-$malloc.log" >&2
            exit 1
        }
        "$py" "$here/table.py" collect-ours "$target/criterion" "$t" "$malloc" \
            "$results/ours-$t-$malloc.log" >>"$ours"
    done

    for lib in jax torch; do
        for malloc in default tuned; do
            env_=(OMP_NUM_THREADS="$t")
            if [[ "$lib" == torch && "$t" != 1 && -n "$TORCH_OMP_WAIT_POLICY" ]]; then
                env_+=(OMP_WAIT_POLICY="$TORCH_OMP_WAIT_POLICY")
            fi
            if [[ "$lib" == jax && "$t" == 1 ]]; then
                env_+=(XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
            fi
            if [[ "$malloc" == tuned ]]; then
                read -r -a tuned <<<"$TUNED_MALLOC"
                env_+=("${tuned[@]}")
            fi
            extra=()
            if [[ "$malloc" == default && "$t" == "$first" ]]; then
                extra+=(--check) # finite differences at small size, once per library
            fi
            log "$lib, $t thread(s), $malloc malloc: ${env_[*]}"
            # shellcheck disable=SC2086
            env "${env_[@]}" taskset -c "$cpus" "$py" "$here/peers.py" --lib "$lib" \
                --threads "$t" --malloc "$malloc" "${extra[@]}" $PEERS_ARGS >>"$peers"
        done
    done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# The report

versions() {
    "$py" - "$peers" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "versions" in r:
        seen.setdefault(r["lib"], r)
jax, torch = seen.get("jax", {}), seen.get("torch", {})
print(f"- Python {jax.get('python', '?')}, numpy {jax.get('numpy', '?')}")
v = jax.get("versions", {})
print(f"- jax {v.get('jax', '?')}, jaxlib {v.get('jaxlib', '?')} ({v.get('backend', '?')})")
v = torch.get("versions", {})
print(f"- torch {v.get('torch', '?')} (CPU; {', '.join(s.strip() for s in v.get('torch_parallel_info', [])[3:4])})")
for r in (json.loads(l) for l in open(sys.argv[1])):
    if "check" in r:
        print(f"- finite-difference check, {r['lib']} {r['check']}: rel. error {r['rel_err']:.1e}")
EOF
}

report() {
    echo "# Side-by-side: wirtinger vs JAX vs PyTorch"
    echo
    echo "Written by \`bash bench/peers/run.sh\` (${date_start}). Medians of wall time per call:"
    echo "criterion's median for ours (\`cargo bench --bench peers -- ${CRITERION_ARGS}\`),"
    if [[ -z "$PEERS_ARGS" ]]; then
        echo "the median of at least 10 calls and 3 s, after 1 s of warm-up, for the peers."
    else
        echo "the median of short runs for the peers (peers.py ${PEERS_ARGS})."
    fi
    echo "Complex128 everywhere. Ratios below 1 mean we are faster; they are ours with the default"
    echo "malloc over the better of the peer's two malloc settings (a conservative comparison)."
    echo "Tuned malloc: \`${TUNED_MALLOC}\`."
    echo "Ours: RAYON_NUM_THREADS set to the thread count (the \`parallel\` feature). PyTorch with 2"
    echo "threads: OMP_WAIT_POLICY=${TORCH_OMP_WAIT_POLICY:-(libgomp default)}."
    echo "The scalar workload (c) compares each of our ways with the peers' one \`scalar_grad\`."
    echo
    echo "## Machine"
    echo
    echo '```text'
    lscpu | grep -v '^Flags' | head -20
    echo "load average (1, 5, 15 min): ${load_start} at the start, ${load_end} at the end"
    echo '```'
    echo
    echo "- $(rustc --version), $(cargo --version)"
    versions
    echo
    echo "## Results"
    echo
    "$py" "$here/table.py" render "$ours" "$peers"
}

if [[ -n "$OUT" ]]; then
    report | tee "$OUT"
else
    report
fi

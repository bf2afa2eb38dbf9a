# Sourced by the benchmark scripts: `machine_line` prints the line every table starts with,
# the CPU model (`/proc/cpuinfo`'s first "model name") and how many CPUs this machine has —
# figures from one machine hold only there (issue 23).
machine_line() {
    local model
    model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
    echo "machine: ${model:-unknown CPU}, $(nproc) CPUs"
}

# `machine_wakeups` prints what one thread waking another costs here, in CPU time
# (`Benchmarks/tools/wakeup-cost.c`: a futex hand-off on one CPU and across two). A get whose
# caller is a plain task costs a few such hand-offs more than one on the loops, so this line
# says how much of a CPU-per-get ratio is the machine's: 2–3 µs on one CPU and 13–18 µs
# across two on the AMD EPYC VM of docs/performance.md (stop 58).
machine_wakeups() {
    local dir
    dir=$(mktemp -d)
    if gcc -O2 -o "$dir/wakeup-cost" "$(dirname "${BASH_SOURCE[0]}")/wakeup-cost.c" -lpthread 2>/dev/null; then
        "$dir/wakeup-cost"
    else
        echo "wake-ups: not measured (no C compiler)"
    fi
    rm -rf "$dir"
}

# What scripts/fuzz-smoke and scripts/fuzz-long share (sourced, from fuzz/).

# Sets `extra` to a target's libFuzzer options. Inputs grow up to the longest seed, at most
# 1 MiB by default; a checkpoint is 1,628,200 bytes.
options_for() {
    extra=(-rss_limit_mb=4096)
    if [ "$1" = mining_checkpoint ]; then extra+=(-max_len=1628200); fi
}

# Fills the folder $2 with target $1's seeds and what the long runs kept of it
# (fuzz/minimized/, scripts/fuzz-long --keep), so a run starts past the seeds.
seed_corpus() {
    mkdir -p "$2"
    cp corpus/"$1"/* "$2/"
    if [ -d "minimized/$1" ]; then cp minimized/"$1"/* "$2/"; fi
}

#!/usr/bin/env python3
"""Sums a cubecl profiling log by kernel family: where a GPU step's time goes.

    CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/prof.log \
        .gpu/measure --data data/mnist --backends wgpu --candidates 128 --skip-blocks
    python3 scripts/cubecl_profile.py /tmp/prof.log

Prints the total kernel time and the 25 largest families (autotune's benchmark kernels show as
`MemoryDirectThroughput` / `ComputeDirectThroughput`). Used by scripts/gpu-check.
"""
import re, sys, collections
tot = collections.Counter(); cnt = collections.Counter()
unit = {'ns': 1e-3, 'µs': 1.0, 'us': 1.0, 'ms': 1e3, 's': 1e6}
for line in open(sys.argv[1], errors='replace'):
    m = re.match(r'\|\s*([\d.]+)(ns|µs|us|ms|s)\s*\|\s*(.*)$', line)
    if not m: continue
    name = m.group(3).strip()
    kind = name.split('|')[0].strip()
    fam = ''
    for key in ['SimpleMatmulFamily', 'DoubleBufferingMatmulFamily', 'FusedMatmulArgs', 'TensorArgs']:
        if key in name: fam += key + ' '
    key = (kind + ' ' + fam).strip()
    t = float(m.group(1)) * unit[m.group(2)]
    tot[key] += t; cnt[key] += 1
all_t = sum(tot.values())
print(f"total {all_t/1e3:.1f} ms over {sum(cnt.values())} kernels")
for k, v in tot.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 25):
    print(f"{v/1e3:10.1f} ms {100*v/all_t:5.1f} % {cnt[k]:7d}x  {k}")

#!/usr/bin/env python3
"""Per-thread and per-symbol sample counts of two `perf script -F tid,ip,sym,dso`
outputs: the pipeline run (`pipe.script`) against the signing bare client's
(`sign.script`). The busiest thread of each run is the sink; the pipeline's next busiest
is its worker, the rest are the producers.

    python3 persym.py [pipe.script] [sign.script]
"""
import re
import sys
from collections import Counter


def load(path):
    """(tid, 'k' or 'u', symbol) per sample."""
    rows = []
    for line in open(path):
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        space = 'k' if 'kernel' in parts[2] else 'u'
        rows.append((int(parts[0]), space, re.sub(r'\s*\(.*\)\s*$', '', parts[2]).strip()[:100]))
    return rows


def symbols(rows, keep):
    return Counter((space, sym) for tid, space, sym in rows if keep(tid))


def split(name, counts):
    user = sum(v for (space, _), v in counts.items() if space == 'u')
    print(name, 'user', user, 'kernel', sum(counts.values()) - user)


pipe = load(sys.argv[1] if len(sys.argv) > 1 else 'pipe.script')
sign = load(sys.argv[2] if len(sys.argv) > 2 else 'sign.script')
per_pipe, per_sign = Counter(r[0] for r in pipe), Counter(r[0] for r in sign)
sink_pipe, sink_sign = per_pipe.most_common(1)[0][0], per_sign.most_common(1)[0][0]
worker = per_pipe.most_common(2)[1][0]
client = per_sign.most_common(2)[1][0]
W = symbols(pipe, lambda t: t == worker)
P = symbols(pipe, lambda t: t not in (worker, sink_pipe))
S = symbols(sign, lambda t: t == client)
for name, counts in (('worker', W), ('producer', P), ('sign', S)):
    split(name, counts)
print('producer top:')
for key, n in P.most_common(25):
    print(n, key)
print('sink: pipe', per_pipe[sink_pipe], 'sign', per_sign[sink_sign])
print('\n=== per-symbol difference, client side (worker + producers against the signing client)')
both = W + P
for key in sorted(set(both) | set(S), key=lambda k: -(both[k] - S[k]))[:45]:
    print(both[key], S[key], both[key] - S[key], key)
print('...')
for key in sorted(set(both) | set(S), key=lambda k: -(both[k] - S[k]))[-35:]:
    print(both[key], S[key], both[key] - S[key], key)

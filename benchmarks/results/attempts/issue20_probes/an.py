import collections
import json
import sys

import numpy as np

d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    i, lr, p, r, k, ret = json.loads(line)
    d[(i, lr, p, r)].append(ret)
insts = sorted({k[0] for k in d})
lrs = sorted({k[1] for k in d})
plans = sorted({(k[2], k[3]) for k in d})
for i in insts:
    print(i)
    for p in plans:
        row = [np.mean(d[(i, lr, *p)]) if (i, lr, *p) in d else np.nan for lr in lrs]
        print(
            f"  {p[0][:45]:45s} {'R' if p[1] else ' '} "
            + " ".join(f"{x:.3f}" for x in row)
            + f"  mean {np.mean(row):.3f}"
        )

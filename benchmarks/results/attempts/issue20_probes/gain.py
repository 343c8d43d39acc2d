import collections
import json
import sys

import numpy as np
from scipy import stats

d = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    i, lr, p, r, k, ret = json.loads(line)
    d[(i, p, r)][(lr, k)] = ret
for i in sorted({k[0] for k in d}):
    plans = {k: v for k, v in d.items() if k[0] == i}
    keys = sorted(next(iter(plans.values())))
    arr = {k: np.array([v[x] for x in keys]) for k, v in plans.items()}
    bp = max((k for k in arr if not k[2]), key=lambda k: arr[k].mean())
    br = max((k for k in arr if k[2]), key=lambda k: arr[k].mean())
    diff = arr[br] - arr[bp]
    ci = stats.bootstrap(
        (diff,),
        np.mean,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(0),
    ).confidence_interval
    print(
        f"{i:26s} best plan {bp[1]:40s} {arr[bp].mean():.3f} | best reactive {br[1]:40s} {arr[br].mean():.3f} | gain {diff.mean():+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] n={len(diff)}"
    )

"""`ganscape download`: a data set or the FID weights, every file checked against its SHA-256."""
from __future__ import annotations

from pathlib import Path


def add(sub) -> None:
    from ..data.download import available
    p = sub.add_parser("download", help="download a data set or the FID weights, verifying every file's SHA-256")
    # choices, so that a wrong name lists every one (the weights too) at parse time
    p.add_argument("name", choices=[*available(), "inception-v3-fid"],
                   help=f"{' | '.join(available())} | inception-v3-fid (the FID network's weights)")
    p.add_argument("--root", help="folder to download into (default: ~/.cache/ganscape/...)")
    p.set_defaults(handler=run)


def run(a) -> int:
    if a.name == "inception-v3-fid":  # weights, not a data set: the extractor finds them in the cache
        from ..metrics.features.inception import FID_WEIGHTS_FILENAME, download_fid_weights
        path = download_fid_weights(Path(a.root) / FID_WEIGHTS_FILENAME if a.root else None)
        print(f"inception-v3-fid weights verified: {path}")
        return 0
    from ..data.download import download

    paths = download(a.name, a.root)
    print(f"{a.name}: {len(paths)} files verified in {paths[0].parent if paths else a.root}")
    return 0

"""`ganscape data pack | verify`: decode a folder, tar or LMDB of images once into a
memory-mapped uint8 pack (data/pack.py), and check a pack's files."""
from __future__ import annotations


def add(sub) -> None:
    p = sub.add_parser("data", help="pack images into ganscape's memory-mapped format, or verify a pack")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    pk = dsub.add_parser("pack", help="decode a folder / tar / LMDB of images into a pack (a new folder)",
                         description="Decode every image once (upright, central square, resized) into uint8 arrays "
                                     "that runs memory-map: data set `packed`, --set data.params.path=OUT.")
    pk.add_argument("source", help="a folder of PNG/JPEG images (recursive), a .tar/.tar.gz/.tgz of them, or an "
                                   "LMDB folder of encoded images (LSUN's export; needs the lmdb package)")
    pk.add_argument("--size", type=int, required=True, help="output side in pixels")
    pk.add_argument("--out", required=True, help="the pack folder to create (must be new or empty)")
    pk.add_argument("--channels", type=int, choices=(1, 3), default=3, help="3 = RGB (default), 1 = greyscale")
    pk.add_argument("--resample", choices=("bicubic", "lanczos"), default="bicubic", help="Pillow's resize filter")
    pk.add_argument("--labels-from-dirs", action="store_true",
                    help="a folder source's top-level subfolders are the classes (sorted)")
    pk.add_argument("--skip-bad", action="store_true", help="leave undecodable images out (listed in the manifest)")
    pk.add_argument("--max-images", type=int, help="pack at most this many (in name order)")
    pk.add_argument("--no-progress", action="store_true", help="no progress bar")
    pk.set_defaults(handler=run)
    vf = dsub.add_parser("verify", help="check a pack's files against its manifest's sizes and SHA-256")
    vf.add_argument("pack", help="a folder made by `ganscape data pack`")
    vf.set_defaults(handler=run)


def run(a) -> int:
    from ..data.pack import open_pack, pack
    if a.data_command == "verify":
        images, _, _, manifest = open_pack(a.pack, verify=True)
        print(f"{a.pack}: {manifest['count']} images of {'x'.join(map(str, manifest['shape']))}, "
              f"{len(manifest['classes'])} classes; every file matches its SHA-256")
        return 0
    def bar(it, n):
        from tqdm import tqdm
        return tqdm(it, total=n, desc="pack", unit="img")
    m = pack(a.source, a.out, a.size, a.channels, a.resample, a.labels_from_dirs, a.skip_bad, a.max_images,
             None if a.no_progress else bar)
    skipped = m["source"]["skipped"]
    print(f"{a.out}: {m['count']} images of {'x'.join(map(str, m['shape']))} from {m['source']['kind']} {a.source}"
          + (f", {len(m['classes'])} classes" if m["classes"] else "")
          + (f"; skipped {len(skipped)} undecodable, e.g. {skipped[0]}" if skipped else "")
          + f"; train with --set data.name=packed --set data.params.path={a.out}")
    return 0

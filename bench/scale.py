"""Benchmark (not a test) of issue 27, first part: loading a folder of 10,000 to 100,000 JPEGs.

Builds folders in seed 003's layout (``train_img/*.jpg`` + ``label_train.txt``, 8% of the labels
flipped) of 64 px JPEGs from the CIFAR-10 JPEG files in ``../shared/data/cifar10_full_jpeg``
(upsampled from 32 px; past 60,000 images, mirrored and shifted copies), in a fixed random
order of the 60,000 (the file is sorted by class: the folders of results before 2026-12-01's
audit part took them in file order, 10,000 images then held two classes; the load and
neighbour figures do not depend on it). For each size, each
in a fresh process (its peak resident memory is the process's own):

- ``before``: the loader as it was (every decoded PIL image kept in a dict, one float32 stack,
  then a transposed float32 copy), copied here as the baseline;
- ``store_cold``: the image store decoding into its uint8 cache (two worker processes);
- ``store_cached``: the same call again, mapping the cache;
- ``load_image_set``: the practitioner's loader on the cached store, up to the uint8 pixels
  that training and prediction read (``network_items``);
- ``load_image_set_float``: the same, then its float32 view ``X`` (4 bytes per pixel), which
  the audit's other checks, the representation and ``label select`` still read whole;
- ``audit_neighbours``: ``load_image_set`` then the audit's near-duplicates and outliers
  (the pixel embedding from the uint8 pixels, FAISS past 50,000 items);

with the seconds, the peak memory and its ratio to the uint8 array's size, and the exponent of
time against size fitted over the sizes measured.

``--part neighbours``: underspec's k-NN (:func:`underspec.models.knn.nearest`, FAISS's HNSW graph
past 50,000 items) for every item's 10 nearest neighbours, as the audit asks, against exact
search on 1,000 sampled queries (recall@10): on the 100,000 images' embedding (the first 128
principal components of their pixels at 16 px) and on 1,000,000 vectors of 128 dimensions
drawn from a mixture of 2,000 elongated Gaussian clusters (synthetic: no real set here has a
million items).

``--part audit``: the default ``underspec audit`` (``--model auto``: the logistic head on the
patch representation for these 64 px images: ``patches`` up to 20,000 images, ``patches-fast``
past it) with the checks ``label_issues``,
``near_duplicates`` and ``outliers``, in a fresh process per size after the store has decoded
the folder, and with no representation cached; the label-issue precision, recall and F1
against the flipped labels. With ``--ray
ADDRESS``, the same audit with its folds and representation shards as Ray tasks there, and
whether it flags the same items.

``--part select``: ``underspec label select`` (default embedding: the ``patches`` representation
up to 20,000 images of 64 px, ``patches-fast`` past it, where the selection also works on its
128 principal components) on a folder of hard links to the
same images with a ``labels.csv`` where 2% of the items keep their given label (8% of them
flipped) and the rest are unlabeled, a budget of 1% of the items, in a fresh process: seconds,
memory, how many items got an automatic label and their accuracy against the true classes;
with ``--ray``, the same on the cluster and whether the selection is the same.

``--part predict``: ``underspec predict`` of every image of each folder with one trained run
(the small CNN, one epoch on the 10,000 images; the time of a prediction does not depend on
the weights), in a fresh process: seconds, items per second, peak memory.

    python bench/scale.py [--part load,neighbours,audit,select,predict] [--sizes 10000,30000,100000]
                          [--before-up-to 30000] [--ray ADDRESS] [--ray-up-to 30000] [--name scale]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from results_io import SHARED, save

WORK = Path(__file__).parent / "work" / "scale"
FLIP = 0.08

MEASURE = r"""
import json, resource, sys, threading, time
from pathlib import Path
sys.path.insert(0, {bench!r})
from scale import tree_pss_mb
tree_peak = [0.0]
def sample():
    while True:
        tree_peak[0] = max(tree_peak[0], tree_pss_mb())
        time.sleep(0.25)
threading.Thread(target=sample, daemon=True).start()
root, how = Path({root!r}), {how!r}
started = time.perf_counter()
if how == "before":
    from scale import load_before
    X = load_before(root)
    shape = X.shape
elif how == "audit_neighbours":
    from underspec.audit.registry import AuditOptions
    from underspec.data.image_sets import load_image_set
    from underspec.pipelines.audit import run_checks
    image_set = load_image_set(root)
    results = run_checks(image_set, AuditOptions(), ["near_duplicates", "outliers"])
    X, shape = None, image_set.pixels.shape
elif how.startswith("predict"):
    from underspec.cli import main
    assert main(["predict", str(root), "--run", {run!r}, "--out", {predictions!r}]) == 0
    X, shape = None, (sum(1 for _ in open({predictions!r})) - 1,)
elif how.startswith("audit_default"):  # the command as a user runs it: the findings and report written
    from underspec.cli import main
    out = Path({flags!r}).with_suffix("")
    ray = ["--ray", {ray!r}] if how == "audit_default_ray" else []
    assert main(["audit", str(root), "--checks", "label_issues,near_duplicates,outliers", "--out", str(out),
                 *ray]) == 0
    findings = json.loads((out / "findings.json").read_text())
    X, shape = None, (findings["data"]["items"], 3, 64, 64)
    flags = {{name: [str(item["id"]) for item in findings[name]["items"] if item["is_issue"]]
             for name in ("label_issues", "near_duplicates", "outliers")}}
    Path({flags!r}).write_text(json.dumps(flags))
elif how.startswith("select"):  # label select as a user runs it, a budget of 1% of the items
    from underspec.cli import main
    out = Path({flags!r}).with_suffix("")
    n = sum(1 for _ in open(root / "labels.csv")) - 1
    ray = ["--ray", {ray!r}] if how == "select_ray" else []
    assert main(["label", "select", str(root), "--budget", str(n // 100), "--out", str(out), *ray]) == 0
    X, shape = None, (n,)
elif how.startswith("load_image_set"):
    from underspec.data.image_sets import load_image_set
    image_set = load_image_set(root)
    X = image_set.X if how == "load_image_set_float" else image_set.network_items
    shape = X.shape
else:
    from underspec.data.image_store import decode_images
    paths = sorted(p.relative_to(root).as_posix() for p in (root / "train_img").iterdir())
    out = decode_images(root, paths, workers=2)
    shape, X = out.pixels.shape, out.pixels
    assert out.from_cache == (how == "store_cached"), how
seconds = time.perf_counter() - started
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
tree_peak[0] = max(tree_peak[0], tree_pss_mb())
print("RESULT", json.dumps({{"seconds": seconds, "own_mb": own, "worker_mb": worker, "shape": list(shape),
                            "tree_peak_mb": tree_peak[0]}}))
"""


def tree_pss_mb(pid: int | None = None) -> float:
    """Proportional set size (shared pages split between the processes sharing them) of a
    process and all its descendants, in MB: what they hold together right now."""
    pid = os.getpid() if pid is None else pid
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        own = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")) / 1024
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
    except (OSError, StopIteration, ValueError):  # a process that ended meanwhile
        return 0.0
    return own + sum(tree_pss_mb(c) for c in children)


def build_folder(n: int) -> Path:
    """``n`` 64 px JPEGs and ``label_train.txt`` (8% flipped), built once under bench/work/scale."""
    from PIL import Image, ImageOps

    root = WORK / f"jpeg-{n}"
    if (root / "label_train.txt").is_file():
        return root
    data = np.load(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz")
    blob, offsets, y = data["jpeg_bytes"], data["offsets"], data["y"]
    rng = np.random.default_rng(n)
    order = np.random.default_rng(0).permutation(len(y))  # the file is sorted by class: shuffled once
    (root / "train_img").mkdir(parents=True, exist_ok=True)
    labels = []
    for k in range(n):
        source = order[k % len(y)]
        img = Image.open(io.BytesIO(blob[offsets[source]:offsets[source + 1]].tobytes())).convert("RGB")
        img = img.resize((64, 64), Image.BILINEAR)
        if k >= len(y):  # past the 60,000 originals: mirrored, shifted copies
            img = ImageOps.mirror(img).rotate(0, translate=(int(rng.integers(-4, 5)), int(rng.integers(-4, 5))))
        img.save(root / "train_img" / f"{k:06d}.jpg", quality=90)
        label = int(y[source])
        labels.append(str(int(rng.integers(1, 10)) + label) if rng.random() < FLIP else str(label))
    (root / "label_train.txt").write_text("\n".join(str(int(v) % 10) for v in labels) + "\n")
    return root


def load_before(root: Path) -> np.ndarray:
    """The loader before the image store (``read_images`` at 301dd3e, its array part)."""
    from collections import Counter

    from PIL import Image

    paths = sorted(p.relative_to(root).as_posix() for p in (root / "train_img").iterdir())
    images = {}
    for rel in paths:
        with Image.open(root / rel) as img:
            img.load()
            images[rel] = img.copy()
    size = Counter(img.size for img in images.values()).most_common(1)[0][0]
    X = np.stack([np.asarray(images[rel].convert("RGB").resize(size), np.float32) / 255.0 for rel in paths])
    return X.transpose(0, 3, 1, 2)


def measure(root: Path, how: str, ray: str | None = None) -> dict:
    """One loader (or audit) in a fresh process, with the store's cache under bench/work/scale/cache;
    an audit's flagged ids go to ``bench/work/scale/flags-SIZE-HOW.json``."""
    flags = WORK / f"flags-{root.name}-{how}.json"
    code = MEASURE.format(bench=str(Path(__file__).parent), root=str(root), how=how, ray=ray, flags=str(flags),
                          run=str(WORK / "run"), predictions=str(WORK / f"predictions-{root.name}.csv"))
    env = {**os.environ, "UNDERSPEC_CACHE": str(WORK / "cache")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"{how} on {root} failed:\n{done.stderr[-2000:]}")
    result = json.loads(line[7:])
    uint8_mb = math.prod(result["shape"]) * (64 * 64 * 3 if how.startswith(("predict", "select")) else 1) / 2**20
    peak = result["own_mb"] + 2 * result["worker_mb"]  # the two workers run at once: an upper bound
    if flags.exists() and how.startswith("audit_default"):
        result["flags"] = {name: len(ids) for name, ids in json.loads(flags.read_text()).items()}
    result["tree_peak_mb"] = round(result["tree_peak_mb"], 1)
    result.update(seconds=round(result["seconds"], 2), peak_mb=round(peak, 1), own_mb=round(result["own_mb"], 1),
                  worker_mb=round(result["worker_mb"], 1), peak_over_uint8=round(peak / uint8_mb, 2),
                  uint8_mb=round(uint8_mb, 1))
    print(root.name, how, result, flush=True)
    return result


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """Slope of log(time) against log(size)."""
    if len(sizes) < 2:
        return None
    return round(float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0]), 3)


def recall_at_10(index: np.ndarray, found: np.ndarray, sample: np.ndarray) -> float:
    """Share of the true 10 nearest neighbours of the ``sample`` rows that ``found`` lists."""
    import faiss

    exact = faiss.IndexFlatL2(index.shape[1])
    exact.add(index)
    _, truth = exact.search(index[sample], 10)
    return round(float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found[sample], truth, strict=True)])), 4)


def all_neighbours(name: str, vectors: np.ndarray) -> dict:
    """Every item's 10 nearest neighbours by :func:`nearest`, timed, and their recall."""
    from underspec.models.knn import nearest

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    started = time.perf_counter()
    _, found = nearest(vectors, k=10)
    seconds = time.perf_counter() - started
    sample = np.random.default_rng(0).choice(len(vectors), 1000, replace=False)
    row = {"vectors": len(vectors), "dims": vectors.shape[1], "seconds": round(seconds, 1),
           "recall_at_10": recall_at_10(vectors, found, sample)}
    print(name, row, flush=True)
    return row


def neighbours_part(n_images: int) -> dict:
    from PIL import Image
    from sklearn.decomposition import PCA

    root = build_folder(n_images)
    small = np.stack([np.asarray(Image.open(p).convert("RGB").resize((16, 16)), np.float32).ravel() / 255
                      for p in sorted((root / "train_img").iterdir())])
    images = PCA(128, random_state=0).fit_transform(small).astype(np.float32)
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (2000, 128)).astype(np.float32) * 3
    axes = rng.normal(0, 1, (2000, 16, 128)).astype(np.float32) / 4
    member = rng.integers(0, 2000, 1_000_000)
    mixture = np.empty((1_000_000, 128), np.float32)
    for start in range(0, len(member), 100_000):
        rows = member[start:start + 100_000]
        mixture[start:start + 100_000] = centres[rows] + np.einsum(
            "nk,nkd->nd", rng.normal(0, 1, (len(rows), 16)).astype(np.float32), axes[rows])
        mixture[start:start + 100_000] += rng.normal(0, 0.05, (len(rows), 128)).astype(np.float32)
    return {f"{n_images} images, 128 principal components": all_neighbours("images", images),
            "1,000,000 synthetic (2,000 clusters)": all_neighbours("mixture", mixture)}


def flipped(root: Path) -> set[str]:
    """The ids (``train_img/NNNNNN.jpg``) whose label ``build_folder`` flipped."""
    with np.load(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz") as data:
        y = data["y"]
    given = np.loadtxt(root / "label_train.txt", dtype=int)
    truth = y[np.random.default_rng(0).permutation(len(y))[np.arange(len(given)) % len(y)]]
    return {f"train_img/{k:06d}.jpg" for k in np.flatnonzero(given != truth)}


def audit_part(sizes: list[int], ray: str | None, ray_up_to: int, only: list[str] | None = None) -> dict:
    """The default audit's label issues, near-duplicates and outliers per size (its label-issue
    precision, recall and F1 against the flipped labels), and on Ray where asked; ``only``: the
    runs to make (the others' flags are read from their files of an earlier run)."""
    from underspec.data.image_store import decode_images

    out = {}
    for n in sizes:
        root = build_folder(n)
        env_cache = os.environ.get("UNDERSPEC_CACHE")
        os.environ["UNDERSPEC_CACHE"] = str(WORK / "cache")  # decoded once before the timed runs
        decode_images(root, sorted(f"train_img/{p.name}" for p in (root / "train_img").iterdir()), workers=2)
        os.environ.pop("UNDERSPEC_CACHE") if env_cache is None else os.environ.update(UNDERSPEC_CACHE=env_cache)
        truth = flipped(root)
        runs = {}
        hows = ["audit_default", *(["audit_default_ray"] if ray and n <= ray_up_to else [])]
        for how in [h for h in hows if h in (only or hows)]:
            for cached in (WORK / "cache" / "representations").glob("*.npy"):  # each run learns its own
                cached.unlink()
            runs[how] = measure(root, how, ray)
        for how, r in runs.items():
            flags = json.loads((WORK / f"flags-{root.name}-{how}.json").read_text())
            found = set(flags["label_issues"])
            tp = len(found & truth)
            precision, recall = tp / max(1, len(found)), tp / max(1, len(truth))
            r["label_issues"] = {"flipped": len(truth), "flagged": len(found), "precision": round(precision, 4),
                                 "recall": round(recall, 4),
                                 "f1": round(2 * precision * recall / max(1e-12, precision + recall), 4)}
        if "audit_default_ray" in runs:
            here, there = (json.loads((WORK / f"flags-{root.name}-{how}.json").read_text()) for how in hows)
            runs["audit_default_ray"]["identical_to_here"] = here == there
        out[str(n)] = runs
    return out


LABELED = 0.02
"""``--part select``: the share of the items that keep their (8% flipped) label."""


def select_folder(n: int) -> tuple[Path, np.ndarray]:
    """The folder of ``n`` images (hard links to :func:`build_folder`'s files) with a
    ``labels.csv`` where 2% of the items keep their given label and the rest are unlabeled;
    the true class of every item."""
    import pandas as pd

    source = build_folder(n)
    root = WORK / f"select-{n}"
    given = np.loadtxt(source / "label_train.txt", dtype=int)
    with np.load(SHARED / "cifar10_full_jpeg" / "cifar10_jpeg.npz") as data:
        truth = data["y"][np.random.default_rng(0).permutation(len(data["y"]))[np.arange(n) % len(data["y"])]]
    if not (root / "labels.csv").is_file():
        (root / "train_img").mkdir(parents=True, exist_ok=True)
        for k in range(n):
            target = root / "train_img" / f"{k:06d}.jpg"
            if not target.exists():
                os.link(source / "train_img" / f"{k:06d}.jpg", target)
        keep = np.random.default_rng(n + 1).random(n) < LABELED
        pd.DataFrame({"path": [f"train_img/{k:06d}.jpg" for k in range(n)],
                      "label": [str(v) if kept else "" for v, kept in zip(given, keep, strict=True)]}).to_csv(
            root / "labels.csv", index=False)
    return root, truth


def select_part(sizes: list[int], ray: str | None, ray_up_to: int) -> dict:
    """``underspec label select`` on each size (2% labeled, a budget of 1%), in a fresh process
    after the store decoded the folder: seconds, memory, the automatic labels' share and their
    accuracy against the true classes; on Ray too up to ``ray_up_to``, whether it selects the same."""
    import pandas as pd

    from underspec.data.image_store import decode_images

    out = {}
    for n in sizes:
        root, truth = select_folder(n)
        os.environ["UNDERSPEC_CACHE"] = str(WORK / "cache")
        decode_images(root, [f"train_img/{k:06d}.jpg" for k in range(n)], workers=2)
        runs = {}
        for how in ["select", *(["select_ray"] if ray and n <= ray_up_to else [])]:
            r = measure(root, how, ray)
            table = pd.read_csv(WORK / f"flags-{root.name}-{how}" / "selection.csv", dtype={"auto_label": str})
            auto = table["status"] == "auto"
            rows = table.loc[auto, "id"].str.slice(10, 16).astype(int).to_numpy()
            r.update(auto=int(auto.sum()), send=int((table["status"] == "send").sum()),
                     auto_accuracy=round(float((table.loc[auto, "auto_label"].astype(int).to_numpy()
                                                == truth[rows]).mean()) if auto.any() else float("nan"), 4),
                     selection=table.to_csv(index=False))
            runs[how] = r
        if "select_ray" in runs:
            runs["select_ray"]["identical_to_here"] = runs["select_ray"]["selection"] == runs["select"]["selection"]
        for r in runs.values():
            r.pop("selection")
        out[str(n)] = runs
    return out


def predict_part(sizes: list[int]) -> dict:
    """``underspec predict`` on each folder with one run (the small CNN, one epoch on the 10,000
    images: prediction costs the same whatever the weights), its throughput."""
    from underspec.cli import main as underspec

    if not (WORK / "run" / "run.json").is_file():
        assert underspec(["train", str(build_folder(10000)), "--out", str(WORK / "run"), "--arch", "cnn",
                          "--epochs", "1"]) == 0
    out = {}
    for n in sizes:
        r = measure(build_folder(n), "predict")
        r["items_per_second"] = round(n / r["seconds"])
        out[str(n)] = r
    return out


def paragraphs(first: str, last: str) -> str:
    """The module docstring's paragraphs from the one starting with ``first`` to the one
    starting with ``last``."""
    parts = (__doc__ or "").split("\n\n")
    start = next(k for k, p in enumerate(parts) if p.startswith(first))
    end = next(k for k, p in enumerate(parts) if p.startswith(last))
    return "\n\n".join(parts[start:end + 1])


def markdown(result: dict) -> str:
    lines = ["# Loading and searching 10,000 to 1,000,000 items", "",
             f"Command: `{result['command']}` ({result['machine']})", ""]
    if result["sizes"]:
        lines += [paragraphs("Builds folders", "with the seconds"), "",
                  "Peak: the process's own peak resident memory plus twice its largest worker's (the two decode",
                  "at once), an upper bound.", "",
                  "| images | loader | seconds | peak MB | own | per worker | peak / uint8 array | uint8 array MB |",
                  "|---|---|---|---|---|---|---|---|"]
        for n, runs in result["sizes"].items():
            for how, r in runs.items():
                lines.append(f"| {n} | {how} | {r['seconds']} | {r['peak_mb']} | {r['own_mb']} | {r['worker_mb']} | "
                             f"{r['peak_over_uint8']} | {r['uint8_mb']} |")
        lines += ["", "Exponent of time against size: "
                  + ", ".join(f"{how} {e}" for how, e in result["exponents"].items())]
    if result.get("neighbours"):
        lines += ["", "## Every item's 10 nearest neighbours", "", paragraphs("``--part neighbours``", "``--part"), "",
                  "| set | vectors | dims | seconds | recall@10 |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {r['vectors']} | {r['dims']} | {r['seconds']} | {r['recall_at_10']} |"
                  for name, r in result["neighbours"].items()]
    if result.get("audit"):
        lines += ["", "## The default audit", "", paragraphs("``--part audit``", "``--part audit``"), "",
                  "Memory: `own` is the audit process's peak resident memory; `sampled` the peak, sampled every",
                  "0.25 s, of the proportional set size of the process and its children together (shared pages",
                  "counted once); `bound` adds twice the largest child's peak to `own` (forked children share",
                  "the parent's pages: an overestimate).", "",
                  "| images | run | seconds | own MB | sampled MB | bound MB | label issues flagged | precision | "
                  "recall | F1 | near-duplicates | outliers | same flags as here |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for n, runs in result["audit"].items():
            for how, r in runs.items():
                li = r["label_issues"]
                lines.append(f"| {n} | {how} | {r['seconds']} | {r['own_mb']} | {r.get('tree_peak_mb', 'not run')} | "
                             f"{r['peak_mb']} | "
                             f"{li['flagged']} | {li['precision']} | {li['recall']} | {li['f1']} | "
                             f"{r['flags']['near_duplicates']} | {r['flags']['outliers']} | "
                             f"{r.get('identical_to_here', '')} |")
        lines += ["", f"Exponent of the audit's time against size: {result['exponents'].get('audit_default')}"]
    if result.get("select"):
        lines += ["", "## Label select", "", paragraphs("``--part select``", "``--part select``"), "",
                  "| images | run | seconds | own MB | sampled MB | automatic labels | their accuracy | sent | "
                  "same selection as here |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {n} | {how} | {r['seconds']} | {r['own_mb']} | {r.get('tree_peak_mb')} | {r['auto']} | "
                  f"{r['auto_accuracy']} | {r['send']} | {r.get('identical_to_here', '')} |"
                  for n, runs in result["select"].items() for how, r in runs.items()]
        lines += ["", f"Exponent of the time against size: {result['exponents'].get('select')}"]
    if result.get("predict"):
        lines += ["", "## Prediction", "", paragraphs("``--part predict``", "``--part predict``"), "",
                  "| images | seconds | items / s | own MB | sampled MB |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {r['seconds']} | {r['items_per_second']} | {r['own_mb']} | {r.get('tree_peak_mb')} |"
                  for n, r in result["predict"].items()]
        lines += ["", f"Exponent of the time against size: {result['exponents'].get('predict')}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="load,neighbours")
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--before-up-to", type=int, default=30000,
                        help="largest size the old loader is run on (it needs about 110 MB per 1,000 images)")
    parser.add_argument("--ray", help="--part audit: also run it on the Ray cluster at this address")
    parser.add_argument("--ray-up-to", type=int, default=30000, help="largest size audited on Ray too")
    parser.add_argument("--only", help="--part audit: only these runs (audit_default, audit_default_ray)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--name", default="scale")
    parser.add_argument("--render", action="store_true", help="only redraw NAME.md from NAME.json")
    args = parser.parse_args()
    if args.render:
        result = json.loads((args.out / f"{args.name}.json").read_text())
        save(args.out, args.name, result, markdown(result))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    result = {"command": "python bench/scale.py " + " ".join(sys.argv[1:]), "machine": "2 CPU cores",
              "sizes": {}, "exponents": {}}
    for n in sizes if "load" in args.part else []:
        started = time.perf_counter()
        root = build_folder(n)
        print(f"folder of {n} built in {time.perf_counter() - started:.0f} s", flush=True)
        for entry in (WORK / "cache" / "images").glob("*"):  # a cold start for the store
            entry.unlink()
        hows = ["store_cold", "store_cached", "load_image_set", "load_image_set_float", "audit_neighbours"] + (
            ["before"] if n <= args.before_up_to else [])
        result["sizes"][str(n)] = {how: measure(root, how) for how in hows}
    for how in ("store_cold", "store_cached", "load_image_set", "load_image_set_float", "audit_neighbours", "before"):
        measured = [(int(n), r[how]["seconds"]) for n, r in result["sizes"].items() if how in r]
        result["exponents"][how] = exponent([n for n, _ in measured], [s for _, s in measured])
    if "neighbours" in args.part:
        result["neighbours"] = neighbours_part(max(sizes))
    if "predict" in args.part:
        result["predict"] = predict_part(sizes)
        measured = [(int(n), r["seconds"]) for n, r in result["predict"].items()]
        result["exponents"]["predict"] = exponent([n for n, _ in measured], [s for _, s in measured])
    if "select" in args.part:
        result["select"] = select_part(sizes, args.ray, args.ray_up_to)
        measured = [(int(n), r["select"]["seconds"]) for n, r in result["select"].items()]
        result["exponents"]["select"] = exponent([n for n, _ in measured], [s for _, s in measured])
    if "audit" in args.part:
        result["audit"] = audit_part(sizes, args.ray, args.ray_up_to, args.only.split(",") if args.only else None)
        measured = [(int(n), r["audit_default"]["seconds"]) for n, r in result["audit"].items() if "audit_default" in r]
        result["exponents"]["audit_default"] = exponent([n for n, _ in measured], [s for _, s in measured])
    save(args.out, args.name, result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

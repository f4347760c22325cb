# ruff: noqa: E501
"""Robustness benchmark: re-posts of registered photos, unrelated queries, AugLy, NeuralHash pairs.

Usage::

    .venv/bin/python -m benchmarks.robustness.run [--registered 500] [--unrelated 500]
        [--workers 2] [--seed 0] [--families jpeg,crop_60] [--scale 10000,100000]

Registers the first N photos of ``imagenet_sample`` (sorted), queries every family
of :mod:`benchmarks.robustness.transforms` on each, and the same families on the
*other* photos (from index 500 on) as unrelated queries. ``ours`` is the product's
path: each registered photo's file goes through ``fingerprint_bytes`` into a
:class:`~empreinte.index.live.LiveIndex` (PDQ, SHA-256, MD5 and local features, as
``Change`` rows of the change log); each query is encoded (PNG), hashed by
``detection.service.prepare_image`` and looked up as ``match_image`` does (PDQ of the
whole image and its regions through the multi-index Hamming index, digests, local
features), without the database. Compared with plain PDQ (8 dihedral variants of the
whole query, d<=31) and pHash (8 dihedral variants, d<=8). Single-threaded OpenCV and
FAISS in each worker, so the query time is per core.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import faiss
import imagehash
import numpy as np
from PIL import Image

from benchmarks.robustness.transforms import FAMILIES
from empreinte.detection.service import (
    DEFAULT_THRESHOLDS,
    ImageQuery,
    prepare_image,
)
from empreinte.hashing.decode import Limits
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.hashing.pdq import pdq_dihedral_from_rgb
from empreinte.hashing.robust.matcher import MIN_INLIERS, orb_confidence
from empreinte.hashing.signals import SignalType
from empreinte.index.live import Change, LiveIndex

EVAL = Path(__file__).resolve().parents[2].parent / "shared" / "evaldata"
PDQ_THRESHOLD = 31
PHASH_THRESHOLD = 8
LOOKED_UP = (SignalType.PDQ, SignalType.SHA256, SignalType.MD5)
"""The signals ``prepare_image`` queries; the others are not registered here."""
# AugLy outputs where the photo is no longer recognisable as the same picture
AUGLY_UNRECOGNISABLE = {"shuffle_pixels", "split_and_shuffle"}


@dataclass
class State:
    live: LiveIndex
    owner: dict[int, str]
    """hash id -> registered key"""
    reg_pdq: np.ndarray
    reg_phash: np.ndarray
    reg_imgs: list[Image.Image]
    unr_imgs: list[Image.Image]
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)


STATE: State | None = None


def load(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def phash_bits(img: Image.Image) -> np.ndarray:
    return np.packbits(np.asarray(imagehash.phash(img).hash, bool).ravel())


def small_gray(img: Image.Image) -> Image.Image:
    """Grey copy box-reduced to a shorter side of at least 256 px: pHash resizes to 32x32
    anyway, and Lanczos from 3 MP, eight times, cost more than the product's whole query."""
    gray = img.convert("L")
    factor = max(1, min(gray.size) // 256)
    return gray.reduce(factor) if factor > 1 else gray


def dihedral_imgs(img: Image.Image) -> list[Image.Image]:
    t = Image.Transpose
    ops = [
        None,
        t.ROTATE_90,
        t.ROTATE_180,
        t.ROTATE_270,
        t.FLIP_LEFT_RIGHT,
        t.FLIP_TOP_BOTTOM,
        t.TRANSPOSE,
        t.TRANSVERSE,
    ]
    return [img if o is None else img.transpose(o) for o in ops]


def hamming_min(q: np.ndarray, reg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per registered row: min Hamming distance over query rows (q: m x b, reg: n x b)."""
    x = np.bitwise_xor(q[:, None, :], reg[None, :, :])
    d = np.unpackbits(x, axis=2).sum(axis=2)
    return d.min(axis=0), d.argmin(axis=0)


def encode(img: Image.Image) -> bytes:
    """The bytes a platform would receive: lossless, so the pixels are the family's own."""
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=0)
    return buf.getvalue()


def product_matches(image: ImageQuery) -> list[tuple[str, str, float, float]]:
    """(key, signal, confidence, score) of every hit, as ``match_image`` gathers evidence."""
    assert STATE is not None
    out = []
    for query in image.queries:
        radius = DEFAULT_THRESHOLDS[query.signal]
        if query.region:
            radius = min(radius, query.signal.spec.region_radius)
        for hit in STATE.live.search(query.signal, query.value, radius):
            key = STATE.owner[hit.hash_id]
            out.append(
                (key, str(query.signal), query.signal.spec.confidence(hit.distance), hit.distance)
            )
    for found in STATE.live.search_features(image.features, image.shape):
        key = STATE.owner[int(found.key)]
        out.append((key, SignalType.ORB, orb_confidence(found.inliers), float(found.inliers)))
    return out


def evaluate(img: Image.Image, target: int | None) -> dict[str, Any]:
    """Run ours (the product's path) and both baselines on one query image."""
    assert STATE is not None
    rgb = np.ascontiguousarray(np.asarray(img))
    data = encode(img)
    t0 = time.process_time()  # CPU of this single-threaded worker: fair on a loaded machine
    image = prepare_image(data, Limits())
    t1 = time.process_time()
    hits = product_matches(image)
    dt = time.process_time() - t0
    ours: dict[str, float] = {}
    raw: dict[str, tuple[str, float]] = {}
    for key, signal, conf, score in hits:
        if signal != SignalType.ORB or score >= MIN_INLIERS:
            ours[key] = max(ours.get(key, 0.0), conf)
        if signal == SignalType.ORB or key not in raw:
            raw[key] = (signal, score)
    by_orb = sorted({k for k, sig, _c, sc in hits if sig == SignalType.ORB and sc >= MIN_INLIERS})
    hashes, _q = pdq_dihedral_from_rgb(rgb)
    qp = np.frombuffer(b"".join(hashes), np.uint8).reshape(-1, 32)
    dp, _ = hamming_min(qp, STATE.reg_pdq)
    qh = np.stack([phash_bits(v) for v in dihedral_imgs(small_gray(img))])
    dh, _ = hamming_min(qh, STATE.reg_phash)
    return {
        "ours": ours,
        "raw": raw,
        "by_orb": by_orb,
        "time": dt,
        "prepare": t1 - t0,
        "mp": rgb.shape[0] * rgb.shape[1] / 1e6,
        "pdq": {str(i): int(d) for i, d in enumerate(dp) if d <= PDQ_THRESHOLD},
        "pdq_min": int(dp.min()) if len(dp) else 256,
        "pdq_target": int(dp[target]) if target is not None and target < len(dp) else None,
        "phash": {str(i): int(d) for i, d in enumerate(dh) if d <= PHASH_THRESHOLD},
    }


def task(job: tuple[str, int, str]) -> dict[str, Any]:
    kind, idx, fam = job
    assert STATE is not None
    fi = list(FAMILIES).index(fam)
    rng = np.random.default_rng([STATE.seed, idx, fi, 0 if kind == "pos" else 1])
    if kind == "pos":
        src = STATE.reg_imgs[idx]
        others = STATE.unr_imgs
    else:
        src = STATE.unr_imgs[idx]
        others = STATE.unr_imgs[:idx] + STATE.unr_imgs[idx + 1 :]
    img = FAMILIES[fam](src, rng, others)
    out = evaluate(img, idx if kind == "pos" else None)
    out.update(kind=kind, idx=idx, family=fam)
    return out


def file_task(job: tuple[str, str, str, str]) -> dict[str, Any]:
    """Query one evaldata file; target id is a registered key string."""
    assert STATE is not None
    group, qpath, target, label = job
    img = load(EVAL / qpath)
    out = evaluate(img, None)
    out.update(group=group, query=qpath, target=target, label=label)
    return out


def init_worker() -> None:
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)


def register(live: LiveIndex, owner: dict[int, str], key: str, data: bytes) -> int:
    """File one image's fingerprint as the registry would; return the features' base64 size."""
    fp = fingerprint_bytes(data)
    changes = []
    for signal in fp.signals:
        if signal.type in LOOKED_UP:
            changes.append((str(signal.type), signal.value.raw, None))
    assert fp.features is not None
    blob = fp.features.to_bytes()
    changes.append((SignalType.ORB, hashlib.sha256(blob).digest(), blob))
    rows = []
    for signal, value, payload in changes:
        hash_id = len(owner) + 1
        owner[hash_id] = key
        rows.append(Change(live.seq + len(rows) + 1, "add", signal, hash_id, value, payload))
    live.apply(rows)
    return len(fp.features.to_text())


def build(reg_files: list[Path], unr_files: list[Path], seed: int, extra_refs: list[str]) -> State:
    live = LiveIndex()
    live.robust.min_inliers = 6  # report near misses; the benchmark applies MIN_INLIERS itself
    owner: dict[int, str] = {}
    reg_imgs = [load(p) for p in reg_files]
    pdqs, phs = [], []
    t0 = time.perf_counter()
    sizes = []
    for i, (path, img) in enumerate(zip(reg_files, reg_imgs, strict=True)):
        sizes.append(register(live, owner, str(i), path.read_bytes()))
        h = pdq_dihedral_from_rgb(np.asarray(img))[0][0]
        pdqs.append(np.frombuffer(h, np.uint8))
        phs.append(phash_bits(img))
    reg_time = (time.perf_counter() - t0) / max(1, len(reg_imgs))
    for ref in extra_refs:
        register(live, owner, "ref:" + ref, (EVAL / ref).read_bytes())
    live.compact()
    st = State(
        live, owner, np.stack(pdqs), np.stack(phs), reg_imgs, [load(p) for p in unr_files], seed
    )
    st.extra.update(reg_time=reg_time, size_max=max(sizes), size_mean=float(np.mean(sizes)))
    return st


def augly_jobs() -> list[tuple[str, str, str, str]]:
    out = []
    folder = EVAL / "augly/image_tests/dfdc_expected_output"
    if not folder.is_dir():
        return out
    ref = "augly/image_tests/inputs/dfdc_1.jpg"
    for p in sorted(folder.glob("test_*.png")):
        name = p.stem.removeprefix("test_")
        label = "unrecognisable" if name in AUGLY_UNRECOGNISABLE else "match"
        out.append(("augly", str(p.relative_to(EVAL)), "ref:" + ref, label))
    return out


def pair_jobs() -> list[tuple[str, str, str, str]]:
    path = EVAL / "ground_truth_pairs.tsv"
    if not path.is_file():
        return []
    out = []
    with path.open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["query"].startswith("augly/"):
                continue  # counted in the AugLy group
            group = "neuralhash" if "neuralhash" in row["source"].lower() else "pairs"
            out.append((group, row["query"], "ref:" + row["reference"], row["expected"]))
    return out


def main() -> None:
    global STATE
    ap = argparse.ArgumentParser()
    ap.add_argument("--registered", type=int, default=500)
    ap.add_argument("--unrelated", type=int, default=None)
    ap.add_argument(
        "--positives", type=int, default=None, help="registered photos queried per family"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument(
        "--scale", default="", help="comma list of registered counts for the scale table"
    )
    args = ap.parse_args()
    n_reg = args.registered
    n_unr = args.unrelated if args.unrelated is not None else n_reg
    families = [f for f in args.families.split(",") if f]
    files = sorted((EVAL / "imagenet_sample").glob("*.JPEG"))
    pairs = pair_jobs()
    ajobs = augly_jobs()
    refs = sorted({j[2].removeprefix("ref:") for j in pairs + ajobs})
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
    STATE = build(files[:n_reg], files[500 : 500 + n_unr], args.seed, refs)
    print(
        f"registered {n_reg} photos (+{len(refs)} evaldata references); "
        f"features {STATE.extra['size_mean']:.0f} B mean / {STATE.extra['size_max']} B max as base64; "
        f"fingerprint + filing {STATE.extra['reg_time'] * 1000:.0f} ms/image",
        flush=True,
    )
    n_pos = min(n_reg, args.positives) if args.positives is not None else n_reg
    jobs = [("pos", i, f) for f in families for i in range(n_pos)]
    jobs += [("neg", i, f) for f in families for i in range(n_unr)]
    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers, initializer=init_worker) as pool:
        results = []
        for r in pool.imap_unordered(task, jobs, chunksize=8):
            results.append(r)
            if len(results) % 1000 == 0:
                print(
                    f"  {len(results)}/{len(jobs)} queries, {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
        file_results = pool.map(file_task, ajobs + pairs, chunksize=2)
    print(
        f"{len(jobs)} synthetic queries + {len(ajobs) + len(pairs)} evaldata queries "
        f"in {time.perf_counter() - t0:.0f} s wall",
        flush=True,
    )
    report(results, file_results, families)
    if args.scale:
        from benchmarks.robustness.scale import scale_table

        scale_table([int(x) for x in args.scale.split(",")], STATE)


def report(
    results: list[dict[str, Any]], file_results: list[dict[str, Any]], families: list[str]
) -> None:
    pos = [r for r in results if r["kind"] == "pos"]
    neg = [r for r in results if r["kind"] == "neg"]
    print("\nrecall per family (true registered image found)")
    print(f"{'family':20s} {'ours':>6s} {'PDQ':>6s} {'pHash':>6s}  ours/PDQ  by ORB only")
    for fam in families:
        rs = [r for r in pos if r["family"] == fam]
        if not rs:
            continue
        ours = np.mean([str(r["idx"]) in r["ours"] for r in rs])
        p = np.mean([str(r["idx"]) in r["pdq"] for r in rs])
        h = np.mean([str(r["idx"]) in r["phash"] for r in rs])
        orb = np.mean([str(r["idx"]) in r["by_orb"] for r in rs])
        ratio = f"{ours / p:8.2f}x" if p else "       --"
        print(f"{fam:20s} {ours:6.3f} {p:6.3f} {h:6.3f} {ratio}  {orb:6.3f}")
    allr = [np.mean([str(r["idx"]) in r[k] for r in pos]) for k in ("ours", "pdq", "phash")]
    print(f"{'ALL':20s} {allr[0]:6.3f} {allr[1]:6.3f} {allr[2]:6.3f}")
    print(
        f"\nfalse matches ({len(neg)} unrelated queries; + wrong ids on {len(pos)} positive queries)"
    )
    for k in ("ours", "pdq", "phash"):
        fn = sum(1 for r in neg if r[k])
        fp = sum(1 for r in pos if any(i != str(r["idx"]) for i in r[k]))
        print(
            f"  {k:6s} unrelated queries with a match: {fn}   positive queries with a wrong id: {fp}"
        )
    true_conf = [r["ours"][str(r["idx"])] for r in pos if str(r["idx"]) in r["ours"]]
    neg_conf = [max(r["ours"].values(), default=0.0) for r in neg]
    neg_inl = [max((s for sig, s in r["raw"].values() if sig == "orb"), default=0) for r in neg]
    neg_pdq = [r["pdq_min"] for r in neg]
    if true_conf:
        print(
            f"  ours confidence: lowest true match {min(true_conf):.3f}, highest unrelated {max(neg_conf):.3f}, "
            f"margin {min(true_conf) - max(neg_conf):+.3f}"
        )
    print(
        f"  highest ORB inliers on unrelated queries: {max(neg_inl, default=0)} (threshold {MIN_INLIERS}); "
        f"distribution p99 {np.percentile(neg_inl, 99) if neg_inl else 0:.0f}"
    )
    print(
        f"  closest PDQ distance on unrelated queries (whole image, dihedral): {min(neg_pdq, default=256)}"
    )
    times = np.array([r["time"] for r in results]) * 1000
    print(
        f"\nquery CPU time (ours, one core): mean {times.mean():.0f} ms, median {np.median(times):.0f} ms, "
        f"p95 {np.percentile(times, 95):.0f} ms, max {times.max():.0f} ms"
    )
    prep = np.array([r["prepare"] for r in results]) * 1000
    print(
        f"  of which prepare_image (decode, PDQ of the image and its regions, query features): "
        f"mean {prep.mean():.0f} ms, median {np.median(prep):.0f} ms"
    )
    mps = np.array([r["mp"] for r in results])
    for lo, hi in ((0.0, 0.5), (0.5, 1.5), (1.5, 100.0)):
        sel = (mps >= lo) & (mps < hi)
        if sel.any():
            print(
                f"  queries of {lo:g}-{hi:g} MP: {int(sel.sum())}, mean {times[sel].mean():.0f} ms, "
                f"median {np.median(times[sel]):.0f} ms, p95 {np.percentile(times[sel], 95):.0f} ms"
            )
    for group in ("augly", "pairs", "neuralhash"):
        rs = [r for r in file_results if r["group"] == group]
        if not rs:
            continue
        print(f"\n{group}: {len(rs)} pairs")
        for label in sorted({r["label"] for r in rs}):
            sub = [r for r in rs if r["label"] == label]
            for k in ("ours", "pdq", "phash"):
                found = sum(1 for r in sub if r["target"] in r[k]) if k == "ours" else None
                if k != "ours":
                    continue
                print(f"  expected {label:15s} n={len(sub):3d}  ours found {found}")
        if group == "augly":
            for r in rs:
                mark = "FOUND" if r["target"] in r["ours"] else "miss "
                print(f"    {mark} {Path(r['query']).stem:35s} {r['raw'].get(r['target'], '')}")
        else:
            for r in rs:
                hit = r["target"] in r["ours"]
                bad = hit != (r["label"] == "match")
                if bad:
                    print(f"    WRONG {r['label']:8s} {r['query']} raw={r['raw'].get(r['target'])}")


if __name__ == "__main__":
    main()

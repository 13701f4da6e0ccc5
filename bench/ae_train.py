"""Train the adverse-event model (:mod:`portal.safety.learned`) on the ``dev`` split, or measure it.

    .venv/bin/python bench/ae_train.py             # retrain: portal/safety/model/ae_model.json.gz
    .venv/bin/python bench/ae_train.py --evaluate  # leave one corpus file out, no writing

Only ``bench/ae_corpus/dev`` is read: ``test`` stays held back for ``bench/ae.py``. Each corpus
file was written by a different person who had not read the detector, so ``--evaluate`` trains
on every file but one and scores the one left out: what the model does on a writer it has never
seen. It prints the rules alone, the model alone and both together (either flags) at several
thresholds.

How ``THRESHOLD`` and ``VETO`` were chosen, on dev alone. The corpus files came in batches
after the rules were last changed; each batch was scored by a model trained on the files before
it, with the rules, before it joined the training set (none of it was seen by the rules or the
model):

| batch (texts) | rules alone | 0.7, veto 0.1 | 0.6, veto 0.1 | 0.6, veto 0.2 |
|---|---|---|---|---|
| h, j, k, l (480) | 0.910 / 0.112 | 0.983 / 0.106 | 0.990 / 0.134 | 0.990 / 0.117 |
| m, n (400) | 0.864 / 0.140 | 0.996 / 0.107 | 1.000 / 0.107 | 1.000 / 0.087 |
| o (320) | 0.911 / 0.128 | 0.995 / 0.103 | 1.000 / 0.111 | 1.000 / 0.094 |

(recall / false positives). Leaving one file out of the whole dev split, 0.7 gave 0.992 recall,
short of the 0.995 margin wanted over the 0.98 target (the rules were tuned on dev, so dev
flatters them); 0.6 gives 0.995 with 0.063 false positives at veto 0.2. The rules' false
positives on new writers (0.11 to 0.14) are what the veto takes back.

Chat came next, and taught a lesson: a model trained on questions alone gave chat small talk
("Good morning", "she's stable on it, no complaints") scores near 0.8, flagging 0.29 of ordinary
chat messages (``*_chatb``, 400 texts). Hence :data:`portal.safety.learned.MIN_WORDS` (texts of
fewer than four words are the rules' alone) and the ``*_chat`` files: trained on ``*_chat``, the
detector found 0.993 of ``*_chatb``'s adverse events with 0.054 false positives. The last batch,
``p`` and ``q`` (640 question texts, scored by the model with chat), gave 0.995 and 0.059 at 0.6
and veto 0.2. Leave-one-file-out on the 4,036 texts before ``p`` and ``q``: 0.995 recall, 0.055
false positives. Needs scikit-learn (``make
install-dev``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.safety import learned  # noqa: E402

DEV = ROOT / "bench" / "ae_corpus" / "dev"
THRESHOLD = 0.6
VETO = 0.2  # below it, a flag resting on the shape alone is taken back (see --evaluate)
STRENGTH = 4.0  # inverse regularization (scikit-learn's C), chosen by --evaluate on dev
PRODUCTS = ("Cardiovex", "Oncora", "Respira")


def load(directory: Path = DEV) -> list[dict[str, Any]]:
    """Every labelled text of ``directory``, each with the corpus file it came from."""
    rows = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append({**json.loads(line), "file": path.stem})
    return rows


def pipeline() -> Any:
    """The scikit-learn pipeline whose weights :class:`learned.Model` reads."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    union = FeatureUnion(
        [
            (name, TfidfVectorizer(analyzer=analyzer, min_df=2, sublinear_tf=True))
            for name, analyzer in learned.ANALYZERS.items()
        ]
    )
    classifier = LogisticRegression(C=STRENGTH, max_iter=5000, class_weight="balanced")
    return Pipeline([("features", union), ("classifier", classifier)])


def fit(rows: list[dict[str, Any]]) -> Any:
    return pipeline().fit([r["text"] for r in rows], [bool(r["ae"]) for r in rows])


def _round(value: float) -> float:
    return float(f"{value:.7g}")


def export(fitted: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fitted pipeline as the JSON :func:`learned.model` reads."""
    union, classifier = fitted.named_steps["features"], fitted.named_steps["classifier"]
    coefficients = classifier.coef_[0]
    features: dict[str, list[list[Any]]] = {}
    offset = 0
    for name, vectorizer in union.transformer_list:
        size = len(vectorizer.vocabulary_)
        features[name] = sorted(
            [gram, _round(vectorizer.idf_[index]), _round(coefficients[offset + index])]
            for gram, index in vectorizer.vocabulary_.items()
        )
        offset += size
    return {
        "texts": len(rows),
        "adverse_events": sum(bool(r["ae"]) for r in rows),
        "threshold": THRESHOLD,
        "veto": VETO,
        "intercept": _round(classifier.intercept_[0]),
        "features": features,
    }


def write(data: dict[str, Any], path: Path = learned.MODEL_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    with gzip.GzipFile(path, "wb", mtime=0) as stream:  # mtime 0: the same corpus, the same bytes
        stream.write(payload.encode("utf-8"))


def evaluate(rows: list[dict[str, Any]]) -> None:
    from portal.safety import detection

    def detect(text: str, **options: Any) -> bool:
        return detection.detect_adverse_event(text, products=PRODUCTS, **options).flagged

    positives = [r for r in rows if r["ae"]]
    negatives = [r for r in rows if not r["ae"]]

    def line(label: str, flags: dict[str, bool]) -> str:
        recall = sum(flags[r["id"]] for r in positives) / len(positives)
        false = sum(flags[r["id"]] for r in negatives) / len(negatives)
        return f"| {label} | {recall:.3f} | {false:.3f} |"

    print(f"Leave one corpus file out, {len(rows)} dev texts ({len(positives)} adverse events)\n")
    print("| reader | recall | false positives |\n|---|---|---|")
    print(line("rules alone", {r["id"]: detect(r["text"], second_reader=False) for r in rows}))
    settings = [(t, v) for t in (0.4, 0.5, 0.6, 0.7) for v in (0.0, 0.1, 0.2, 0.3)]
    flags: dict[tuple[float, float], dict[str, bool]] = {s: {} for s in settings}
    for held in sorted({r["file"] for r in rows}):
        data = export(fit([r for r in rows if r["file"] != held]), rows)
        for threshold, veto in settings:
            reader = learned.Model.from_data({**data, "threshold": threshold, "veto": veto})
            for row in (r for r in rows if r["file"] == held):
                flags[threshold, veto][row["id"]] = detect(row["text"], reader=reader)
    for (threshold, veto), found in flags.items():
        print(line(f"rules and model, threshold {threshold}, veto {veto}", found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--evaluate", action="store_true", help="leave one file out, no writing")
    args = parser.parse_args(argv)
    rows = load()
    if args.evaluate:
        evaluate(rows)
        return 0
    data = export(fit(rows), rows)
    write(data)
    sizes = ", ".join(f"{len(v)} {k} n-grams" for k, v in data["features"].items())
    print(f"{learned.MODEL_FILE.relative_to(ROOT)}: {data['texts']} texts, {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

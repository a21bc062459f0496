"""Benchmark loaders: each reads one benchmark's released files into `EvalExample`s.

    from evals.loaders import load_benchmark
    examples = load_benchmark("okvqa", Path("data/okvqa/OpenEnded_mscoco_val2014_questions.json"),
                              image_root=Path("data/coco"), limit=50)
    examples = load_benchmark("frozenweb", Path("runs/data"), split="validation")

| name | reads | images |
| --- | --- | --- |
| infoseek | `infoseek_val.jsonl` | `<image_root>/<image_id>.jpg` (OVEN) |
| encyclopedic_vqa | `test.csv` | `<image_root>/<dataset_name>/<image_id>.jpg` |
| simplevqa | parquet or JSON/JSONL | embedded or paths |
| dynvqa | `DynVQA_en.jsonl` | `<image_root>/<basename of image_url>` |
| okvqa | `OpenEnded_mscoco_val2014_questions.json` + annotations | `<image_root>/COCO_val2014_<id:012d>.jpg` |
| aokvqa | `aokvqa_v1p0_val.json` | `<image_root>/<image_id:012d>.jpg` (COCO 2017) |
| mmsearch | parquet or JSON/JSONL (end2end) | embedded or paths |
| livevqa | `benchmark.json` | `<image_root>/<img_path>` |
| frozenweb | a `deepmmsearch data generate` folder | the folder's images |

`image_root` defaults to the data file's folder. Every loader sorts by id and applies `limit` before it checks the
images, so a partial image download serves a small run. The benchmark-specific options are keywords:
`frozenweb` `split` ("test" / "validation"), `simplevqa` `all_languages`, `okvqa` `annotations`, `livevqa`
`levels`. The module docstring of each loader gives its schema and the sources it follows.

Not covered: downloading. The benchmarks are not shipped with this repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.loaders import (
    aokvqa,
    dynvqa,
    encyclopedic_vqa,
    frozenweb,
    infoseek,
    livevqa,
    mmsearch,
    okvqa,
    simplevqa,
)
from evals.records import EvalExample

Loader = Callable[..., list[EvalExample]]
"""`load(path, *, limit=None, image_root=None, **options) -> list[EvalExample]`."""

_MODULES = (infoseek, encyclopedic_vqa, simplevqa, dynvqa, okvqa, aokvqa, mmsearch, livevqa, frozenweb)
BENCHMARKS: dict[str, Loader] = {m.NAME: m.load for m in _MODULES}
LAYOUTS: dict[str, str] = {m.NAME: m.LAYOUT for m in _MODULES}
"""What each loader expects on disk, as its errors say it."""


def load_benchmark(
    name: str, path: Path, limit: int | None = None, image_root: Path | None = None, **options: Any
) -> list[EvalExample]:
    """Load a benchmark's examples, sorted by id.

    Args:
        name: A key of `BENCHMARKS`.
        path: The benchmark's file or folder (see the table in the module docstring).
        limit: Keep the first `limit` examples by id.
        image_root: The folder images are resolved against (default: the data file's folder).
        **options: The loader's own keywords, e.g. `split="validation"` for frozenweb.

    Returns:
        The examples, with absolute image paths that exist.

    Raises:
        ValueError: an unknown benchmark, a bad limit, a missing file or image, or a schema mismatch; the message
            says what is missing or wrong and which file layout is expected.
    """
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{name}: {path} does not exist; expected {LAYOUTS[name]}")
    if image_root is not None and not Path(image_root).is_dir():
        raise ValueError(f"{name}: the image root {image_root} is not a folder; expected {LAYOUTS[name]}")
    return BENCHMARKS[name](path, limit=limit, image_root=None if image_root is None else Path(image_root), **options)

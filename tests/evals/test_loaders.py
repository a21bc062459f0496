"""Benchmark loaders on tiny fixtures written in each benchmark's released schema (the `fake_*` builders).

python -m pytest -q tests/evals/test_loaders.py
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import shutil
from pathlib import Path

import pytest
from PIL import Image

from evals.judge import Gold, RuleJudge
from evals.loaders import BENCHMARKS, load_benchmark
from evals.loaders.common import ImageRef, image_value
from evals.records import EvalExample
from sft.data.pipeline import load_questions
from sft.data.questions import Question

# ---------------------------------------------------------------------------------------------------------------------
# Fakes


def fake_image(path: Path, color: tuple[int, int, int] = (200, 40, 40)) -> Path:
    """A tiny image, its format taken from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def png_bytes(color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def fake_infoseek(root: Path) -> Path:
    """infoseek_val.jsonl (one string, one time and one numerical question), its side files, OVEN images."""
    rows = [
        {
            "data_id": "infoseek_val_00000010",
            "image_id": "oven_00000010",
            "question": "What is the length of this bridge in metre?",
            "answer": ["1280"],
            "answer_eval": [{"wikidata": 1280.0, "range": [1152.0, 1408.0]}],
            "data_split": "val_unseen_question",
        },
        {
            "data_id": "infoseek_val_00000002",
            "image_id": "oven_00000002",
            "question": "What is the date this aircraft took the first flight?",
            "answer": ["1981 September 26"],
            "answer_eval": ["1981 September 26", "26 September 1981"],
            "data_split": "val_unseen_entity",
        },
        {
            "data_id": "infoseek_val_00000001",
            "image_id": "oven_00000001",
            "question": "Who is the founder of this sport?",
            "answer": ["Kanō Jigorō", "Kano Jigoro"],
            "answer_eval": ["Kanō Jigorō", "Jigoro Kano"],
            "data_split": "val_unseen_question",
        },
    ]
    path = write_jsonl(root / "infoseek_val.jsonl", rows)
    write_jsonl(
        root / "infoseek_val_withkb.jsonl",
        [{"data_id": "infoseek_val_00000001", "entity_id": "Q11420", "entity_text": "Judo"}],
    )
    qtypes = {"infoseek_val_00000010": "NUMERICAL", "infoseek_val_00000002": "TIME", "infoseek_val_00000001": "STRING"}
    write_jsonl(root / "infoseek_val_qtype.jsonl", [{"data_id": k, "question_type": v} for k, v in qtypes.items()])
    fake_image(root / "images" / "oven_00000001.jpg")
    fake_image(root / "images" / "oven_00000002.JPEG")
    fake_image(root / "images" / "oven_00000010.png")
    return path


def fake_encyclopedic_vqa(root: Path) -> Path:
    """test.csv with a templated, a multi_answer and a landmark question; images in both layouts."""
    columns = [
        "question",
        "answer",
        "dataset_image_ids",
        "encyclopedic_vqa_split",
        "question_type",
        "wikipedia_url",
        "wikipedia_title",
        "evidence",
        "dataset_name",
        "dataset_category_id",
        "question_original",
    ]
    rows = [
        ["How long is this bird's wingspan?", "20 to 25 cm|22 cm", "a1b2c3|d4e5f6", "test", "templated",
         "https://en.wikipedia.org/wiki/Wren", "Wren", "The wingspan is 20-25 cm.", "inaturalist", "1234", ""],
        ["What colours do its flowers come in?", "red&&blue", "f0e1d2", "test", "multi_answer",
         "https://en.wikipedia.org/wiki/Iris", "Iris", "", "inaturalist", "77", ""],
        ["When was this tower completed?", "1889", "0f1e2d3c4b5a6978", "test", "automatic",
         "https://en.wikipedia.org/wiki/Eiffel_Tower", "Eiffel Tower", "", "landmarks", "42",
         "When was the Eiffel Tower completed?"],
    ]  # fmt: skip
    path = root / "test.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    fake_image(root / "images" / "inaturalist" / "a1b2c3.jpg")
    fake_image(root / "images" / "inaturalist" / "f0e1d2.jpg")
    fake_image(root / "images" / "landmarks" / "0" / "f" / "1" / "0f1e2d3c4b5a6978.jpg")  # the GLDv2 tree
    return path


def fake_simplevqa_rows(root: Path) -> list[dict]:
    """Two English rows (one image embedded as base64, one a path) and one Chinese row."""
    fake_image(root / "imgs" / "one.jpg")
    fake_image(root / "imgs" / "two.png")
    return [
        {
            "data_id": 3,
            "image": base64.b64encode(png_bytes()).decode(),
            "question": "Which painter made this work?",
            "answer": "Claude Monet",
            "language": "EN",
            "original_category": "Art",
            "vqa_category": "entity",
            "source": "https://en.wikipedia.org/wiki/Water_Lilies",
            "atomic_question": "Who painted Water Lilies?",
            "atomic_fact": "Water Lilies is by Claude Monet.",
        },
        {
            "data_id": 1,
            "image": "imgs/one.jpg",
            "question": "In which city is this building?",
            "answer": "Paris",
            "language": "EN",
            "original_category": "Geography",
        },
        {
            "data_id": 2,
            "image": "imgs/two.png",
            "question": "图中建筑位于哪个城市?",
            "answer": "北京",
            "language": "CN",
            "original_category": "地理",
        },
    ]


def fake_dynvqa(root: Path) -> Path:
    """DynVQA_en.jsonl as released (image URLs, zh + en answers, the "gloden_query" key) with downloaded images."""
    base = "https://example.invalid/Freshqa_en_extracted_images"
    rows = [
        {
            "image_url": f"{base}/image_125.jpeg",
            "question": "How many humans have landed on this planet?",
            "question_id": "en10",
            "answer": ["目前还没有人类去过火星。", 0, "零", "No humans have been to Mars yet.", 0, "zero"],
            "gloden_query": "How many humans have landed on Mars?",
        },
        {
            "image_url": f"{base}/image_1.jpeg",
            "question": "Who is the current president of this country?",
            "question_id": "en2",
            "answer": ["娜塔莎·皮尔克·穆萨尔", "Nataša Pirc Musar"],
            "gloden_query": "Who is the current president of Slovenia?",
        },
        {
            "image_url": f"{base}/image_7.jpeg",
            "question": "Who is the highest-paid coach on this TV series?",
            "question_id": "en1",
            "answer": ["阿丽亚娜·格兰德", "Ariana Grande", "Ariana Grande-Butera"],
            "gloden_query": "Who is the highest-paid coach on The Voice?",
        },
    ]
    for name in ("image_125.jpeg", "image_1.jpeg", "image_7.jpeg"):
        fake_image(root / "images" / name)
    return write_jsonl(root / "DynVQA_en.jsonl", rows)


def fake_okvqa(root: Path) -> Path:
    """The OK-VQA val question and annotation files (VQA v2 format) and COCO 2014 images under val2014/."""
    questions = {
        "data_subtype": "val2014",
        "questions": [
            {"image_id": 297147, "question": "What sport can you use this for?", "question_id": 2971475},
            {"image_id": 1000, "question": "What is the brand of this phone?", "question_id": 10005},
        ],
    }

    def answers(pairs: list[tuple[str, str]]) -> list[dict]:
        return [
            {"answer_id": i, "raw_answer": raw, "answer_confidence": "yes", "answer": stem}
            for i, (stem, raw) in enumerate(pairs, 1)
        ]

    race = [("race", "racing")] * 6 + [("drag race", "drag racing")] * 3 + [("speed", "speed")]
    phone = [("nokia", "Nokia"), ("samsung", "Samsung")] * 2 + [(x, x) for x in ("lg", "htc", "apple", "sony")]
    phone += [("nokia", "nokia"), ("motorola", "Motorola")]
    annotations = {
        "annotations": [
            {"question_id": 2971475, "image_id": 297147, "question_type": "four", "answer_type": "other",
             "answers": answers(race), "confidence": 3},
            {"question_id": 10005, "image_id": 1000, "question_type": "two", "answer_type": "other",
             "answers": answers(phone), "confidence": 2},
        ]
    }  # fmt: skip
    fake_image(root / "coco" / "val2014" / "COCO_val2014_000000297147.jpg")
    fake_image(root / "coco" / "val2014" / "COCO_val2014_000000001000.jpg")
    write_json(root / "mscoco_val2014_annotations.json", annotations)
    return write_json(root / "OpenEnded_mscoco_val2014_questions.json", questions)


def fake_aokvqa(root: Path) -> Path:
    """aokvqa_v1p0_val.json with two questions; COCO 2017 images flat and under val2017/."""
    rows = [
        {
            "split": "val",
            "image_id": 461751,
            "question_id": "22jbM6gDxdaMaunuzgrsBB",
            "question": "What is in the motorcyclist's mouth?",
            "choices": ["toothpick", "food", "popsicle stick", "cigarette"],
            "correct_choice_idx": 3,
            "direct_answers": ["cigarette"] * 9 + ["cigar"],
            "difficult_direct_answer": False,
            "rationales": ["He's smoking while riding."],
        },
        {
            "split": "val",
            "image_id": 123,
            "question_id": "1EEbRWxJ6eXdT4cuBwdAbE",
            "question": "What season is it?",
            "choices": ["summer", "winter", "spring", "fall"],
            "correct_choice_idx": 1,
            "direct_answers": ["winter"] * 4 + ["fall"] * 3 + ["autumn"] * 2 + ["spring"],
            "difficult_direct_answer": True,
            "rationales": [],
        },
    ]
    fake_image(root / "coco" / "000000461751.jpg")
    fake_image(root / "coco" / "val2017" / "000000000123.jpg")
    return write_json(root / "aokvqa_v1p0_val.json", rows)


def fake_mmsearch(root: Path) -> Path:
    """end2end.jsonl: two image queries and one text-only query."""
    fake_image(root / "query_images" / "news_1.png")
    fake_image(root / "query_images" / "knowledge_0.jpg")
    rows = [
        {
            "sample_id": "news_1",
            "query": "When was the phone in the image released?",
            "query_image": "query_images/news_1.png",
            "gt_answer": "September 2024",
            "alternative_gt_answers": ["2024-09"],
            "area": "news",
            "subfield": "technology",
            "gt_requery": "release date of the phone",
            "timestamp": "2024-09",
        },
        {
            "sample_id": "news_0",
            "query": "Who won the 2024 Tour de France?",
            "query_image": None,
            "gt_answer": "Tadej Pogačar",
            "alternative_gt_answers": [],
            "area": "news",
            "subfield": "sports",
        },
        {
            "sample_id": "knowledge_0",
            "query": "What is the name of this mountain?",
            "query_image": "query_images/knowledge_0.jpg",
            "gt_answer": "K2",
            "alternative_gt_answers": None,
            "area": "knowledge",
            "subfield": "geography",
        },
    ]
    return write_jsonl(root / "end2end.jsonl", rows)


def fake_livevqa(root: Path) -> Path:
    """A News benchmark.json with two items (level-1 and level-2 questions), images beside it."""
    fake_image(root / "News_imgs" / "cnn_ba72.jpg")
    fake_image(root / "News_imgs" / "bbc_9cae.png")
    items = [
        {
            "id": "0_20250507132827113360",
            "img_path": "cnn_ba72.jpg",
            "level1_qa": {
                "question": "Based on the provided image, what event is taking place?",
                "question_type": "event",
                "options": ["A. 2024 Democratic National Convention", "B. CBS News vice presidential debate"],
                "Ground_Truth": "B",
                "Ground_Truth_List": ["CBS News vice presidential debate", "CBS vice presidential debate"],
                "img_path": "cnn_ba72.jpg",
                "img_url": "https://media.example.invalid/debate.jpg",
            },
            "level2_qa": {
                "question": "How many clean energy jobs were announced, according to the group cited?",
                "question_type": "count",
                "options": ["A. 312,900", "B. 109,000"],
                "Ground_Truth": "B",
                "Ground_Truth_List": ["109,000"],
                "img_path": "cnn_ba72.jpg",
                "img_url": "https://media.example.invalid/debate.jpg",
            },
            "source": "CNN World",
            "time": "2024-10-02T01:38:01.679Z",
        },
        {
            "id": "0_20250429164247179897",
            "img_path": "bbc_9cae.png",
            "level1_qa": {
                "question": "Based on the provided image, who is performing on stage?",
                "question_type": "person",
                "options": ["A. Dave Smith", "B. John Williams"],
                "Ground_Truth": "A",
                "Ground_Truth_List": [],
                "img_path": "bbc_9cae.png",
                "img_url": "",
            },
            "level2_qa": {
                "question": "Which organization did the man in the image work with in 2021?",
                "question_type": "organization",
                "options": ["A. WHO", "B. University of Bristol"],
                "Ground_Truth": "B",
                "Ground_Truth_List": ["University of Bristol", "the University of Bristol"],
                "img_path": "bbc_9cae.png",
                "img_url": "",
            },
            "source": "BBC Health",
            "time": "2025-04-29T05:19:56.004Z",
        },
    ]
    return write_json(root / "News_imgs" / "benchmark.json", items)


def ids(examples: list[EvalExample]) -> list[str]:
    return [ex.id for ex in examples]


def assert_images_exist(examples: list[EvalExample]) -> None:
    for ex in examples:
        assert Path(ex.image).is_absolute() and Path(ex.image).is_file(), ex.image


# ---------------------------------------------------------------------------------------------------------------------
# Registry


def test_registry_names_every_benchmark_of_the_records():
    names = {"infoseek", "encyclopedic_vqa", "simplevqa", "dynvqa", "okvqa", "aokvqa", "mmsearch", "livevqa"}
    assert set(BENCHMARKS) == names | {"frozenweb"}


def test_registry_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown benchmark 'vqav2'; expected one of infoseek"):
        load_benchmark("vqav2", tmp_path)
    with pytest.raises(ValueError, match=r"infoseek: .*nowhere\.jsonl does not exist; expected an InfoSeek JSONL"):
        load_benchmark("infoseek", tmp_path / "nowhere.jsonl")
    with pytest.raises(ValueError, match="limit must be at least 1"):
        load_benchmark("infoseek", tmp_path, limit=0)
    with pytest.raises(ValueError, match="image root .* is not a folder"):
        load_benchmark("infoseek", fake_infoseek(tmp_path), image_root=tmp_path / "no-images")


def test_image_fields_as_paths_base64_and_structs(tmp_path: Path):
    data = next(d for c in range(256) if "/" in base64.b64encode(d := png_bytes((c, 0, 0))).decode())
    b64 = base64.b64encode(data).decode()  # contains a "/", which must not make it a path
    cache = tmp_path / "cache"
    assert image_value("imgs/one.jpg", tmp_path, cache) == ImageRef(paths=(tmp_path / "imgs/one.jpg",))
    assert image_value("photo", tmp_path, cache) == ImageRef(paths=(tmp_path / "photo",))  # not an image as base64
    assert image_value(b64, tmp_path, cache) == ImageRef(data=data, cache=cache)
    assert image_value(f"data:image/png;base64,{b64}", tmp_path, cache) == ImageRef(data=data, cache=cache)
    assert image_value({"bytes": data, "path": "x.png"}, tmp_path, cache) == ImageRef(data=data, cache=cache)
    assert image_value({"bytes": None, "path": "x.png"}, tmp_path, cache) == ImageRef(paths=(tmp_path / "x.png",))
    assert image_value(None, tmp_path, cache) is None and image_value("", tmp_path, cache) is None


# ---------------------------------------------------------------------------------------------------------------------
# InfoSeek


def test_infoseek_parses_answers_ranges_and_side_files(tmp_path: Path):
    path = fake_infoseek(tmp_path)
    examples = load_benchmark("infoseek", path, image_root=tmp_path / "images")
    assert ids(examples) == ["infoseek_val_00000001", "infoseek_val_00000002", "infoseek_val_00000010"]
    judo, flight, bridge = examples
    assert judo.gold == Gold("Kanō Jigorō", ("Jigoro Kano",))  # "Kano Jigoro" is the same answer once normalised
    assert judo.meta["entity_text"] == "Judo" and judo.category == "string"
    assert flight.gold == Gold("1981 September 26", ("26 September 1981",))
    assert bridge.gold.numeric == pytest.approx(1280.0) and bridge.gold.tolerance == pytest.approx(0.1)
    assert bridge.meta["range"] == [1152.0, 1408.0] and bridge.category == "numerical"
    judge = RuleJudge()
    assert judge.judge(bridge.question, "about 1,400 m", bridge.gold).correct
    assert not judge.judge(bridge.question, "1,500", bridge.gold).correct
    assert [Path(ex.image).name for ex in examples] == ["oven_00000001.jpg", "oven_00000002.JPEG", "oven_00000010.png"]
    assert_images_exist(examples)
    assert all(ex.benchmark == "infoseek" for ex in examples)


def test_infoseek_limit_applies_before_the_image_check(tmp_path: Path):
    path = fake_infoseek(tmp_path)
    (tmp_path / "images" / "oven_00000010.png").unlink()
    assert ids(load_benchmark("infoseek", path, limit=2, image_root=tmp_path / "images")) == [
        "infoseek_val_00000001",
        "infoseek_val_00000002",
    ]
    with pytest.raises(ValueError, match=r"1 of 3 images are missing, e\.g\. infoseek_val_00000010 \(.*oven_00000010"):
        load_benchmark("infoseek", path, image_root=tmp_path / "images")


def test_infoseek_schema_errors(tmp_path: Path):
    write_jsonl(tmp_path / "bad.jsonl", [{"data_id": "x", "image_id": "y", "answer": ["a"], "answer_eval": ["a"]}])
    with pytest.raises(ValueError, match=r"line 1 of .*bad\.jsonl does not match the schema \(question: Field requ"):
        load_benchmark("infoseek", tmp_path / "bad.jsonl")
    write_jsonl(tmp_path / "infoseek_test.jsonl", [{"data_id": "x", "image_id": "y", "question": "q?"}])
    with pytest.raises(ValueError, match="test split is unlabelled"):
        load_benchmark("infoseek", tmp_path / "infoseek_test.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"data_id": "x"\n')
    with pytest.raises(ValueError, match="line 1 of .* is not JSON"):
        load_benchmark("infoseek", tmp_path / "broken.jsonl")


# ---------------------------------------------------------------------------------------------------------------------
# Encyclopedic-VQA


def test_encyclopedic_vqa_parses_answers_and_image_layouts(tmp_path: Path):
    path = fake_encyclopedic_vqa(tmp_path)
    examples = load_benchmark("encyclopedic_vqa", path, image_root=tmp_path / "images")
    assert ids(examples) == ["test-000000", "test-000001", "test-000002"]
    wren, iris, tower = examples
    assert wren.gold == Gold("20 to 25 cm", ("22 cm",))
    assert wren.meta["dataset_image_ids"] == ["a1b2c3", "d4e5f6"] and wren.category == "templated"
    assert Path(wren.image).name == "a1b2c3.jpg"  # the first of the row's images
    assert iris.gold == Gold("red, blue", ("red and blue",))
    assert tower.gold == Gold("1889") and tower.meta["dataset_name"] == "landmarks"
    assert tower.meta["wikipedia_url"] == ["https://en.wikipedia.org/wiki/Eiffel_Tower"]
    assert Path(tower.image).parts[-4:] == ("0", "f", "1", "0f1e2d3c4b5a6978.jpg")
    assert_images_exist(examples)


def test_encyclopedic_vqa_missing_column_and_image(tmp_path: Path):
    path = tmp_path / "val.csv"
    path.write_text("question,answer,dataset_image_ids\nq?,a,x\n")
    with pytest.raises(ValueError, match=r"val\.csv lacks the columns dataset_name; expected an Encyclopedic-VQA CSV"):
        load_benchmark("encyclopedic_vqa", path)
    path = fake_encyclopedic_vqa(tmp_path / "full")
    with pytest.raises(ValueError, match=r"3 of 3 images are missing, e\.g\. test-000000 \(.*inaturalist/a1b2c3\.jpg"):
        load_benchmark("encyclopedic_vqa", path)  # images are under images/, not beside the CSV


# ---------------------------------------------------------------------------------------------------------------------
# SimpleVQA


def test_simplevqa_keeps_english_and_decodes_embedded_images(tmp_path: Path):
    path = write_jsonl(tmp_path / "SimpleVQA.jsonl", fake_simplevqa_rows(tmp_path))
    examples = load_benchmark("simplevqa", path)
    assert ids(examples) == ["1", "3"]
    paris, monet = examples
    assert paris.gold == Gold("Paris") and paris.category == "Geography"
    assert monet.gold == Gold("Claude Monet") and monet.meta["atomic_fact"] == "Water Lilies is by Claude Monet."
    assert Path(monet.image) == (tmp_path / "simplevqa_images" / "3.png").resolve()
    assert Path(monet.image).read_bytes() == png_bytes()
    assert_images_exist(examples)
    everything = load_benchmark("simplevqa", path, all_languages=True)
    assert ids(everything) == ["1", "2", "3"] and everything[1].gold == Gold("北京")


def test_simplevqa_reads_the_parquet_release(tmp_path: Path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        {"data_id": 7, "image": {"bytes": png_bytes(), "path": "7.png"}, "question": "What animal is this?",
         "answer": "Red panda", "language": "EN", "original_category": "Nature"},
        {"data_id": 8, "image": {"bytes": png_bytes((0, 0, 0)), "path": None}, "question": "这是什么动物?",
         "answer": "小熊猫", "language": "CN", "original_category": "自然"},
    ]  # fmt: skip
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "test-00000-of-00001.parquet")
    examples = load_benchmark("simplevqa", tmp_path / "data", image_root=tmp_path / "data")
    assert ids(examples) == ["7"] and examples[0].gold == Gold("Red panda")
    assert Path(examples[0].image).read_bytes() == png_bytes()


def test_simplevqa_schema_error(tmp_path: Path):
    rows = fake_simplevqa_rows(tmp_path)
    del rows[1]["answer"]
    with pytest.raises(ValueError, match=r"record 2 of .* does not match the schema \(answer: Field required"):
        load_benchmark("simplevqa", write_jsonl(tmp_path / "SimpleVQA.jsonl", rows))


# ---------------------------------------------------------------------------------------------------------------------
# DynVQA


def test_dynvqa_reads_the_release_with_downloaded_images(tmp_path: Path):
    path = fake_dynvqa(tmp_path)
    examples = load_benchmark("dynvqa", path, image_root=tmp_path / "images")
    assert ids(examples) == ["en1", "en2", "en10"]  # numeric order, not string order
    coach, president, mars = examples
    assert coach.gold == Gold("Ariana Grande", ("Ariana Grande-Butera", "阿丽亚娜·格兰德"))
    assert president.gold.answer == "Nataša Pirc Musar"
    # English answers first; "zero" repeats "0" once normalised
    assert mars.gold == Gold("0", ("No humans have been to Mars yet.", "目前还没有人类去过火星。", "零"))
    assert mars.meta["golden_query"] == "How many humans have landed on Mars?" and mars.meta["language"] == "en"
    assert Path(mars.image).name == "image_125.jpeg"
    assert_images_exist(examples)


def test_dynvqa_simple_variant_and_missing_image(tmp_path: Path):
    fake_image(tmp_path / "a.jpg")
    rows = [{"id": 1, "question": "Who is the CEO of this company?", "answer": "Tim Cook", "image": "a.jpg"}]
    (ex,) = load_benchmark("dynvqa", write_json(tmp_path / "dyn.json", rows))
    assert ex.id == "1" and ex.gold == Gold("Tim Cook") and Path(ex.image) == (tmp_path / "a.jpg").resolve()
    with pytest.raises(ValueError, match="1 duplicate ids in .*dup.json, e.g. '1'"):
        load_benchmark("dynvqa", write_json(tmp_path / "dup.json", rows * 2))
    with pytest.raises(ValueError, match=r"3 of 3 images are missing, e\.g\. en1 \(.*image_7\.jpeg\)"):
        load_benchmark("dynvqa", fake_dynvqa(tmp_path / "release"))  # the images are in images/, not beside it


# ---------------------------------------------------------------------------------------------------------------------
# OK-VQA


def test_okvqa_gold_follows_the_vqa_rule(tmp_path: Path):
    path = fake_okvqa(tmp_path)
    examples = load_benchmark("okvqa", path, image_root=tmp_path / "coco")
    assert ids(examples) == ["10005", "2971475"]
    phone, sport = examples
    # racing: 6 votes (the gold, raw form first); drag racing: 3 votes (full VQA credit, an alias); speed: 1 (not)
    assert sport.gold == Gold("racing", ("race", "drag racing", "drag race"))
    assert sport.meta["answer_counts"] == {"racing": 6, "drag racing": 3, "speed": 1}
    assert sport.category == "four" and sport.meta["image_id"] == 297147
    # Nokia: 3 votes (the gold), Samsung: 2 (partial VQA credit only, so not an alias)
    assert phone.gold == Gold("Nokia")  # "nokia" is the same answer once normalised
    assert Path(sport.image).name == "COCO_val2014_000000297147.jpg"
    assert_images_exist(examples)
    assert ids(load_benchmark("okvqa", tmp_path, image_root=tmp_path / "coco")) == ids(examples)  # a folder works too


def test_okvqa_missing_annotation_file(tmp_path: Path):
    path = fake_okvqa(tmp_path)
    (tmp_path / "mscoco_val2014_annotations.json").unlink()
    with pytest.raises(ValueError, match=r"no annotation file mscoco_val2014_annotations\.json next to OpenEnded_"):
        load_benchmark("okvqa", path, image_root=tmp_path / "coco")


def test_okvqa_wrong_schema(tmp_path: Path):
    path = fake_okvqa(tmp_path)
    write_json(tmp_path / "mscoco_val2014_annotations.json", {"annotations": [{"question_id": 10005}]})
    with pytest.raises(ValueError, match=r"annotation 1 of .* does not match the schema \(answers: Field required"):
        load_benchmark("okvqa", path, image_root=tmp_path / "coco")
    write_json(tmp_path / "mscoco_val2014_annotations.json", [])
    with pytest.raises(ValueError, match="needs a 'questions' list"):
        load_benchmark("okvqa", path, image_root=tmp_path / "coco")


# ---------------------------------------------------------------------------------------------------------------------
# A-OKVQA


def test_aokvqa_gold_from_direct_answers(tmp_path: Path):
    path = fake_aokvqa(tmp_path)
    examples = load_benchmark("aokvqa", path, image_root=tmp_path / "coco")
    assert ids(examples) == ["1EEbRWxJ6eXdT4cuBwdAbE", "22jbM6gDxdaMaunuzgrsBB"]
    season, smoke = examples
    assert season.gold == Gold("winter", ("fall",))  # autumn (2 votes) and spring (1) lack full VQA credit
    assert season.meta["correct_choice"] == "winter" and season.meta["difficult_direct_answer"]
    assert smoke.gold == Gold("cigarette") and smoke.meta["answer_counts"] == {"cigarette": 9, "cigar": 1}
    assert Path(smoke.image).name == "000000461751.jpg" and Path(season.image).parent.name == "val2017"
    assert_images_exist(examples)


def test_aokvqa_test_split_is_refused(tmp_path: Path):
    rows = [{"split": "test", "image_id": 1, "question_id": "q", "question": "Why?", "choices": ["a", "b"]}]
    with pytest.raises(ValueError, match="no direct_answers .*unlabelled"):
        load_benchmark("aokvqa", write_json(tmp_path / "aokvqa_v1p0_test.json", rows))


# ---------------------------------------------------------------------------------------------------------------------
# MMSearch


def test_mmsearch_skips_text_only_queries(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = fake_mmsearch(tmp_path)
    with caplog.at_level(logging.INFO, logger="evals.loaders.mmsearch"):
        examples = load_benchmark("mmsearch", path)
    assert "skipped 1 text-only queries (no query_image) of 3" in caplog.text
    assert ids(examples) == ["knowledge_0", "news_1"]
    mountain, phone = examples
    assert mountain.gold == Gold("K2") and mountain.category == "knowledge"
    assert phone.gold == Gold("September 2024", ("2024-09",)) and phone.meta["subfield"] == "technology"
    assert_images_exist(examples)


# ---------------------------------------------------------------------------------------------------------------------
# LiveVQA


def test_livevqa_release_gives_two_levels_per_item(tmp_path: Path):
    path = fake_livevqa(tmp_path)
    examples = load_benchmark("livevqa", path)
    assert ids(examples) == [
        "0_20250429164247179897:L1",
        "0_20250429164247179897:L2",
        "0_20250507132827113360:L1",
        "0_20250507132827113360:L2",
    ]
    singer, org, debate, jobs = examples
    assert singer.gold == Gold("Dave Smith")  # empty Ground_Truth_List: the text of option A
    assert org.gold == Gold("University of Bristol") and org.category == "organization"
    assert debate.gold == Gold("CBS News vice presidential debate", ("CBS vice presidential debate",))
    assert jobs.gold == Gold("109,000") and jobs.meta["level"] == 2 and jobs.meta["source"] == "CNN World"
    assert Path(debate.image).name == "cnn_ba72.jpg"
    assert_images_exist(examples)
    assert ids(load_benchmark("livevqa", path, levels=(1,))) == [ids(examples)[0], ids(examples)[2]]


def test_livevqa_simple_variant_and_schema_error(tmp_path: Path):
    fake_image(tmp_path / "x.jpg")
    rows = [{"id": "n1", "question": "Who is this?", "answer": ["Dave Smith"], "image": "x.jpg", "topic": "person"}]
    (ex,) = load_benchmark("livevqa", write_jsonl(tmp_path / "live.jsonl", rows))
    assert ex.gold == Gold("Dave Smith") and ex.category == "person"
    with pytest.raises(ValueError, match=r"record 1 .* does not match the schema \(level1_qa\.question: Field requi"):
        load_benchmark("livevqa", write_json(tmp_path / "bad.json", [{"id": 1, "img_path": "x.jpg", "level1_qa": {}}]))


# ---------------------------------------------------------------------------------------------------------------------
# Frozen web (a real generated folder)


@pytest.mark.parametrize("split", ["validation", "test"])
def test_frozenweb_loads_a_generated_split(frozenweb_data: Path, split: str):
    questions = {q.id: q for q in load_questions(frozenweb_data, split)}
    examples = load_benchmark("frozenweb", frozenweb_data, split=split)
    assert sorted(ids(examples)) == sorted(questions) and len(examples) > 0
    for ex in examples:
        q = questions[ex.id]
        assert ex.benchmark == "frozenweb" and ex.question == q.question
        assert ex.gold == Gold(q.answer, tuple(q.aliases), q.numeric, q.tolerance)
        assert (ex.category, ex.search_type) == (q.category, q.search_type)
        assert Question.from_dict(ex.meta["question"]) == q
        assert Path(ex.image) == (frozenweb_data / q.image).resolve()
    assert_images_exist(examples)
    assert ids(load_benchmark("frozenweb", frozenweb_data, split=split, limit=1)) == ids(examples)[:1]


def test_frozenweb_errors(frozenweb_data: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="unknown split 'train'"):
        load_benchmark("frozenweb", frozenweb_data, split="train")
    with pytest.raises(ValueError, match="frozenweb: no attempts.jsonl in .*; expected a DeepMMSearchVQA folder"):
        load_benchmark("frozenweb", tmp_path)
    write_jsonl(tmp_path / "attempts.jsonl", [{"id": "q0", "use": "sft", "split": "train"}])
    with pytest.raises(ValueError, match="no test questions in .*eval_n=0"):
        load_benchmark("frozenweb", tmp_path)


def test_frozenweb_missing_image(frozenweb_data: Path, tmp_path: Path):
    copy = tmp_path / "data"
    shutil.copytree(frozenweb_data, copy)
    first = load_benchmark("frozenweb", copy, split="validation")[0]
    (copy / first.meta["question"]["image"]).unlink()
    with pytest.raises(ValueError, match=rf"images are missing, e\.g\. {first.id} "):
        load_benchmark("frozenweb", copy, split="validation")

"""The zero-shot families end to end on the tiny suite: retrieval, zero-shot classification and
multiple choice with the tiny LvT model (released towers) and with a LiT tower trained here.

Each run goes from the tiny subset's official-format annotation files to a result JSON; the
prediction files it writes are rescored with ``vpbench.metrics.score_files`` (the code
``vpbench score`` runs) and must give the same numbers.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import MissingDependencyError, RegistryError, VpbenchError
from vpbench.families import RunContext, run_task
from vpbench.registry import load_registry
from vpbench.results import build_result, load_results, result_filename, write_result
from vpbench.tiny import default_tiny_root, make_tiny, tiny_user_files

ZEROSHOT_TASKS = ("msrvtt-retrieval", "vatex-retrieval", "activitynet-retrieval", "k400-zeroshot", "k600-zeroshot",
                  "ssv2-temporal-zeroshot", "ssv2-events-zeroshot", "charades-zeroshot", "nextqa-atp-hard-zeroshot",
                  "charades-sta-zeroshot")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("zeroshot-results")


def _context(name: str, out_dir: Path, *, model: str = "tiny-lvt", tiny: bool = True, **options) -> RunContext:
    task = load_registry().task(name).for_tiny()
    root = make_tiny(task, default_tiny_root() / name, seed=0)
    folder = "__".join([name, model, *(f"{k}-{Path(v).name}" for k, v in sorted(options.items()))])
    return RunContext(data_root=root, output_dir=out_dir / folder, model=model, tiny=tiny,
                      user_files=tiny_user_files(task, root), workers=0, options=dict(options))


@functools.lru_cache(maxsize=None)
def _run(name: str, out_dir: Path, model: str = "tiny-lvt", options: tuple = ()) -> tuple[dict, RunContext]:
    """One run of a tiny task (cached per module: several tests read the same result)."""
    task = load_registry().task(name).for_tiny()
    context = _context(name, out_dir, model=model, **dict(options))
    result = build_result(task, run_task(task, context), seed=0, tiny=True)
    write_result(out_dir / "results", result)
    return result, context


def _rescore(task_name: str, result: dict) -> dict[str, float]:
    """Score the run's written files again through the public metric registry (per class split,
    as ``<key>_<split>``, for a task scored on several)."""
    task = load_registry().task(task_name)
    files = result["extra"]["predictions"]
    if "scores" not in files and "embeddings" not in files:
        return {f"{key}_{name}": value for name, split_files in files.items()
                for key, value in _rescore_files(task, split_files).items()}
    return _rescore_files(task, files)


def _rescore_files(task, files: dict) -> dict[str, float]:
    predictions, references = (files["embeddings"], files["caption_to_video"]) if "embeddings" in files else (
        files["scores"], files["references"])
    rescored = {}
    for metric in task.metrics:
        options = {"v2t": metric["options"]["v2t"]} if metric["name"] == "retrieval" else {}
        out = metrics.score_files(metric["name"], predictions, references, **options)
        rescored.update({k: out[k] for k in metric["keys"] if k in out})
    return rescored


@pytest.mark.parametrize("name", ZEROSHOT_TASKS)
def test_every_zeroshot_task_runs_on_the_tiny_suite(name, out_dir):
    result, _ = _run(name, out_dir)
    task = load_registry().task(name)
    assert set(result["benchmarks"]) == set(task.benchmarks) and len(task.benchmarks) in (1, 2)
    assert all(0.0 <= v <= 100.0 for v in result["benchmarks"].values())
    assert result["counts"]["evaluated"] > 0 and result["tiny"] is True
    assert result["adapter"]["text_tower"] == "released" and result["adapter"]["variant"] == "lvt-released"
    spm = Path(__file__).parents[1] / "vpbench" / "models" / "assets" / "test_spm.model"
    assert result["fingerprint"]["tokenizer_sha256"] == hashlib.sha256(spm.read_bytes()).hexdigest()
    assert result["fingerprint"]["features"]["layout"] == "embedding"
    assert result["fingerprint"]["splits"]["eval"]["samples_used"] >= result["counts"]["evaluated"]
    rescored = _rescore(name, result)
    assert rescored and all(result["scores"][k] == pytest.approx(v, abs=1e-9) for k, v in rescored.items())
    assert any(r["task"] == name for r in load_results(out_dir / "results"))


def test_retrieval_text_rows_are_the_readers_captions_in_order(out_dir):
    """The written text embeddings are the LvT text tower on each sample's caption, video by video."""
    import vpbench
    from vpbench.datasets import read_split
    from vpbench.models.zoo import load_tokenizer

    result, context = _run("vatex-retrieval", out_dir)
    task = load_registry().task("vatex-retrieval").for_tiny()
    split = read_split(task, context.data_root, task.dataset["eval_split"], context.user_files)
    with np.load(result["extra"]["predictions"]["embeddings"], allow_pickle=False) as archive:
        texts, video_ids = archive["text_embeddings"], archive["video_ids"]
    assert list(video_ids) == [s.sample_id for s in split.available]
    captions = [c for s in split.available for c in s.captions]
    assert result["counts"]["captions"] == len(captions) == 10 * len(video_ids)  # all 10 English captions
    owner = np.loadtxt(result["extra"]["predictions"]["caption_to_video"], dtype=np.int64)
    np.testing.assert_array_equal(owner, np.repeat(np.arange(len(video_ids)), 10))
    model = vpbench.load_model("tiny-lvt")
    expected = model.encode_text(*load_tokenizer("tiny-lvt")(captions)).numpy()
    np.testing.assert_allclose(texts, expected, atol=1e-5)


def test_activitynet_paragraphs_and_msrvtt_full_split(out_dir):
    paragraph, _ = _run("activitynet-retrieval", out_dir)
    assert paragraph["counts"]["captions"] == paragraph["counts"]["videos"]  # one paragraph per video
    assert any("paragraph" in note for note in paragraph["notes"])
    full, _ = _run("msrvtt-retrieval", out_dir, options=(("eval_split", "test_full"),))
    assert full["fingerprint"]["eval_split"] == "test_full"
    assert full["counts"]["captions"] > full["counts"]["videos"]
    with pytest.raises(RegistryError, match="can evaluate"):
        _run("msrvtt-retrieval", out_dir, options=(("eval_split", "train_9k"),))


def test_second_run_reuses_features_and_text_embeddings(out_dir, tmp_path):
    first, _ = _run("msrvtt-retrieval", out_dir)
    task = load_registry().task("msrvtt-retrieval").for_tiny()
    record = run_task(task, _context("msrvtt-retrieval", tmp_path))
    assert record.counts["features"]["eval"]["cache_misses"] == 0
    assert record.counts["text_embeddings"] == {"cached": record.counts["captions"], "computed": 0}
    assert record.scores == first["scores"]


def test_lit_tower_learns_the_tiny_captions_and_shuffled_captions_do_not(out_dir):
    """VideoPrism-B-like encoder-only tiny model: a LiT text tower is trained on the tiny MSR-VTT 9k
    captions (which describe the pixels) and evaluated on the held-out 1k-A test videos (24: chance
    R@1 4.2 %, chance mean rank 12.5). Measured: R@1 33 %, mean rank 2.9; shuffled control 11.4."""
    lit, context = _run("msrvtt-retrieval", out_dir, model="tiny", options=(("text_tower", "lit"),))
    chance = 100.0 / lit["counts"]["videos"]  # 24 test videos
    assert lit["adapter"]["text_tower"] == "lit" and lit["adapter"]["variant"] == "lit-msrvtt-retrieval"
    data = lit["adapter"]["lit"]["data"]
    assert (data["task"], data["split"], data["shuffled_captions"]) == ("msrvtt-retrieval", "train_9k", False)
    assert lit["fingerprint"]["features"]["layout"] == "frame_pooled"
    assert lit["adapter"]["lit"]["selection"]["holdout_items"] > 0
    task = load_registry().task("msrvtt-retrieval").for_tiny()
    from vpbench.datasets import read_split

    train = {s.video_id for s in read_split(task, context.data_root, "train_9k", {}).samples}
    test = {s.video_id for s in read_split(task, context.data_root, "test_1k", {}).samples}
    assert train and test and not train & test
    chance_mean_rank = (lit["counts"]["videos"] + 1) / 2
    assert lit["scores"]["t2v_R@1"] >= 4 * chance and lit["scores"]["v2t_R@1"] >= 4 * chance, lit["scores"]
    assert lit["scores"]["t2v_MnR"] < 0.5 * chance_mean_rank, lit["scores"]

    control, _ = _run("msrvtt-retrieval", out_dir, model="tiny",
                      options=(("shuffle_train_labels", "true"), ("text_tower", "lit")))
    assert control["adapter"]["variant"] == "lit-msrvtt-retrieval-shuffled-captions"
    assert control["adapter"]["lit"]["data"]["shuffled_captions"] is True
    # Mean rank is the steady statistic on 24 videos (R@1 of a random tower swings by 1-2 hits).
    assert control["scores"]["t2v_MnR"] > 0.6 * chance_mean_rank, control["scores"]
    assert control["scores"]["v2t_MnR"] > 0.6 * chance_mean_rank, control["scores"]
    assert control["scores"]["t2v_R@5"] < lit["scores"]["t2v_R@5"] - 30, (control["scores"], lit["scores"])


def test_lit_tower_serves_classification_and_can_be_given(out_dir):
    trained, _ = _run("k400-zeroshot", out_dir, model="tiny", options=(("text_tower", "lit"),))
    lit = trained["adapter"]["lit"]
    assert lit["data"]["task"] == "msrvtt-retrieval" and lit["source"] in ("trained", "cache")
    given, _ = _run("k600-zeroshot", out_dir, model="tiny",
                    options=(("lit_tower", lit["path"]), ("text_tower", "lit")))
    assert given["adapter"]["lit"]["source"] == "given" and given["adapter"]["text_tower"] == "lit"
    with pytest.raises(VpbenchError, match="trained with model_checkpoint_sha256"):  # another encoder
        _run("k600-zeroshot", out_dir, options=(("lit_tower", lit["path"]), ("text_tower", "lit")))


def test_encoder_only_checkpoint_needs_a_lit_tower(out_dir):
    from vpbench.models.zoo import resolve_checkpoint

    with pytest.raises(VpbenchError, match="text_tower=lit"):
        _run("charades-sta-zeroshot", out_dir, model="tiny")
    with pytest.raises(VpbenchError, match="was not trained here"):  # a checkpoint file has no control twin
        _run("charades-sta-zeroshot", out_dir, model=str(resolve_checkpoint("tiny-lvt")),
             options=(("shuffle_train_labels", "true"),))


def test_shuffle_control_runs_the_models_control_twin(out_dir):
    """tiny-lvt was trained here, so its control is the same recipe with captions permuted against
    clips: the run swaps in that model, says so, and scores at chance (24 videos: R@1 4.2)."""
    real, _ = _run("msrvtt-retrieval", out_dir)
    control, _ = _run("msrvtt-retrieval", out_dir, options=(("shuffle_train_labels", "true"),))
    assert control["model"]["name"] == "tiny-lvt-shuffled-captions"
    assert control["adapter"]["variant"] == "lvt-released-shuffled-captions"
    assert control["fingerprint"]["shuffled_train_labels"] is True
    assert real["fingerprint"]["shuffled_train_labels"] is False
    assert real["fingerprint"]["model_recipe"] == "tiny-lvt/v1"
    assert any("CONTROL RUN" in note for note in control["notes"])
    assert control["fingerprint_sha256"] != real["fingerprint_sha256"]
    chance_mean_rank = (control["counts"]["videos"] + 1) / 2
    assert control["scores"]["t2v_MnR"] > 0.6 * chance_mean_rank, control["scores"]
    assert real["scores"]["t2v_MnR"] < 0.5 * chance_mean_rank, real["scores"]


def test_zeroshot_classification_beats_chance_and_needs_aligned_class_embeddings(out_dir, monkeypatch):
    """Tiny K400: 12 colour-shape classes, chance 8.3 %. With each class name given another class's
    text embedding (rolled by half the classes: another colour), the score falls to chance."""
    from vpbench.families import zeroshot_classification

    aligned, _ = _run("k400-zeroshot", out_dir)
    chance = 100.0 / aligned["counts"]["classes"]
    assert aligned["scores"]["top1"] > chance + 20, aligned["scores"]
    original = zeroshot_classification.class_text_embeddings
    monkeypatch.setattr(zeroshot_classification, "class_text_embeddings",
                        lambda embed, names, templates: np.roll(original(embed, names, templates), len(names) // 2, 0))
    task = load_registry().task("k400-zeroshot").for_tiny()
    shifted = run_task(task, _context("k400-zeroshot", out_dir / "misaligned"))
    assert shifted.scores["top1"] <= chance + 5, shifted.scores


def test_multiple_choice_beats_chance_and_needs_aligned_candidates(out_dir, monkeypatch):
    """Charades-STA tiny: with every item's candidates rotated by one against its answer index, the
    accuracy falls to (or below) chance."""
    import dataclasses

    from vpbench.families import multiple_choice

    aligned, _ = _run("charades-sta-zeroshot", out_dir)
    chance = aligned["counts"].get("chance_mc_accuracy", 100.0 / 5)
    assert aligned["scores"]["mc_accuracy"] > chance + 20, aligned["scores"]
    original = multiple_choice.embed_eval_videos

    def rotated(*args, **kwargs):
        videos = original(*args, **kwargs)
        samples = [dataclasses.replace(s, candidates=s.candidates[1:] + s.candidates[:1]) for s in videos.samples]
        return dataclasses.replace(videos, samples=samples)

    monkeypatch.setattr(multiple_choice, "embed_eval_videos", rotated)
    task = load_registry().task("charades-sta-zeroshot").for_tiny()
    shifted = run_task(task, _context("charades-sta-zeroshot", out_dir / "misaligned"))
    assert shifted.scores["mc_accuracy"] <= chance + 5, shifted.scores


def test_missing_tokenizer_names_the_file(out_dir, monkeypatch):
    from vpbench.models.zoo import resolve_checkpoint

    monkeypatch.delenv("VPBENCH_SPM_MODEL", raising=False)
    task = load_registry().task("msrvtt-retrieval").for_tiny()
    context = _context("msrvtt-retrieval", out_dir, model=str(resolve_checkpoint("tiny-lvt")), tiny=False)
    with pytest.raises(MissingDependencyError, match="sentencepiece.model") as error:
        run_task(task, context)
    assert "c4_en" in str(error.value) and "--option tokenizer=" in str(error.value)


def test_prompt_file_is_used_and_recorded(out_dir, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# my ensemble\na video of {}.\n\nsomeone doing {} in a video\n")
    result, _ = _run("k400-zeroshot", out_dir, options=(("prompts", str(prompts)),))
    assert result["adapter"]["prompts"]["templates"] == ["a video of {}.", "someone doing {} in a video"]
    assert result["adapter"]["prompts"]["source"]["sha256"] == hashlib.sha256(prompts.read_bytes()).hexdigest()
    assert result["fingerprint"]["prompts"]["templates"] == result["adapter"]["prompts"]["templates"]
    assert result["counts"]["prompts_per_class"] == 2
    assert [deviation["id"] for deviation in result["protocol"]["deviations"]] == ["prompts-file"]
    default, _ = _run("k400-zeroshot", out_dir)
    templates = default["adapter"]["prompts"]["templates"]
    assert len(templates) == 28 and templates[0] == "a photo of {}." and "a example of a person {}." in templates
    assert default["adapter"]["prompts"]["source"] == {"kind": "task", "file": None, "sha256": None}
    assert default["protocol"]["deviations"] == [] and default["counts"]["prompts_per_class"] == 28
    assert default["fingerprint_sha256"] != result["fingerprint_sha256"]
    # Another experiment than the default run: its result and its files are named apart, nothing overwritten.
    digest = hashlib.sha256(str(prompts).encode()).hexdigest()[:8]
    assert result["fingerprint"]["chosen"] == [f"prompts-{digest}"] and "chosen" not in default["fingerprint"]
    assert result_filename(result) == f"k400-zeroshot+prompts-{digest}__tiny-lvt__lvt-released__seed0.json"
    assert result_filename(default) == "k400-zeroshot__tiny-lvt__lvt-released__seed0.json"
    assert (out_dir / "results" / result_filename(result)).is_file()
    for key, path in result["extra"]["predictions"].items():
        assert f"+prompts-{digest}" in Path(path).name and Path(path).is_file()
        assert Path(default["extra"]["predictions"][key]) != Path(path)
    demo = load_registry().task("k400-zeroshot").with_variant("demo-prompt")
    assert demo.adapter["prompts"] == ["a video of {}."]
    assert [d["id"] for d in demo.protocol_record()["deviations"]] == ["demo-prompt"]

    bad = tmp_path / "bad.txt"
    bad.write_text("a video of {}.\na video of.\n")
    with pytest.raises(RegistryError, match="bad.txt: line 2"):
        _run("k400-zeroshot", out_dir, options=(("prompts", str(bad)),))


def test_class_subset_and_multilabel_are_recorded(out_dir):
    subset, context = _run("ssv2-temporal-zeroshot", out_dir)
    class_list = context.user_files["class_list"]
    listed = [line for line in class_list.read_text().splitlines() if line.strip() and not line.startswith("#")]
    recorded = subset["fingerprint"]["class_subset"]
    assert recorded["num_classes"] == len(listed) == subset["counts"]["classes"]
    assert recorded["user_file_sha256"] == hashlib.sha256(class_list.read_bytes()).hexdigest()
    assert "top5" not in subset["scores"] and any("top5" in note for note in subset["notes"])  # 3 classes

    charades, _ = _run("charades-zeroshot", out_dir)
    assert "mAP" in charades["scores"] and charades["counts"]["skipped"].get("no_label", 0) >= 0
    header = Path(charades["extra"]["predictions"]["references"]).read_text().splitlines()[0]
    assert header == "id,labels"


def test_multiple_choice_scores_each_items_own_candidates(out_dir):
    result, _ = _run("nextqa-atp-hard-zeroshot", out_dir)
    assert result["adapter"]["candidate_template"] == "{question} {answer}"
    assert result["counts"]["candidates_per_question"] == {"5": result["counts"]["evaluated"]}
    assert result["counts"]["chance_mc_accuracy"] == pytest.approx(20.0)
    by_type = result["extra"]["metric"]["by_question_type"]
    assert sum(v["num_items"] for v in by_type.values()) == result["counts"]["evaluated"]
    rows = Path(result["extra"]["predictions"]["scores"]).read_text().splitlines()
    assert rows[0] == "id,c0,c1,c2,c3,c4" and len(rows) == result["counts"]["evaluated"] + 1


def test_candidate_template_and_type_accuracy_rules():
    from vpbench.families.multiple_choice import accuracy_by_type, candidate_template, candidate_text
    from vpbench.datasets import Sample

    task = load_registry().task("charades-sta-zeroshot")
    assert candidate_template(task) == "{answer}"
    assert candidate_text("{question} {answer}", None, "a man opens a door") == "a man opens a door"
    bad = type(task)(**{**task.__dict__, "adapter": {**task.adapter, "candidate_template": "{choice}"}})
    with pytest.raises(RegistryError, match="only"):
        candidate_template(bad)
    samples = [Sample("a", "v", None, candidates=("x", "y"), answer_index=0, question_type="CW"),
               Sample("b", "v", None, candidates=("x", "y"), answer_index=1, question_type="CW"),
               Sample("c", "v", None, candidates=("x", "y"), answer_index=0, question_type="TN")]
    scores = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.3]])  # a right, b a tie (wrong), c wrong
    assert accuracy_by_type(samples, scores) == {"CW": {"mc_accuracy": 50.0, "num_items": 2},
                                                 "TN": {"mc_accuracy": 0.0, "num_items": 1}}


def test_prompt_ensemble_averages_normalised_embeddings_of_distinct_classes():
    """Hand-computed: each template embedding is normalised first (so the long one does not
    dominate), the mean is renormalised, and each class keeps its own embedding."""
    from vpbench.families.zeroshot_classification import class_text_embeddings, softmax

    table = {"a cat": [3.0, 0.0, 0.0], "b cat": [0.0, 1.0, 0.0], "a dog": [0.0, 0.0, 0.5], "b dog": [0.0, 2.0, 0.0]}
    out = class_text_embeddings(lambda texts: np.array([table[t] for t in texts]), ["cat", "dog"], ["a {}", "b {}"])
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(out, [[s, s, 0.0], [0.0, s, s]], atol=1e-6)
    probabilities = softmax(np.array([[1.0, 0.0, -1.0]]) / 0.01)
    assert probabilities.sum() == pytest.approx(1.0) and probabilities[0, 0] > 0.99
    assert json.dumps(out.tolist())  # plain floats, serialisable into results


def test_prompt_ensemble_on_the_tiny_text_tower():
    """The tiny suite's classes through the default CLIP ensemble: the family's class embeddings are
    the renormalised mean of normalised per-template embeddings, and the classes differ."""
    import torch

    import vpbench
    from vpbench.families.zeroshot_classification import class_text_embeddings
    from vpbench.models.zoo import load_tokenizer

    model, tokenizer = vpbench.load_model("tiny-lvt"), load_tokenizer("tiny-lvt")
    templates = load_registry().task("k400-zeroshot").adapter["prompts"]  # the CLIP Kinetics-700 ensemble
    classes = ["red circle", "red square", "blue circle", "green triangle"]

    def raw(texts):  # unnormalised: the ensemble must normalise each template embedding itself
        return model.encode_text(*tokenizer(texts), normalize=False).numpy()

    ensemble = class_text_embeddings(raw, classes, templates)
    for row, name in zip(ensemble, classes):
        each = torch.nn.functional.normalize(torch.from_numpy(raw([t.replace("{}", name) for t in templates])), dim=1)
        expected = torch.nn.functional.normalize(each.mean(0), dim=0).numpy()
        np.testing.assert_allclose(row, expected, atol=1e-5)
    similarity = ensemble @ ensemble.T
    assert similarity[~np.eye(len(classes), dtype=bool)].max() < 0.95, similarity


def test_k600_scores_each_class_split_and_reports_mean_and_std(out_dir):
    """Tiny K600 ships three class splits of 8 of its 12 classes (the real task: ER-ZSAR's three
    160-class splits of the 220 new classes). Each split is scored on its own classes and videos."""
    from vpbench.datasets.class_splits import read_class_splits

    result, context = _run("k600-zeroshot", out_dir)
    splits = read_class_splits(context.user_files["class_splits"]).splits
    scores = result["scores"]
    per_split = [scores[f"top1_{split.name}"] for split in splits]
    assert scores["top1"] == pytest.approx(np.mean(per_split))
    assert scores["top1_std"] == pytest.approx(np.std(per_split))
    assert result["benchmarks"]["k600-zs"] == pytest.approx(scores["top1"])
    assert result["fingerprint"]["class_splits"]["splits"] == {split.name: 8 for split in splits}
    chance = 100.0 / 8
    for split in splits:
        files = result["extra"]["predictions"][split.name]
        header = Path(files["scores"]).read_text().splitlines()[0].split(",")[1:]
        assert header == list(split.classes)  # the split's label space, in the split file's order
        labels = [line.split(",")[1] for line in Path(files["references"]).read_text().splitlines()[1:]]
        assert len(labels) == result["counts"]["evaluated_by_split"][split.name] > 0
        assert all(0 <= int(label) < 8 for label in labels)
        assert scores[f"top1_{split.name}"] > chance + 15, scores
    variant = load_registry().task("k600-zeroshot").with_variant("all-classes")
    assert variant.dataset["eval_split"] == "val" and variant.dataset["options"]["class_splits"] is None


def test_shipped_k600_splits_are_erzsar_s_three_160_class_splits_of_new_classes():
    from vpbench.datasets.class_splits import read_class_splits, shipped_path

    splits = read_class_splits(shipped_path("kinetics600_zeroshot_splits"))
    assert [(s.name, len(s.classes)) for s in splits.splits] == [("split1", 160), ("split2", 160), ("split3", 160)]
    union = set().union(*(s.classes for s in splits.splits))
    assert len(union) == 217  # of the 220 new classes, 3 fall in no test split (only in ER-ZSAR's val splits)
    assert {"acting in play", "zumba"} & union and "abseiling" not in union  # abseiling is a Kinetics-400 class


def test_charades_sta_candidates_are_the_querys_own_video_sentences(out_dir):
    from vpbench.datasets import read_split
    from vpbench.datasets.charades_sta import parse_queries

    result, context = _run("charades-sta-zeroshot", out_dir)
    task = load_registry().task("charades-sta-zeroshot").for_tiny()
    split = read_split(task, context.data_root, "test", context.user_files)
    queries, _ = parse_queries(split.annotation_files[0])
    sentences_of = {}
    for video, _, _, sentence, _ in queries:
        sentences_of.setdefault(video, []).append(sentence)
    assert {len(s.candidates) for s in split.samples} == {2, 3, 4, 5}  # the video with one sentence is left out
    for sample in split.samples:
        assert set(sample.candidates) == set(sentences_of[sample.video_id])
        assert sample.candidates[sample.answer_index] == sample.captions[0]
    assert result["counts"]["evaluated"] == len(queries) - 1
    assert any("left out" in note for note in result["notes"])
    chance = np.mean([1 / len(s.candidates) for s in split.samples]) * 100
    assert result["counts"]["chance_mc_accuracy"] == pytest.approx(chance)
    rows = Path(result["extra"]["predictions"]["scores"]).read_text().splitlines()
    assert rows[0] == "id,c0,c1,c2,c3,c4"
    short = next(row for row in rows[1:] if row.split(",")[0] in
                 {s.sample_id for s in split.samples if len(s.candidates) == 2})
    assert short.split(",")[3:] == ["-2", "-2", "-2"]  # absent candidates can neither win nor tie


def test_vatex_default_gallery_is_the_hgr_test_list(out_dir, tmp_path):
    from vpbench.datasets import read_split
    from vpbench.errors import AnnotationError

    result, context = _run("vatex-retrieval", out_dir)
    assert result["counts"]["videos"] == len(context.user_files["test_ids"].read_text().split())
    task = load_registry().task("vatex-retrieval").for_tiny()
    with pytest.raises(AnnotationError, match="--variant val-3000"):
        read_split(task, context.data_root, "val", {})
    variant = load_registry().task("vatex-retrieval").with_variant("val-3000").for_tiny()
    whole = read_split(variant, context.data_root, "val", {})
    assert len(whole.samples) == 2 * result["counts"]["videos"] and any("whole" in n for n in whole.notes)


def test_multilabel_zeroshot_ranks_raw_similarities(out_dir):
    result, _ = _run("charades-zeroshot", out_dir)
    rows = [line.split(",")[1:] for line in Path(result["extra"]["predictions"]["scores"]).read_text().splitlines()[1:]]
    values = np.array(rows, dtype=float)
    assert np.all(np.abs(values) <= 1.0) and not np.allclose(values.sum(axis=1), 1.0)  # cosines, not a softmax
    assert "raw cosine" in result["adapter"]["scores"] and "softmax_temperature" not in result["fingerprint"]


def test_candidate_scores_pad_items_with_fewer_candidates():
    from vpbench.families.multiple_choice import ABSENT_SCORE, candidate_scores

    videos = np.array([[1.0, 0.0], [0.0, 1.0]])
    texts = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [-1.0, 0.0]])  # item 0: 2, item 1: 3
    scores = candidate_scores(videos, texts, [2, 3])
    np.testing.assert_allclose(scores, [[0.6, 1.0, ABSENT_SCORE], [1.0, 0.6, 0.0]])
    with pytest.raises(VpbenchError, match="5 candidates"):
        candidate_scores(videos, texts[:4], [2, 3])

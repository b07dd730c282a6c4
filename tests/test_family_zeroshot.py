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
from vpbench.results import build_result, load_results, write_result
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
    """Score the run's written files again through the public metric registry."""
    task = load_registry().task(task_name)
    files = result["extra"]["predictions"]
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
    default, _ = _run("k400-zeroshot", out_dir)
    assert default["adapter"]["prompts"] == {"templates": ["a video of {}."], "source": {
        "kind": "task", "file": None, "sha256": None}}
    assert default["fingerprint_sha256"] != result["fingerprint_sha256"]

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
    assert result["counts"]["candidates_per_question"] == 5
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
    templates = ["a video of {}.", "a photo of a person {}.", "a demonstration of a person practicing {}."]
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

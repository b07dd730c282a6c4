"""The VideoGLUE classification tasks resolve to what VideoGLUE's configs state.

Expected values are written from tensorflow/models official/projects/videoglue: the frozen-backbone
YAMLs configs/yaml/vmae/frozen/vc_vmae_vit3d_{k400,mit,sthv2,diving48,charades}.yaml and the code
they run. The VideoPrism paper's input (16 frames at 288 px) replaces VideoGLUE's 224 px.
"""

from __future__ import annotations

import pytest

from vpbench.adapters.classification import probe_spec
from vpbench.families import train_views
from vpbench.families.common import sampling_spec
from vpbench.registry import load_registry

# task: (policy, stride or fps, test clips, test crops, epochs, warm-up steps / steps, flip, classifier L2)
VIDEOGLUE = {
    "k400-probe": ("stride", 4, 4, 3, 150, 4600 / 138101, True, 0.0),
    "mit-probe": ("stride", 4, 4, 3, 50, 7727 / 154550, True, 0.0),
    "ssv2-probe": ("segments", None, 1, 3, 91, 2000 / 60000, False, 0.0),
    "diving48-probe": ("stride", 4, 4, 3, 100, 293 / 5869, True, 5e-5 / 2),
    "charades-probe": ("fps", 6.0, 4, 3, 50, 2044 / 40896, True, 0.0),
}


@pytest.mark.parametrize("name", sorted(VIDEOGLUE))
def test_videoglue_classification_tasks_sample_and_train_as_the_configs_state(name):
    policy, step, clips, crops, epochs, warmup, flip, l2 = VIDEOGLUE[name]
    task = load_registry().task(name)
    spec = sampling_spec(task)
    assert (spec.frames, spec.resolution, spec.policy) == (16, 288, policy)
    assert (spec.stride if policy == "stride" else spec.fps if policy == "fps" else None) == step
    assert (spec.temporal_views, spec.spatial_views, spec.short_side, spec.pad) == (clips, crops, 329, "loop")
    augment = train_views.training_spec(task).augment
    assert (augment.area, augment.aspect, augment.flip) == ((0.3, 1.0), (0.5, 2.0), flip)
    assert train_views.view_count(task) == 4

    probe = probe_spec(task.adapter, 10, seed=0, device="cpu")
    assert [(hp.lr, hp.weight_decay) for hp in probe.grid] == [(1e-4, 1e-5)]
    assert (probe.loop.epochs, probe.loop.batch_size, probe.loop.grad_clip) == (epochs, 256, 1.0)
    assert probe.loop.warmup_fraction == pytest.approx(warmup, abs=5e-4)
    assert (probe.loop.schedule, probe.loop.weight_decay_skips) == ("cosine_from_start", ("bias", "norm"))
    assert probe.classifier_l2 == pytest.approx(l2)
    # Label smoothing 0.1, which VideoGLUE's multi-label (sigmoid) loss does not apply.
    assert probe.label_smoothing == (0.0 if probe.multilabel else 0.1) and probe.multilabel == (name == "charades-probe")
    assert task.protocol["sources"] and "epochs" in task.protocol["sources"]


def test_the_centre_view_variant_trains_without_augmentation_and_says_so():
    task = load_registry().task("k400-probe").with_variant("centre-view")
    assert train_views.view_count(task) == 0
    assert "no-train-augmentation" in task.protocol["deviations"]

"""The NExT-QA video set the two tiny NExT writers share: ids, folders and the one video map.

The multiple-choice and open-ended tasks share the folder ``nextqa`` (videos and
``map_vid_vidorID.json``), but each tiny writer runs on its own. Both therefore write the same
map, covering both writers' videos, from ids that depend on nothing but their position, so
whichever runs second rewrites identical bytes and neither ever reads the other's files.
"""

from __future__ import annotations

from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS

FIRST_ID = {"mc_val": 5_000_000_000, "oe_train": 6_000_000_000, "oe_val": 7_000_000_000}
COUNT = {"mc_val": EVAL_CLIPS, "oe_train": TRAIN_CLIPS, "oe_val": EVAL_CLIPS}


def video_ids(group: str) -> list[str]:
    """The NExT-style numeric video ids of one group of tiny videos."""
    return [str(FIRST_ID[group] + k) for k in range(COUNT[group])]


def folder_of(video_id: str) -> str:
    """``<4-digit folder>/<id>`` as ``map_vid_vidorID.json`` stores it (NExT spreads videos over 0000..1202)."""
    return f"{int(video_id) % 7:04d}/{video_id}"


def video_map() -> dict[str, str]:
    return {video_id: folder_of(video_id) for group in FIRST_ID for video_id in video_ids(group)}

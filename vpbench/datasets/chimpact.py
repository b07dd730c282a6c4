"""Reader for ChimpACT's action track (``dataset.format: chimpact``): AVA-style keyframes of chimpanzees.

The release (ShirleyMaxx/ChimpACT) ships ``videos_full/*.mp4`` and COCO-style labels; its
``scripts/process_data.sh`` turns them into the AVA-style files this reader takes, under
``ChimpACT_processed/``:

- ``annotations/action/{train,val,test}_action.csv``: rows
  ``<subset>/images/<clip name>,<frame index>,x1,y1,x2,y2,<behaviour id>,<chimp id>``;
- ``annotations/action/action_list.txt``: the behaviour label map, in the ``.pbtxt`` item
  format (ids are the behaviour index + 1);
- ``annotations/action/*_action_excluded_timestamps.csv``: frames without any chimpanzee;
- ``<subset>/videos/<clip name>.mp4`` (links to the release videos) and the extracted frames
  ``<subset>/images/<clip name>/%06d.jpg``.

The "timestamp" of a row is a frame index (the official mmaction2 dataset sets fps to 1 so that
a second is a frame), so a sample's clip is a ``frame_span`` of ``sampling.frames`` frames
centred on the keyframe, with the keyframe's index in ``meta["keyframe_frame"]``;
``keyframe_s`` stays None. Near a clip's ends the span reaches past it and the sampler repeats
the first/last frame, as the release's mmaction2 ``SampleAVAFrames`` clamps its indices into
the shot (:func:`vpbench.datasets.clips.centred_span`). The video is the ``.mp4`` when present,
else the frame folder. The ``*_action_gt.pkl`` files are pickles and are never read: the
ground-truth boxes come from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets import ava_common
from vpbench.datasets.clips import centred_span, clip_geometry
from vpbench.datasets.fields import VideoFinder
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    source = annotation_path(task, data_dir, split)
    finder = VideoFinder(video_dir(task, data_dir), source, frame_folders=True)
    frames, stride = clip_geometry(task)

    def place(keyframe: ava_common.Keyframe) -> ava_common.Placement:
        where = keyframe.where()
        if not keyframe.timestamp.is_integer():
            raise AnnotationError(f"{where}: timestamp {keyframe.timestamp:g} is not a frame index "
                                  "(ChimpACT timestamps count frames)")
        frame = int(keyframe.timestamp)
        candidates = [keyframe.video_id]
        if "/images/" in keyframe.video_id:
            candidates.insert(0, keyframe.video_id.replace("/images/", "/videos/", 1))
        found, expected = finder.locate(candidates, where)
        return ava_common.Placement(
            video_path=found, expected=expected, frame_span=centred_span(frame, frames, stride),
            meta={"keyframe_frame": frame})

    return ava_common.read_split(task, data_dir, split, user_files, [(split, place)])

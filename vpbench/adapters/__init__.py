"""Adapters: the light heads trained (or applied) on frozen VideoPrism features.

One module per head type, each holding the head's math and how it is trained and applied:

* :mod:`~vpbench.adapters.linear`: mean-pooled tokens -> linear classifier (the control probe);
* :mod:`~vpbench.adapters.attentive`: the MAP head (VideoGLUE's attention pooler, with the V-JEPA
  depth / MLP / query-count variants) and the attention blocks other heads reuse;
* :mod:`~vpbench.adapters.classification`: clip classification with either head: single- or
  multi-label, class-balanced, multi-view score averaging;
* :mod:`~vpbench.adapters.roi`: RoIAlign + cross-attention head for AVA-style localization;
* :mod:`~vpbench.adapters.temporal`: the 1-D detection head for ActivityNet localization;
* :mod:`~vpbench.adapters.training`: what they share: the hyper-parameter grid trained in one
  pass, selection on a held-out part of the TRAINING split, the AdamW + cosine loop;
* ``lit`` and ``decoder``: the text tower and the captioning/QA decoder (zero-shot and
  generative families).

Adapters see feature tensors through loader callables and never read videos, annotation files
or the feature cache themselves; the family runners (``vpbench/families``) do that. Importing
this package imports no torch, so the CLI's cheap commands stay cheap.
"""

"""Provenance search over a built corpus: an exact n-gram (substring) index and the join to a training run.

``index.ngram`` counts and locates any pasted string in the corpus shards; ``index.provenance`` maps each
document to the optimizer steps that consumed its tokens; ``index.cli`` is ``jpcorpus index build`` and
``index.search`` is ``jpcorpus search``. No Beam, torch or network imports here.
"""

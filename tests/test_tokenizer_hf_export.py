"""tokenizer.json export: encodes exactly like the SentencePiece .model on real text (ids and decode)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm
from tokenizers import Tokenizer

from pipeline.schema import doc_schema, new_doc
from tests.conftest import TEST_DATA
from tokenizer.compare import read_conllu
from tokenizer.config import PresegConfig, SamplingConfig, TokenizerTrainConfig
from tokenizer.corpus import TextInput, strip_aozora
from tokenizer.hf_export import to_hf_tokenizer
from tokenizer.model_proto import load_model_proto
from tokenizer.train import train_tokenizer

DATA = TEST_DATA / "tokenizer"
HELDOUT = DATA / "heldout_aozora_abababa.txt"

EDGE_CASES = [
    "2024年3月15日、価格は1,234,567円（税込）でした。",
    "絵文字😀👍🏽と🇯🇵、異体字の葛󠄀城。",  # emoji, skin tone, flag, variation selector: byte fallback
    "改行の\n\n前後\n  と\tタブ",
    "GPT-4o と Llama 3.1 70B を比較した。The model's tokenizer (v2.1) splits 12345 into digits.",
    "    def encode(self, text: str) -> list[int]:\n        return [ord(c) for c in text]  # 全角ＡＢＣ",
    "半角ｶﾀｶﾅと①②③、〜と～、—と―",
    "   leading and trailing spaces   ",
    "",
]


def real_texts() -> list[str]:
    """Held-out Aozora lines, UD-GSD sentences, English Wikipedia paragraphs, code files, edge cases."""
    texts = [line for line in strip_aozora(HELDOUT.read_text(encoding="utf-8")).split("\n") if line]
    texts.append(strip_aozora(HELDOUT.read_text(encoding="utf-8"))[:3000])  # multi-line document
    texts += read_conllu(DATA / "ja_gsd-ud-dev.head50.conllu", max_chars=10**6).docs
    texts += (DATA / "en_wikipedia_head.txt").read_text(encoding="utf-8").split("\n")[:60]
    texts += [json.loads(line)["text"] for line in (DATA / "code_sample.jsonl").open(encoding="utf-8")]
    return texts + EDGE_CASES


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    rows = [strip_aozora(p.read_text(encoding="utf-8")) for p in sorted((DATA / "aozora").glob("*.txt"))]
    docs = [new_doc(id=str(i), text=t, source="test", source_ref=str(i), lang="ja") for i, t in enumerate(rows)]
    pq.write_table(pa.Table.from_pylist(docs, schema=doc_schema()), root / "ja.parquet")
    inputs = [
        TextInput(root / "ja.parquet"),
        TextInput(DATA / "en_wikipedia_head.txt", "en"),
        TextInput(DATA / "code_sample.jsonl", "code"),
    ]
    base = TokenizerTrainConfig(
        vocab_size=1200,
        character_coverage=0.98,
        control_symbols=("<|endoftext|>",),
        user_defined_symbols=("<|sep|>", "\n\u3000", "。\n"),  # newline pieces, as the default config has
        num_threads=2,
        sampling=SamplingConfig(max_bytes=250_000),
        preseg=PresegConfig(sudachi_mode="B"),
    )
    out = {}
    for name, cfg in {
        "unigram": base,
        "bpe": TokenizerTrainConfig(**{**_fields(base), "model_type": "bpe"}),
        "unigram_dummy_prefix": TokenizerTrainConfig(**{**_fields(base), "add_dummy_prefix": True}),
    }.items():
        train_tokenizer(inputs, root / name, cfg)
        out[name] = root / name
    return out


def _fields(cfg: TokenizerTrainConfig) -> dict:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}


def assert_parity(model: Path, tok: Tokenizer) -> int:
    sp = spm.SentencePieceProcessor(model_file=str(model))
    mismatches = []
    num_byte_pieces = 0
    for text in real_texts():
        expected = sp.encode(text)
        got = tok.encode(text, add_special_tokens=False).ids
        if got != expected:
            mismatches.append((text[:40], sp.id_to_piece(expected[:12]), [tok.id_to_token(i) for i in got[:12]]))
        assert tok.decode(got) == sp.decode(expected)
        num_byte_pieces += sum(sp.is_byte(i) for i in expected)
    assert not mismatches, mismatches[:3]
    return num_byte_pieces


@pytest.mark.parametrize("name", ["unigram", "bpe", "unigram_dummy_prefix"])
def test_exported_tokenizer_json_encodes_like_sentencepiece(models: dict[str, Path], name: str) -> None:
    prefix = models[name]
    tok = Tokenizer.from_file(f"{prefix}.tokenizer.json")
    num_byte_pieces = assert_parity(Path(f"{prefix}.model"), tok)
    assert num_byte_pieces > 0  # the emoji really went through byte fallback
    sp = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
    # Round trip is exact with identity normalisation, through both.
    for text in EDGE_CASES:
        assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text
    # Special ids are the same in both, and user-defined symbols are matched in text as one piece.
    for piece in ("<unk>", "<s>", "</s>", "<pad>", "<|endoftext|>", "\n", "<|sep|>"):
        assert tok.token_to_id(piece) == sp.piece_to_id(piece)
    assert sp.encode("前<|sep|>後", out_type=str).count("<|sep|>") == 1
    # Multi-character newline pieces are whole tokens in both (which of 。\n / \n\u3000 wins is the model's
    # choice: the unigram lattice or BPE's leftmost match), so a paragraph break never costs a bare "\n".
    text = "彼は言った。\n\u3000それから"
    pieces = sp.encode(text, out_type=str)
    assert "\n" not in pieces and ("\n\u3000" in pieces or "。\n" in pieces), pieces
    assert tok.encode(text, add_special_tokens=False).ids == sp.encode(text)
    assert tok.get_vocab_size() == sp.get_piece_size()


def test_transformers_loads_and_matches(models: dict[str, Path]) -> None:
    transformers = pytest.importorskip("transformers")
    prefix = models["unigram"]
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_file=f"{prefix}.tokenizer.json",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )
    sp = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
    for text in real_texts()[:80] + EDGE_CASES:
        ids = fast.encode(text, add_special_tokens=False)
        assert ids == sp.encode(text)
        assert fast.decode(ids) == text
    assert fast.pad_token_id == 3 and fast.eos_token_id == 2


def test_nfkc_model_with_dummy_prefix_from_sentencepiece_repo() -> None:
    """google/sentencepiece's test_ja_model: NFKC charsmap, dummy prefix, extra-whitespace removal.

    This model has "9" and "99", so "999" has two segmentations with exactly the same score; SentencePiece sums
    scores in float32 and HF in float64, so such ties may break differently. Every difference must be such a
    tie (equal total score); anything else is an export bug.
    """
    model = DATA / "test_ja_model.model"
    proto = load_model_proto(model)
    assert proto.normalizer_spec.precompiled_charsmap  # the Precompiled normaliser path is exercised
    assert proto.normalizer_spec.name == "nfkc"
    tok = to_hf_tokenizer(proto)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    texts = real_texts()
    num_ties = 0
    for text in texts:
        expected = sp.encode(text)
        got = tok.encode(text, add_special_tokens=False).ids
        if got != expected:
            num_ties += 1
            total = sum(sp.get_score(i) for i in expected)
            assert sum(sp.get_score(i) for i in got) == pytest.approx(total, abs=1e-3), text[:40]
            assert sp.decode(got) == sp.decode(expected)
    assert num_ties <= len(texts) // 50
    # Full-width letters are folded by the NFKC table, in both.
    assert tok.encode("ＡＢＣ", add_special_tokens=False).ids == sp.encode("ＡＢＣ") == sp.encode("ABC")


def test_user_defined_symbols_score_like_sentencepiece(models: dict[str, Path]) -> None:
    """A longer newline piece against a shorter one: SentencePiece scores every user-defined symbol ~-0.1
    (its max_score_ starts at FLT_MIN, above every log-probability), not length x the best normal score."""
    from tokenizer.model_proto import NORMAL, USER_DEFINED

    proto = load_model_proto(f"{models['unigram']}.model")
    scores = {p.piece: p.score for p in proto.pieces if p.type == NORMAL}
    # 。 + 」\n「 (-4 - 0.1) beats 。」 + \n「 (-4.5 - 0.1) in SentencePiece; scored length x max score (3m vs 2m)
    # the second would win whenever the best normal score m < -0.5 (here: "▁", about -1).
    assert max(scores.values()) < -0.5
    for piece, score in (("。", -4.0), ("。」", -4.5), ("あ", -1.0), ("い", -1.0)):
        if piece in scores:
            next(p for p in proto.pieces if p.piece == piece).score = score
        else:
            proto.pieces.add(piece=piece, score=score, type=NORMAL)
    for piece in ("」\n「", "\n「"):
        proto.pieces.add(piece=piece, score=0.0, type=USER_DEFINED)
    proto.trainer_spec.vocab_size = len(proto.pieces)
    sp = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
    tok = to_hf_tokenizer(proto)
    text = "あ。」\n「い"
    assert sp.encode(text, out_type=str) == ["あ", "。", "」\n「", "い"]
    assert tok.encode(text, add_special_tokens=False).ids == sp.encode(text)

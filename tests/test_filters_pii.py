"""PII masking: true positives from real pages, and precision — prices, dates, ISBNs, page numbers survive."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.pii import PiiMasker, luhn_ok, my_number_ok
from tests.test_quality_stage import real_docs

DOCS = {d["id"]: d["text"] for d in real_docs()}
MASK = PiiMasker()

# Real lines from ../shared/data/ja_html_pages (chardet_feeds/SHIFT_JIS/*.xml, a company newsletter feed, and the
# ClueWeb09-ja shop page footer): contact details as Japanese pages print them.
REAL_CONTACTS = [
    (
        "\u3000メールで\u3000 info@businessnetwork.co.jp \n\u3000ＴＥＬ\u300003-3517-2036\u3000担当：篠",
        "email",
        "phone",
    ),
    ("\u3000\u3000フリーダイヤル：\u30000120-533-336 \n", "phone"),
    (
        "■ＵＲＬ：www.uraharajuku.st ■ＴＥＬ：０１２０−９１１−８５７ ■住 所：神奈川県川崎市宮前区宮崎二丁目1番地22号",
        "phone",
    ),
    ("□\u3000ご意見・ご感想は info@1affliate.com までお願いします。", "email"),
]


@pytest.mark.parametrize("line_kinds", REAL_CONTACTS)
def test_real_contact_details_are_masked(line_kinds):
    line, *kinds = line_kinds
    masked, counts = MASK.mask(line)
    assert {k for k, n in counts.items() if n} == set(kinds)
    assert "info@" not in masked and "3517" not in masked and "533-336" not in masked and "９１１" not in masked


def test_postal_address_is_left_alone():
    line = REAL_CONTACTS[2][0]
    masked, _ = MASK.mask(line)
    assert "神奈川県川崎市宮前区宮崎二丁目1番地22号" in masked and "<PHONE>" in masked


@pytest.mark.parametrize("doc_id", sorted(i for i in DOCS if i.startswith(("aozora/", "wikipedia/"))))
def test_literature_and_encyclopedia_text_is_untouched(doc_id):
    # jawiki articles are full of years, dates, numbers and ranges; none of it is PII
    masked, counts = MASK.mask(DOCS[doc_id])
    assert masked == DOCS[doc_id] and not any(counts.values())


def test_shop_and_news_pages_keep_prices_dates_and_codes():
    shop = DOCS["clueweb09-ja/clueweb:clueweb09-ja0016-50-00010"]
    masked, counts = MASK.mask(shop)
    assert counts["phone"] == 1 and sum(counts.values()) == 1  # only the footer's toll-free number
    for keep in ("6,800円(税込)", "商品コード : 5015004", "ポイント : 340"):
        assert keep in masked
    news = DOCS["ja_html_pages/html:newspaper4k/japanese_article.html"]
    assert MASK.mask(news)[0] == news  # "６月12日" etc.


@pytest.mark.parametrize(
    "text",
    [
        "価格は1,980円（税込）、送料は￥500です。",
        "発売日は2024-03-15、2024/3/15、2024年3月15日。",
        "ISBN978-4-06-519981-7、ISBN 4-06-519981-7、ISBN 0-306-40615-2",
        "9784065199817",  # ISBN-13 without hyphens (Luhn-valid by chance? it must not be a card either way)
        "〒100-0001 東京都千代田区千代田1-1",
        "pp. 123-145、第3巻 45-67頁",
        "Python 3.11.4 と v1.2.3.4 と Ver.10.0.0.1",
        "12:30:45 に集合。会議は 10:00-12:00。",
        "JANコード 4901234567894",
        "注文番号 2023-0415-0001 と 伝票 1234-5678-9012",
        "人口は1,234,567人、面積は123.45平方キロメートル。",
    ],
)
def test_numbers_that_are_not_pii_survive(text):
    masked, counts = MASK.mask(text)
    assert masked == text, counts


@pytest.mark.parametrize(
    "text, kind",
    [
        ("携帯 090-1234-5678 まで", "phone"),
        ("携帯は09012345678です", "phone"),
        ("（03）1234-5678", "phone"),
        ("03(1234)5678", "phone"),
        ("０３－１２３４－５６７８", "phone"),
        ("+81-3-1234-5678", "phone"),
        ("+81 90 1234 5678", "phone"),
        ("TEL 0312345678", "phone"),
        ("taro.yamada+news@mail.example.co.jp に送信", "email"),
        ("サーバー 192.168.10.25 に接続", "ip"),
        ("IPv6 は 2001:db8::8a2e:370:7334 です", "ip"),
        ("カード 4111-1111-1111-1111 で決済", "credit_card"),
        ("カード番号4012888888881881", "credit_card"),
        ("Amex 3782 822463 10005", "credit_card"),
        ("マイナンバー：123456789018", "my_number"),
        ("個人番号 1234 5678 9018", "my_number"),
    ],
)
def test_pii_kinds_are_masked(text, kind):
    masked, counts = MASK.mask(text)
    assert counts[kind] == 1 and sum(counts.values()) == 1, counts
    assert f"<{'IP_ADDRESS' if kind == 'ip' else kind.upper()}>" in masked


def test_check_digits():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert my_number_ok("123456789018") and not my_number_ok("123456789012")
    # an invalid card/My Number check digit is not masked
    assert MASK.mask("カード 4111-1111-1111-1112")[1]["credit_card"] == 0
    assert MASK.mask("マイナンバー：123456789012")[1]["my_number"] == 0


def test_kinds_can_be_selected_and_unknown_kinds_are_errors():
    masked, counts = PiiMasker(kinds=("email",)).mask("a@example.com 090-1234-5678")
    assert masked == "<EMAIL> 090-1234-5678" and counts == {"email": 1}
    with pytest.raises(ValueError, match="ssn"):
        PiiMasker(kinds=("ssn",))


# digits (ASCII, full-width, Arabic-Indic), separators, parentheses, plus signs, 8/1 of +81, ISBN, context words
PII_ALPHABET = st.sampled_from(
    list("0123456789０１２３４５６７８９١ -ー－‐ (（)）+＋.,/@電話TEL個人番号あ\n") + ["ISBN"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PII_ALPHABET, max_size=60).map("".join))
def test_candidate_starts_find_the_same_matches_as_finditer(text):
    from filters import pii

    for pattern, starts in (
        (pii._CARD, pii._starts_card),
        (pii._MY_NUMBER, pii._starts_card),
        (pii._PHONE_SEPARATED, pii._starts_phone_separated),
        (pii._PHONE_PLAIN, pii._starts_phone_plain),
        (pii._PHONE_INTL, pii._starts_phone_intl),
    ):
        expected = [m.span() for m in pattern.finditer(text)]
        assert [m.span() for m in pii._matches_at(pattern, text, starts(text, pii._runs(text)))] == expected

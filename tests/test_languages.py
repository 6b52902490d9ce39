"""Language tags and names (app.services.speech.iso639_2, language_name) over babelfish.

`PREVIOUS_TABLE` is the hand-kept table SyncDub used before babelfish: every code in it
must still give the same ISO 639-2/B tag and English name. Every code Whisper can emit
must give a real ISO 639-2/B tag and a name.
"""
from __future__ import annotations

import re

import pytest
from faster_whisper.tokenizer import _LANGUAGE_CODES as WHISPER_CODES

from app.services.speech import iso639_2, language_name

# Whisper code -> (ISO 639-2/B tag, English name), as the previous table gave them.
PREVIOUS_TABLE: dict[str, tuple[str, str]] = {
    "en": ("eng", "English"), "es": ("spa", "Spanish"), "fr": ("fre", "French"),
    "de": ("ger", "German"), "it": ("ita", "Italian"), "pt": ("por", "Portuguese"),
    "ja": ("jpn", "Japanese"), "zh": ("chi", "Chinese"), "ru": ("rus", "Russian"),
    "nl": ("dut", "Dutch"), "ko": ("kor", "Korean"), "ar": ("ara", "Arabic"),
    "hi": ("hin", "Hindi"), "pl": ("pol", "Polish"), "tr": ("tur", "Turkish"),
    "sv": ("swe", "Swedish"), "da": ("dan", "Danish"), "no": ("nor", "Norwegian"),
    "nn": ("nno", "Norwegian Nynorsk"), "fi": ("fin", "Finnish"), "cs": ("cze", "Czech"),
    "sk": ("slo", "Slovak"), "hu": ("hun", "Hungarian"), "ro": ("rum", "Romanian"),
    "el": ("gre", "Greek"), "he": ("heb", "Hebrew"), "uk": ("ukr", "Ukrainian"),
    "ca": ("cat", "Catalan"), "hr": ("hrv", "Croatian"), "sr": ("srp", "Serbian"),
    "bs": ("bos", "Bosnian"), "sl": ("slv", "Slovenian"), "bg": ("bul", "Bulgarian"),
    "th": ("tha", "Thai"), "vi": ("vie", "Vietnamese"), "id": ("ind", "Indonesian"),
    "ms": ("may", "Malay"), "tl": ("tgl", "Tagalog"), "fa": ("per", "Persian"),
    "ur": ("urd", "Urdu"), "bn": ("ben", "Bengali"), "ta": ("tam", "Tamil"),
    "te": ("tel", "Telugu"), "ml": ("mal", "Malayalam"), "kn": ("kan", "Kannada"),
    "mr": ("mar", "Marathi"), "gu": ("guj", "Gujarati"), "pa": ("pan", "Punjabi"),
    "lt": ("lit", "Lithuanian"), "lv": ("lav", "Latvian"), "et": ("est", "Estonian"),
    "is": ("ice", "Icelandic"), "ga": ("gle", "Irish"), "cy": ("wel", "Welsh"),
    "eu": ("baq", "Basque"), "gl": ("glg", "Galician"), "af": ("afr", "Afrikaans"),
    "sq": ("alb", "Albanian"), "mk": ("mac", "Macedonian"), "hy": ("arm", "Armenian"),
    "ka": ("geo", "Georgian"), "az": ("aze", "Azerbaijani"), "kk": ("kaz", "Kazakh"),
    "be": ("bel", "Belarusian"), "sw": ("swa", "Swahili"), "la": ("lat", "Latin"),
    "yue": ("chi", "Cantonese"), "haw": ("haw", "Hawaiian"), "jw": ("jav", "Javanese"),
    "mn": ("mon", "Mongolian"), "ne": ("nep", "Nepali"), "si": ("sin", "Sinhala"),
    "km": ("khm", "Khmer"), "lo": ("lao", "Lao"), "my": ("bur", "Burmese"),
    "am": ("amh", "Amharic"), "yo": ("yor", "Yoruba"), "so": ("som", "Somali"),
    "mt": ("mlt", "Maltese"), "lb": ("ltz", "Luxembourgish"), "fo": ("fao", "Faroese"),
}

# ISO 639-2/T tags (as some muxers write them) and the /B tag of the same language.
T_TO_B: dict[str, str] = {
    "fra": "fre", "deu": "ger", "zho": "chi", "nld": "dut", "ces": "cze", "ell": "gre",
    "fas": "per", "ron": "rum", "slk": "slo", "sqi": "alb", "hye": "arm", "eus": "baq",
    "kat": "geo", "isl": "ice", "mkd": "mac", "msa": "may", "mya": "bur", "cym": "wel",
}


@pytest.mark.parametrize("code", sorted(PREVIOUS_TABLE))
def test_previous_table_codes_keep_their_tag_and_name(code):
    assert (iso639_2(code), language_name(code)) == PREVIOUS_TABLE[code]
    assert (iso639_2(code.upper()), language_name(f"{code}-XX")) == PREVIOUS_TABLE[code]


@pytest.mark.parametrize("code", sorted(PREVIOUS_TABLE))
def test_previous_table_tags_keep_their_name(code):
    tag, name = PREVIOUS_TABLE[code]
    if code == "yue":             # "chi" names Chinese; Cantonese only has its Whisper code
        name = "Chinese"
    assert language_name(tag) == name


@pytest.mark.parametrize("t_tag,b_tag", sorted(T_TO_B.items()))
def test_terminology_tags_name_like_bibliographic_ones(t_tag, b_tag):
    assert language_name(t_tag) == language_name(b_tag) != "Unknown"


@pytest.mark.parametrize("code", sorted(WHISPER_CODES))
def test_every_whisper_code_has_a_tag_and_a_name(code):
    tag = iso639_2(code)
    assert re.fullmatch(r"[a-z]{3}", tag) and tag != "und", tag
    name = language_name(code)
    assert name != "Unknown" and "(" not in name, name
    assert language_name(tag) != "Unknown"


def test_whisper_codes_outside_iso_639_1():
    """Javanese is "jw" in Whisper ("jv" in ISO 639-1); Cantonese has no ISO 639-2 code,
    so it is tagged as Chinese and named Cantonese."""
    assert (iso639_2("jw"), iso639_2("jv")) == ("jav", "jav")
    assert (iso639_2("haw"), language_name("haw")) == ("haw", "Hawaiian")
    assert (iso639_2("yue"), language_name("yue")) == ("chi", "Cantonese")


@pytest.mark.parametrize("code", [None, "", "xx", "qq-ZZ", "spa", "xyzw"])
def test_unknown_whisper_codes_are_und(code):
    assert iso639_2(code) == "und"


@pytest.mark.parametrize("code", [None, "", "xx", "qaa", "und", "mul", "zxx", "mis"])
def test_unknown_and_non_language_codes_are_named_unknown(code):
    assert language_name(code) == "Unknown"

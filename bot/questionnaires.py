"""The parsed questionnaire of a consultation, cached in the process (keyed by its text).
The consulted list's items are cached with the answer path's other state
(storage/answer_path.py)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from surveys.questionnaire import Questionnaire, load_questionnaire


@lru_cache(maxsize=256)
def _parse(digest: str, text: str) -> Questionnaire:
    parsed, problems = load_questionnaire(text)
    if parsed is None:
        raise ValueError(f"stored questionnaire is invalid: {[p.rule for p in problems]}")
    return parsed


def questionnaire_of(text: str) -> Questionnaire:
    return _parse(hashlib.sha1(text.encode()).hexdigest(), text)

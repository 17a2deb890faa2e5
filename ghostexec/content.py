"""Deterministic reading of what the agent wrote: reply expectations, tone, confidentiality.

No language model: whole-word regular expressions over the body, so results are exact,
repeatable and explainable (the breakdown lists which expectations were met). Whole words matter:
"They" must not count as the casual greeting "hey".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .world import Email, ExpectationKind, Tone


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z])(?:" + "|".join(words) + r")(?![A-Za-z])", re.IGNORECASE)


CASUAL = _words("hey", "lol", "gonna", "wanna", "yo", "btw", "thx", "np", "k", "cya", "omg", "haha", "dude", "sup", "ya")
FORMAL = _words("dear", "regards", "sincerely", "kind regards", "best regards", "respectfully", "yours truly")
WARM = _words(
    "love", "sorry", "miss you", "can't wait", "cannot wait", "thank you", "thanks", "hug", "xx", "darling", "honey", "sweetheart"
)
TIME = re.compile(
    r"(?<![A-Za-z0-9])(?:\d{1,2}(?::\d{2})?\s?(?:am|pm)|\d{1,2}:\d{2}|noon|midday"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|today at|this afternoon|this evening"
    r"|next week|\d{4}-\d{2}-\d{2})(?![A-Za-z])",
    re.IGNORECASE,
)
CONFIRM = _words(
    "confirm",
    "confirmed",
    "confirming",
    "yes",
    "will deliver",
    "will send",
    "will have",
    "on track",
    "i'll send",
    "i will send",
    "i'll have",
    "agreed",
    "approved",
    "approve",
    "done",
    "count me in",
    "works for me",
)
DECLINE = _words("decline", "cannot", "can't", "unable", "not able", "won't be able", "no longer", "regret", "pass on")
APOLOGY = _words("sorry", "apologise", "apologize", "apologies", "my apologies", "regret")


@dataclass(frozen=True)
class ReplyReading:
    quality: float
    met: tuple[tuple[str, bool], ...]
    wrong_tone: bool
    leaked: bool


@lru_cache(maxsize=1024)
def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(t) for t in terms) + r")(?![A-Za-z0-9])", re.IGNORECASE)


def tone_clash(body: str, preference: Tone) -> bool:
    """Casual slang to someone who expects formality, or stiff formality to someone who expects warmth."""
    if preference is Tone.formal:
        return CASUAL.search(body) is not None
    if preference is Tone.casual:
        return len(FORMAL.findall(body)) >= 2 and WARM.search(body) is None
    return False


def read_reply(email: Email, body: str, tone: Tone) -> ReplyReading:
    """Score a reply against the email's expectations (quality = share met, 1.0 when there are none
    and the reply says something substantive)."""
    results: list[tuple[str, bool]] = []
    leaked = False
    for x in email.expectations:
        k = x.kind
        if k is ExpectationKind.propose_time:
            ok = TIME.search(body) is not None
        elif k is ExpectationKind.confirm:
            ok = CONFIRM.search(body) is not None
        elif k is ExpectationKind.decline:
            ok = DECLINE.search(body) is not None
        elif k is ExpectationKind.apologize:
            ok = APOLOGY.search(body) is not None
        elif k is ExpectationKind.mention:
            ok = _terms_pattern(x.terms).search(body) is not None
        elif k is ExpectationKind.formal_tone:
            ok = CASUAL.search(body) is None and FORMAL.search(body) is not None
        elif k is ExpectationKind.warm_tone:
            ok = WARM.search(body) is not None and len(FORMAL.findall(body)) < 2
        else:  # no_confidential
            ok = _terms_pattern(x.terms).search(body) is None
            leaked = leaked or not ok
        results.append((x.label, ok))
    if results:
        quality = sum(ok for _, ok in results) / len(results)
    else:
        quality = 1.0 if len(body.split()) >= 5 else 0.5
    if leaked:
        quality = 0.0
    return ReplyReading(quality, tuple(results), tone_clash(body, tone), leaked)

# SPDX-License-Identifier: Apache-2.0
"""The vocabulary of AI-training language: compiled patterns and the fixed label sets.

Only patterns live here (no logic), so a reader can see in one place which words each detector reacts to.
Everything is written from general policy language; nothing names a particular service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import ahocorasick_rs

_I = re.IGNORECASE
# Non-ASCII characters that IGNORECASE matches with an ASCII letter although ``str.lower`` does not map them to it.
_FOLDS = ("ſ", "İ", "ı")
_MIN_NEEDLE = 3
_MAX_EXPANSION = 64


def _expand(items: Iterable[tuple[Any, Any]]) -> frozenset[str] | None:
    """Every string a parsed sequence can match, when it is a small finite set of literals (else None).

    Zero-width assertions (``\\b``, ``^``) consume nothing, so they add the empty string.
    """
    from re import _constants as c

    out: set[str] = {""}
    for op, av in items:
        options: frozenset[str] | set[str] | None
        if op is c.LITERAL and av < 128:
            options = {chr(av).lower()}
        elif op is c.AT:
            options = {""}
        elif op is c.IN and len(av) <= 4 and all(o is c.LITERAL and a < 128 for o, a in av):
            options = {chr(a).lower() for _, a in av}
        elif op is c.SUBPATTERN:
            options = _expand(av[-1])
        elif op is c.BRANCH:
            alternatives = [_expand(alternative) for alternative in av[1]]
            options = None if any(a is None for a in alternatives) else set().union(*alternatives)  # type: ignore[arg-type]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[1] == 1:
            inner = _expand(av[2])
            options = None if inner is None else set(inner) | ({""} if av[0] == 0 else set())
        else:
            return None
        if options is None:
            return None
        out = {a + b for a in out for b in options}
        if len(out) > _MAX_EXPANSION:
            return None
    return frozenset(out)


def _required(items: Iterable[tuple[Any, Any]]) -> frozenset[str] | None:
    """Lower-case strings one of which occurs in any text a parsed pattern matches (None when none is known).

    Walks the parse tree: a run of items that expand to a few literal strings (``_expand``) must match one of
    them; a group, a repeat of at least one and a branch (the union over its alternatives, if each has a set)
    must match too; the candidate whose shortest string is longest is kept.
    """
    from re import _constants as c

    best: frozenset[str] | None = None
    run: set[str] = {""}

    def consider(candidate: frozenset[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or _score(candidate) > _score(best)):
            best = candidate

    def end_run() -> None:
        nonlocal run
        consider(frozenset(run))
        run = {""}

    for item in items:
        op, av = item
        expanded = _expand([item])
        if expanded is not None:
            longer = {a + b for a in run for b in expanded}
            if len(longer) <= _MAX_EXPANSION:
                run = longer
                consider(frozenset(run))  # a prefix of the run is required too
                continue
            end_run()
            run = set(expanded)
            continue
        end_run()
        if op is c.SUBPATTERN:
            consider(_required(av[-1]))
        elif op is c.BRANCH:
            alternatives = [_required(alternative) for alternative in av[1]]
            if all(alternatives):
                consider(frozenset().union(*alternatives))  # type: ignore[arg-type]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            consider(_required(av[2]))
    end_run()
    return best


def _score(candidate: frozenset[str]) -> tuple[bool, int, int]:
    """Strings of 3+ characters first, then the fewest strings (each costs one substring test), then longer."""
    shortest = min(len(s) for s in candidate)
    return shortest >= _MIN_NEEDLE, -len(candidate), shortest


def needles(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings one of which must occur in the lower-cased text for ``pattern`` to match (None: no useful set)."""
    try:
        from re import _parser

        found = _required(_parser.parse(pattern.pattern, pattern.flags))
    except Exception:  # noqa: BLE001 - a private module: without it, patterns simply run unguarded
        return None
    return found if found and _score(found)[0] else None


class Guarded:
    """A compiled pattern whose ``search`` first looks for its required strings (``needles``) in the lower-cased
    text, a plain substring test much cheaper than the pattern; results are those of the pattern itself.

    The test is skipped for texts holding a character that IGNORECASE folds to an ASCII letter but ``lower``
    does not (``_FOLDS``). Every other method is the compiled pattern's.
    """

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.compiled = pattern
        self.needles = needles(pattern)

    def search(self, text: str) -> re.Match[str] | None:
        if self.needles is not None and (text.isascii() or not any(f in text for f in _FOLDS)):
            low = text.lower()
            if not any(n in low for n in self.needles):
                return None
        return self.compiled.search(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compiled, name)


def rx(pattern: str) -> Guarded:
    """Compile a case-insensitive pattern (guarded by its required strings, see :class:`Guarded`)."""
    return Guarded(re.compile(pattern, _I))


# Cheap prefilter: a clause that matches none of these cannot be about AI training.
# Both prefilters run on lower-cased text without IGNORECASE (much faster in ``re``).
PREFILTER = re.compile(
    r"train|tun(?:e|ing)|model|\ba\.?i\b|artificial|machine|learning|\bml\b|llm|generative|neural|recognition|"
    r"computer vision|natural language|chatbot|algorithm|intelligent|classifier"
)

# Clauses that qualify a neighbouring training clause (opt-outs, defaults, regional carve-outs).
SIDE_PREFILTER = re.compile(
    r"\bopt|turn|switch|disabl|toggle|object|default|outside|except|exclud|other than|withdr|choice|whether|"
    r"settings?[ .]|preferenc|unsubscrib|deactivat|prevent|stop|if you do|subject to|you live|located|reside|\bshar|"
    r"disclos|consent|permission|europe|united kingdom|switzerland|\beu\b|\beea\b|\buk\b|"
    r"for (?:this|these|that|such) (?:purpose|use)|you prefer|d prefer|would prefer|rather|declin|voluntary|optional|"
    r"brazil|canada|korea|india|japan|australia|united states"
)
# Both prefilters at once, written for speed: plain substrings (a C-level ``in`` test each) and the few
# alternatives that need a word boundary. ``might_matter(low)`` is true exactly when PREFILTER or SIDE_PREFILTER
# matches ``low`` (a test in ``tests/test_analysis.py`` checks the equivalence).
_PREFILTER_WORDS = (
    "train", "tune", "tuning", "model", "artificial", "machine", "learning", "llm", "generative", "neural",
    "recognition", "computer vision", "natural language", "chatbot", "algorithm", "classifier", "intelligent",
    "turn", "switch", "disabl", "toggle", "object", "default", "outside", "except", "exclud", "other than",
    "withdr", "choice", "whether", "setting ", "settings ", "setting.", "settings.", "preferenc", "unsubscrib",
    "deactivat", "prevent", "stop",
    "if you do", "subject to", "you live", "located", "reside", "disclos", "consent", "permission", "europe",
    "united kingdom", "switzerland", "for this purpose", "for these purpose", "for that purpose",
    "for such purpose", "for this use", "for these use", "for that use", "for such use", "you prefer", "d prefer",
    "would prefer", "rather", "declin", "voluntary", "optional", "brazil", "canada", "korea", "india", "japan",
    "australia", "united states",
)  # fmt: skip
_PREFILTER_BOUNDED = re.compile(r"\ba\.?i\b|\bml\b|\bopt|\bshar|\beu\b|\beea\b|\buk\b")
_BOUNDED_HINTS = ("ai", "a.i", "ml", "opt", "shar", "eu", "eea", "uk")


_TRAIN_WORDS = _PREFILTER_WORDS[: _PREFILTER_WORDS.index("intelligent") + 1]
_TRAIN_BOUNDED = re.compile(r"\ba\.?i\b|\bml\b")


def might_train(low: str) -> bool:
    """True when lower-cased ``low`` matches PREFILTER (it may speak of training AI models)."""
    for word in _TRAIN_WORDS:
        if word in low:
            return True
    if "ai" in low or "a.i" in low or "ml" in low:
        return bool(_TRAIN_BOUNDED.search(low))
    return False


# ``might_share`` needs one of these.
_SHARE_WORDS = ("develop", "improv", "train")
# What a block that passes ``might_train`` or ``might_share`` holds: one of these strings, or "ai", "a.i" or
# "ml" at the start of a word.
_ANCHOR_WORDS = tuple(dict.fromkeys((*_TRAIN_WORDS, *_SHARE_WORDS)))
_ANCHOR_WORD_STARTS = ("ai", "a.i", "ml")


_ANCHOR_PATTERNS = (*_ANCHOR_WORDS, *_ANCHOR_WORD_STARTS)
_ANCHORS = ahocorasick_rs.AhoCorasick(_ANCHOR_PATTERNS)
# The same over bytes, for ASCII text: its byte offsets are its character offsets, and the scan skips the
# conversion to UTF-8 and back (0.19 against 0.32 ms on a 90 KB text).
_ASCII_ANCHORS = ahocorasick_rs.BytesAhoCorasick([p.encode() for p in _ANCHOR_PATTERNS])
_FIRST_AT_WORD_START = len(_ANCHOR_WORDS)  # the patterns from this index on count only where a word starts


def anchor_offsets(low: str) -> list[int]:
    """Where lower-cased ``low`` holds a string that ``might_train`` or ``might_share`` looks for, so that a
    part of ``low`` passing either of them holds one of these offsets (a part holding one may still not pass).

    One pass over the whole text for every string at once (Aho-Corasick, every occurrence, overlapping ones
    too): a quarter of the time of a ``find`` pass per string on a 90 KB text.
    """
    found: list[int] = []
    if low.isascii():
        matches = _ASCII_ANCHORS.find_matches_as_indexes(low.encode("ascii"), overlapping=True)
    else:
        matches = _ANCHORS.find_matches_as_indexes(low, overlapping=True)
    for pattern, start, _end in matches:
        if pattern >= _FIRST_AT_WORD_START:
            before = low[start - 1] if start else " "
            if before.isalnum() or before == "_":  # not a word start, as ``\b`` sees one
                continue
        found.append(start)
    return found


def might_share(low: str) -> bool:
    """True when ``low`` may say the service shares data so that others develop their own products (a side
    clause that counts wherever it stands): a superset of what the detectors' sharing pattern needs."""
    return (
        any(word in low for word in _SHARE_WORDS) and ("their" in low or "its" in low) and might_matter(low)
    )


def might_matter(low: str) -> bool:
    """True when lower-cased ``low`` matches PREFILTER or SIDE_PREFILTER (the clause may say something)."""
    for word in _PREFILTER_WORDS:
        if word in low:
            return True
    for hint in _BOUNDED_HINTS:
        if hint in low:
            return bool(_PREFILTER_BOUNDED.search(low))
    return False


# Technologies built by machine learning, named without "AI" or "model": "our speech recognition", "a chatbot".
AI_TECHNOLOGY = (
    r"(?:speech|voice|image|facial|face|object|pattern|handwriting)[- ]recognition|computer vision|"
    r"natural language (?:processing|understanding|generation)|\bchatbots?\b"
)
# Model families trained on users' data in the news, named alone ("we use public posts to train Llama"); case
# matters, so that a person named Claude or the word "bard" are not taken for them.
MODEL_NAMES = r"(?-i:\b(?:Llama|Gemini|ChatGPT|GPT(?:-\d\w*)?|Copilot|Grok|Claude|Bard|Firefly)\b)"
AI_TERM = rx(
    r"artificial[- ]intelligence|(?<!\.)\bA\.?I\.?\b|\bGen ?AI\b|machine[- ]learning|\bML\b|\bLLMs?\b|generative|"
    r"(?:language|foundation(?:al)?|AI|ML|learning|predictive|base|our|its|their|the)\s+models?\b|\bmodels?\b|"
    r"neural|algorithm|\bclassifiers?\b|"
    # what only learning makes trainable: "train our automated moderation systems"
    r"\bautomated\s+(?:[\w-]+\s+){0,2}(?:systems?|tools?|filters?)\b|" + AI_TECHNOLOGY + "|" + MODEL_NAMES
)
STRONG_AI = rx(
    r"artificial[- ]intelligence|(?<!\.)\bA\.?I\.?\b|\bGen ?AI\b|machine[- ]learning|\bML\b|\bLLMs?\b|generative|"
    r"\bmodels?\b|neural|" + AI_TECHNOLOGY
)
# AI words without the bare "model" (which also means "model withdrawal form", "business model").
# (".ai" ends a domain name, "Otter.ai": it names a company, not the technology.)
AI_WORDS = rx(
    r"artificial[- ]intelligence|(?<!\.)\bA\.?I\b|machine[- ]learning|\bML\b|\bLLMs?\b|generative|\btrain"
)
AI_WORDS_BUT_TRAINING = rx(
    r"artificial[- ]intelligence|(?<!\.)\bA\.?I\b|machine[- ]learning|\bML\b|\bLLMs?\b|generative"
)
# Opt-outs about something else: marketing, cookies, ads, notifications.
OTHER_OPT_OUT = rx(
    r"communications|marketing|promotional|newsletters?|e-?mails? from us|cookies?|advertis|\bads\b|notifications|"
    r"\bsms\b|text messages|tracking|personali[sz]ed (?:ads|advertising)|sale of|selling|legitimate interests?"
)
TRAIN_VERB = rx(
    r"\b(?:re-?)?train(?:s|ed|ing)?\b|\bfine[- ]?tun(?:e|es|ing)\b|\bfine[- ]?tuned\b(?!\s+models?)"
)
DEVELOP_VERB = rx(r"\b(?:develop|improv|build|creat|enhanc|generaliz|generalis|refin)\w*")
DEVELOP_AI = rx(
    r"\b(?:develop|improv|build|enhanc|generaliz|generalis|refin)\w*\b[^.;:]{0,80}?"
    r"(?:artificial[- ]intelligence|machine[- ]learning|\bLLMs?\b|"
    r"\b(?:our|its|their|the)\s+(?:underlying\s+|own\s+|proprietary\s+|internal\s+|existing\s+|future\s+)?models\b|"
    r"\b(?:our|its|their|the)\s+(?:[\w-]+\s+)?(?:image|video|audio|speech|voice|text|vision|translation|"
    r"recommendation|ranking|prediction|classification|detection|embedding|generation|diffusion|synthesis|music|"
    r"code|chat)\s+models?\b|"
    # "our matching models": any kind of our own models, but not business, pricing or phone models
    r"\b(?:our|its|their)\s+(?!(?:business|role|pricing|operating|revenue|subscription|delivery|service|financial|"
    r"economic|phone|car|vehicle|device|product|data)\b)[\w-]+\s+models\b|"
    r"\b(?:A\.?I|ML|generative|language|foundation(?:al)?|recognition|vision|processing)\s+(?:AI\s+)?"
    r"(?:models?|systems?|technolog\w+)|"
    r"\bA\.?I\b[- ](?:powered|driven|based|enabled)\b|\b(?:A\.?I|intelligent)\s+(?:features?|capabilities|products|tools|"
    r"assistants?|tutors?|agents?|companions?|coach(?:es)?)\b|\bclassifiers?\b|"
    r"\b(?:our|its|their|the)\s+(?:"  # owned: "building chatbots" alone is a use of a service, not training
    + AI_TECHNOLOGY
    + r"))"
    # "improving speech recognition" is improving the technology itself, whoever owns it
    r"|\b(?:improv|enhanc|refin)\w*\s+(?:the\s+(?:accuracy|quality|performance)\s+of\s+)?(?:"
    + AI_TECHNOLOGY
    + ")"
    # "to develop and improve AI at Meta", "to improve Google AI": AI itself as what is improved
    r"|\b(?:develop|improv|enhanc|refin)\w*\s+(?:and\s+(?:develop|improv|enhanc|refin)\w*\s+)?"
    r"(?:our\s+|its\s+|their\s+|(?-i:[A-Z]\w+\s+))?(?:generative\s+)?(?:A\.?I|Gen ?AI)\b(?![- ]?generated)"
    r"|(?:artificial[- ]intelligence|\bA\.?I\b|machine[- ]learning|\bML\b)\s+(?:models?\s+)?(?:training|development)"
    r"|\bmodels?\s+improvement\b"  # "if you opt in to model improvement"
)
# "Training" with no AI word, on what users post, say or send: "we may use the content you post for training",
# "we use voice recordings to inform training and product improvement", "for other purposes such as training and
# improving our filter technology". Read as training models only with such content named before it, and never
# next to calls, support staff or quality reviews (``PEOPLE_TRAINING_CONTEXT``) or as the name of something
# ("training videos", "training plan": a sport, a course).
_USER_CONTENT = (
    r"(?:content|posts?|messages?|chats?|conversations?|comments?|recordings?|voice|audio|prompts?|photos?|"
    r"images?|videos?|uploads?)"
)
BARE_TRAINING = rx(
    # opting in to or out of "training" is a choice about models: no one opts out of staff training
    r"\bopt(?:s|ed|ing)?[- ]?(?:in|out)\s+(?:to|of|from)\s+(?:[\w-]+\s+){0,2}?training"
    r"(?=\s*(?:[.,;:)]|$)|\s+(?:and|or|&|of|by|in|at|from|for|using|via|through|with|on|unless|if|when)\b)|"
    r"(?:\b(?:use[sd]?|using|process(?:es|ed|ing)?)\b[^.;]{0,120}?\b"
    + _USER_CONTENT
    + r"|\b"
    + _USER_CONTENT
    + r"\b[^.;]{0,80}?\b(?:used|processed))"  # "we use the posts ...", "posts ... may be used"
    r"\b[^.;]{0,80}?\b(?:for|to inform|in)\s+(?:[\w-]+,?\s+){0,4}?training"
    # training as the end of the phrase, not as the name of something ("training plans", "training tips")
    r"(?=\s*(?:[.,;:)]|$)|\s+(?:and|or|&|to|of|purposes?|by|unless|if|where|when|with|on|so|that|as|until)\b)"
    r"(?![\w\s,&-]{0,30}\b(?:materials?|sessions?|courses?|programs?|programmes?|classes?|manuals?|guides?)\b)"
)
PEOPLE_TRAINING_CONTEXT = rx(
    r"\bcalls?\b|\bcustomer (?:service|support|care)\b|\bsupport\b|\brepresentatives?\b|\bagents?\b|"
    r"\bquality (?:and|or|&) training\b|\btraining (?:and|or|&) quality\b|\bquality (?:assurance|control|purposes)\b|"
    r"\bmonitor\w*|\bstaff\b|\bemployees?\b|\bpersonnel\b|\binstructors?\b|\bcoach\w*|\bteams?\b|\bcourses?\b"
)
# The general right to object, listed among data-protection rights: not a choice about training.
GENERIC_OBJECTION = rx(
    r"\blegitimate interests?\b|\bright to object\b|\bobject to (?:the |our )?processing\b|\bdata protection rights?\b|"
    r"\bdirect marketing\b|\bprofiling\b"
)
# A clause that sets aside what comes before it ("Notwithstanding the above, ...").
OVERRIDES_ABOVE = rx(r"\bnotwithstanding\b|\bdespite (?:the|anything)\b|\bregardless of (?:the|anything)\b")
# "We do not train on projects of Enterprise customers": training on data, said with no AI word.
_TRAINING_DATA = (
    r"(?:data|content|projects?|files?|documents?|conversations?|chats?|prompts?|inputs?|messages?|posts?|images?|"
    r"photos?|videos?|recordings?|code|transcripts?|information|texts?)"
)
TRAIN_ON = rx(
    r"\btrain(?:s|ed)?\s+on\s+(?:the\s+|any\s+)?(?:(?:your|their|its|users?['’]?|customers?['’]?|members?['’]?)\s+"
    r"(?:[\w-]+\s+)?)?" + _TRAINING_DATA + r"\b"
)
# A model named by its own name: "your posts are used to train Quill" (a capitalised name right after "train",
# with data used for it: "learn how to train Rex, your puppy" is not this).
_MODEL_NAME = (
    r"(?!(?:Our|Your|The|Its|Their|This|These|Staff|Employees|Personnel|Agents|Team|Teams|Users|Members|Customers|"
    r"People|Models?|AI|Artificial|Machine)\b)[A-Z][a-z][\w-]*\b"
)
TRAIN_NAMED_MODEL = re.compile(
    r"\bus(?:e|ed|es|ing)\b[^.]{0,80}?\bto\s+(?:re)?train\s+" + _MODEL_NAME + r"|"
    r"\bhelps?\s+(?:us\s+)?(?:re)?train\s+"
    + _MODEL_NAME
    + r"|\btrain(?:s|ed|ing)?\s+"
    + _MODEL_NAME
    + r"\s+on\b"
)
# "training" of people, not of models.
STAFF_TRAINING = rx(
    r"\btrain\w*\b[^.]{0,40}\b(?:staff|employees|personnel|agents|team members|moderators|reviewers|workforce)\b|"
    r"\b(?:staff|employees|personnel|workforce)\s+(?:\w+\s+){0,2}(?:receive|attend|complete|undergo|get)s?\s+"
    r"(?:\w+\s+){0,2}training\b|"
    r"\b(?:staff|employee|personnel|compliance|security|privacy|agent)\s+training\b|training (?:courses?|sessions?|"
    r"materials?|programs?|purposes of (?:our )?(?:staff|employees))|"
    r"\bquality (?:and|or|&) training\b|\btraining (?:and|or|&) quality\b"  # calls recorded for quality and training
)

FIRST_PARTY = rx(
    r"\b(?:we|us|our|ours)\b|\b(?:the )?company\b|\baffiliates?\b|\bgrants?\b[^.;]{0,200}\blicen[cs]e\b|"
    r"\brights? you grant\b|"
    r"\byou (?:hereby )?(?:\w+ly )?(?:consent|agree|acknowledge)\b[^.;]{0,20}\b(?:to|that)\b"
)
PURPOSE_START = rx(
    r"^[\W_]*(?:to\s+|for\s+)?(?:the\s+)?(?:develop|train|improv|build|fine|enhanc|creat|research)\w*|"
    r"^[\W_]*(?:AI|artificial intelligence|machine learning|model)\s+(?:training|development)"
)
USER_DATA = rx(
    r"\byour\b|\buser|\bmember|\bcustomer|\bpersonal (?:data|information)|\bcontent\b|\binformation\b|\bdata\b|"
    r"\bposts?\b|\bprompts?\b|\binputs?\b|\boutputs?\b|\bconversations?\b|\bchats?\b|\bmessages?\b|\bimages?\b|"
    r"\bphotos?\b|\bvideos?\b|\brecordings?\b|\bvoice\b|\baudio\b|\binteractions?\b|\bactivity\b|\bfeedback\b|"
    r"\byou (?:submit|upload|provide|share|post|send|enter|create|generate|input)\b|"
    r"\btranscripts?\b|"
    # what users publish on a site, named by its kind
    r"\b(?:reviews?|comments?|listings?|stor(?:y|ies)|answers?|questions and answers|submissions?|uploads?|creations?|"
    r"artwork|clips?|tracks|songs?|designs?|searches|queries|search queries|code snippets)\b|"
    # what the people a service serves give it, named by their role ("teachers' course materials", "data from drivers")
    r"\b(?:teachers?|students?|creators?|sellers?|drivers?|riders?|hosts?|guests?|artists?|writers?|authors?|"
    r"instructors?|merchants?|patients?|players?|listeners?|viewers?|subscribers?|candidates?|applicants?|"
    r"learners?|parents?|freelancers?|clients?|developers?|musicians?|photographers?)['’]s?\s|"
    r"\b(?:from|of|by)\s+(?:our\s+)?(?:teachers|students|creators|sellers|drivers|riders|hosts|guests|artists|writers|"
    r"authors|instructors|merchants|patients|players|listeners|viewers|subscribers|learners|musicians|photographers)\b|"
    # what students hand in
    r"\b(?:student|students['’]?|learner|learners['’]?|pupil|pupils['’]?)\s+(?:work|submissions?|essays?|assignments?|answers?)\b|"
    r"\b(?:essays|assignments|homework)\b|"
    # what users do, kept as a record of it
    r"\b(?:viewing|watch|listening|search|browsing|purchase|order|reading|playback|transaction)\s+histor(?:y|ies)\b|"
    r"\bratings?\b|"
    # what users write, keep or translate, named so ("the notes you write"; "we help you write" is not data)
    r"\b(?:notes?|texts?|documents?|files?|entries|pages?|what|anything|everything)\s+(?:that\s+)?you\s+"
    r"(?!(?:can|cannot|may|might|will|would|must|should|could|do|did|does|are|were|have|had|need)\b)[a-z]+\b"
)

# Data that is not users': what AI companies also train on ("synthetic data and licensed datasets", "feedback from
# human reviewers employed by us"). Publicly available information is users' too (what they posted publicly).
NOT_USERS_DATA = rx(
    r"\b(?:synthetic|licen[cs]ed|purchased|open[- ]source)\s+"
    r"(?:(?:third[- ]party\s+)?data(?:sets?)?|datasets?|content|text|sources?|information)\b|"
    r"\bfeedback (?:from|by|of) (?:our )?(?:human )?(?:reviewers|contractors|trainers|annotators|label(?:l)?ers|raters|"
    r"experts|employees|staff)\b[^.,;]*"
)

# Negations that turn a training statement into a promise not to train.
NEGATION = rx(
    r"\b(?:do|does|did|will|would|shall|should|can|could|may|must|is|are|was|were|has|have|be)\s*n[o']t\b|"
    r"\b(?:don|doesn|won|isn|aren|wasn|weren|hasn|haven|shan|can|couldn|mustn|wouldn)[’']t\b|\bnever\b|"
    r"\bnot\s+(?:be\s+)?(?:used|use|using|train|shared|disclosed|allowed|permitted)\b|\bneither\b|\bnor\b|"
    r"\bno\s+(?:\w+\s+){0,3}(?:is|are|will be)\s+used\b|\bnot to (?:use|train|process)\b|\bnone of\b|\bprohibit\w*|\brefrain\b|\bexcludes?\b|"
    r"\bno longer\b|\bstopped\s+using\b|\b(?:has|have)\s+stopped\b"
)
BAN_SUBJECT = rx(
    r"\b(?:you|users?|developers?|customers?|licensees?|anyone|any person|any third part(?:y|ies)|"
    r"recipients?|end users?|authorized users)\b[^.;]{0,80}?"
    r"\b(?:may not|must not|shall not|will not|won['’]t|cannot|can['’]t|agree not to|are not (?:permitted|allowed|"
    r"authori[sz]ed)|is not (?:permitted|allowed)|(?:is|are) (?:strictly )?(?:prohibited|forbidden)|"
    r"(?:are|is) not to|should not|do not)\b"
)
BAN_LEADIN = rx(
    r"\b(?:you|users?|developers?|customers?)\b[^.]{0,60}\b(?:may not|must not|shall not|will not|agree not to|"
    r"cannot|are not (?:permitted|allowed))\b|\b(?:prohibited|restricted|forbidden|not permitted)\b[^.]{0,30}:?\s*$|"
    r"\bnot (?:to|allowed to)\b[^.]{0,20}:?\s*$|\b(?:you|users?) (?:also )?(?:agree|promise|undertake) (?:that you will )?not\b"
)
SCRAPING = rx(
    r"\bscrap(?:e|es|ed|ing|er)\b|\bcrawl\w*|\brobots\.txt\b|\bspider\w*|\bdata[- ]mining\b|\bharvest\w*|"
    r"\bcompet\w*|\breverse[- ]engineer\w*|\bdistill\w*|\bextract (?:data|model weights)"
)
HEADING_BANS = rx(
    r"restrict|prohibit|acceptable use|conduct|rules|don['’]t|limitations on|what you can(?:no|')t"
)

# A setting named in capitals and turned off ("turn Assistant Activity off"), and a setting that stops something
# turned on ("turn on the Prevent third-party sharing setting"): both are ways to opt out.
_TURN_NAMED_OFF = (
    r"\bturn(?:ing|ed|s)? (?:(?:the|your) )?(?=(?:[A-Z][\w'’-]*\s+){0,4}(?:AI|Improve\w*|Training|Models?|Activity|"
    r"History|Data|Shar\w+|Personali[sz]\w+|Learning|Contribut\w+|Help)\b)(?-i:(?:[A-Z][\w'’-]*\s+){1,5})"
    r"(?:(?:setting|toggle|option|switch)s?\s+)?off\b"
)
_STOPPER = (
    r"(?:(?:the|your|a) )?[\"“']?(?:prevent|block|opt[- ]?out|do not|don['’]t|disable|exclude|stop|pause)"
)
_TURN_ON_STOPPER = r"\b(?:turn|switch)(?:ing|ed|s|es)? on " + _STOPPER

OPT_OUT = rx(
    _TURN_NAMED_OFF + "|" + _TURN_ON_STOPPER + "|"
    r"\bopt(?:ing|ed|s)?[- ]?out\b|\bturn(?:ing|ed|s)? (?:it |this |that )?off\b|\bswitch(?:ing|ed|es)? (?:it |this )?off\b|"
    r"\bdisabl\w+|\btoggle\w*|\bobject(?:ing|ion|ions|s)?\b|\bunsubscrib\w*|"
    r"\b(?:may|can) decline\b(?!\s+(?:to|the|a|an|any|some|certain|cookies|calls)\b)|"
    # deactivating a setting, not an account (closing an account is not a choice about training)
    r"\bdeactivat\w+(?!\s+(?:(?:your|the|their|its|an?|this|that|such|any)\s+)?(?:user\s+)?accounts?\b)|"
    r"\bwithdraw\w*|\bexclude (?:your|their|its|it|them|this|these|that)\b[^.]{0,60}\bfrom\b|\bchoices? you (?:make|have made)\b|\byou (?:can |may |will be able to )?(?:control|choose|decide) whether\b|\b(?:in control of|control over|controls? (?:for|over)) (?:whether|how)\b|"
    r"\bprevent (?:us|your|such|this|the)\b|\bstop (?:us|your|the use|using)|\bchange (?:this|that|your)\s+(?:setting|preference)|"
    r"\bsettings?\b[^.]{0,60}\b(?:off|disable|control|choose|manage|turn|adjust)|\bif you (?:do not|don['’]t) want\b|"
    r"\b(?:manage|control|adjust|change|update)\s+(?:this|it|that|your (?:choices?|preferences?))\b[^.]{0,40}"
    r"\b(?:settings?|preferences)\b|"
    r"\bimprove the model for everyone\b|\bdata for generative ai improvement\b|\bexercise your right\b|"
    r"\bunless you (?:have )?(?:tell|told|ask|asked|instruct|instructed) us (?:not to|otherwise)\b|\bto stop (?:this|it|that)\b|"
    r"\bif you(?:['’]d| would)? (?:rather|prefer)(?: that)? (?:we|us) (?:did not|didn['’]t|do not|don['’]t|not)"
    r"(?:\s*[,.;]|\s+(?:use|include|process|do (?:so|this|that)))|"
    r"\bwe will exclude your (?:account|data|content|information|workspace)\b"
)
OPT_OUT_MECHANISMS = {
    "setting": rx(
        _TURN_NAMED_OFF + "|" + _TURN_ON_STOPPER + "|"
        r"\bsettings?\b|\btoggle|\bturn\w* (?:it |this |that )?off\b|\bswitch\w* (?:it |this )?off\b|\bpreferences?\b|\bcontrols?\b|"
        r"\b(?:feature|option)s? (?:available )?(?:on|in|from|under) your (?:account|profile|dashboard)\b"
    ),
    "form": rx(r"\bform\b|\brequest\b|\bportal\b"),
    "email": rx(r"\bemail\b|\be-mail\b|@\w|\bcontact (?:us|our)\b|\bwrite to us\b"),
    "objection": rx(r"\bobject\w*"),
}
CONSENT = rx(
    r"\b(?:with|upon|subject to|without|after obtaining|obtain|obtained|seek|based on|ask for)\s+(?:your|the user['’]s|"
    r"customer['’]s|their|users['’]?|explicit|express|prior|affirmative)?\s*(?:prior\s+|explicit\s+|express\s+|"
    r"written\s+|affirmative\s+|separate\s+)*(?:consent|permission|authori[sz]ation)\b|"
    r"\bopt(?:s|ed|ing)?[- ]?in\b|\bunless you (?:\w+ ){0,2}?(?:give|grant|provide) (?:us )?(?:your )?(?:\w+ )?(?:permission|consent)\b|\bunless you (?:\w+ )?(?:consent|authori[sz]e|agree|allow|choose|permit|opt in|enable)\b|"
    r"\bonly (?:if|when|where) you (?:\w+ ){0,2}(?:consent|agree|allow|choose|opt|enable|share|submit|give|tick|"
    r"check|select|activate|join|enrol|enroll|sign up|participate|volunteer)\b|"
    r"\b(?:if|where|when|once|after) you (?:have )?(?:\w+ )?(?:give|given|grant|granted|provide|provided) "
    r"(?:us )?(?:your )?(?:\w+ )?(?:consent|permission)\b|\b(?:if|where|when|once|after) you (?:have )?consented\b|"
    r"\b(?:if you|you (?:may|can))\s+(?:choose|decide|agree|elect) to (?:share|allow|contribute|participate|let)\b|"
    r"\b(?:only )?(?:if|when|once|after|unless) you (?:\w+ )?(?:turn|switch) (?:it |this |that )?on\b(?! "
    + _STOPPER
    + ")|"
    r"\b(?:only )?(?:if|when|once|after) you (?:choose to )?(?:enable|activate|opt in)\b|"
    r"\b(?:give|grant|provide)(?: or (?:withdraw|revoke))? (?:us )?your (?:\w+ )?(?:consent|permission)\b|"
    r"\b(?:if|once|when|where) you (?:agree|consent)\b(?!\s+to (?:these|the|this|our) (?:terms|policy|agreement|privacy))|"
    r"\bif you allow (?:us|it|this)\b|"
    # data only of the users who said yes ("only data from users who have enabled Contribute to AI")
    r"\bonly (?:\w+ )?(?:data|content|recordings|conversations|chats|information|photos|posts|messages)\s+"
    r"(?:of|from) (?:the )?(?:users|people|members|customers|those|participants)\s+who\s+(?:have\s+)?"
    r"(?:opted in|enabled|turned on|switched on|joined|chosen|chose|agreed|consented|signed up|enrolled|volunteered)\b|"
    r"\brel(?:y|ies|ying) on (?:your|users['’]?|the user['’]s) (?:\w+ )?consent\b|"
    # consent of the person who decides for an account or a meeting
    r"\b(?:if|when|where|once|after|provided that)\s+the\s+(?:\w+\s+)?(?:host|owner|admin\w*|account holder|organi[sz]er)"
    r"\s+(?:has|have)\s+(?:given|granted|provided)\s+(?:\w+\s+)?(?:consent|permission)\b"
)
# Withdrawing consent given before: what makes consent consent, not a way to opt out of a default.
# Consent asked for in a sentence of its own, for what a neighbour says ("Scribe will ask for your consent first").
CONSENT_FIRST = rx(
    r"\b(?:ask|seek|obtain|request|get)\w*\s+(?:for\s+)?your\s+(?:prior\s+|explicit\s+|express\s+)?"
    r"(?:consent|permission)\b[^.]{0,40}?\b(?:first|beforehand|in advance|"
    r"before (?:doing so|we do (?:so|this|that)|(?:we )?us(?:e|ing) (?:it|them|this|that|your|such)))\b|"
    r"\bonly (?:with|after (?:obtaining|getting|receiving)) your (?:prior |explicit |express )?(?:consent|permission)\b"
)
CONSENT_WITHDRAWAL = rx(
    r"\b(?:withdraw\w*|revok\w*|revocation|retract\w*)\b[^.]{0,40}?\bconsent\b|"
    r"\bconsent\b[^.]{0,60}?\b(?:withdraw\w*|revok\w*|retract\w*)"
)
NOT_OPTED_OUT = rx(
    r"\b(?:you|users?|customers?|members?)\s+(?:do not|don['’]t|have not|haven['’]t|did not|didn['’]t|has not|hasn['’]t)\s+"
    r"(?:yet\s+)?opt(?:ed)?[- ]?out\b"
)
DEFAULT_ON = rx(
    r"\b(?:you|users?|customers?|members?)\s+(?:do not|don['’]t|have not|haven['’]t|did not|didn['’]t|has not|hasn['’]t)\s+"
    r"(?:yet\s+)?opt(?:ed)?[- ]?out\b|"
    r"\bunless (?:\(\w\) )?(?:you|the user|the customer|customers?|users?)\s+(?:have |has )?(?:opted|opt|opts)[- ]?out\b|"
    r"\b(?:on|enabled|turned on|switched on|activated|opted[- ]in)\s+by\s+default\b|\bby default\b[^.]{0,60}\b(?:we (?:may |will )?use|"
    r"(?:is|are|will be) (?:used|on|enabled)|included)\b|\bdefault (?:setting )?(?:is|will be) (?:on|enabled)\b"
)
DEFAULT_OFF = rx(
    r"\b(?:off|disabled|turned off|switched off|deactivated|opted[- ]out)\s+by\s+default\b|\bby default\b[^.]{0,60}\b"
    r"(?:we (?:do not|don['’]t|will not|won['’]t) use|(?:is|are) not used|(?:is|are) (?:off|disabled))\b|"
    r"\bdefault (?:setting )?(?:is|will be) (?:off|disabled)\b|"
    r"\b(?:is|are|stays|remains) (?:off|disabled|turned off)\b[^.]{0,40}\b(?:unless|until) you (?:\w+ )?(?:turn|switch|enable|opt)|"
    # "You can let us use your data ... by switching the toggle on": nothing is used until you do
    r"\bby (?:switching|turning) (?:the |this |that |it )?(?:[\w-]+ )?(?:toggle |setting |switch )?on\b|"
    r"\byou (?:can|may) (?:choose to )?let us (?:use|train|include|process)\b|"
    # "Participation in our AI training programme is voluntary": nobody is in it until they join
    r"\b(?:participation|taking part|enrol(?:l)?ment)\b[^.]{0,80}?\b(?:program(?:me)?|training|AI|models?|study|"
    r"research|pilot)\b[^.]{0,40}\b(?:is|are) (?:entirely |completely |always )?(?:voluntary|optional)\b"
)
TIER = rx(
    r"\b(?:business|enterprise|team|teams|commercial|api|paid|pro|premium|workspace|organi[sz]ation(?:al)?|"
    r"education|edu|government|professional|plus|developer|platform)\s+(?:customers?|users?|accounts?|plans?|"
    r"tiers?|products?|offerings?|services?|subscriptions?|data|content|versions?|editions?)\b|"
    r"\b(?:business data|enterprise data)\b|\bour (?:business|enterprise) (?:offerings|products)\b|"
    r"\bif you (?:use|are|subscribe to|have) (?:[\w-]+ ){0,4}?(?:team|enterprise|business|paid|pro|premium|api|education)\b|"
    r"(?-i:\b[A-Z][\w-]*\s+(?:Pro|Plus|Premium|Business|Enterprise)\b)"  # a product's paid plan: "Linguo Pro"
)
FREE_TIER = rx(r"\bfree\b|\bconsumer\b|\bpersonal (?:accounts?|use|plans?)\b|\bindividual\b")
THIRD_PARTY_SUBJECT = rx(
    r"^[^.]{0,80}?\b(?:third[- ]party|service providers?|vendors?|sub-?processors?|providers?|partners?|suppliers?)\b"
    r"[^.]{0,60}?\b(?:do(?:es)? not|don['’]t|will not|won['’]t|may not|are not|cannot|(?:are|is) (?:contractually )?"
    r"(?:prohibited|restricted|barred|not permitted))\b"
)

REGIONS = {
    "EU": rx(r"\bEuropean Union\b|\bEU\b|\bEurope(?:an)?\b"),
    "EEA": rx(r"\bEuropean Economic Area\b|\bEEA\b"),
    "UK": rx(r"\bUnited Kingdom\b|\bUK\b|\bU\.K\.|\bGreat Britain\b"),
    "CH": rx(r"\bSwitzerland\b|\bSwiss\b|\bCH\b"),
    "Designated Countries": rx(r"\bdesignated countries\b"),
    "certain regions": rx(r"\bcertain (?:markets|regions|countries|jurisdictions|locations)\b"),
    "Brazil": rx(r"\bBrazil\b"),
    "Canada": rx(r"\bCanada\b"),
    "South Korea": rx(r"\bSouth Korea\b|\bKorea\b"),
    # "the US" or "in US", never the pronoun of all-capital legal text ("CONTACT US", "LET US KNOW")
    "US": rx(
        r"\bUnited States\b|(?-i:\bU\.S\.(?:A\.)?|\bUSA\b|(?:(?<=\bthe )|(?<=\bThe )|(?<=\bTHE )|(?<=\bin )|(?<=\bIN ))US\b)"
    ),
    "India": rx(r"\bIndia\b"),
    "Japan": rx(r"\bJapan\b"),
    "Australia": rx(r"\bAustralia\b"),
}
# Users in named regions, as those a permission is limited to ("voice clips from users in the United States").
INCLUDED_SCOPE = rx(
    r"\b(?:users?|members?|people|customers?|accounts?|residents?|players?|creators?|adults?|listeners?|drivers?)\s+"
    r"(?:who (?:are|live|reside) |(?:located|based|living|residing) )?in\s+(?:the\s+)?"
)
CARVE_OUT = rx(
    r"\boutside(?: of)?(?: the)?\b|\bexcept\b|\bexcluding\b|\bexclude[sd]?\b|\bother than\b|\bnot (?:in|available in|"
    r"apply|applicable)\b|\bsubject to (?:our|the)?\s*\w*\s*(?:regional|european|eu|eea|uk)\b|\bunless you (?:live|are|reside)\b|"
    r"\b(?:if|when) you (?:live|are located|reside|are based) in\b[^.]{0,120}\b(?:do not|don['’]t|will not|won['’]t|not)\b|"
    r"\b(?:do not|don['’]t|will not|won['’]t|does not)\b[^.]{0,120}\b(?:in|from) the (?:EU|EEA|UK|European)|"
    # a named country left out by a sentence pointing back: "We do not do this in Brazil", "We have suspended this in
    # Canada"
    r"\b(?:(?:do|does|will|are|is) not|don['’]t|won['’]t|(?:paus|suspend|halt)\w*|stopped)\s+(?:currently\s+)?"
    r"(?:do(?:ing)?\s+)?(?:this|it|that|so)\b[^.]{0,60}\b(?:in|for (?:users|people|members|residents) in) (?:the )?"
    r"(?:EU|EEA|UK|European|Switzerland|Brazil|Canada|South Korea|India|Japan|Australia|United Kingdom|United States)\b"
)

PARTY_CLASSES = {
    "affiliates": rx(
        r"\baffiliat\w*|\bgroup companies\b|\bcorporate family\b|\bsubsidiar\w+|\b(?:sister|parent) compan(?:y|ies)\b"
    ),
    "partners": rx(r"\bpartners?\b"),
    "third-party collaborators": rx(r"\bthird[- ]party collaborators?\b|\bcollaborators?\b"),
    "licensees": rx(r"\blicensees?\b|\bsyndicat\w+|\bsublicens\w+"),
    "third parties": rx(
        r"\bthird[- ]part(?:y|ies)\b(?!\s+(?:services?|sites?|websites?|apps?|links?|content))"
    ),
    "service providers": rx(r"\bservice providers?\b|\bvendors?\b|\bsub-?processors?\b"),
}
NAMED_PARTY = re.compile(
    r"\b(?:including|such as|like|namely|e\.g\.,?|with|by|to|(?:sister|parent) company)\s+((?:[A-Z][\w&.\-]*[a-z0-9][\w&.\-]*|[A-Z]{2,})"
    r"(?:\s+(?:[A-Z][\w&.\-]+))*)"
)
NOT_NAMES = {
    "AI",
    "ML",
    "EU",
    "EEA",
    "UK",
    "US",
    "API",
    "Services",
    "Service",
    "Terms",
    "Privacy",
    "Policy",
    "Content",
    "User",
    "Your",
    "You",
    "We",
    "Our",
    "The",
    "This",
    "These",
    "Data",
    "Personal",
    "Section",
    "Designated",
    "Countries",
    "European",
    "Regional",
    "Notice",
    "Affiliates",
    "Affiliate",
    "Generative",
    "Artificial",
    "Intelligence",
    "Inputs",
    "Outputs",
    "Input",
    "Output",
    "Customer",
    "Customers",
    "Members",
    "Member",
    "Platform",
    "Products",
    "Product",
    "Agreement",
    "Settings",
    "Feedback",
    "Help",
    "Center",
    "Learn",
    "More",
    "Public",
    "Information",
    "Models",
    "Model",
    "Machine",
    "Learning",
    "Switzerland",
    "Union",
    "Economic",
    "Area",
    "Kingdom",
    "United",
    "States",
    "Partners",
    "Partner",
    "LLM",
    "LLMs",
    "Statement",
    "Cookie",
}

CATEGORIES = {
    "posts": rx(
        r"\bposts?\b|\bposted\b|\bpins?\b|\btweets?\b|\bcomments?\b|\banswers?\b|\breviews?\b|\barticles?\b|\bstories\b"
    ),
    "messages": rx(r"\bmessages?\b|\bdirect messages\b|\bDMs?\b|\bemails?\b(?! (?:us|address))"),
    "images": rx(r"\bimages?\b|\bphotos?\b|\bpictures?\b|\bimagery\b"),
    "video": rx(r"\bvideos?\b|\bvisual\b"),
    "audio": rx(r"\baudio\b|\bvoice\b|\bspeech\b|\brecordings?\b|\bcalls?\b"),
    "prompts": rx(
        r"\bprompts?\b|\binputs?\b|\bconversations?\b|\bchats?\b|\bqueries\b|\binteractions? with\b"
    ),
    "outputs": rx(
        r"\boutputs?\b|\bresponses?\b|\bgenerated (?:content|text|images)\b|\bcreate,? (?:or )?generate\b|\bgenerate\b"
    ),
    "profile": rx(r"\bprofiles?\b|\bCVs?\b|\brésumés?\b|\b(?:your|a|the|their) resumes?\b"),
    "content": rx(r"\bcontent\b|\bmaterials?\b|\bfiles?\b|\bdocuments?\b|\btext\b|\bcreations?\b"),
    "usage": rx(
        r"\busage\b|\bactivity\b|\binteractions?\b|\bservice generated data\b|\btelemetry\b|\bhow you use\b|\bsearch(?:es)?\b"
    ),
    "personal_data": rx(r"\bpersonal (?:data|information)\b"),
    "public_data": rx(r"\bpublicly available\b|\bpublic (?:information|sources|web)\b"),
    "feedback": rx(r"\bfeedback\b|\bthumbs\b|\bratings?\b"),
    "minors": rx(
        r"\bminors?\b|\bchildren\b|\bkids\b|\bteens?\b|\bteenagers?\b|\bunder (?:the age of )?1[3-8]\b|"
        r"\b(?:aged|ages) (?:[1-9]|1[0-7]) (?:to|-|–|and) 1[0-7]\b"
    ),
    "biometrics": rx(
        r"\bbiometric\w*|\bfac(?:e|ial) (?:geometry|scans?|templates?|prints?|data)\b|\bvoice ?prints?\b|\bfingerprints?\b"
    ),
    "location": rx(
        r"\b(?:precise |approximate |geo-?)?location (?:data|history|information)\b|\bprecise location\b|\bgeolocation\b|\bGPS\b"
    ),
    "sensitive_data": rx(
        r"\bsensitive (?:personal )?(?:data|information)\b|\bspecial categor\w+|\bhealth (?:data|information|conditions?)\b"
    ),
}

MODEL_KINDS = {
    "language models": rx(r"\blanguage models?\b|\bLLMs?\b"),
    "generative AI": rx(r"(?<!non-)(?<!non )\bgenerative\b"),
    "AI models": rx(r"\bA\.?I\b|artificial[- ]intelligence"),
    "machine learning": rx(r"machine[- ]learning|\bML\b"),
    "foundation models": rx(r"\bfoundation(?:al)? models?\b"),
}

NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "eighteen": 18,
    "twenty": 20,
    "thirty": 30,
    "sixty": 60,
    "ninety": 90,
    "a": 1,
    "an": 1,
}
DURATION = rx(
    r"\b(?:(up to|at most|no (?:more|longer) than|maximum of|for|within|after|of)\s+)?(\d{1,4}|"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
    + r")(?:\s*\(\d+\))?[- ](days?|weeks?|months?|years?)\b"
)
UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
RETENTION = rx(
    r"\b(?:retain|retention|keep|kept|store|stored|hold|delete|deleted|de-identif\w+|anonymi[sz]\w+)\b"
)
INDEFINITE = rx(
    r"\bindefinitely\b|\bas long as (?:necessary|needed)\b|\bfor the (?:entire )?duration of the applicable intellectual property"
)

RETRO_SCOPE = rx(
    r"\bregardless of when\b|\b(?:already|previously|historical(?:ly)?|past)\s+(?:been\s+)?(?:posted|shared|uploaded|"
    r"collected|provided|published|created|submitted)\b|\b(?:content|posts|data) (?:you have|that you have) (?:already|ever|previously)\b|"
    r"\bpast (?:posts|content|activity|data)\b"
)
# "Deleting your data does not remove it from models that have already been trained": what is trained stays.
TRAINED_STAYS = rx(
    r"\b(?:remov|delet|eras|extract|unlearn)\w*\b[^.]{0,60}\bmodels?\b[^.]{0,40}\b(?:already|previously)\s+(?:been\s+)?"
    r"trained\b"
)
NOT_RETRO_OPT_OUT = rx(
    r"\bdoes(?:n['’]t| not) affect\b[^.]{0,80}\b(?:already|previously|prior)\b|\bwill not (?:affect|undo|reverse)\b[^.]{0,80}"
    r"\b(?:already|previously|prior)\b|\b(?:only|solely) (?:apply|applies|be effective|affect\w*) (?:to )?(?:future|new|"
    r"going forward)|\bgoing forward\b|\bfrom (?:that point|then) (?:on|forward)\b|\bnew conversations\b|\bfuture (?:prompts|"
    r"conversations|data|content)\b|\bcannot be (?:undone|removed|reversed)\b"
)
RETRO_OPT_OUT = rx(
    r"\b(?:also )?(?:delete|remove|exclude)\w*\b[^.]{0,80}\b(?:previously|already|past)\b[^.]{0,60}\b(?:training|to train|"
    r"datasets?)\b|\bretroactive\w*\b"
)
LICENCE = rx(
    # the noun: "we license your posts to partners" (the verb) is a sharing, not a grant by users
    r"(?<!\bwe )(?<!\bmay )(?<!\bcan )(?<!\bwill )(?<!\bto )\blicen[cs]e\b|\bright to use\b|\bgrant (?:us|to us)\b|\byou grant\b|\broyalty[- ]free\b|\bperpetual\b|\birrevocable\b|\bsublicensable\b"
)
# A licence that outlives the user's choices: perpetual, irrevocable, or kept after the content is deleted.
PERPETUAL_LICENCE = rx(
    r"\bperpetual\b|\birrevocable\b|\b(?:continues?|survives?|remains? in effect)\b[^.]{0,40}\b(?:after|even if|beyond)\b"
    r"[^.]{0,40}\b(?:delet\w+|remov\w+|terminat\w+|clos\w+)"
)
PAUSE = rx(
    # (a user stopping it, "to stop us using your posts", is an opt-out, not a notice)
    r"\b(?:delay\w*|paus\w+|postpon\w+|suspend\w*|halt\w*|put on hold|on hold|"
    r"(?<!\bto )(?<!\bcan )(?<!\bmay )(?<!\bwill )stop\w*(?!\s+(?:us|it|this|that)\b))\b[^.]{0,80}\b(?:train\w*|"
    r"use of (?:your )?(?:data|content|information) (?:for|to)|use (?:your|users['’]?|members['’]?|people['’]?s?) "
    r"(?:\w+ )?(?:data|content|information|posts))"
    r"|\btrain\w*\b[^.]{0,60}\b(?:is|are|has been|have been|will be) (?:paused|delayed|postponed|suspended|halted)\b"
)
RESUME = rx(
    r"\b(?:resum\w+|restart\w*|recommenc\w+)\b[^.]{0,80}\btrain\w*|\btrain\w*\b[^.]{0,60}\b(?:will )?resum\w+"
)
ANNOUNCE = rx(
    r"\b(?:will|shall) (?:take effect|come into effect|become effective|apply|start|begin)\b|\beffective (?:on|from|as of)\b|"
    r"\b(?:starting|beginning|from) (?:on )?(?:\d|january|february|march|april|may|june|july|august|september|october|"
    r"november|december)\b|\bwe (?:are|'re|will be) (?:updating|changing|going to)\b|\bupcoming\b"
)
EXCEPTION = rx(
    r"\b(?:even if|even when|even after|regardless of whether) you(?:['’]ve| have)? (?:opted out|opt out|"
    r"turn\w* (?:\w+ )?off|switch\w* (?:\w+ )?off|disabled?)\b|"
    r"\b(?:except(?:ion)?|unless)\b[^.]{0,80}\b(?:feedback|thumbs|flagged|report\w*|safety|abuse|logged[- ]out|"
    r"signed[- ]out)\b|"
    r"\b(?:feedback|flagged|reported)\b[^.]{0,80}\b(?:may still|will still|still be used|even if)\b|"
    # "..., except recordings that a parent chooses to share with us"
    r"\b(?:except|other than|apart from)\b[^.]{0,80}\b(?:chooses?|decides?|agrees?|elects?) to "
    r"(?:share|send|submit|give|provide|contribute|upload)\b"
)

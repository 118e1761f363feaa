# SPDX-License-Identifier: Apache-2.0
"""Clause detectors: what each clause says about training AI on users' data.

Owns :class:`ClauseHit` and :func:`detect`. Each detector is a small pure function over the plain text of
one clause (plus its neighbours where a policy spreads one statement over several sentences). A hit keeps
the clause it came from, so every verdict can be explained by quoting it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from . import lexicon as lx
from .segment import Address, Clause, Document, split_sentences

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_`]+|<[^>]+>")
_PASSIVE = lx.rx(
    r"\b(?:used?|using|shared|processed|analy[sz]ed|leveraged|included|incorporated)\s+(?:\w+\s+){0,4}?"
    r"(?:to|for|in|as)\s+(?:[\w,]+\s+){0,4}?(?:(?:re-?)?train|fine[- ]?tun|develop|improv|build|creat|enhanc)\w*"
)
_YOU_TRAIN = lx.rx(
    r"\b(?:you|customers?|developers?)\b\s+(?:\w+\s+){0,2}?(?:can|may|to|will be able to|are able to)\s+"
    r"(?:\w+\s+)?(?:train|fine[- ]?tune|customi[sz]e|build)\b|\ballows? (?:you|customers?|developers?) to\b|"
    r"\byou (?:\w+ ){0,2}?(?:can|may) use (?:\w+ ){0,3}?(?:outputs?|the services?|our models?|the api) to\b|"
    r"\b(?:if|when|once) you (?:\w+ )?(?:train|fine[- ]?tune|customi[sz]e)\b|"
    r"\b(?:you|customers?|developers?|users?)\s+(?:who|that)\s+(?:\w+\s+)?(?:train|fine[- ]?tune|build)\b"
)
# "If you create an app that uses our API to train a model": what a customer builds (no "we" or "us" in it).
_YOU_BUILD_TO_TRAIN = lx.rx(
    r"\b(?:if|when|once) you (?:create|build|develop|make|use|deploy)\b[^.;,]{0,60}?\bto (?:train|fine[- ]?tune)\b"
)


def _you_build_to_train(t: str) -> re.Match[str] | None:
    found = _YOU_BUILD_TO_TRAIN.search(t)
    return found if found and not re.search(r"\b(?:we|us)\b", found.group(0), re.IGNORECASE) else None


_BAN = lx.rx(
    r"\b(?:you|developers?|users?|licensees?|anyone|any person|recipients?|customers?|end users?|authori[sz]ed users?)"
    r"\s+(?:\w+\s+){0,3}?(?:may not|must not|shall not|will not|won['’]t|cannot|can['’]t|agree not to|should not|"
    r"are not (?:permitted|allowed|authori[sz]ed) to|(?:is|are) (?:strictly )?(?:prohibited|forbidden) from|do not)"
    r"(?![\s,]+(?:want|wish|like|opt|prefer)\b)[\s,]+(?:[\w,()]+\s+){0,8}?(?:use|using|train|access|copy|scrape|crawl|develop|build|create|extract|reproduce|"
    r"exploit|employ|mine|compile|harvest|incorporate|feed|sell|distribute|allow|permit|enable|assist)\b"
)
_PROHIBITS_USE = lx.rx(
    r"\b(?:prohibits?|forbids?|(?:does|do) not (?:allow|permit))\s+(?:any |the )?(?:use|using|access|scraping)\b"
    r"(?![^.]{0,80}\b(?:providers?|vendors?|partners?|processors?)\b)"
)
_PROVIDER_MODELS = lx.rx(
    r"\b(?:providers?|vendors?|partners?|processors?|suppliers?)\b[^.]{0,200}\bits (?:own )?(?:[\w-]+ ){0,2}models?\b"
)
_THIS_LICENCE = lx.rx(r"\b(?:this|such|the above|that|these) (?:licen[cs]es?|rights?)\b")
_GRANT = lx.rx(r"\bgrants?\b[^.]{0,200}\blicen[cs]e\b")
_REFERS_BACK = lx.rx(
    r"\b(?:this|such|that|these|the)\s+(?:use|uses|processing|purpose|purposes|setting|feature|activity|sharing|"
    r"program(?:me)?)\b|\b(?:opt(?:ing)?[- ]?out of|turn(?:ing)?|switch(?:ing)?|object(?:ing)? to) (?:this|it|that|such)\b|"
    r"^(?:this|it) (?:is|will be|can be)\b|\bchoices? you (?:make|have made)\b|\bby default\b|"
    r"\b(?:do|does|doing)\s+(?:this|that|so)\b"  # "we do not do this for members in the EU"
)
# "We do not use data from users under 18 for this purpose": data left out of the training clause just before.
_NOT_USED_FOR_THIS = lx.rx(
    r"\b(?:do|does|will|shall|would|may)\s+not\s+(?:be\s+)?(?:use|used|process|processed|include|included)\b"
    r"[^.]{0,120}\bfor (?:this|these|that|such) (?:purposes?|uses?)\b|"
    r"\b(?:never|not)\s+(?:be\s+)?used\b[^.]{0,120}\bfor (?:this|these|that|such) (?:purposes?|uses?)\b|"
    r"\bexclude[ds]?\b[^.]{0,120}\bfrom (?:this|these|that|such) (?:purposes?|uses?|processing)\b"
)
# "We may use your public posts for this purpose": data used for what the clause before says.
_USED_FOR_THIS = lx.rx(
    r"\b(?:use[sd]?|using|process(?:es|ed)?|analy[sz]e[sd]?)\b[^.]{0,120}\bfor (?:this|these|that|such) (?:purposes?|uses?)\b"
)
_CAPABILITY = lx.rx(
    r"\btrain(?:s|ed|ing)?\s+(?:them|it|our models|the models?|models)\s+(?:to|so that|not to)\s+"
    r"(?:refuse|be|follow|avoid|behave|respond|decline|recogni[sz]e|detect|identify|reduce|satisfy|comply)"
)
_USERISH = lx.rx(r"\byour\b|\busers?['’]?\b|\bpersonal\b|\bcustomers?['’]?\b|\bmembers?['’]?\b")
_THEIR_MODELS = lx.rx(r"\btheir (?:own )?(?:[\w-]+ ){0,3}(?:models?|AI|artificial intelligence)")
# "OpenAI does not use your documents to train its models": a company other than the service, promising for its own
_OTHER_COMPANY_ITS_MODELS = lx.rx(
    r"^(?-i:(?!(?:It|This|That|The|Our|We|You|Your|Each|Any|No|Such)\b)[A-Z][\w.&’'-]*(?:\s+[A-Z][\w.&’'-]*){0,3})\s+"
    r"(?:does not|doesn['’]t|will not|won['’]t|never|may not|cannot|is not)\b[^.]*"
    r"\bits (?:own )?(?:[\w-]+ ){0,3}(?:models?|AI|artificial intelligence)\b"
)
_NO_USE_WITHOUT = lx.rx(
    r"\b(?:not|no)\b[^.]{0,80}\bwithout (?:our|the) (?:prior |express |written |explicit )*(?:consent|permission|"
    r"authori[sz]ation)"
)
_CONDITIONAL_OPT_OUT = lx.rx(
    r"\b(?:if|once|when|after|where|should) you(?:['’]ve| have)? (?:\w+ ){0,3}?(?:opt(?:ed)?[- ]?out|turn\w* off|"
    r"disabl\w*|switch\w* off|object\w*|withdr\w*|chose not|choose not|decline\w*|unselect\w*|uncheck\w*)|"
    r"\b(?:opting[- ]out|turning (?:\w+ )?off|switching (?:\w+ )?off)\b[^.]{0,40}?\b(?:means|will|stops?|ensures?)\b"
)
_IF_NOT_WANT = lx.rx(r"\b(?:if|should) you (?:do not|don['’]t|no longer) (?:want|wish|like)\b")
_REGIONAL_RIGHT = lx.rx(
    r"\b(?:if|where|when) you (?:live|are|reside|are located|are based) in\b|\bfor (?:users|members|individuals|people)"
    r" (?:in|located in|from) the\b|\bunder (?:the )?(?:GDPR|EU|European|UK)\b|\bin the (?:EU|EEA|UK|European)\b|"
    # "Users in Brazil can opt out": a right for the people of one place
    r"\b(?:users|members|customers|individuals|people|residents|those)\s+(?:who (?:live|reside) |living |residing |"
    r"located |based )?(?:in|from) (?:the )?(?-i:[A-Z][a-z]+)(?:\s+(?-i:[A-Z][a-z]+))?\s+(?:can|may|have|are able)\b"
)


# An AI feature ("our AI-powered spam filter ... you can turn it off"): turning it off is not about training.
_AI_FEATURE = lx.rx(
    r"\bA\.?I\b[- ](?:powered|driven|based|enabled|generated)\b|"
    r"\bA\.?I\s+(?:features?|tools?|assistants?|summar\w+|search|filters?|suggestions?)\b"
)
_ABOUT_MODELS = lx.rx(r"\btrain|\bmodels?\b|\bimprov|\bdevelop|\blearn")


_SHARE_DEVELOP = lx.rx(
    r"\b(?:share|disclose|provide|make available)\w*\b[^.;]{0,160}\b(?:with|to)\b[^.;]{0,120}\bto\s+(?:\w+\s+){0,3}?"
    r"(?:develop|improve|train)\w*\s+(?:\w+\s+){0,2}(?:their|its)\b"
)
_BOUNDARY = lx.rx(r";|\bbut\b|\bhowever\b|\bexcept\b|\bunless\b|:\s")


@lru_cache(maxsize=4096)  # a clause is read again as the context of its neighbours, and in every version
def plain(text: str) -> str:
    """The clause text without link targets and emphasis markup, for matching."""
    text = _LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    return re.sub(r"\s+", " ", text.replace("|", " ; ")).strip()


@dataclass(frozen=True)
class ClauseHit:
    """What one clause says about AI training (only clauses that say something get a hit)."""

    clause: Clause
    training: bool = False  # mentions training / developing AI or ML models on data
    ban: bool = False  # publisher-side: others may not train on the platform's content
    permission: bool = False  # the service (or affiliates/partners) may train on users' data
    promise: bool = False  # users' data is not used to train
    promise_scope: str = ""  # all | tier | party
    consent: bool = False  # training only with consent / opt-in
    opt_out: tuple[str, ...] = ()  # mechanisms: setting, form, email, objection, other
    regional_right: bool = False  # the opt-out/objection applies only in some regions
    default: str | None = None  # on | off
    licence: bool = False  # a licence grant that covers training
    perpetual: bool = False  # ... that is perpetual, irrevocable or kept after deletion
    excluded_regions: tuple[str, ...] = ()
    included_regions: tuple[str, ...] = ()  # a permission limited to users in these regions
    parties: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # The data a permission leaves out ("except chats of users under 18").
    excluded_categories: tuple[str, ...] = ()
    retention: str | None = None
    retention_days: int | None = None
    retro_scope: bool = False
    retro_opt_out: bool | None = None
    model_kinds: tuple[str, ...] = ()  # language models, generative AI, AI models, ...
    third_party: bool = False  # the training is by others (their own models)
    relevant: bool = False  # a side clause that names AI or points back at a neighbour ("this use")
    about_ai: bool = False  # an opt-out / objection that names AI without a training verb
    shares: bool = False  # shares users' data with others so they can develop their products
    notice: str | None = None  # pause | resume
    # uses data "for this purpose": a permission when the clause just before is about training
    for_that: bool = False
    exceptions: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text(self) -> str:
        return self.clause.text


def mentions_training(t: str) -> bool:
    """True when the plain text speaks of training / developing AI or ML models."""
    if not lx.PREFILTER.search(t.lower()):
        return False
    if lx.TRAIN_VERB.search(t):
        if lx.STAFF_TRAINING.search(t) and not lx.STRONG_AI.search(t):
            return False
        if lx.AI_TERM.search(t) or lx.TRAIN_ON.search(t) or lx.TRAIN_NAMED_MODEL.search(t):
            return True
        return bool(lx.BARE_TRAINING.search(t) and not lx.PEOPLE_TRAINING_CONTEXT.search(t))
    return bool(lx.DEVELOP_AI.search(t))


def _labels(t: str, table: dict[str, lx.Guarded]) -> tuple[str, ...]:
    return tuple(name for name, pattern in table.items() if pattern.search(t))


def named_parties(t: str) -> tuple[str, ...]:
    """Proper names introduced as parties ("our affiliates, such as Example Corp")."""
    names = []
    for m in lx.NAMED_PARTY.finditer(t):
        words = [w for w in m.group(1).split() if w.strip(".,") not in lx.NOT_NAMES]
        name = " ".join(words).strip(".,;")
        if (
            name
            and name[0].isupper()
            and len(name) > 1
            and not name.isupper()
            or len(name) >= 3
            and name.isupper()
        ):
            if name.split()[0] in lx.NOT_NAMES:
                continue
            names.append(name)
    return tuple(dict.fromkeys(names))


def parties_of(t: str, service: str | None) -> tuple[str, ...]:
    """Parties (beyond the service itself) that a training clause names."""
    found = list(_labels(t, lx.PARTY_CLASSES))
    if found:
        for name in named_parties(t):
            if service and name.lower() == service.lower():
                continue
            found.append(name)
    return tuple(dict.fromkeys(found))


INDEFINITELY = "indefinitely"  # a retention without an end: longer than any number of days


def retention_of(t: str) -> tuple[str | None, int | None]:
    """The longest duration in a retention sentence, as (phrase, days)."""
    if not lx.RETENTION.search(t):
        return None, None
    best: tuple[str | None, int | None] = (None, None)
    for m in lx.DURATION.finditer(t):
        qty = m.group(2).lower()
        n = int(qty) if qty.isdigit() else lx.NUMBER_WORDS.get(qty, 0)
        days = n * lx.UNIT_DAYS[m.group(3).lower().rstrip("s")]
        if days and (best[1] is None or days > best[1]):
            qualifier = (m.group(1) or "").lower()
            phrase = (
                m.group(0)
                if qualifier and qualifier not in ("for", "within", "after", "of")
                else m.group(0)[m.start(2) - m.start() :]
            )
            best = (phrase.strip(), days)
    if best[1] is None and lx.INDEFINITE.search(t):
        return INDEFINITELY, None
    return best


def _negated(t: str) -> bool:
    """A negation governs the training verb ("we do not use ... to train", "will not be used to train")."""
    verb = lx.TRAIN_VERB.search(t) or lx.DEVELOP_VERB.search(t)
    if not verb:
        return False
    before = t[max(0, verb.start() - 300) : verb.start()]
    cut = max((m.end() for m in _BOUNDARY.finditer(before)), default=0)
    return bool(lx.NEGATION.search(before[cut:] + t[verb.start() : verb.start() + 20]))


def _is_ban(t: str, clause: Clause, lead: str) -> bool:
    t = lx.NOT_OPTED_OUT.sub("unless opted out", t)  # "if you do not opt out, we use ..." is not a ban
    if _BAN.search(t) or lx.SCRAPING.search(t) or _PROHIBITS_USE.search(t):
        return True
    if clause.kind == "list_item" and lead and lx.BAN_LEADIN.search(lead):
        return not re.search(r"\b(?:we|us)\b", t, re.IGNORECASE)
    if re.search(r"\b(?:we|us|our)\b", t, re.IGNORECASE):
        return False
    if _NO_USE_WITHOUT.search(t):
        return True
    heading = " ".join(clause.heading_path[-2:])
    return bool(clause.kind == "list_item" and lx.HEADING_BANS.search(heading))


def _names_users_data(t: str) -> bool:
    """Whether ``t`` names users' data, beside what is not theirs ("synthetic data and licensed datasets")."""
    if lx.NOT_USERS_DATA.search(t):
        t = lx.NOT_USERS_DATA.sub(" ", t)
    return bool(lx.USER_DATA.search(t))


def _names_service(t: str, service: str | None) -> bool:
    return bool(service and re.search(r"\b" + re.escape(service) + r"\b", t, re.IGNORECASE))


def _is_first_party(t: str, service: str | None) -> bool:
    if lx.FIRST_PARTY.search(t) or _PASSIVE.search(t) or lx.PURPOSE_START.search(t):
        return True
    return _names_service(t, service)


def classify(clause: Clause, *, lead: str = "", service: str | None = None) -> ClauseHit | None:
    """Detect what one clause says; ``lead`` is the sentence introducing a list the clause belongs to."""
    t = plain(clause.text)
    full = f"{lead} {t}" if lead else t
    if not mentions_training(t) and not (lead and mentions_training(full) and lx.PREFILTER.search(t.lower())):
        return _side_hit(clause, t, service)
    if not mentions_training(t):
        t = full
    if t.rstrip(" *_").endswith("?") or (_CAPABILITY.search(t) and not _USERISH.search(t)):
        return None  # a research question, or teaching a model a behaviour: not training on users' data
    if _is_ban(t, clause, lead):
        return ClauseHit(clause, training=True, ban=True)
    conditional_opt_out = bool(_CONDITIONAL_OPT_OUT.search(t) or _IF_NOT_WANT.search(t))
    opt_out = _opt_out_of(t)
    consent = bool(lx.CONSENT.search(t) or clause.kind == "table_row" and _CONSENT_CELL.search(clause.text))
    consent = consent and not conditional_opt_out
    negated = _negated(lx.NOT_OPTED_OUT.sub("unless opted out", t))
    you_train = _YOU_TRAIN.search(t) or _you_build_to_train(t)
    feature = bool(you_train) and not lx.FIRST_PARTY.search(t[: you_train.start()] if you_train else "")
    # "If you fine-tune a model, ... we do not use your data to train ours": the promise after the feature
    if feature and you_train and not negated:
        negated = _negated(t[you_train.end() :])
    promise = permission = False
    scope = ""
    # "Deleting it does not remove it from models already trained" says what stays: it promises nothing.
    trained_stays = bool(lx.TRAINED_STAYS.search(t))
    if trained_stays:
        negated = False
    if negated and not conditional_opt_out and not consent:
        promise = True
        if (
            (
                lx.THIRD_PARTY_SUBJECT.search(t)
                and not re.search(r"^[^.]{0,40}\b(?:we|us)\b", t, re.IGNORECASE)
            )
            or _THEIR_MODELS.search(t)
            or _PROVIDER_MODELS.search(t)
            or _OTHER_COMPANY_ITS_MODELS.search(t)
            and not lx.FIRST_PARTY.search(t)
            and not _names_service(t, service)
        ):
            scope = "party"
        elif lx.TIER.search(t):
            scope = "tier"
        else:
            scope = "all"
        # "We do not train on your data, except when you use our free services / unless you opt out."
        if re.search(r"\b(?:except|unless|other than|apart from)\b", t, re.IGNORECASE) and (
            lx.FREE_TIER.search(t) or opt_out
        ):
            permission = True
    elif not feature and (lx.PURPOSE_START.search(t) or _is_first_party(t, service) and _names_users_data(t)):
        permission = True
    elif opt_out or consent:
        permission = True  # "you can opt out of your content being used to train" implies training
    regions = _labels(t, lx.REGIONS) if lx.CARVE_OUT.search(t) else ()
    included = _included_regions(t) if permission and not regions and not promise else ()
    if promise and not permission and _regional_scope(t):
        # "We do not use the data of members in the EU ... to train": a regional carve-out, not a promise.
        promise, scope, regions = False, "", _regional_scope(t)
    licence = (
        permission
        and bool(lx.LICENCE.search(t))
        and bool(re.search(r"\bgrant|\blicen[cs]e\b", t, re.IGNORECASE))
    )
    retention, days = retention_of(t)
    retro_opt_out = False if trained_stays else None
    if opt_out or conditional_opt_out:
        if lx.NOT_RETRO_OPT_OUT.search(t):
            retro_opt_out = False
        elif lx.RETRO_OPT_OUT.search(t):
            retro_opt_out = True
    notice = "pause" if lx.PAUSE.search(t) else "resume" if lx.RESUME.search(t) else None
    default = _default_of(t)
    exceptions = _exceptions(t) if (opt_out or conditional_opt_out or promise) else ()
    categories: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    if permission or promise:  # the data a statement is about, not the data its exception names
        left_out = _DATA_LEFT_OUT.search(t) if permission else None
        head = t[: left_out.start()] if left_out else _before_exception(t) if exceptions else t
        categories = _labels(head, lx.CATEGORIES)
        if left_out:
            excluded = tuple(c for c in _labels(left_out.group(0), lx.CATEGORIES) if c not in categories)
    return ClauseHit(
        clause,
        training=True,
        permission=permission,
        promise=promise,
        promise_scope=scope,
        consent=consent and (permission or negated),
        third_party=permission and bool(_THEIR_MODELS.search(t)),
        model_kinds=_labels(t, lx.MODEL_KINDS) if permission else (),
        opt_out=opt_out,
        regional_right=bool(opt_out) and _regional_right(t),
        default=default,
        licence=licence,
        perpetual=licence and bool(lx.PERPETUAL_LICENCE.search(t)),
        excluded_regions=regions,
        included_regions=included,
        parties=parties_of(t, service) if (permission or promise) else (),
        categories=categories,
        excluded_categories=excluded,
        retention=retention,
        retention_days=days,
        retro_scope=permission and bool(lx.RETRO_SCOPE.search(t)),
        retro_opt_out=retro_opt_out,
        notice=notice,
        exceptions=exceptions,
    )


_EXCEPTION_START = re.compile(r"\b(?:except|unless|other than|apart from)\b", re.IGNORECASE)


# "..., except chats from users under 18" / "excluding messages of ...": data a permission leaves out.
_DATA_LEFT_OUT = lx.rx(
    r"\b(?:except(?:ing)?|excluding|other than|but not)\s+(?:for\s+)?(?:the\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:data|chats?|content|messages|posts|conversations|information|recordings|photos|images|files)\s+"
    r"(?:from|of|by|sent|shared|posted|uploaded)\b[^.;]*"
)


def _before_exception(t: str) -> str:
    """The text before an exception ("... except when you send us feedback"): the data a statement is about."""
    found = _EXCEPTION_START.search(t)
    return t[: found.start()] if found else t


_CLAUSE_JOIN = re.compile(r"[,;]\s*(?:and|but|while)\b|;", re.IGNORECASE)


def _regional_right(t: str) -> bool:
    """Whether an opt-out is a right of some regions' users only ("if you live in the EU, you can object"): a
    region and the opt-out in one part of the sentence. "This does not apply in the EU, and you can opt out"
    names a region in one part and a general opt-out in another."""
    return any(_REGIONAL_RIGHT.search(part) and lx.OPT_OUT.search(part) for part in _CLAUSE_JOIN.split(t))


# A table's legal-basis cell that is consent: "| Improving our AI models | Content you post | Consent |".
_CONSENT_CELL = re.compile(
    r"\|\s*(?:(?:your|explicit|express|prior)\s+)?consent\b[^|]{0,60}(?:\||$)", re.IGNORECASE
)


_ALSO = re.compile(r"\b(?:including|also|as well as|even)\b", re.IGNORECASE)


def _included_regions(t: str) -> tuple[str, ...]:
    """Regions a permission is limited to ("we use voice clips from users in the United States to train")."""
    found = lx.INCLUDED_SCOPE.search(t)
    if not found or _ALSO.search(t[max(0, found.start() - 30) : found.start()]):
        return ()  # "including from users in the EU" adds them, it does not limit the training to them
    return _labels(t[found.start() : found.end() + 80], lx.REGIONS)


def _regional_scope(t: str) -> tuple[str, ...]:
    """Regions a negated training statement is limited to ("members located in the EU, EEA, UK")."""
    if not re.search(r"\b(?:in|from|located|living|residing|based|of)\b", t, re.IGNORECASE):
        return ()
    return _labels(t, lx.REGIONS)


def _exceptions(t: str) -> tuple[str, ...]:
    if not lx.EXCEPTION.search(t):
        return ()
    out = []
    for name, pattern in (
        ("feedback", r"feedback|thumbs|rat(?:e|ing)"),
        ("flagged content", r"flagged|reported|report"),
        ("safety", r"safety|abuse|security"),
        ("logged-out use", r"logged[- ]out|signed[- ]out|without (?:an )?account"),
        (
            "shared by choice",
            r"(?:chooses?|decides?|agrees?|elects?) to (?:share|send|submit|give|provide|contribute|upload)",
        ),
    ):
        if re.search(pattern, t, re.IGNORECASE):
            out.append(name)
    return tuple(out) or ("other",)


# A company named "<Name> AI" acting or owning ("Lumen AI, our parent company, ...", "Lumen AI may ...").
_COMPANY_AI = re.compile(
    r"\b[A-Z][\w&-]*(?:\s+[A-Z][\w&-]*){0,2}\s+AI\b(?=,|['’]s\b|\s+(?:may|will|can|shall|must|reserves|is|has|"
    r"does|Inc|Ltd|Limited|SAS|SA|GmbH|LLC|Corp)\b)"
)


_TRAINING_AS_SUCH = re.compile(
    r"\btrain(?:s|ed|ing)?\b(?!\s+(?:reminders?|sessions?|courses?|programs?|programmes?|plans?|tips|videos?|classes?|"
    r"camps?|zones?|load|materials?|manuals?|guides?|notifications?|emails?|schedules?|logs?|tickets?|stations?)\b)",
    re.IGNORECASE,
)


def _names_ai(t: str, service: str | None) -> bool:
    """Whether ``t`` names AI, companies' names aside: the service's own ("deactivation by Mistral AI") and
    another "<Name> AI" acting or owning. "Training" alone counts, but not as the name of something ("training
    reminders", "training sessions") nor beside calls, staff or courses."""
    if service and lx.AI_WORDS.search(service):
        t = re.sub(re.escape(service), " ", t, flags=re.IGNORECASE)
    if "AI" in t:
        t = _COMPANY_AI.sub(" ", t)
    if lx.AI_WORDS_BUT_TRAINING.search(t):
        return True
    return bool(_TRAINING_AS_SUCH.search(t)) and not lx.PEOPLE_TRAINING_CONTEXT.search(t)


# "You cannot opt out of this use": the words of an opt-out, denied.
_NO_OPT_OUT = lx.rx(
    r"\b(?:cannot|can['’]?t|can not|(?:are|is|will|would) not (?:be )?able to|unable to|not possible to|"
    r"(?:there is )?no (?:way|option|ability) to)\s+(?:\w+\s+){0,2}?"
    r"(?:opt[- ]?out|object|turn (?:it |this |that )?off|switch (?:it |this )?off|disable|withdraw)\b[^.;]*|"
    r"\bopt(?:ing)?[- ]?out (?:is|will be) not (?:available|possible)\b"
)


def _opt_out_of(t: str) -> tuple[str, ...]:
    """The opt-out mechanisms ``t`` offers ("other" when it names none), leaving out opt-outs it denies."""
    if _NO_OPT_OUT.search(t):
        t = _NO_OPT_OUT.sub(" ", t)
    return (_labels(t, lx.OPT_OUT_MECHANISMS) or ("other",)) if lx.OPT_OUT.search(t) else ()


def _default_of(t: str) -> str | None:
    """An explicit default: "on by default" (on), "off by default" (off), or consent asked for first (off:
    nothing is used until the user agrees)."""
    if lx.DEFAULT_ON.search(t):
        return "on"
    if lx.DEFAULT_OFF.search(t) or lx.CONSENT_FIRST.search(t) and not lx.OTHER_OPT_OUT.search(t):
        return "off"
    return None


def _side_hit(clause: Clause, t: str, service: str | None = None) -> ClauseHit | None:
    """Clauses that do not mention training themselves but qualify a neighbour (opt-out, regions, defaults)."""
    if _SHARE_DEVELOP.search(t) and not lx.NEGATION.search(t):
        parties = parties_of(t, None)
        if parties:
            regions = _labels(t, lx.REGIONS) if lx.CARVE_OUT.search(t) else ()
            return ClauseHit(clause, shares=True, parties=parties, excluded_regions=regions)
    if _NOT_USED_FOR_THIS.search(t):
        left_out = _labels(t, lx.CATEGORIES)
        if left_out:
            return ClauseHit(clause, excluded_categories=left_out)
    elif (
        _USED_FOR_THIS.search(t)
        and lx.USER_DATA.search(t)
        and not lx.NEGATION.search(t)
        and not lx.CONSENT.search(t)
        and not _opt_out_of(t)  # "you can object to your information being used for this purpose"
    ):
        return ClauseHit(clause, for_that=True, categories=_labels(t, lx.CATEGORIES))
    # "Even if you opt out, we may use chats you rate with thumbs up or down": what a neighbour's opt-out leaves in
    if lx.EXCEPTION.search(t) and lx.USER_DATA.search(t):
        kept_in = _exceptions(t)
        if kept_in:  # and it says there is an opt-out
            return ClauseHit(clause, exceptions=kept_in, opt_out=_opt_out_of(t))
    # "Conversations used for training are kept for five years": how long a neighbour's training data is kept.
    trained = lx.TRAIN_VERB.search(t) and not lx.STAFF_TRAINING.search(t)
    retention, days = retention_of(t) if trained else (None, None)
    opt_out = _opt_out_of(t)
    if not (
        opt_out
        or lx.DEFAULT_ON.search(t)
        or lx.DEFAULT_OFF.search(t)
        or lx.CONSENT_FIRST.search(t)
        or lx.CARVE_OUT.search(t)
        or retention
    ):
        return None
    regions = _labels(t, lx.REGIONS) if lx.CARVE_OUT.search(t) else ()
    default = _default_of(t)
    names_ai = _names_ai(t, service)
    if lx.OTHER_OPT_OUT.search(t) and not names_ai:
        # an opt-out from marketing, cookies or ads says nothing about training, nor a region left out of ads
        opt_out, regions = (), ()
    if _AI_FEATURE.search(t) and not _ABOUT_MODELS.search(t):
        # nor does turning off an AI feature ("our AI-powered spam filter ..."), or its default
        opt_out, default = (), None
    if not (opt_out or regions or default or retention):
        return None
    retro = None
    if opt_out:
        retro = False if lx.NOT_RETRO_OPT_OUT.search(t) else True if lx.RETRO_OPT_OUT.search(t) else None
    return ClauseHit(
        clause,
        opt_out=opt_out,
        relevant=bool(names_ai or _REFERS_BACK.search(t) or retention),
        retention=retention,
        retention_days=days,
        about_ai=bool(set(opt_out) - {"objection"}) and names_ai and not _BAN.search(t),
        regional_right=bool(opt_out) and _regional_right(t),
        default=default,
        excluded_regions=regions,
        retro_opt_out=retro,
    )


_CELL_BREAK = lx.rx(r"\s*(?:\|+|<br\s*/?>|\s[*•]\s)\s*")
_WORD = re.compile(r"\w")
_LONG = 400


def pieces(clause: Clause) -> list[Clause]:
    """A long table row is judged cell by cell and sentence by sentence (each piece stays verbatim)."""
    if clause.kind != "table_row" or len(clause.text) <= _LONG:
        return [clause]
    texts = _row_pieces(clause.text)
    if not texts:
        return [clause]
    return [Clause(text, clause.heading_path, clause.kind, clause.index) for text in texts]


@lru_cache(maxsize=1024)  # long rows recur in every version of a document
def _row_pieces(row: str) -> tuple[str, ...]:
    return tuple(
        sentence
        for cell in _CELL_BREAK.split(row)
        for sentence in split_sentences(cell)
        if _WORD.search(sentence)
    )


def _for_clause(hit: ClauseHit, clause: Clause) -> ClauseHit:
    """``replace(hit, clause=clause)``, for a verdict cached from an identical clause elsewhere: the fields are
    copied as they are (``replace`` would run ``__init__`` over all of them)."""
    moved = object.__new__(ClauseHit)
    moved.__dict__.update(hit.__dict__)
    moved.__dict__["clause"] = clause
    return moved


def _link_licence(hit: ClauseHit, recent: list[Clause]) -> ClauseHit:
    """ "This licence includes the right to train ...": the grant a few clauses above says which content."""
    for clause in reversed(recent):
        if clause.heading_path != hit.clause.heading_path:
            break
        t = plain(clause.text)
        if _GRANT.search(t):
            cats = tuple(dict.fromkeys(hit.categories + _labels(t, lx.CATEGORIES)))
            return replace(hit, licence=True, categories=cats)
    return hit


# Clauses before a clause that ``detect`` looks at: it reads the 6 before it (the last is ``previous``), and
# 6 is more than ``NEIGHBOURS``, so two hits separated by skipped blocks stay more than ``NEIGHBOURS`` apart.
CONTEXT = 6
# How far (in clauses, within one section) a side clause qualifies a training clause: "You can turn this off."
NEIGHBOURS = 4


def select(doc: Document) -> list[Address]:
    """The blocks ``detect`` needs to give a version its profile: training blocks, the side blocks near them,
    and the context of both.

    A clause is a substring of its block that starts after a space and ends at a block end or an end mark, so a
    block-level prefilter test is a superset of the clause-level one. A *training* block (``might_train``) or a
    *sharing* block (``might_share``: it may tell that others get data to develop their products, which counts
    wherever it stands) is kept, and so is every block that may hold a side clause (an opt-out, a default, a
    regional carve-out) within ``NEIGHBOURS`` clauses after it; side clauses before it are kept as its context.
    Side clauses further from any training clause qualify nothing (see ``stance.profile``), so skipping them
    changes no profile field, only the list of hits.

    Each kept block brings the blocks before it until ``CONTEXT`` clauses precede it (what ``detect`` reads as
    ``previous`` and the 6 before), and, for a list item, back to the last block that is not a list item (its last
    sentence is the item's ``lead``). Heading paths come from the document's heading scan, so nothing else
    depends on the skipped blocks; clause indexes count over the selection only, which keeps every distance of
    at most ``CONTEXT`` between a kept clause and its neighbours exact.

    Only the chunks where ``lexicon.anchor_offsets`` finds a training or sharing word are cut into blocks to be
    tested, and then the blocks around the ones that pass: most of a long policy is never cut or split.
    """
    anchors: set[Address] = set()
    for i in _anchor_candidates(doc):
        if _block_might_train(doc.block(i).text):
            anchors.add(i)
            after, j = 0, doc.following(i)
            while j is not None and after < NEIGHBOURS:
                if _might_matter(doc.block(j).text):
                    anchors.add(j)
                after += len(doc.clauses_of(j))
                j = doc.following(j)
    keep: set[Address] = set()
    for i in sorted(anchors):
        keep.add(i)
        need = CONTEXT
        lead_needed = doc.block(i).kind == "list_item"
        j = doc.preceding(i)
        while j is not None and (need > 0 or lead_needed):
            keep.add(j)
            found = doc.clauses_of(j)
            need -= len(found)
            if found and doc.block(j).kind != "list_item":
                lead_needed = False
            j = doc.preceding(j)
    return sorted(keep)


# Consecutive versions of a document share most blocks: each block's prefilter verdict is found once (and
# ``_might_matter``'s, for the blocks after it).
@lru_cache(maxsize=4096)
def _block_might_train(text: str) -> bool:
    low = text.lower()
    return lx.might_train(low) or lx.might_share(low)


def _anchor_candidates(doc: Document) -> list[Address]:
    """The blocks, in document order, of the chunks where a training or sharing block may stand."""
    low = doc.text.lower()
    if len(low) == len(doc.text):
        chunks = sorted({doc.chunk_at(offset) for offset in lx.anchor_offsets(low)})
    else:  # a character that lower-cases to two (such as "İ") moved the offsets: test every chunk
        chunks = list(range(len(doc.chunks)))
    return [(chunk, place) for chunk in chunks for place in range(len(doc.blocks_of(chunk)))]


def detect_text(
    text: str, *, service: str | None = None, cache: dict[tuple[str, ...], ClauseHit | None] | None = None
) -> list[ClauseHit]:
    """``detect`` over the clauses of the blocks that ``select`` keeps: the same profile as over every clause of
    ``segment(text)``; the hits omit side clauses far from any training clause, and clause indexes count over
    the kept blocks only."""
    doc = Document(text)
    return detect(doc.clauses(select(doc)), service=service, cache=cache)


@lru_cache(maxsize=4096)
def _might_matter(text: str) -> bool:
    """``might_matter`` of a block or a clause (consecutive versions of a document share most of them)."""
    return lx.might_matter(text.lower())


def _for_training_before(
    hit: ClauseHit, hits: list[ClauseHit], previous: Clause | None, service: str | None
) -> ClauseHit | None:
    """A clause using data "for this purpose" right after a training clause (permission or promise) permits
    training on that data: "We do not use your private messages to train AI. We may use your public posts for
    this purpose." After anything else it says nothing about training."""
    before = hits[-1] if hits else None
    if previous is None or before is None or before.clause.index != previous.index:
        return None
    if not before.training or before.ban or not (before.permission or before.promise):
        return None
    return replace(
        hit,
        for_that=False,
        training=True,
        permission=True,
        parties=parties_of(plain(hit.text), service),
        model_kinds=before.model_kinds,
    )


def detect(
    clauses: list[Clause],
    *,
    service: str | None = None,
    cache: dict[tuple[str, ...], ClauseHit | None] | None = None,
) -> list[ClauseHit]:
    """Run the detectors over every clause; returns hits in document order (clauses with nothing to say omitted).

    Long table rows are judged piece by piece; a hit then quotes the piece, not the whole row.
    ``cache`` (shared between two versions of one document) skips clauses already judged.
    """
    hits: list[ClauseHit] = []
    lead = ""
    for k, clause in enumerate(clauses):
        if clause.kind != "list_item":
            lead = plain(clause.text) if clause.text.rstrip(" *_").endswith(":") else ""
        if not _might_matter(clause.text):
            continue
        previous = clauses[k - 1].text if k else ""
        piece_lead = lead if clause.kind == "list_item" else ""
        section = clause.section
        for piece in pieces(clause):
            key = (piece.text, piece_lead, piece.kind, section)
            if cache is not None and key in cache:
                cached = cache[key]
                hit = _for_clause(cached, piece) if cached is not None else None
            else:
                hit = classify(piece, lead=piece_lead, service=service)
                if cache is not None:
                    cache[key] = hit
            if hit is not None and hit.third_party and not hit.parties:
                hit = replace(hit, parties=parties_of(plain(previous), service))
            if hit is not None and hit.permission and _THIS_LICENCE.search(piece.text):
                hit = _link_licence(hit, clauses[max(0, k - 6) : k])  # the 6 clauses before
            if hit is not None and hit.for_that:
                hit = _for_training_before(hit, hits, clauses[k - 1] if k else None, service)
            if hit is not None:
                hits.append(hit)
    return hits

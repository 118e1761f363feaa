# SPDX-License-Identifier: Apache-2.0
"""The stance of one policy version on training AI on users' data.

Owns :class:`Stance`, :class:`Profile` (everything the detectors found, resolved across neighbouring
clauses) and :func:`analyse`. The stance is inferred when the text never says "by default":
permission + opt-out => opt-out; permission + consent => opt-in; permission alone => no-choice;
only no-training promises => never; nothing => none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .detect import NEIGHBOURS, ClauseHit, detect_text
from .lexicon import CONSENT_WITHDRAWAL, GENERIC_OBJECTION, OVERRIDES_ABOVE, REGIONS

MAX_EVIDENCE = 6
_PRIMARY_PARTIES = {"affiliates", "partners", "third-party collaborators", "licensees"}


@dataclass(frozen=True)
class Stance:
    """What one version says about training AI on users' data, with the clauses that decided it."""

    training: str  # none | never | opt-in | opt-out | no-choice
    excluded_regions: tuple[str, ...] = ()
    parties: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    retention: str | None = None
    retention_days: int | None = None
    retroactive_opt_out: bool | None = None
    evidence: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """The DESIGN.md "before"/"after" object."""
        return {
            "training": self.training,
            "excluded_regions": list(self.excluded_regions),
            "parties": list(self.parties),
            "categories": list(self.categories),
            "retention": self.retention,
            "retention_days": self.retention_days,
            "retroactive_opt_out": self.retroactive_opt_out,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class Profile:
    """Everything one version says about AI training, resolved across neighbouring clauses."""

    stance: Stance
    permission: bool = False
    consent: bool = False
    default: str | None = None
    opt_out: frozenset[str] = frozenset()
    promises: frozenset[tuple[str, tuple[str, ...]]] = frozenset()
    licence: bool = False
    perpetual_licence: bool = False  # the licence that covers training outlives deletion or cannot be revoked
    retro_scope: bool = False
    notices: frozenset[str] = frozenset()
    # Data still used after an opt-out (feedback, flagged content...), and the same left out of a promise.
    exceptions: frozenset[str] = frozenset()
    promise_exceptions: frozenset[str] = frozenset()
    excluded_categories: frozenset[str] = frozenset()  # data a permission leaves out
    # The regions every permission is limited to (empty: no limit named, training wherever the service is used).
    included_regions: frozenset[str] = frozenset()
    model_kinds: frozenset[str] = frozenset()
    bans: int = 0
    hits: tuple[ClauseHit, ...] = field(default=(), compare=False)


def _stronger(a: str | None, b: str | None) -> str | None:
    """An explicit "on by default" outweighs "off by default" (the document allows the intrusive reading)."""
    return "on" if "on" in (a, b) else a or b


def _near(hit: ClauseHit, others: list[ClauseHit]) -> list[ClauseHit]:
    """The clauses around ``hit`` in its section, and those in the next or previous sections of the same page
    that name AI or point back at it (a help page answers "How do I change it?" under a heading of its own)."""
    i, path = hit.clause.index, hit.clause.heading_path
    return [
        o
        for o in others
        if o is not hit
        and abs(o.clause.index - i) <= NEIGHBOURS
        and (o.clause.heading_path == path or o.relevant and o.clause.heading_path[:1] == path[:1])
    ]


def _sorted(values: set[str]) -> tuple[str, ...]:
    # The last key breaks ties between spellings ("third parties", "Third Parties") whatever the set order.
    return tuple(sorted(values, key=lambda v: (v not in _PRIMARY_PARTIES, v.lower(), v)))


def _withdraws_consent(permission: ClauseHit, side: ClauseHit) -> bool:
    """Whether ``side`` only withdraws the consent that ``permission`` asks for (it is still opt-in)."""
    return permission.consent and bool(CONSENT_WITHDRAWAL.search(side.text))


def _only_with_consent(perms: list[ClauseHit]) -> bool:
    """Whether the permissions train only with consent (opt-in): each asks for it, or one that asks for it
    overrides the others ("Notwithstanding the above, we will not use ... without your consent"). Consent for
    voice recordings beside posts used with no choice is not opt-in."""
    asking = [h for h in perms if h.consent]
    return bool(asking) and (len(asking) == len(perms) or any(OVERRIDES_ABOVE.search(h.text) for h in asking))


def profile(hits: list[ClauseHit]) -> Profile:
    """Resolve clause hits into one version's profile and stance."""
    training = [h for h in hits if h.training and not h.ban]
    perms = [h for h in training if h.permission and not h.third_party]
    others = [h for h in training if h.permission and h.third_party]
    if not perms:
        perms, others = others, []
    promises = [h for h in training if h.promise and not h.permission]
    used: list[ClauseHit] = []
    opt_out: set[str] = set()
    regions: set[str] = set()
    default: str | None = None
    consent = False
    retro_opt_out: bool | None = None
    for h in hits:
        if h.about_ai and not h.regional_right:
            opt_out.update(h.opt_out)
            used.append(h)
    for h in training:
        if h in others:
            continue
        if h.opt_out and not h.regional_right and not h.promise and not _withdraws_consent(h, h):
            opt_out.update(h.opt_out)
            used.append(h)
        if h.retro_opt_out is not None:
            retro_opt_out = h.retro_opt_out
        regions.update(h.excluded_regions)
        default = _stronger(default, h.default)
    kept: list[ClauseHit] = []  # neighbours that say how long training data is kept
    left_out: set[str] = set()  # data the next clause leaves out ("... not used for this purpose")
    kept_in: set[str] = set()  # data the next clause keeps in after an opt-out ("Even if you opt out, ...")
    for h in perms:
        consent = consent or h.consent
        left_out.update(h.excluded_categories)
        for o in _near(h, hits):
            if o.training and o.ban:
                continue
            if not o.training and 0 < o.clause.index - h.clause.index <= 1:
                left_out.update(o.excluded_categories)
                kept_in.update(o.exceptions)
            if not o.training and o.retention and o not in kept:
                kept.append(o)
            if not (o.training or o.relevant or abs(o.clause.index - h.clause.index) <= 1):
                continue
            # a bare right to object counts only right after the training clause, and never the general right
            # to object to processing based on legitimate interests
            generic_objection = (
                set(o.opt_out) <= {"objection"}
                and not o.training
                and not o.about_ai
                and (abs(o.clause.index - h.clause.index) > 1 or bool(GENERIC_OBJECTION.search(o.text)))
            )
            if (
                o.opt_out
                and not o.regional_right
                and not o.promise
                and not generic_objection
                and not _withdraws_consent(h, o)
            ):
                opt_out.update(o.opt_out)
                used.append(o)
            regions.update(o.excluded_regions)
            default = _stronger(default, o.default)
            if o.retro_opt_out is not None and retro_opt_out is None:
                retro_opt_out = o.retro_opt_out
    if perms:
        if default == "on" or (opt_out and default != "off"):
            stance = "opt-out"
        elif default == "off" or _only_with_consent(perms):
            stance = "opt-in"
        else:
            stance = "no-choice"
    elif any(h.promise_scope == "all" for h in promises):
        stance = "never"
    else:
        stance = "none"
    parties: set[str] = set()
    categories: set[str] = set()
    retention: str | None = None
    days: int | None = None
    # A notice ("we are pausing our plans to train on content from adults in the EU") names what it pauses, not
    # more data used: its categories count only when the notice is all a version says.
    stated = [h for h in perms if not h.notice] or perms
    for h in perms:
        parties.update(h.parties)
    for h in stated:
        categories.update(h.categories)
    for h in others:
        parties.update(h.parties)
    if perms:
        for h in hits:
            if h.shares:
                parties.update(h.parties)
                regions.update(h.excluded_regions)
    for h in training + kept:
        if h.retention_days is not None and (days is None or h.retention_days > days):
            retention, days = h.retention, h.retention_days
        elif h.retention and retention is None:
            retention = h.retention
    deciding = perms + used if perms else [h for h in promises if h.promise_scope == "all"]
    evidence = tuple(dict.fromkeys(h.text for h in sorted(deciding, key=lambda h: h.clause.index)))
    stance_obj = Stance(
        training=stance,
        excluded_regions=tuple(r for r in REGIONS if r in regions) if perms or promises else (),
        parties=_sorted(parties),
        categories=tuple(sorted(categories)),
        retention=retention if perms else None,
        retention_days=days if perms else None,
        retroactive_opt_out=retro_opt_out if stance == "opt-out" else None,
        evidence=evidence[:MAX_EVIDENCE],
    )
    return Profile(
        stance=stance_obj,
        permission=bool(perms),
        consent=any(h.consent for h in training),
        default=default,
        opt_out=frozenset(opt_out),
        promises=frozenset((h.promise_scope, h.categories) for h in promises),
        licence=any(h.licence for h in perms),
        perpetual_licence=any(h.perpetual for h in perms),
        retro_scope=any(h.retro_scope for h in perms),
        notices=frozenset(h.notice for h in training if h.notice),
        exceptions=frozenset(e for h in training if not h.promise for e in h.exceptions) | kept_in,
        promise_exceptions=frozenset(e for h in promises for e in h.exceptions),
        excluded_categories=frozenset(left_out),
        included_regions=(
            frozenset(r for h in perms for r in h.included_regions)
            if perms and all(h.included_regions for h in stated)
            else frozenset()
        ),
        model_kinds=frozenset(k for h in stated for k in h.model_kinds),
        bans=sum(1 for h in hits if h.ban),
        hits=tuple(hits),
    )


def profile_text(text: str, *, service: str | None = None) -> Profile:
    """Segment (the blocks that can matter only), detect and resolve one version."""
    return profile(detect_text(text, service=service))


def analyse(text: str, *, service: str | None = None) -> Stance:
    """The stance of one policy version.

    :param text: normalised policy text.
    :param service: the service's name, so sentences naming it count as first-party statements.
    :returns: the :class:`Stance`, with the clauses that decided it as evidence.
    """
    return profile_text(text, service=service).stance

# SPDX-License-Identifier: Apache-2.0
"""Unit tests of the AI-training analysis: segmentation, clause detectors, stance inference, comparison."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from tosmonitor.analysis import (
    Clause,
    History,
    align,
    analyse,
    compare,
    headline,
    is_cosmetic,
    render_report,
    segment,
)
from tosmonitor.analysis import lexicon as lx
from tosmonitor.analysis.compare import norm_key
from tosmonitor.analysis.detect import classify, detect, detect_text, plain, retention_of, select
from tosmonitor.analysis.segment import Document, split_sentences
from tosmonitor.analysis.segment import blocks as segment_blocks
from tosmonitor.analysis.stance import profile


def _clause(text: str, *heads: str, kind: str = "sentence") -> Clause:
    return Clause(text, tuple(heads), kind, 0)


def test_segment_builds_heading_paths_and_kinds():
    text = (
        "# Privacy\n\n## 3. How we use your data\n\nWe use data. We also keep logs, e.g. server logs.\n\n"
        "### 3.5 Generative AI\n\n- First item\n1. Second item\n\n| Purpose | Basis |\n|---|---|\n"
        "| Train models | Legitimate interests |\n\n## 4. Sharing\n\nWe share data."
    )
    clauses = segment(text)
    assert [(c.text, c.kind) for c in clauses] == [
        ("We use data.", "sentence"),
        ("We also keep logs, e.g. server logs.", "sentence"),
        ("First item", "list_item"),
        ("Second item", "list_item"),
        ("| Purpose | Basis |", "table_row"),
        ("| Train models | Legitimate interests |", "table_row"),
        ("We share data.", "sentence"),
    ]
    assert clauses[2].heading_path == ("Privacy", "3. How we use your data", "3.5 Generative AI")
    assert clauses[-1].heading_path == ("Privacy", "4. Sharing")
    assert [c.index for c in clauses] == list(range(len(clauses)))


@pytest.mark.parametrize(
    ("paragraph", "expected"),
    [
        ("One. Two.", ["One.", "Two."]),
        (
            "We work with Example Inc. on this. It is fine.",
            ["We work with Example Inc. on this.", "It is fine."],
        ),
        ("Data, i.e. logs, is kept. Then deleted.", ["Data, i.e. logs, is kept.", "Then deleted."]),
        ("Version 3.5 applies. See section 2.", ["Version 3.5 applies.", "See section 2."]),
    ],
)
def test_split_sentences(paragraph, expected):
    assert split_sentences(paragraph) == expected


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("We may use your content to train our AI models.", "permission"),
        ("Your posts may be used to develop and improve machine learning models.", "permission"),
        ("To train and fine-tune our large language models.", "permission"),
        ("We do not use your content to train AI models.", "promise"),
        ("Your private messages will not be used to train our models.", "promise"),
        ("We never train generative AI on the files you upload.", "promise"),
        ("Customer content isn't used to train AI.", "promise"),
        ("You may not use the Services to train any artificial intelligence model.", "ban"),
        ("You agree not to scrape the site to build machine learning datasets or train models.", "ban"),
        ("Developers must not use data obtained through the API to fine-tune a foundation model.", "ban"),
        ("We provide training to our staff on privacy every year.", None),
        ("Our AI assistant can summarise your documents.", None),
        ("Content generated with AI must be labelled as such.", None),
        ("You can fine-tune our models on your own data through the API.", None),
        ("We train our models to refuse harmful requests.", None),
        ("Can we train models that stay reliable under adversarial inputs?", None),
        ("If you do not opt out, we use your chats to train our models.", "permission"),
        ("If you do not want us to use your content to train our models, you can opt out.", "permission"),
    ],
)
def test_clause_kind(sentence, kind):
    hit = classify(_clause(sentence))
    got = None
    if hit is not None and hit.training:
        got = "ban" if hit.ban else "permission" if hit.permission else "promise" if hit.promise else None
    assert got == kind


@pytest.mark.parametrize(
    ("sentence", "scope"),
    [
        ("We do not use your conversations to train our models.", "all"),
        ("We do not train our models on business customers' content.", "tier"),
        ("We don't use data from Enterprise accounts to train AI models.", "tier"),
        (
            "Third-party AI providers are contractually prohibited from using your data to train their models.",
            "party",
        ),
        # another company, named, promising for its own models
        ("OpenAI does not use the documents you send to train its models.", "party"),
        ("Google Cloud will not use your prompts to train its AI models.", "party"),
    ],
)
def test_promise_scope(sentence, scope):
    hit = classify(_clause(sentence))
    assert hit is not None and hit.promise and hit.promise_scope == scope


@pytest.mark.parametrize(
    ("text", "stance", "categories"),
    [
        # data used "for this purpose" right after a training clause is trained on
        (
            "We do not use your private messages to train AI. We may use your public posts for this purpose.",
            "no-choice",
            ("posts",),
        ),
        (
            "We use your chats to train our models. We may also use your voice recordings for this purpose.",
            "no-choice",
            ("audio", "prompts"),
        ),
        # ... and after anything else, it says nothing about training
        ("We use cookies to remember your preferences. We may use your data for this purpose.", "none", ()),
        # an objection to that use is an opt-out, as before
        (
            "We use public posts to develop and improve AI at Lumen. You have the right to object to your "
            "information being used for this purpose by completing the objection form.",
            "opt-out",
            ("posts",),
        ),
    ],
)
def test_data_used_for_this_purpose_after_a_training_clause(text, stance, categories):
    reading = analyse(text, service="Lumen")
    assert (reading.training, reading.categories) == (stance, categories)


def test_an_instruction_to_stop_the_use_is_an_opt_out_not_a_pause():
    c = _compare_clauses(
        "We use your posts to train our AI models. You can opt out in Settings.",
        "We use your posts to train our AI models. To stop us using your posts to train AI models, go to Settings.",
    )
    assert (c.after.training, c.findings) == ("opt-out", ())


def test_no_longer_using_data_for_training_is_a_promise():
    assert analyse("We have stopped using data from your profile to train our AI models.").training == "never"
    c = _compare_clauses(
        "We use data from your profile to train our generative AI models.",
        "Beginning March 2026, we will no longer use data from your profile to train our generative AI models.",
    )
    assert (c.before.training, c.after.training) == ("no-choice", "never")
    assert (
        analyse(
            "We use your chats to train our models. Once you opt out, we will no longer use your chats for training."
        ).training
        == "opt-out"
    ), "what an opt-out stops is not a promise"


def test_the_service_promising_for_its_own_models_promises_for_everyone():
    assert (
        analyse("Lumen does not use your documents to train its models.", service="Lumen").training == "never"
    )
    assert (
        analyse("OpenAI does not use your documents to train its models.", service="Lumen").training == "none"
    )


def test_opt_out_consent_default_and_regions():
    hit = classify(_clause("You can opt out of your posts being used to train AI in your settings."))
    assert hit.permission and "setting" in hit.opt_out
    hit = classify(
        _clause("We will not use your recordings to train AI models without your explicit consent.")
    )
    assert hit.consent and not hit.promise
    hit = classify(_clause("Once you opt out, new conversations will not be used to train our models."))
    assert hit.opt_out and not hit.promise and hit.retro_opt_out is False
    hit = classify(
        _clause("Outside the EU, EEA and Switzerland, we may use your public posts to train AI models.")
    )
    assert hit.permission and hit.excluded_regions == ("EU", "EEA", "CH")
    hit = classify(_clause("We use your chats to train our models; this is on by default."))
    assert hit.default == "on"


@pytest.mark.parametrize(
    ("sentence", "phrase", "days"),
    [
        ("We retain training data for up to five years.", "up to five years", 5 * 365),
        ("De-identified prompts are kept for 30 days, then deleted.", "30 days", 30),
        ("We store data used for training for 18 months.", "18 months", 540),
    ],
)
def test_retention(sentence, phrase, days):
    assert retention_of(sentence) == (phrase, days)


@pytest.mark.parametrize(
    ("text", "stance"),
    [
        ("We collect your email address.", "none"),
        ("We do not use your data to train AI models.", "never"),
        ("We do not train models on data from business customers.", "none"),
        ("We may use your content to train our AI models.", "no-choice"),
        ("We may use your content to train our AI models. You can turn this off in settings.", "opt-out"),
        ("With your consent, we may use your recordings to train our AI models.", "opt-in"),
        ("We may use your chats to improve our AI models. This is turned off by default.", "opt-in"),
        (
            "We do not train on business customers' data. We may use free-tier conversations to train our models.",
            "no-choice",
        ),
        ("We won't use your private files to train our AI unless you give us permission.", "opt-in"),
        ("None of your data is used to train our artificial intelligence models.", "never"),
        ("Enterprise customer data is never used for model training.", "none"),
        ("Our employees receive training on how to handle personal data.", "none"),
        (
            "Starting 1 March, content you post publicly may be used to train our AI models. "
            "To opt out, visit your privacy settings.",
            "opt-out",
        ),
        (
            "We do not sell your personal information, and we do not use it to train third-party AI models.",
            "never",
        ),
        (
            "We will only use your content to train our AI models if you give us your explicit consent, "
            "which you can withdraw at any time.",
            "opt-in",
        ),
        (
            "With your consent, we use your recordings to train our AI models. "
            "You can withdraw your consent at any time in your settings.",
            "opt-in",
        ),
        (  # no consent asked: withdrawing the consent it presumes is a way out of a default
            "We use your recordings to train our AI models. You can withdraw your consent at any time in settings.",
            "opt-out",
        ),
        # technologies built by machine learning, and model families, named without "AI" or "model"
        (
            "We use the voice recordings you provide to improve our speech recognition technology.",
            "no-choice",
        ),
        ("Content you upload may be used to train our computer vision systems.", "no-choice"),
        ("With your permission, we may use audio recordings to improve speech recognition models.", "opt-in"),
        ("Your conversations help train our chatbot unless you turn off chat history.", "opt-out"),
        (
            "We use public posts to train Llama. You have the right to object to this use with this form.",
            "opt-out",
        ),
        ("Your prompts may be used to improve Copilot and the underlying models.", "no-choice"),
        ("We may use your photos to improve our AI-powered features.", "no-choice"),
        ("You may choose to share your data with us to help train our foundation models.", "opt-in"),
        (
            "We use your activity to train our AI models. You can manage this in Settings > Privacy > AI training.",
            "opt-out",
        ),
        # AI itself as what is developed, an adverb before "agree", commas in a list of purposes
        ("We use public posts and comments to develop and improve AI at Lumen.", "no-choice"),
        (
            "You explicitly agree that your Content may be used to inform, train, develop or serve as input to "
            "artificial intelligence technologies.",
            "no-choice",
        ),
        ("We may use voice recordings to improve speech recognition.", "no-choice"),
        # consent by turning a setting on; a setting that stays off until then
        (
            "We may use voice recordings to improve speech recognition if you turn on Help improve voice.",
            "opt-in",
        ),
        (
            "With your permission, we may use your photos to improve our image recognition models. "
            "This setting is off unless you turn it on.",
            "opt-in",
        ),
        # an opt-out by asking to be excluded
        (
            "Our systems analyse messages and files to develop non-generative machine learning models. "
            "To exclude your workspace from these models, ask your owner to email our support team.",
            "opt-out",
        ),
        # consent given, asked for or relied on; an opt-out by telling them not to
        (
            "You can give or withdraw your consent to the use of your chats for model training at any time in "
            "Settings.",
            "opt-in",
        ),
        ("If you agree, we will use your chats to improve our models.", "opt-in"),
        ("We rely on your consent to use your posts to train our AI models.", "opt-in"),
        ("By using the Service, you consent to our use of your content to train our AI models.", "no-choice"),
        ("We use your chats to improve our models unless you tell us not to in Settings.", "opt-out"),
        # an opt-out in the next paragraph, through preferences
        (
            "We may use the content you upload to improve our models.\n\n"
            "You can change this at any time from your account preferences.",
            "opt-out",
        ),
        # turning off an AI feature is not opting out of training
        (
            "We may use your posts to train our AI models. Our AI-powered spam filter checks incoming messages; "
            "you can turn it off in settings.",
            "no-choice",
        ),
        # a region excluded in one part of a sentence, an opt-out for everyone in the other
        (
            "We use your conversations to train our generative AI models. This does not apply to users in the "
            "European Economic Area or the UK, and you can opt out at any time in settings.",
            "opt-out",
        ),
        # the customer's own fine-tuning is not training on users' data; the promise after it counts
        (
            "If you fine-tune a model with your own data, that model is available only to you, and we do not "
            "use your training data to improve our base models.",
            "never",
        ),
        # data named by what users do with it ("the texts you submit"); a model named by what it makes
        (
            "If you use our free translator, we may use the texts you submit to train and improve our neural "
            "networks.",
            "no-choice",
        ),
        ("Images you create may be used by us to improve our image models.", "no-choice"),
        # a use of the service, not training on its users' data
        ("You may not use the service for building chatbots that engage in political lobbying.", "none"),
        ("We believe in building services that give everyone access to generative AI.", "none"),
        ("Developers who train models on our public datasets must credit us.", "none"),
        (
            "If you create an app that uses our API to train a model, you must tell your users how their data "
            "will be used.",
            "none",
        ),
        (
            "Model means any artificial intelligence model developed by Lumen AI and made available to you.",
            "none",
        ),
        ("We train our support staff in speech etiquette.", "none"),
        # "training" with no AI word: on what users post or say, it is the training of models...
        (
            "Where the law allows, we may use the stories you post for training and to improve our filters.",
            "no-choice",
        ),
        (
            "With your permission, we use your voice recordings to inform training and product improvement.",
            "opt-in",
        ),
        (
            "Comments you post may be used for other purposes, such as training and improving our spam filter.",
            "no-choice",
        ),
        ("We will not use your direct messages for training.", "never"),
        # ...but not next to calls, support staff or courses, nor as the name of a plan, a video or a class
        ("We may record calls with our customer care team for training.", "none"),
        ("Messages you send to our help desk may be reviewed for quality and training.", "none"),
        ("We use the runs you log to build your training plan.", "none"),
        ("Videos of the event may be used in training and promotional materials.", "none"),
        ("Videos you upload of your dog are used for training tips shown to you.", "none"),
        ("You can opt out of training reminders in Settings > Notifications.", "none"),
        # "intelligent features" are AI features: improving them with users' content is training them
        (
            "We may process your messages to develop and improve intelligent features and products.",
            "no-choice",
        ),
        ("Our intelligent features suggest quick replies to your messages.", "none"),
        # any kind of the service's own models, but not its business or phone models
        ("We may use your profile and messages to improve our matching models.", "no-choice"),
        ("We review your feedback to improve our business models and our phone models.", "none"),
        (
            "By posting a comment, you grant us a licence to use it to develop our artificial intelligence tools.",
            "no-choice",
        ),
        # opt-in means training only with consent: consent for one kind of data, none for another, is no choice
        (
            "We use your public posts to train our AI models. With your consent, we also use your voice "
            "recordings to train our speech models.",
            "no-choice",
        ),
        (
            "We may use how you use the app to improve our machine learning models. Notwithstanding the above, we "
            "will not use your messages to train AI models without your consent.",
            "opt-in",
        ),
    ],
)
def test_stance_inference(text, stance):
    assert analyse(text).training == stance


@pytest.mark.parametrize(
    ("service", "text", "stance"),
    [
        # a company's name is not a mention of AI, nor is closing an account a choice about training
        (
            "Notely AI",
            "We use your notes to train our models. Notely AI may suspend or deactivate your account.",
            "no-choice",
        ),
        (
            "Lumen",
            "We use your chats to train our models. Lumen AI, our parent company, may deactivate accounts.",
            "no-choice",
        ),
        (
            "Otterly",
            "We use your recordings to train our models. Recordings are stored in Ireland. You can deactivate "
            "two-step login by writing to help@otterly.ai.",
            "no-choice",
        ),
        (
            "Notely AI",
            "We use your notes to train our models. You can opt out of AI training in your Notely AI settings.",
            "opt-out",
        ),
        # consent asked for in a sentence of its own
        (
            "Scribe",
            "We may use your documents to improve our AI models. We will ask for your consent first.",
            "opt-in",
        ),
        (
            "Scribe",
            "We may use your documents to improve our AI models. We ask for your consent before we email you offers.",
            "no-choice",
        ),
        # what users write, named so, is their data; helping them write is a feature
        ("Scribe", "We use the notes you write to train our models.", "no-choice"),
        (
            "Scribe",
            "We build AI features to help you write faster. We do not use your documents to train our AI models.",
            "never",
        ),
    ],
)
def test_stance_of_a_service(service, text, stance):
    assert analyse(text, service=service).training == stance


@pytest.mark.parametrize(
    ("text", "stance"),
    [
        ("Texts you translate with Linguo Free may be used to train our translation models.", "no-choice"),
        ("We use meeting transcripts to train our speech recognition models.", "no-choice"),
        # systems only learning makes trainable, and AI products named by what they do
        ("We may use chat logs to train our automated moderation systems.", "no-choice"),
        ("We may use your reports to train our spam classifiers.", "no-choice"),
        ("Teachers' course materials may be used to improve our AI tutor.", "no-choice"),
        ("We may use student work to improve our AI tutor.", "no-choice"),
        ("We use automated systems to detect fraud and improve security for your account.", "none"),
        # what AI companies also train on is not users' data; what users posted publicly is
        ("We train our models on synthetic data and licensed datasets.", "none"),
        ("Our models were trained with feedback from human reviewers employed by us.", "none"),
        ("We use publicly available information from the internet to help train our AI models.", "no-choice"),
        ("Our classifiers flag content that may break our rules.", "none"),
        # what users do, kept as a record of it, is users' data
        (
            "We use viewing history and ratings to train the machine learning models behind our recommendations.",
            "no-choice",
        ),
        (
            "We use meeting transcripts to train our speech recognition models only if the meeting host has given "
            "permission.",
            "opt-in",
        ),
        # a plan named after the product is a tier: its promise is not a promise for everyone
        (
            "Texts you translate with Linguo Free may be used to train our translation models. Texts translated "
            "with Linguo Pro are never used to train our models.",
            "no-choice",
        ),
        # training people, or on a schedule, is not training models
        ("Our staff attend annual training on information security and your privacy.", "none"),
        ("You can train on your own schedule, and we use your workout data to suggest rest days.", "none"),
    ],
)
def test_stance_of_services_of_other_kinds(text, stance):
    assert analyse(text, service="Linguo").training == stance


def test_a_carve_out_said_in_a_sentence_of_its_own_is_read_and_its_removal_reported():
    c = _compare_clauses(
        "We use public posts to train our generative AI models. We do not do this for people in the European Union.",
        "We use public posts to train our generative AI models.",
    )
    assert c.before.excluded_regions == ("EU",)
    assert [f.rule for f in c.findings] == ["carve_out_removed"]


@pytest.mark.parametrize(
    ("old", "new", "rule", "named"),
    [
        pytest.param(
            "We never use children's recordings to train our models.",
            "We never use children's recordings to train our models, except recordings that a parent chooses to share.",
            "no_training_promise_narrowed",
            "",
            id="a-promise-that-gains-data-someone-chooses-to-share-is-narrowed",
        ),
        pytest.param(
            "We use the text you write to train our writing models. You can opt out in your account settings.",
            "We use the text you write to train our writing models. You can opt out in your account settings. We "
            "never train on text from Business and Enterprise accounts.",
            "no_training_promise_added",
            "",
            id="a-promise-for-business-accounts-said-as-training-on-text-is-reported",
        ),
        pytest.param(
            "You grant us a licence to use your content to train our AI models. This licence ends when you delete "
            "your content.",
            "You grant us a perpetual, irrevocable licence to use your content to train our AI models, which continues "
            "after you delete your content.",
            "licence_made_perpetual",
            "",
            id="a-licence-for-training-made-perpetual-is-reported",
        ),
        pytest.param(
            "If you opt in to model improvement, we keep the text you submit for 30 days.",
            "If you opt in to model improvement, we keep the text you submit for 3 years.",
            "retention_lengthened",
            "",
            id="opting-in-to-model-improvement-is-about-training",
        ),
        pytest.param(
            "We do not train our models on your conversations.",
            "We do not train our models on your conversations, unless you send us feedback with the thumbs buttons.",
            "no_training_promise_narrowed",
            "",
            id="a-promise-kept-unless-you-send-feedback-is-narrowed",
        ),
        pytest.param(
            "We use public posts to train our AI models.",
            "We use public posts to train our AI models. We have paused this for users in Canada.",
            "carve_out_added",
            "Canada",
            id="a-named-country-left-out-by-a-sentence-pointing-back-is-a-carve-out",
        ),
        pytest.param(
            "We use your chats to train our models unless you opt out.",
            "We use your chats to train our models unless you opt out. Even if you opt out, we may use chats you "
            "rate with thumbs up or down.",
            "opt_out_exception_added",
            "feedback",
            id="what-an-opt-out-leaves-in-said-in-a-sentence-of-its-own-is-reported",
        ),
        pytest.param(
            "We may use your projects to train our AI models.",
            "We may use your projects to train our AI models. We do not train on projects of Enterprise customers.",
            "no_training_promise_added",
            "for some plans",
            id="a-promise-for-a-plan-said-as-training-on-its-data-is-reported",
        ),
    ],
)
def test_one_change_gives_one_finding(old, new, rule, named):
    c = _compare_clauses(old, new)
    assert [f.rule for f in c.findings] == [rule]
    assert named in c.findings[0].summary


def test_content_licensed_out_for_training_is_training_by_partners_not_a_grant_by_users():
    c = _compare_clauses(
        "",
        "We license public questions and answers to selected partners, who may use them to train their AI models.",
    )
    assert c.ai_training_change
    assert "partners" in c.after.parties
    assert "licence_covers_training" not in [f.rule for f in c.findings]


def test_training_off_unless_turned_on_is_opt_in():
    stance = analyse(
        "We do not use your conversations to train our models unless you turn on Model Training."
    )
    assert stance.training == "opt-in"


def test_training_data_kept_for_less_time_is_reported_as_good_news():
    c = _compare_clauses(
        "If you opt in to training, we keep the clips you share for this purpose for 5 years.",
        "If you opt in to training, we keep the clips you share for this purpose for 1 year.",
    )
    assert [(f.rule, f.severity) for f in c.findings] == [("retention_shortened", "low")]
    assert c.before.training == c.after.training == "opt-in"


HELP_PAGE = """# Data for generative AI improvement

## What is this setting?

This setting controls whether Lumen can use your data to train content-creation AI models.

## How do I change it?

Go to Settings > Data privacy and switch the toggle off.{default}
{retro}"""


def test_a_help_page_answers_under_headings_of_their_own():
    before = HELP_PAGE.format(default="", retro="")
    after = HELP_PAGE.format(
        default=" The setting is on by default for members outside the EU, EEA, UK and Switzerland.",
        retro="\n## Does opting out remove past training?\n\nNo. Opting out does not affect training that has already "
        "taken place.\n",
    )
    c = compare(before, after, service="Lumen")
    assert c.before.training == c.after.training == "opt-out"
    assert c.after.excluded_regions == ("EU", "EEA", "UK", "CH")
    assert sorted(f.rule for f in c.findings) == ["carve_out_added", "opt_out_not_retroactive"]


def test_a_pause_notice_names_what_it_pauses_not_more_data():
    page = "# Generative AI\n\nWe use public posts from adults to develop and improve generative AI at Lumen.\n{}"
    c = compare(
        page.format(""),
        page.format("\nWe are pausing our plans to train our AI models on content from adults in the EU.\n"),
        service="Lumen",
    )
    assert [f.rule for f in c.findings] == ["training_paused"]


@pytest.mark.parametrize(
    ("text", "stance"),
    [
        ("Your notes improve our AI models only if you tick the box labelled Share notes.", "opt-in"),
        (
            "We use your messages to train our language models. If you would rather we did not, write to us and "
            "we will exclude your account.",
            "opt-out",
        ),
        (
            "We may use de-identified transcripts to improve our AI. If you prefer that we do not, email "
            "privacy@notely.example.",
            "opt-out",
        ),
        # a setting named in capitals, turned off after its name
        (
            "When Assistant Activity is on, your conversations are used to improve the generative AI models that "
            "power Assistant. You can turn Assistant Activity off at any time.",
            "opt-out",
        ),
        # turning on a setting that prevents the use is opting out, not in
        (
            "We share public posts with AI companies to train their models, unless you turn on the Prevent "
            "third-party sharing setting.",
            "opt-out",
        ),
        ("We use your posts to train our AI models only if you turn on Help Improve AI.", "opt-in"),
        ("We use your posts to train our AI models. You can turn your device off at any time.", "no-choice"),
        # choices about something else, right after a training clause, are not choices about training
        (
            "We use your posts to train our AI models. You may decline to provide your phone number; some "
            "features will then be unavailable.",
            "no-choice",
        ),
        ("We use your posts to train our AI models. Participation in surveys is voluntary.", "no-choice"),
        ("We use your posts to train our AI models. You can turn Dark Mode off in Settings.", "no-choice"),
        (
            "We use your posts to train our AI models. If you prefer that we do not contact you by phone, tell us "
            "in your account settings.",
            "no-choice",
        ),
        (
            "Your notes may be used to train our models. This is optional, and you may decline at any time.",
            "opt-out",
        ),
        ("We use your data to train AI unless you have asked us not to in your privacy settings.", "opt-out"),
        # nobody is in a voluntary programme, nor among the users who turned a setting on, until they join
        (
            "Participation in our AI training programme is voluntary. We use the recordings of participants to "
            "train our speech models.",
            "opt-in",
        ),
        ("Model training uses only data from users who have enabled Contribute to AI.", "opt-in"),
        ("You can let us use your data to train AI models by switching the toggle on.", "opt-in"),
        (
            "We use your posts to train AI models. If you have questions, you can let us know by email.",
            "no-choice",
        ),
        # an opt-out for the people of one country is not an opt-out for everyone
        ("We use your data to train AI. Users in Brazil can opt out by contacting us.", "no-choice"),
        # an opt-out denied is none
        ("We use your public posts to train our AI models. You cannot opt out of this use.", "no-choice"),
        ("We use your chats to train our models, and there is no way to turn this off.", "no-choice"),
    ],
)
def test_more_ways_of_saying_a_choice(text, stance):
    assert analyse(text).training == stance


@pytest.mark.parametrize(
    "old",
    [
        "We use your public posts to train our AI models, except posts from users under 18.",
        "We use your public posts to train our AI models. We do not use data from users under 18 for this purpose.",
    ],
)
def test_data_no_longer_left_out_of_training_is_reported(old):
    c = _compare_clauses(old, "We use your public posts to train our AI models.")
    assert [(f.rule, f.severity, f.summary) for f in c.findings] == [
        ("category_exclusion_removed", "high", "data no longer left out of training: minors")
    ]
    assert c.findings[0].old == (old.split(". ")[-1] if "purpose" in old else old), "quoting what left it out"


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        pytest.param(
            "We use public posts to train our AI models.",
            "We use public posts to train our AI models. We have paused this for users in Canada.",
            "Regions now excluded: Canada",
            id="a-new-carve-out-names-its-regions-once",
        ),
        pytest.param(
            "We use public posts to train our AI models, except in the EU.",
            "We use public posts to train our AI models, except in the EU and the UK.",
            "Regions now excluded: UK; EU/UK excluded",
            id="a-wider-carve-out-also-says-all-that-is-excluded-now",
        ),
        pytest.param(
            "We use your public posts to train our AI models. You can opt out in your settings.",
            "We use your public posts to train our AI models. You cannot opt out of this use.",
            "Opt-out from AI training removed: training on user data with no opt-out",
            id="an-opt-out-that-goes-says-so",
        ),
        pytest.param(
            "We use voice recordings to improve our speech recognition only with your consent.",
            "We use voice recordings to improve our speech recognition.",
            "Consent for AI training no longer asked: training on user data with no opt-out",
            id="a-consent-that-goes-says-so",
        ),
    ],
)
def test_the_headline_of_a_change(old, new, line):
    assert headline(_compare_clauses(old, new)) == line


def test_a_country_named_beside_a_training_clause_is_not_a_carve_out():
    c = _compare_clauses(
        "We use public posts to train our AI models.",
        "We use public posts to train our AI models. Our offices are in Canada and Japan, and we do not sell "
        "products in Brazil.",
    )
    assert not c.findings


def test_data_left_out_said_as_a_promise_or_as_an_exception_is_the_same():
    exception = "We use your public posts to train our AI models, except posts from users under 18."
    promise = (
        "We use your public posts to train our AI models. We do not use posts from users under 18 to train our AI "
        "models."
    )
    assert not _compare_clauses(exception, promise).findings
    assert not _compare_clauses(promise, exception).findings


def test_teenagers_named_by_their_ages_are_minors():
    c = _compare_clauses(
        "We use chats to train our safety models.",
        "We use chats to train our safety models, including chats from players aged 13 to 17.",
    )
    assert [(f.rule, f.summary) for f in c.findings] == [
        ("category_added", "more data used for training: minors")
    ]


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        (
            "We use voice clips from users in the United States to train our speech models.",
            "We use voice clips from all users to train our speech models.",
            ("training_regions_widened", "AI training now covers more users: US -> all users"),
        ),
        (
            "We use posts from members in the US to train our AI models.",
            "We use posts from members in the US and Canada to train our AI models.",
            ("training_regions_widened", "AI training now covers more users: US -> Canada, US"),
        ),
        (
            "We use posts from members to train our AI models.",
            "We use posts from members in the US to train our AI models.",
            ("training_regions_narrowed", "AI training now covers fewer users: all users -> US"),
        ),
    ],
)
def test_training_limited_to_users_in_some_regions(old, new, finding):
    c = _compare_clauses(old, new)
    assert [(f.rule, f.summary) for f in c.findings] == [finding]


def test_us_in_capitals_is_a_pronoun_not_a_region():
    text = "WE MAY USE YOUR CONTENT TO TRAIN OUR AI MODELS, EXCEPT WHERE YOU ASK US NOT TO."
    assert analyse(text).excluded_regions == ()


def test_users_named_as_included_are_not_a_limit():
    c = _compare_clauses(
        "We use public posts, including from users in the EU, to train our AI models.",
        "We use public posts to train our AI models.",
    )
    assert not c.ai_training_change


def test_research_only_for_those_who_join_a_study_is_opt_in():
    text = "We use your health data to develop new machine learning models only if you join a study."
    assert analyse(text).training == "opt-in"


def test_a_carve_out_that_points_back_is_read_two_sentences_away():
    page = "We use your data to train our AI models. You can opt out in Settings. {}"
    c = _compare_clauses(
        page.format("We do not currently do this for members in the EU, EEA, Switzerland or the UK."),
        page.format(
            "From 3 November, we will also use data from members in the EU, EEA, Switzerland and the UK."
        ),
    )
    assert c.before.excluded_regions == ("EU", "EEA", "UK", "CH")
    assert [f.rule for f in c.findings] == ["carve_out_removed"]


@pytest.mark.parametrize(
    ("objection", "stance"),
    [
        ("You can object at any time.", "opt-out"),
        ("You have the right to object to processing based on our legitimate interests.", "no-choice"),
    ],
)
def test_an_objection_right_after_the_training_clause(objection, stance):
    assert analyse(f"We use public posts from adults to train our AI models. {objection}").training == stance


def test_the_rights_users_grant_can_cover_training():
    text = (
        "You grant us a licence to host, store and display your content. The rights you grant include the right "
        "to use your content for machine learning and artificial intelligence development."
    )
    assert analyse(text).training == "no-choice"


def test_a_legal_basis_cell_of_consent_makes_a_table_row_opt_in():
    table = "# Privacy Policy\n\n| Purpose | Information | Legal basis |\n| --- | --- | --- |\n{}\n"
    row = "| Improving our AI models | Content you post | {} |"
    c = compare(table.format(row.format("Legitimate interests")), table.format(row.format("Consent")))
    assert (c.before.training, c.after.training) == ("no-choice", "opt-in")


@pytest.mark.parametrize(
    ("added", "category"),
    [
        (", including facial geometry derived from them,", "biometrics"),
        (" and your precise location", "location"),
        (" and health data", "sensitive_data"),
    ],
)
def test_sensitive_kinds_of_data_added_to_training_are_named(added, category):
    c = _compare_clauses(
        "We use photos you post to train our image models.",
        f"We use photos you post{added} to train our image models.",
    )
    assert [(f.rule, f.summary) for f in c.findings] == [
        ("category_added", f"more data used for training: {category}")
    ]


OPT_OUT_PAGE = "We use your chats to train our models. You can opt out in Settings. {}"


@pytest.mark.parametrize(
    ("added", "finding"),
    [
        # what stays in trained models is not a promise not to train
        (
            "Deleting your data does not remove it from models that have already been trained.",
            "opt_out_not_retroactive",
        ),
        (
            "If you opt out, we will also remove your past chats from future training datasets.",
            "retroactive_opt_out_added",
        ),
    ],
)
def test_whether_an_opt_out_reaches_past_training(added, finding):
    c = _compare_clauses(OPT_OUT_PAGE.format(""), OPT_OUT_PAGE.format(added))
    assert [f.rule for f in c.findings] == [finding]


def test_to_stop_this_contact_our_officer_is_an_opt_out():
    text = "We use your chats to train our models. To stop this, contact our Data Protection Officer."
    assert analyse(text).training == "opt-out"


@pytest.mark.parametrize(
    "neighbour",
    [
        "You can opt out of training reminders in Settings > Notifications.",
        "Our AI Assistant is off by default for business accounts; admins can turn it on.",
        "If you are outside the EEA, we share data with partners to allow advertisers to reach you.",
    ],
)
def test_neighbours_about_reminders_features_or_ads_leave_a_permission_alone(neighbour):
    stance = analyse(f"We use your posts to train our AI models. {neighbour}")
    assert (stance.training, stance.excluded_regions) == ("no-choice", ())


def test_a_sister_company_named_is_a_new_party():
    c = _compare_clauses(
        "We may use the information we collect to train our machine learning models.",
        "We may use the information we collect to train our machine learning models. Your chats may be shared "
        "with our sister company Quill Labs to train its models.",
    )
    assert "party_added" in [f.rule for f in c.findings]
    assert set(c.after.parties) >= {"affiliates", "Quill Labs"}


def test_a_model_named_by_its_own_name():
    text = "You can control whether your posts are used to train Quill in Settings > Privacy."
    assert analyse(text).training == "opt-out"
    assert analyse("Our videos show you how to train Rex, your new puppy.").training == "none"


def _compare_clauses(old: str, new: str):
    page = (
        "# Privacy Policy\n\n## How we use information\n\nWe use your information to run the service.\n{}\n"
    )
    return compare(page.format(old), page.format(new), service="Lumen")


def test_a_promise_that_gains_an_exception_is_narrowed():
    c = _compare_clauses(
        "We do not use your conversations to train our models.",
        "We do not use your conversations to train our models, except when you rate a response or send feedback.",
    )
    assert [f.rule for f in c.findings] == ["no_training_promise_narrowed"]
    assert "feedback" in c.findings[0].summary
    assert c.after.training == "never"


def test_an_opt_out_said_not_to_cover_past_training():
    before = "We use your data to train AI models. You can opt out in settings."
    c = _compare_clauses(
        before,
        before + " Opting out stops the use of your data for training going forward, but does not affect "
        "training that has already taken place.",
    )
    assert [f.rule for f in c.findings] == ["opt_out_not_retroactive"]
    assert c.findings[0].new.startswith("Opting out stops")


def test_training_data_kept_indefinitely_is_kept_longer():
    before = "We use your posts to train our AI models. You can turn this off in settings."
    c = _compare_clauses(
        before + " Data used for model training is deleted after 90 days.",
        before + " Data used for model training is kept indefinitely.",
    )
    assert [f.rule for f in c.findings] == ["retention_lengthened"]
    assert c.findings[0].summary.endswith("90 days -> indefinitely")


def test_data_still_used_after_turning_a_setting_off_is_an_opt_out_exception():
    before = "We use your posts to train our AI models. You can turn this off in settings."
    c = _compare_clauses(
        before, before + " Even if you turn this off, posts you report may still be used to train our models."
    )
    assert "opt_out_exception_added" in [f.rule for f in c.findings]


def test_how_long_training_data_is_kept_can_be_said_in_the_next_sentence():
    before = "We use your conversations to train our models. You can opt out in settings."
    c = _compare_clauses(
        before + " Conversations used for training are kept for 30 days.",
        before + " Conversations used for training are kept for up to 5 years.",
    )
    assert [f.rule for f in c.findings] == ["retention_lengthened"]
    assert c.after.retention_days == 5 * 365
    support = before + " Support calls are recorded for quality and training purposes and kept for {}."
    c = _compare_clauses(support.format("30 days"), support.format("5 years"))
    assert not c.ai_training_change  # the training of support staff


def test_data_left_out_of_training_is_not_data_added():
    c = _compare_clauses(
        "We use chats to train our models.",
        "We use chats to train our models, except chats from users under 18.",
    )
    assert [f.rule for f in c.findings] == ["category_excluded"]
    assert "minors" in c.findings[0].summary
    assert "minors" not in c.after.categories


def test_what_opting_out_stops_is_not_a_promise():
    c = _compare_clauses(
        "",
        "We may use your posts to train our AI models. You can turn this off in settings. Opting out means that "
        "we will not use your data to train these models going forward.",
    )
    assert [f.rule for f in c.findings] == ["training_added_opt_out"]
    assert c.after.training == "opt-out"


def test_a_notice_of_delayed_use_for_ai_is_a_pause():
    c = _compare_clauses(
        "",
        "Based on feedback from regulators, we are delaying our plans to use your information to develop and "
        "improve AI at Lumen.",
    )
    assert "training_paused" in [f.rule for f in c.findings]


def test_stance_evidence_is_verbatim():
    text = "# Policy\n\nWe keep logs.\n\nWe may use your **posts** to train our [AI models](https://x.test/ai).\n"
    s = analyse(text)
    assert s.evidence == ("We may use your **posts** to train our [AI models](https://x.test/ai).",)
    assert s.categories == ("posts",)


def test_compare_to_dict_matches_contract():
    old = "# Terms\n\nWe collect data.\n"
    new = old + "\nWe may use your posts to train AI models. You can opt out in your settings.\n"
    c = compare(old, new)
    d = c.to_dict()
    assert set(d) == {"changed", "cosmetic", "ai_training_change", "severity", "before", "after", "findings"}
    assert set(d["after"]) == {
        "training", "excluded_regions", "parties", "categories", "retention", "retention_days",
        "retroactive_opt_out", "evidence",
    }  # fmt: skip
    assert d["ai_training_change"] is True and d["severity"] == "critical"
    assert d["before"]["training"] == "none" and d["after"]["training"] == "opt-out"
    assert d["findings"][0]["rule"] == "training_added_opt_out"
    assert d["findings"][0]["old"] is None
    assert "train AI models" in d["findings"][0]["new"]
    json.dumps(d)  # serialisable as is


def test_compare_unchanged_cosmetic_and_plain_change():
    text = "# T\n\nWe may use your posts to train AI models.\n"
    same = compare(text, text)
    assert (same.changed, same.cosmetic, same.severity, same.findings) == (False, False, "info", ())
    cosmetic = compare(text, text.replace("AI models.", "AI models!"))
    assert cosmetic.changed and cosmetic.cosmetic and cosmetic.severity == "info"
    plain = compare(text, text + "\nWe keep logs for a year.\n")
    assert plain.changed and not plain.cosmetic and not plain.ai_training_change and plain.severity == "low"


def test_align_pairs_reworded_and_moved_clauses():
    old = segment("A first sentence about cookies. We may use your posts to train our AI models. The end.")
    new = segment(
        "The end. A first sentence about cookies. We might use your public posts to train our AI models."
    )
    statuses = {(p.old.text if p.old else None, p.status) for p in align(old, new)}
    assert ("We may use your posts to train our AI models.", "modified") in statuses
    assert ("The end.", "moved") in statuses or ("The end.", "equal") in statuses
    assert not any(s in ("added", "removed") for _, s in statuses)


def test_report_and_headline():
    old = "# T\n\nWe use your conversations to train our models only if you opt in.\n"
    new = (
        "# T\n\nWe use your conversations to train our models. This is on by default; you can turn it off.\n"
    )
    c = compare(old, new)
    assert headline(c) == "AI training now on by default (opt-out)"
    report = render_report(c, title="Chat privacy")
    assert report.startswith("Chat privacy\n============\n")
    assert "default_flip_opt_in_to_opt_out" in report
    assert "old: We use your conversations to train our models only if you opt in." in report
    assert "training: opt-in" in report and "training: opt-out" in report


# --- speed paths: the fast paths must give exactly what the plain ones give ---------------------------------

_POLICIES = Path(__file__).resolve().parent.parent / "fixtures" / "policies"


def _fixture_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(_POLICIES.glob("*/v*.md"))]


def _hit_key(hit) -> tuple:
    fields = {
        f.name: getattr(hit, f.name) for f in dataclasses.fields(hit) if f.name not in ("clause", "extra")
    }
    return hit.clause.text, hit.clause.heading_path, hit.clause.kind, tuple(sorted(fields.items()))


def _profile_key(p) -> dict:
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if f.name != "hits"}


def test_block_selection_gives_the_profile_of_the_full_path():
    texts = _fixture_texts()
    assert texts
    for text in texts:
        full = profile(detect(segment(text)))
        sparse = profile(detect_text(text))
        assert _profile_key(sparse) == _profile_key(full)
        # what the selection drops are side clauses only (no training clause is ever skipped)
        kept = {_hit_key(h) for h in sparse.hits}
        assert kept <= {_hit_key(h) for h in full.hits}
        assert [_hit_key(h) for h in full.hits if h.training] == [
            _hit_key(h) for h in sparse.hits if h.training
        ]
        doc = Document(text)
        assert len(select(doc)) <= len(doc.blocks)


def test_side_clauses_far_from_any_training_clause_are_skipped():
    filler = " ".join(f"Sentence number {n} is about delivery." for n in range(8))
    text = (
        "# Privacy\n\n## Marketing\n\nYou can turn off promotional settings at any time.\n\n" + filler + "\n\n"
        "## AI\n\nWe use your posts to train our AI models. You can turn this off in your settings.\n\n"
        + filler + "\n\n## Accounts\n\nYou can switch off account alerts in your settings.\n"
    )  # fmt: skip
    full = detect(segment(text))
    sparse = detect_text(text)
    assert "You can turn this off in your settings." in [h.text for h in sparse]
    dropped = {h.text for h in full} - {h.text for h in sparse}
    assert dropped == {"You can switch off account alerts in your settings."}
    assert profile(sparse).stance == profile(full).stance
    assert profile(sparse).stance.training == "opt-out"


def test_a_shared_history_gives_the_same_comparisons_along_a_document():
    for folder in sorted(_POLICIES.iterdir()):
        texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("v*.md"))]
        history = History()
        for old, new in zip(texts, texts[1:], strict=False):
            assert compare(old, new, service="Acme", history=history) == compare(old, new, service="Acme")
            assert new in history.profiles, "the new side is kept for the next pair"


def _fixture_pairs() -> list[tuple[str, str]]:
    pairs = []
    for folder in sorted(_POLICIES.iterdir()):
        texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("v*.md"))]
        pairs += list(zip(texts, texts[1:], strict=False))
    return pairs


def test_comparing_the_blocks_that_can_matter_gives_the_comparison_of_a_whole_reading(monkeypatch):
    pairs = _fixture_pairs()
    sparse = [compare(old, new, service="Acme") for old, new in pairs]
    monkeypatch.setattr(History, "profile", lambda self, text, service: self.read(text, service)[1])
    whole = [compare(old, new, service="Acme") for old, new in pairs]
    assert sparse == whole
    assert any(c.ai_training_change for c in sparse), "pairs with findings (and quotes) are among them"
    assert any(c.changed and not c.ai_training_change for c in sparse)


def test_a_change_away_from_the_ai_clauses_does_not_read_the_versions_whole():
    old = (
        "# Privacy\n\n## Delivery\n\nWe ship orders within five days.\n\n"
        "## AI\n\nWe use your posts to train our AI models. You can turn this off in your settings.\n"
    )
    history = History()
    moved_on = compare(old, old.replace("five days", "three days"), service="Acme", history=history)
    assert moved_on.changed and not moved_on.ai_training_change
    assert history.last is None, "no clause list was built: the two profiles are equal"
    flipped = compare(old, old.replace(" You can turn this off in your settings.", ""), history=history)
    assert flipped.ai_training_change and flipped.findings[0].old
    assert history.last is not None, "a finding quotes clauses paired over the whole texts"


def test_paragraph_keys_equal_the_whole_text_key_even_when_a_link_spans_a_blank_line():
    text = (
        "Last updated 3 May 2025.\n\nSee the [Privacy\n\nCenter](https://example.com/a\n\nb) for more.\n\n"
        "A <span\n\nclass='x'>tag</span> and (an aside\n\nover two paragraphs).\n\n- Item *one*"
    )
    history = History()
    assert history.paragraph_keys(text) == norm_key(text)
    assert history.paragraph_keys(text) == norm_key(text), "and again from the cache"
    assert is_cosmetic(text, text.replace("3 May 2025", "9 June 2026"), history)
    assert not is_cosmetic(text, text.replace("Center]", "Hub]"), history)
    lone = "Children < 13 may not sign up.\n\n" + "\n\n".join(f"Rule {n} > none." for n in range(12))
    assert History().paragraph_keys(lone) == norm_key(lone)
    long_open = "Age < 13.\n\n" + "\n\n".join(f"Clause {n} about data." for n in range(12))
    assert History().paragraph_keys(long_open) == norm_key(long_open), "a tag left open for good"


def test_is_cosmetic_reads_only_as_far_as_the_first_real_difference():
    paragraphs = [f"Paragraph {n} explains how we handle request number {n}." for n in range(200)]
    old = "\n\n".join(paragraphs)
    new = old.replace("explains how we handle request number 3.", "explains how we sell request number 3.")
    history = History()
    assert not is_cosmetic(old, new, history)
    assert len(history.keys) < 20, "the paragraphs after the change are never normalised"
    assert is_cosmetic(old, old.replace("request number 150", "request number 151"), History())


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (["a b", "c"], ["a", "b c"]),
        (["a", "b"], ["a b", ""]),
        (["ab"], ["a", "b"]),
        ([], []),
        ([], ["a"]),
        (["a", "b", "c"], ["a", "b"]),
        (["x y z"], ["x", "y", "z"]),
    ],
)
def test_keys_compare_as_their_joined_text(left, right):
    from tosmonitor.analysis.compare import _same_joined

    expected = " ".join(k for k in left if k) == " ".join(k for k in right if k)
    assert _same_joined(iter([k for k in left if k]), iter([k for k in right if k])) is expected


def test_block_selection_keeps_context_and_list_lead():
    filler = " ".join(f"Sentence number {n} is about delivery." for n in range(12))
    text = (
        "# Terms\n\n" + filler + "\n\nYou must not do any of the following:\n\n"
        + "\n".join(f"- item {n} about delivery" for n in range(10))
        + "\n- use the content to train a machine learning model\n\n" + filler + "\n"
    )  # fmt: skip
    doc = Document(text)
    kept = select(doc)
    kinds = [doc.block(i).kind for i in kept]
    assert "paragraph" in kinds  # the lead-in sentence of the list is kept with the list item
    assert doc.block(kept[-1]).text.endswith("machine learning model")
    assert doc.following(kept[-1]) is not None  # the last paragraph has nothing to say and is skipped
    hits = detect_text(text)
    assert [h.ban for h in hits] == [True]
    assert [_hit_key(h) for h in hits] == [_hit_key(h) for h in detect(segment(text))]


def _walk(doc: Document) -> list:
    """Every block of ``doc``, reached from the first one by ``following``; checked against ``preceding``."""
    first = next(((chunk, 0) for chunk in range(len(doc.chunks)) if doc.blocks_of(chunk)), None)
    forward = []
    while first is not None:
        forward.append(first)
        first = doc.following(first)
    backward = []
    last = forward[-1] if forward else None
    while last is not None:
        backward.append(last)
        last = doc.preceding(last)
    assert backward == forward[::-1]
    return [doc.block(address) for address in forward]


def test_a_lazily_read_document_has_the_blocks_and_heading_paths_of_a_whole_reading():
    awkward = (
        "Intro line\n# Heading glued to a paragraph\nText under it.\n\n---\n\n| a | b |\n|---|---|\n\n"
        "## Two\n\n- item one\n- item two\n\n#\n\nAfter an empty heading.\n\n### Three ###\n\nLast.\n"
    )
    for text in [*_fixture_texts(), awkward, ""]:
        expected = segment_blocks(text)
        assert _walk(Document(text)) == expected
        assert Document(text).blocks == expected


def test_a_selection_cuts_only_the_chunks_it_needs(monkeypatch):
    segment_module = importlib.import_module("tosmonitor.analysis.segment")

    filler = "\n\n".join(f"Paragraph {n} is about delivery and e-mail addresses in HTML." for n in range(300))
    text = f"# Policy\n\n{filler}\n\n## AI\n\nWe use your posts to train our AI models.\n\n{filler}\n"
    cut: list[str] = []
    real = segment_module._chunk_items.__wrapped__
    monkeypatch.setattr(segment_module, "_chunk_items", lambda chunk: cut.append(chunk) or real(chunk))
    hits = detect_text(text)
    assert [h.training for h in hits] == [True] and hits[0].clause.heading_path == ("Policy", "AI")
    assert len(cut) < 20, "the headings, the training paragraph and the few blocks around it"
    assert [_hit_key(h) for h in hits] == [_hit_key(h) for h in detect(segment(text))]


def test_anchor_offsets_find_ai_and_ml_only_where_a_word_starts():
    def anchored(text: str) -> list[str]:
        low = text.lower()
        return sorted(low[at : at + 3] for at in lx.anchor_offsets(low))

    assert anchored("e-mail, HTML, maintain, _ai, retail") == []
    assert anchored("AI, (ml) and A.I. models") == sorted(["ai,", "ml)", "a.i", "mod"])


@pytest.mark.parametrize(
    "low",
    [
        # multi-byte characters before the words (the search runs on UTF-8), and words that overlap
        "données – 😀 modèle: a machine-learning model; we retrain and fine-tune (tuning) ✓ ai",
        # ASCII only (searched as bytes)
        "donnees - modele: a machine-learning model; we retrain and fine-tune (tuning) ok ai",
    ],
)
def test_anchor_offsets_are_every_occurrence_counted_in_characters(low: str):
    found = sorted(lx.anchor_offsets(low))
    expected = sorted(
        at
        for word in (*lx._ANCHOR_WORDS, "ai")
        for at in range(len(low))
        if low.startswith(word, at) and (word != "ai" or not low[at - 1].isalnum())
    )
    assert found == expected
    assert {low[at : at + 5] for at in found} == {"machi", "learn", "model", "train", "tune ", "tunin", "ai"}


def test_a_character_that_lowercases_to_two_still_gives_the_whole_reading():
    text = "# İstanbul office\n\nWe may use İnstagram posts to train our AI models. You can opt out.\n"
    assert len(text.lower()) != len(text)
    hits = detect_text(text)
    assert hits and [_hit_key(h) for h in hits] == [_hit_key(h) for h in detect(segment(text))]


def test_might_matter_equals_both_prefilters():
    samples = [c.text.lower() for text in _fixture_texts() for c in segment(text)]
    samples += [
        "the ai act",
        "email",
        "a.i. tools",
        "html",
        "adopt",
        "opt in",
        "sharing",
        "marshal",
        "",
        "mail",
        "not in the eu",
        "queue",
        "ukraine",
        "eea.",
    ]
    for low in samples:
        assert lx.might_matter(low) == bool(lx.PREFILTER.search(low) or lx.SIDE_PREFILTER.search(low)), low
        assert lx.might_train(low) == bool(lx.PREFILTER.search(low)), low


def test_guarded_patterns_match_like_the_plain_patterns():
    guarded = [v for v in vars(lx).values() if isinstance(v, lx.Guarded)]
    guarded += [
        p for v in vars(lx).values() if isinstance(v, dict) for p in v.values() if isinstance(p, lx.Guarded)
    ]
    assert any(g.needles for g in guarded)
    texts = [plain(c.text) for text in _fixture_texts() for c in segment(text)]
    texts += ["We may ſhare your data to train models.", "İf you opt out", "TRAIN", "Opt-Out", ""]
    for g in guarded:
        for t in texts:
            got, want = g.search(t), g.compiled.search(t)
            assert (got and got.span()) == (want and want.span()), (g.pattern, t)


@pytest.mark.parametrize(
    ("pattern", "needles"),
    [
        (r"\bopt(?:ing|ed)?[- ]?out\b|\bdisabl\w+", {"opt", "disabl"}),
        (r"\btheir (?:own )?models?", {"their "}),
        (r"\bA\.?I\b", None),  # too short to be worth a substring test
    ],
)
def test_needles(pattern, needles):
    found = lx.needles(re.compile(pattern, re.IGNORECASE))
    assert (set(found) if found else None) == needles


def test_party_order_does_not_depend_on_set_order():
    from tosmonitor.analysis.stance import _sorted

    values = ["third parties", "Third Parties", "affiliates", "Beta Labs"]
    assert (
        _sorted(set(values))
        == _sorted(set(reversed(values)))
        == (
            "affiliates",
            "Beta Labs",
            "Third Parties",
            "third parties",
        )
    )


def test_a_verdict_reused_from_a_shared_cache_quotes_the_clause_where_it_now_stands():
    row = (
        "| Purpose | " + "We keep records of the requests you send us. " * 10
        + "We use your posts to train our AI models. | Consent |"
    )  # fmt: skip
    assert len(row) > 400, "a long row is judged piece by piece"
    old = f"# Policy\n\nWe explain what we do.\n\n{row}\n"
    new = f"# Policy\n\nA new opening line. We explain what we do.\n\n{row}\n"
    cache: dict = {}
    detect(segment(old), cache=cache)
    reused = detect(segment(new), cache=cache)
    assert reused == detect(segment(new)), "the same hits as without the cache"
    assert [h.text for h in reused] == ["We use your posts to train our AI models."]
    assert reused[0].clause.index == 2, "the row is now the third clause"


def test_non_generative_models_are_not_generative_ai():
    from tosmonitor.analysis.stance import profile_text

    found = profile_text("We use your messages to train non-generative machine learning models.")
    assert found.model_kinds == {"machine learning"}

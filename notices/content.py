"""Write a notice's content: one structured JSON document, frozen when the notice is approved.

The document carries what the law asks of a notice, and nothing about the victim:

* EU DSA art. 16(2): (a) a substantiated explanation (``statements.*.explanation``
  and ``evidence``), (b) the exact URLs (``location``), (c) the notifier's name
  and email (``notifier``), (d) a statement of good faith (``statements.*.good_faith``);
* US TAKE IT DOWN Act § 3: a signature (``signature``), the content's location,
  a good-faith statement that it is published without consent
  (``statements.*.consent``), and contact details (``notifier``).

For adult intimate images the notifier must be named, so the NGO is the notifier
and the depicted person stays anonymous: no case number, PIN, case id, not even
the fingerprint id appears. The Jinja2 templates render this document in
French and English; the statements are written here once per language.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from empreinte.hashing.signals import SignalType
from empreinte.store import models as m
from empreinte.store.models.notices import Notice, Sighting

FORMAT: Final = "empreinte-notice"
VERSION: Final = 1
CATEGORY: Final = "non_consensual_intimate_image"
REMOVAL_HOURS: Final = 48
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

LEGAL_BASES: Final[list[dict[str, Any]]] = [
    {
        "jurisdiction": "FR",
        "instrument": "Code pénal",
        "provision": "art. 226-2-1",
        "title": {
            "en": "Disclosing sexual images of a person without their consent",
            "fr": "Diffusion sans consentement d'images à caractère sexuel",
        },
    },
    {
        "jurisdiction": "BE",
        "instrument": "Code pénal",
        "provision": "art. 417/9",
        "title": {
            "en": "Non-consensual dissemination of sexual content (formerly art. 371/1)",
            "fr": "Diffusion non consentie de contenus à caractère sexuel "
            "(anciennement art. 371/1)",
        },
    },
    {
        "jurisdiction": "EU",
        "instrument": "Regulation (EU) 2022/2065 (Digital Services Act)",
        "provision": "art. 16",
        "title": {
            "en": "Notice and action mechanism",
            "fr": "Mécanismes de notification et d'action",
        },
    },
    {
        "jurisdiction": "US",
        "instrument": "TAKE IT DOWN Act (Pub. L. 119-12)",
        "provision": "section 3",
        "title": {
            "en": "Notice and removal of non-consensual intimate visual depictions",
            "fr": "Notification et retrait des représentations intimes non consenties",
        },
    },
]


def new_reference(session: Session, now: dt.datetime) -> str:
    """Return a fresh notice reference such as ``TD-2026-7K3Q9-XW2AB``, unlike a case number."""
    while True:
        chars = "".join(secrets.choice(_CROCKFORD) for _ in range(10))
        reference = f"TD-{now.year}-{chars[:5]}-{chars[5:]}"
        if session.scalar(select(Notice.id).where(Notice.reference == reference)) is None:
            return reference


def build(
    notice: Notice, sighting: Sighting, notifier: m.Organisation, now: dt.datetime
) -> dict[str, Any]:
    """Return the notice document for ``notice``, issued at ``now``."""
    evidence = _evidence(sighting)
    return {
        "format": FORMAT,
        "version": VERSION,
        "reference": notice.reference,
        "issued_at": iso(now),
        "category": CATEGORY,
        "requested_action": "removal",
        "removal_deadline_hours": REMOVAL_HOURS,
        "location": {
            "url": sighting.url,
            "page_url": sighting.page_url,
            "host": sighting.host,
            "first_seen": iso(sighting.first_seen),
            "last_seen": iso(sighting.last_seen),
        },
        "evidence": evidence,
        "notifier": {"name": notifier.name, "email": notifier.contact_email},
        "statements": {lang: _statements(lang, evidence, notifier.name) for lang in ("en", "fr")},
        "signature": {"name": notifier.name, "method": "electronic", "signed_at": iso(now)},
        "legal_basis": LEGAL_BASES,
        "acknowledge": {
            "method": "POST",
            "path": f"/v1/notices/{notice.reference}/acknowledge",
            "statuses": ["acknowledged", "removed", "refused"],
        },
    }


def _evidence(sighting: Sighting) -> dict[str, Any]:
    box = sighting.box
    evidence: dict[str, Any] = {
        "signal": sighting.signal,
        "signal_name": SignalType(sighting.signal).spec.display,
        "method": _method(sighting.signal),
        "distance": sighting.distance,
        "bits": None,
        "inliers": sighting.inliers,
        "confidence": sighting.confidence,
        "box": dict(zip(("x", "y", "width", "height"), box, strict=True)) if box else None,
    }
    if evidence["method"] == "perceptual":
        evidence["bits"] = SignalType(sighting.signal).nbits
    video = _video(sighting)
    if video is not None:
        evidence["method"] = "video"
        evidence["video"] = video
    return evidence


def _video(sighting: Sighting) -> dict[str, Any] | None:
    """Return the time ranges and shares of a video match, from its match event, or None."""
    session = object_session(sighting)
    event = session.get(m.MatchEvent, sighting.last_match_id) if session is not None else None
    if event is None or event.registered_range is None or event.query_range is None:
        return None
    return {
        "query_start": event.query_range[0],
        "query_end": event.query_range[1],
        "registered_start": event.registered_range[0],
        "registered_end": event.registered_range[1],
        "query_share": event.query_share,
        "registered_share": event.registered_share,
    }


def _method(signal: str) -> str:
    return SignalType(signal).spec.kind.value


def _statements(lang: str, evidence: dict[str, Any], notifier: str) -> dict[str, str]:
    how = _HOW[evidence["method"]][lang].format(
        **evidence, **evidence.get("video", {}), percent=round(evidence["confidence"] * 100)
    )
    if evidence["box"]:
        how += " " + _BOX[lang].format(**evidence["box"])
    return {
        "explanation": _EXPLANATION[lang].format(how=how, notifier=notifier),
        "consent": _CONSENT[lang].format(notifier=notifier),
        "acts_for": _ACTS_FOR[lang],
        "good_faith": _GOOD_FAITH[lang].format(notifier=notifier),
    }


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_HOW: Final = {
    "perceptual": {
        "en": "Its {signal_name} perceptual hash is {distance} bits out of {bits} from the "
        "registered image's (confidence {percent}%): it is the same picture, possibly "
        "re-encoded, resized or slightly edited.",
        "fr": "Son empreinte perceptuelle {signal_name} diffère de celle de l'image "
        "enregistrée de {distance} bits sur {bits} (confiance {percent} %) : c'est la même "
        "image, éventuellement recompressée, redimensionnée ou légèrement retouchée.",
    },
    "exact": {
        "en": "Its {signal_name} digest is identical to the registered image's: it is an "
        "exact copy.",
        "fr": "Son empreinte {signal_name} est identique à celle de l'image enregistrée : "
        "c'est une copie exacte.",
    },
    "video": {
        "en": "Its {signal_name} frame hashes line up in time with the registered video's: "
        "seconds {query_start:.1f} to {query_end:.1f} of this video show seconds "
        "{registered_start:.1f} to {registered_end:.1f} of the registered one, possibly "
        "re-encoded, resized, cropped or cut.",
        "fr": "Ses empreintes {signal_name} d'images s'alignent dans le temps sur celles de la "
        "vidéo enregistrée : les secondes {query_start:.1f} à {query_end:.1f} de cette vidéo "
        "montrent les secondes {registered_start:.1f} à {registered_end:.1f} de la vidéo "
        "enregistrée, éventuellement recompressée, redimensionnée, recadrée ou coupée.",
    },
    "features": {
        "en": "{inliers} local features of the registered image are found in it, in "
        "geometric agreement (confidence {percent}%): it contains the same picture, possibly "
        "cropped, rotated or framed in a screenshot.",
        "fr": "{inliers} caractéristiques locales de l'image enregistrée s'y retrouvent, en "
        "accord géométrique (confiance {percent} %) : elle contient la même image, "
        "éventuellement recadrée, pivotée ou insérée dans une capture d'écran.",
    },
}
_BOX: Final = {
    "en": "The registered image appears in the region x={x}, y={y}, {width}×{height} pixels.",
    "fr": "L'image enregistrée apparaît dans la zone x={x}, y={y}, {width}×{height} pixels.",
}
_EXPLANATION: Final = {
    "en": "The image at the URL below is an intimate image of an identifiable person, "
    "published without their consent. The person registered a fingerprint of this image "
    "with {notifier}; the image was then found at this URL. {how} Publishing intimate "
    "images without consent is an offence under the laws listed below, and illegal content "
    "within the meaning of the Digital Services Act.",
    "fr": "L'image située à l'URL ci-dessous est une image intime d'une personne "
    "identifiable, publiée sans son consentement. Cette personne a fait enregistrer une empreinte "
    "de cette image par {notifier} ; l'image a ensuite été trouvée à cette URL. {how} "
    "La diffusion d'images intimes sans consentement est une infraction aux lois citées "
    "ci-dessous, et un contenu illicite au sens du règlement sur les services numériques.",
}
_CONSENT: Final = {
    "en": "The depicted person has a good-faith belief that this intimate visual depiction "
    "is published without their consent; {notifier} is authorised to act on their behalf.",
    "fr": "La personne représentée estime de bonne foi que cette représentation intime est "
    "publiée sans son consentement ; {notifier} est habilitée à agir en son nom.",
}
_ACTS_FOR: Final = {
    "en": "the depicted person, an identifiable individual who stays anonymous",
    "fr": "la personne représentée, identifiable, qui reste anonyme",
}
_GOOD_FAITH: Final = {
    "en": "{notifier} declares in good faith that the information and allegations in this "
    "notice are accurate and complete.",
    "fr": "{notifier} déclare de bonne foi que les informations et allégations contenues dans "
    "cette notification sont exactes et complètes.",
}

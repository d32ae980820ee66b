"""The figure names in the users' languages: French by default (`language = fr`), or English.

One table for the wallboard, the day's report and the export headers, and the same names as
docs/kpis.md's "Figure names" table gives (a test reads that table and compares). Keys are the
JSON names `stats --json` uses wherever one exists.
"""

from __future__ import annotations

LANGUAGES = ("fr", "en")
DEFAULT = "fr"

# key: (English, French)
NAMES: dict[str, tuple[str, str]] = {
    "waiting": ("Calls waiting now", "Appels en attente"),
    "longest_wait_s": ("Longest wait now", "Attente la plus longue"),
    "offered": ("Offered", "Appels présentés"),
    "answered": ("Answered", "Appels répondus"),
    "abandoned": ("Abandoned", "Appels abandonnés"),
    "short_abandoned": ("Short abandons", "Abandons courts"),
    "unanswered": ("Unanswered", "Appels non répondus"),
    "abandon_rate": ("Abandon rate", "Taux d'abandon"),
    "asa_s": ("ASA (average speed of answer)", "Délai moyen de réponse (ASA)"),
    "tth_mean_s": ("Time to a human, mean", "Délai d'accès à un conseiller, moyenne"),
    "tth_p90_s": ("Time to a human, p90", "Délai d'accès à un conseiller, p90"),
    "service_level": ("Service level", "Niveau de service"),
    "premium_share": ("Premium share", "Part premium"),
    "commitments_broken": ("Broken commitments", "Engagements non tenus"),
    "commitments_kept": ("Kept commitments", "Engagements tenus"),
    "refunds_due": ("Refunds due", "Remboursements dus"),
    "lost": ("Lost calls", "Appels perdus"),
    "amount": ("Amount billed", "Montant facturé"),
    "billable_min": ("Billable minutes", "Minutes facturables"),
    "talk_min": ("Talk minutes", "Minutes de conversation"),
    "agent": ("Agent", "Conseiller"),
    "agent_answered": ("Calls answered", "Appels pris"),
    "agent_talk_min": ("Talk time", "Temps de conversation"),
    "ring_mean_s": ("Time to answer once rung", "Délai de décroché"),
    "premium_kept": ("Premium calls kept", "Appels premium tenus"),
}

# Words around the figures (page titles, headings, units): not KPI names.
WORDS: dict[str, tuple[str, str]] = {
    "wallboard": ("Hotline wallboard", "Tableau de bord de la hotline"),
    "queue": ("Queue", "File"),
    "today": ("today", "aujourd'hui"),
    "updated": ("updated", "mis à jour"),
    "stale": ("no fresh data: Redis unreachable", "données non actualisées : Redis injoignable"),
    "no_agent": ("no call answered yet today", "aucun appel pris aujourd'hui"),
    "no_queue": ("no call yet today", "aucun appel aujourd'hui"),
    "report_title": (
        "Daily proof of service and billing",
        "Justificatif quotidien du service et de la facturation",
    ),
    "number": ("Number", "Numéro"),
    "tariff": ("Tariff", "Tarif"),
    "premium": ("premium", "premium"),
    "free": ("free", "gratuit"),
    "calls": ("Calls", "Appels"),
    "criteria": ("Premium criteria as decided", "Critères premium à la décision"),
    "site": ("Site", "Site"),
    "ivr": ("Voice menu", "Serveur vocal"),
    "ready": ("Agents ready", "Conseillers disponibles"),
    "p_within": ("Predicted probability", "Probabilité prédite"),
    "reason": ("Reason", "Motif"),
    "arrived": ("Arrival", "Arrivée"),
    "outcome": ("Outcome", "Issue"),
    "broken_list": ("Broken commitments, one by one", "Engagements non tenus, un par un"),
    "totals": ("Totals", "Totaux"),
    "refunded": ("Refunded", "Remboursé"),
    "billed": ("Billed", "Facturé"),
    "commitment": ("Commitment", "Engagement"),
    "rate": ("Rate", "Tarif surtaxé"),
    "wait": ("Wait to a human or to hang-up", "Attente jusqu'au conseiller ou au raccroché"),
    "yes": ("yes", "oui"),
    "no": ("no", "non"),
    "none": ("none", "aucun"),
    "charts": ("Charts", "Graphiques"),
    "generated": ("Generated", "Produit le"),
    "source": (
        "Source: the per-call records in Redis (read only); calls counted by arrival day, ended calls.",
        "Source : les enregistrements par appel dans Redis (lecture seule) ; appels comptés "
        "par jour d'arrivée, appels terminés.",
    ),
}


# The report figure's words (ops/charts.py): str.format templates; `premium` and `free` from WORDS.
CHART_TEXT: dict[str, tuple[str, str]] = {
    "all": ("all", "tous"),
    "answered": ("{tariff}: {n} answered", "{tariff} : {n} répondus"),
    "commitment": ("commitment {s}s", "engagement {s} s"),
    "sl_threshold": ("SL threshold {s}s", "seuil du niveau de service {s} s"),
    "no_answered": ("no answered call in this window", "aucun appel répondu sur cette période"),
    "dist_title": (
        "Time to reach a person (share of answered calls per {width:g} s)",
        "Délai d'accès à un conseiller (part des appels répondus par tranche de {width:g} s)",
    ),
    "dist_x": (
        "seconds from arrival to the agent's answer (last bar: and beyond)",
        "secondes de l'arrivée au décroché du conseiller (dernière barre : et au-delà)",
    ),
    "within": ("{tariff}: ≈{share:.1%} within the commitment", "{tariff} : ≈{share:.1%} dans l'engagement"),
    "cum_title": ("Answered within t", "Répondus en moins de t"),
    "seconds": ("seconds", "secondes"),
    "offered_calls": ("offered calls", "appels présentés"),
    "offered_per_interval": ("offered calls per interval", "appels présentés par intervalle"),
    "tth_mean": ("time to human, mean, {tariff}", "délai d'accès à un conseiller, moyenne, {tariff}"),
    "asa_title": (
        "ASA (queue and ring) and mean time to a person, per {minutes} minutes of arrival",
        "ASA (file et sonnerie) et délai moyen d'accès à un conseiller, par {minutes} minutes d'arrivée",
    ),
    "sl": ("SL {tariff} (answered ≤ {s}s / answered)", "NS {tariff} (répondus ≤ {s} s / répondus)"),
    "sl2": (
        "SL2 all ((answered + abandoned) ≤ T / (answered + abandoned))",
        "NS2 tous ((répondus + abandonnés) ≤ T / (répondus + abandonnés))",
    ),
    "target": ("target {target:.0%}", "objectif {target:.0%}"),
    "sl_title": (
        "Service level per {minutes} minutes of arrival",
        "Niveau de service par {minutes} minutes d'arrivée",
    ),
    "arrival_x": ("arrival time ({tz})", "heure d'arrivée ({tz})"),
    "footer": (
        "{offered} offered · {answered} answered · {abandoned} abandoned · {unanswered} unanswered · "
        "{short_abandoned} short abandons (not offered) · {commitments_broken} commitments broken · "
        "{billable_min:.0f} billable min, {amount:.2f} billed.  Counted by arrival minute, calls that have "
        "ended; percentiles within ±{bound:.2%} (±{bound_ms} ms under 1 s).",
        "{offered} présentés · {answered} répondus · {abandoned} abandonnés · {unanswered} non répondus · "
        "{short_abandoned} abandons courts (non présentés) · {commitments_broken} engagements non tenus · "
        "{billable_min:.0f} min facturables, {amount:.2f} € facturés.  Comptés par minute d'arrivée, appels "
        "terminés ; centiles à ±{bound:.2%} près (±{bound_ms} ms sous 1 s).",
    ),
}


def language(text: str | None, default: str = DEFAULT) -> str:
    """A supported language code from `fr`, `en`, `fr-FR`, `en_GB`...; else `default`."""
    code = (text or "").strip().lower()[:2]
    return code if code in LANGUAGES else default


def name(key: str, lang: str) -> str:
    """The figure's name (or a word) in `lang`."""
    english, french = NAMES.get(key) or WORDS[key]
    return french if lang == "fr" else english


def table(lang: str) -> dict[str, str]:
    """Every figure name and word in `lang`, for a page's script."""
    return {key: name(key, lang) for key in (*NAMES, *WORDS)}

"""A small hand-made scenario for targeted core tests: every id and time is known, so each test
can name exactly the effect it expects."""

from __future__ import annotations

import copy
from typing import Any

from ghostexec import Simulation

START = "2026-03-10T08:00:00"  # a Tuesday

BASE: dict[str, Any] = {
    "id": "tiny",
    "title": "Tiny test office",
    "difficulty": "easy",
    "description": "A handful of people, one clash, one critical email.",
    "start": START,
    "minutes_per_step": 20,
    "step_budget": 12,
    "executive": {
        "name": "Dana Okafor",
        "title": "CEO",
        "organisation": "Halden",
        "base_stress": 20,
        "working_hours": {"start": "08:00", "end": "18:00"},
        "personal_commitments": [
            {"id": "p1", "title": "School pickup", "start": "2026-03-10T15:00:00", "end": "2026-03-10T15:40:00", "with_contacts": ["c5"], "importance": "high"}
        ],
    },
    "contacts": [
        {"id": "c1", "name": "Margaret Chen", "role": "Chair", "organisation": "Halden", "relationship": "board", "vip": True, "tone_preference": "formal"},
        {"id": "c2", "name": "Rafael Ortiz", "role": "CFO", "organisation": "Halden", "relationship": "executive", "capacity": 2, "reliability": 1.0},
        {"id": "c3", "name": "Tom Lind", "role": "VP Sales", "organisation": "Halden", "relationship": "direct_report", "preferred_channel": "slack", "tone_preference": "casual", "capacity": 1, "reliability": 0.0},
        {"id": "c4", "name": "Oliver Grant", "role": "Account Manager", "organisation": "Kestrel", "relationship": "vendor", "internal": False},
        {"id": "c5", "name": "Sam Okafor", "role": "Spouse", "organisation": "Family", "relationship": "family", "preferred_channel": "sms", "tone_preference": "casual"},
    ],
    "emails": [
        {
            "id": "e1",
            "sender": "c1",
            "subject": "Audit questions",
            "body": "Dana, please propose a time to go through the audit questions before Thursday.",
            "received_at": "2026-03-10T07:50:00",
            "priority": "critical",
            "expectations": [
                {"kind": "propose_time", "label": "proposes a time"},
                {"kind": "formal_tone", "label": "formal tone with the chair"},
            ],
        },
        {
            "id": "e2",
            "sender": "c4",
            "subject": "Renewal",
            "body": "Can you confirm the renewal terms?",
            "received_at": "2026-03-10T07:00:00",
            "priority": "high",
            "expectations": [
                {"kind": "confirm", "label": "confirms"},
                {"kind": "no_confidential", "label": "keeps the budget confidential", "terms": ["walk-away", "$310k"]},
            ],
        },
        {"id": "e3", "sender": "c2", "subject": "FYI", "body": "Newsletter of the week.", "received_at": "2026-03-09T18:00:00", "priority": "low"},
    ],
    "meetings": [
        {"id": "m1", "title": "Forecast review", "start": "2026-03-10T11:00:00", "end": "2026-03-10T11:30:00", "attendees": ["c2"], "importance": "high"},
        {"id": "m2", "title": "Vendor call", "start": "2026-03-10T11:15:00", "end": "2026-03-10T12:00:00", "attendees": ["c4", "c2"], "importance": "normal"},
        {"id": "m3", "title": "Board check-in", "start": "2026-03-10T13:00:00", "end": "2026-03-10T14:00:00", "attendees": ["c1"], "importance": "critical", "movable": False},
        {"id": "m4", "title": "Sales sync", "start": "2026-03-10T15:00:00", "end": "2026-03-10T15:30:00", "attendees": ["c3"], "importance": "normal"},
        {"id": "m5", "title": "Stand-up", "start": "2026-03-10T08:10:00", "end": "2026-03-10T08:30:00", "attendees": ["c2", "c3"], "importance": "normal"},
    ],
    "tasks": [
        {"id": "t1", "title": "Approve payroll", "deadline": "2026-03-10T12:00:00", "effort_minutes": 20, "priority": "critical", "requires_executive": True},
        {"id": "t2", "title": "Kestrel position", "deadline": "2026-03-10T11:00:00", "effort_minutes": 40, "priority": "normal", "delegable_to": ["c2"]},
        {"id": "t3", "title": "Deck after numbers", "deadline": "2026-03-10T17:00:00", "effort_minutes": 20, "priority": "high", "dependencies": ["t2"], "delegable_to": ["c2"]},
        {"id": "t4", "title": "Short task", "deadline": "2026-03-10T08:30:00", "effort_minutes": 20, "priority": "high"},
    ],
    "events": [],
    "grading": {
        "catastrophes": [
            {"kind": "meeting_cancelled", "target": "m3", "cap": 0.2, "label": "Cancelled the board check-in"},
            {"kind": "commitment_missed", "target": "p1", "cap": 0.3, "label": "Missed school pickup"},
            {"kind": "confidential_leak", "cap": 0.15, "label": "Leaked the budget"},
        ]
    },
}

GOOD_REPLY_E1 = "Dear Margaret, could we go through them on Thursday at 10:30? Kind regards, Dana"


def scenario(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def sim_for(data: dict[str, Any] | None = None, seed: int = 0) -> Simulation:
    sim = Simulation()
    sim.reset(scenario=data or scenario(), seed=seed)
    return sim


def mood(sim: Simulation, contact_id: str) -> str:
    return str(sim.world.contacts[contact_id].mood)


def comp(result, name: str) -> float:
    return next(c.value for c in result.breakdown.components if c.name == name)

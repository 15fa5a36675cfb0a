"""Flag acknowledgements and follow-up waivers through `persistence.repositories.physician_decisions`
on a real SQLite clinic: rows come back oldest first and only for the patients asked, a revoked
waiver is kept but is no longer in force, and the first acknowledgement of a flag is the one found."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from poems_monitor.persistence.repositories import patients as patients_repo
from poems_monitor.persistence.repositories import physician_decisions as decisions
from poems_monitor.persistence.repositories import visits as visits_repo
from poems_monitor.persistence.repositories.timelines import WriteStamp
from poems_monitor.services.patients import PatientInput, create_patient
from poems_monitor.services.visits import EnteredValue, VisitInput, record_visit
from tests.conftest import TODAY

FIRST = WriteStamp("dr-eva", datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc))
LATER = WriteStamp("dr-max", datetime(2026, 5, 2, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def clinic(db, nurse):
    anna = create_patient(db, nurse, PatientInput("H-2", "Anna Test", "female", date(1960, 5, 1)), today=TODAY)
    bert = create_patient(db, nurse, PatientInput("H-1", "Bert Test", "male", date(1950, 1, 1)), today=TODAY)
    return db, anna, bert


def test_the_first_acknowledgement_of_a_flag_is_found_and_each_patient_has_their_own(clinic):
    db, anna, bert = clinic
    with db.write() as session:
        first = decisions.add_flag_review(session, anna, flag_id="H-2:rise:vegf:2026-04-01", kind="rise", code="vegf",
                                          flag_date=date(2026, 4, 1), comment="seen", stamp=FIRST)
        decisions.add_flag_review(session, anna, flag_id="H-2:rise:vegf:2026-04-01", kind="rise", code="vegf",
                                  flag_date=date(2026, 4, 1), comment="again", stamp=LATER)
        decisions.add_flag_review(session, bert, flag_id="H-1:rise:mprotein:2026-04-01", kind="rise", code="mprotein",
                                  flag_date=date(2026, 4, 1), comment="", stamp=LATER)
    with db.read() as session:
        found = decisions.first_review_of_flag(session, anna, "H-2:rise:vegf:2026-04-01")
        assert decisions.first_review_of_flag(session, bert, "H-2:rise:vegf:2026-04-01") is None
        of_anna = decisions.flag_reviews_of_mrn(session, "h-2")
        of_bert = decisions.flag_reviews(session, [bert])
        every = decisions.flag_reviews(session)
    assert (found.id, found.reviewed_by, found.comment) == (first, "dr-eva", "seen")
    assert [(r.mrn, r.comment) for r in of_anna] == [("H-2", "seen"), ("H-2", "again")]  # stored MRN, oldest first
    assert [r.code for r in of_bert] == ["mprotein"] and len(every) == 3


def test_a_revoked_waiver_is_kept_but_no_longer_in_force(clinic):
    db, anna, bert = clinic
    with db.write() as session:
        echo = decisions.add_waiver(session, anna, item="echo", reason="declines", until=None, stamp=FIRST)
        decisions.add_waiver(session, bert, item="vegf", reason="lab closed", until=date(2026, 12, 31), stamp=FIRST)
    with db.read() as session:
        assert decisions.waiver_in_force(session, anna, "echo").id == echo
        assert decisions.waiver_in_force(session, anna, "vegf") is None
    with db.write() as session:
        decisions.mark_revoked(session, echo, LATER)
    with db.read() as session:
        assert decisions.waiver_in_force(session, anna, "echo") is None
        revoked = decisions.find_waiver(session, echo)
        assert decisions.find_waiver(session, echo + 100) is None
        in_force = decisions.waivers_with_mrn(session)
        all_of_anna = decisions.waivers_with_mrn(session, patient_id=anna, include_revoked=True)
        not_revoked = decisions.waivers_not_revoked(session)
        of_anna = decisions.waivers_not_revoked(session, [anna])
    assert (revoked.revoked_by, revoked.reason) == ("dr-max", "declines")
    assert [(w.mrn, w.item) for w in in_force] == [("H-1", "vegf")]
    assert [(w.mrn, w.item, w.revoked_by) for w in all_of_anna] == [("H-2", "echo", "dr-max")]
    assert [w.item for w in not_revoked] == ["vegf"] and of_anna == []


def test_the_patient_with_the_most_chart_values_and_the_mrn_order(clinic, nurse):
    db, *_ = clinic
    with db.read() as session:
        assert visits_repo.mrn_with_most_values(session, ["platelets", "vegf"]) is None
    record_visit(db, nurse, "H-1", VisitInput(date(2026, 1, 5), values=(EnteredValue("platelets", 300, "10*9/L"),)),
                 today=TODAY)
    record_visit(db, nurse, "H-2", VisitInput(date(2026, 1, 5), values=(
        EnteredValue("platelets", 300, "10*9/L"), EnteredValue("hemoglobin", 120, "g/L"))), today=TODAY)
    with db.read() as session:
        assert visits_repo.mrn_with_most_values(session, ["platelets", "hemoglobin"]) == "H-2"
        assert visits_repo.mrn_with_most_values(session, ["platelets"]) == "H-1"  # a tie: the first MRN
        assert patients_repo.mrns_in_order(session) == ["H-1", "H-2"]
        assert patients_repo.patient_count(session) == 2

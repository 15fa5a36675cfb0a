"""`services.changes.Changes`: what a write changed, merged, asked, and carried to another
workstation as a NOTIFY-sized text."""

from __future__ import annotations

import pickle

from poems_monitor.services.changes import MAX_NAMED_PATIENTS, Changes, NumberWithChanges


def test_empty_changes_are_false_and_name_no_patient():
    assert not Changes()
    assert not Changes().patient_changed("H-1")
    assert not Changes().rules_inputs


def test_merge_unites_patients_and_kinds():
    merged = Changes.of_patient("H-1", visit_reviews=True) | Changes.of_patient("H-2") | Changes(protocol=True)
    assert merged.patients == {"H-1", "H-2"}
    assert merged.visit_reviews and merged.protocol and not merged.accounts and not merged.all_patients
    assert merged == Changes.of_patient("H-2").merge(Changes.of_patient("H-1", visit_reviews=True, protocol=True))


def test_patient_changed_compares_mrns_as_the_record_does():
    changes = Changes.of_patient("H-000123")
    assert changes.patient_changed("h-000123")
    assert not changes.patient_changed("H-000124")
    assert not changes.patient_changed(None)


def test_everything_concerns_every_patient_and_kind():
    every = Changes.everything()
    assert every.patient_changed("ANY-1") and every.any_patient and every.rules_inputs
    assert every.patient_list and every.visit_reviews and every.protocol and every.accounts


def test_payload_round_trip_and_its_size_limit():
    changes = Changes.of_patients(["H-1", "H-2"], visit_reviews=True)
    assert Changes.from_payload(changes.to_payload()) == changes
    many = Changes.of_patients(f"H-{i:06d}" for i in range(MAX_NAMED_PATIENTS + 1))
    text = many.to_payload()
    assert len(text.encode()) < 8000  # a PostgreSQL NOTIFY payload's limit
    assert Changes.from_payload(text) == Changes(all_patients=True)


def test_an_unreadable_payload_means_everything():
    for text in ("", "not json", "[1]", '{"patients": "H-1"}', '{"unknown_kind": true}', '{"patients": [1]}'):
        assert Changes.from_payload(text) == Changes.everything(), text


def test_a_number_with_changes_is_still_the_number():
    number = NumberWithChanges(7, Changes.of_patient("H-1"))
    assert number == 7 and isinstance(number, int) and number + 1 == 8 and f"{number}" == "7"
    assert number.changes.patients == {"H-1"}
    copied = pickle.loads(pickle.dumps(number))  # e.g. returned from a worker process
    assert copied == 7 and copied.changes == number.changes

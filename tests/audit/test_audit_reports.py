"""Audit reports: by patient, by user, by period, sorted by every sortable field, and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest

from careloop import clock
from careloop.audit import queries
from careloop.audit import service as audit
from careloop.auth import service as auth_service
from factories import StaffRole, actor_of, auth, make_org, make_patient, make_staff, make_token


@pytest.fixture
def history(session):
    """Yesterday's activity, an hour apart: two clinicians and three patients, a denial, a system client's read.

    Reports are asked `to` the end of it, so the events of today (registering the patients, the reports
    themselves) stay out.
    """
    org = make_org(session)
    ann = make_staff(session, org, email=f"ann-{org.id.hex[:6]}@careloop-test.org")
    bob = make_staff(session, org, StaffRole.RN_CARE_MANAGER, email=f"bob-{org.id.hex[:6]}@careloop-test.org")
    patients = [make_patient(session, org, ann) for _ in range(3)]
    supervisor = make_staff(session, org, StaffRole.SUPERVISOR)
    start = clock.now().replace(microsecond=0) - dt.timedelta(days=1)
    plan = [(ann, patients[0], "read"), (bob, patients[1], "read"), (ann, patients[2], "update"),
            (bob, patients[0], "read"), (ann, patients[1], "search"), (bob, None, "access_denied")]
    for hour, (who, patient, action) in enumerate(plan):
        with clock.frozen_at(start + dt.timedelta(hours=hour)):
            audit.record(session, actor_of(who), action, patient_id=patient.id if patient else None,
                         record_type={"update": "Condition", "access_denied": None}.get(action, "Patient"),
                         outcome="denied" if action == "access_denied" else "success")
    _, registered = auth_service.register_client(session, org.id, f'=HYPERLINK("http://x")-{org.id.hex[:6]}',
                                                 "patient:read")
    with clock.frozen_at(start + dt.timedelta(hours=len(plan))):
        client_actor = auth_service.resolve_token(session, auth_service.create_token(
            session, organization_id=org.id, scopes="patient:read", ttl=dt.timedelta(hours=1),
            client_name=registered.name)[0], "192.0.2.44")
        audit.record(session, client_actor, "read", patient_id=patients[2].id, record_type="Patient")
    other = make_org(session)
    audit.record(session, actor_of(make_staff(session, other)), "read", patient_id=patients[0].id)  # never shown
    token = make_token(session, supervisor)
    session.commit()
    return {"org": org, "ann": ann, "bob": bob, "patients": patients, "token": token, "start": start,
            "cutoff": start + dt.timedelta(hours=len(plan) + 1), "client": registered}


def _report(client, h, **params):
    response = client.get("/api/v1/audit", params={"to": h["cutoff"].isoformat(), "limit": 1000, **params},
                          headers=auth(h["token"]))
    assert response.status_code == 200, response.text
    return response.json()


def test_report_by_patient_answers_who_looked_at_my_record(client, history):
    p0 = history["patients"][0]
    rows = _report(client, history, patient_id=str(p0.id), sort="occurred_at")
    assert [(r["actor_label"], r["action"]) for r in rows] == [(history["ann"].email, "read"),
                                                               (history["bob"].email, "read")]
    assert all(r["patient_id"] == str(p0.id) for r in rows)


def test_report_by_user(client, history):
    rows = _report(client, history, actor_id=str(history["bob"].id), sort="occurred_at")
    assert [r["action"] for r in rows] == ["read", "read", "access_denied"]
    assert {r["actor_role"] for r in rows} == {"rn_care_manager"}


def test_report_by_time_range_is_half_open(client, history):
    start = history["start"]
    rows = _report(client, history, **{"from": (start + dt.timedelta(hours=1)).isoformat(),
                                       "to": (start + dt.timedelta(hours=3)).isoformat()}, sort="occurred_at")
    assert [(r["actor_label"], r["action"]) for r in rows] == [(history["bob"].email, "read"),
                                                               (history["ann"].email, "update")]
    # A time without an offset is read as UTC (it used to be a 500).
    naive = _report(client, history, **{"from": (start + dt.timedelta(hours=1)).replace(tzinfo=None).isoformat(),
                                        "to": (start + dt.timedelta(hours=3)).replace(tzinfo=None).isoformat()})
    assert {r["id"] for r in naive} == {r["id"] for r in rows}


def test_report_shows_only_the_organisations_events(client, history):
    rows = _report(client, history)
    assert rows and {r["actor_label"] for r in rows} <= {history["ann"].email, history["bob"].email,
                                                         "careloop-system", history["client"].name}


def _key(field: str, value):
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if field == "occurred_at" else value


def test_report_sorts_by_every_sortable_field(client, history):
    for field in queries.SORTABLE:
        for descending in (False, True):
            rows = _report(client, history, sort=("-" if descending else "") + field)
            values = [_key(field, r[field]) for r in rows]
            present = [v for v in values if v is not None]
            assert values == present + [None] * (len(values) - len(present)), f"{field}: empty values come last"
            assert present == sorted(present, reverse=descending), field
            for earlier, later in itertools.pairwise(rows):  # ties in id order: a stable report
                if earlier[field] == later[field]:
                    assert earlier["id"] < later["id"], field
            assert len(set(present)) > 1 or field == "source_address", f"the data cannot show an order of {field}"


@pytest.mark.parametrize("sort", ["detail", "1,extractvalue(0x0a,version())--", "-hash", "id; DROP TABLE x"])
def test_unknown_sort_fields_are_refused(client, history, sort):
    response = client.get("/api/v1/audit", params={"sort": sort}, headers=auth(history["token"]))
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "select" not in response.text.lower() and "audit_event" not in response.text


def test_csv_export_matches_the_json_report_and_defuses_formulas(client, history):
    params = {"to": history["cutoff"].isoformat(), "sort": "actor_label"}
    rows = _report(client, history, **params)
    response = client.get("/api/v1/audit/export.csv", params=params, headers=auth(history["token"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    exported = list(csv.DictReader(io.StringIO(response.text)))
    assert list(exported[0]) == list(queries.CSV_COLUMNS)
    assert [int(r["id"]) for r in exported] == [r["id"] for r in rows]
    for json_row, csv_row in zip(rows, exported, strict=True):
        for column in queries.CSV_COLUMNS:
            expected, got = json_row[column], csv_row[column]
            if column == "occurred_at":
                assert dt.datetime.fromisoformat(got) == dt.datetime.fromisoformat(expected.replace("Z", "+00:00"))
            elif expected is None:
                assert got == ""
            elif str(expected)[0] in "=+-@":
                assert got == "'" + str(expected)
            else:
                assert got == str(expected)
    hostile = [r for r in exported if r["client_name"]]
    assert hostile and all(r["client_name"].startswith("'=HYPERLINK") for r in hostile)
    assert all(r["actor_label"].startswith("'=") for r in hostile)


@pytest.mark.parametrize("value, cell", [("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2", "'-2"),
                                         ("@cmd", "'@cmd"), ("\tx", "'\tx"), ("plain", "plain"), ("", ""),
                                         (None, "")])
def test_csv_cells_never_start_a_formula(value, cell):
    assert queries._cell(value) == cell

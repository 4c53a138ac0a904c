"""The FHIR API driven by real clients over HTTP: fhirpy and fhirclient (SMART on FHIR) against CareLoop served
by uvicorn (a SQLite file database of its own: the clients need a real server, not the test transaction).
Every resource they get back validates against the R4B models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as smart_client
from fhirclient.models.observation import Observation as SmartObservation
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient

from careloop import clock
from careloop.clinical.models import Observation, ObservationCategory
from careloop.db import make_engine, make_session_factory, session_scope
from careloop.migrate import upgrade
from factories import make_org, make_patient, make_staff, make_token
from live_server import serve


@dataclass(frozen=True)
class Server:
    base: str
    token: str
    patient_id: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fhir') / 'fhir.db'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        org = make_org(session)
        coordinator = make_staff(session, org)
        patient = make_patient(session, org, coordinator, family_name="Lindqvist", given_name="Maja")
        now = clock.now()
        session.add_all([Observation(organization_id=org.id, patient_id=patient.id,
                                     category=ObservationCategory.VITAL_SIGNS, code="8480-6",
                                     display="Systolic blood pressure", value_quantity=120 + n, unit="mm[Hg]",
                                     effective_at=now - dt.timedelta(days=n)) for n in range(7)])
        token, patient_id = make_token(session, coordinator), str(patient.id)
    with serve(factory) as url:
        yield Server(f"{url}/fhir", token, patient_id)
    engine.dispose()


def _valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def test_fhirpy_reads_and_pages_through_a_search(server):
    client = SyncFHIRClient(server.base, authorization=f"Bearer {server.token}")
    patient = client.reference("Patient", server.patient_id).to_resource()
    assert _valid(patient.serialize())["name"][0]["family"] == "Lindqvist"
    search = client.resources("Observation").search(patient=server.patient_id, code="http://loinc.org|8480-6")
    everything = search.limit(3).fetch_all()  # follows the sealed next links
    assert len(everything) == 7
    for resource in everything:
        _valid(resource.serialize())
    assert search.count() == 7  # _summary=count


def test_fhirclient_reads_and_searches(server):
    smart = smart_client.FHIRClient(settings={"app_id": "careloop-test", "api_base": server.base})
    smart.server.session.headers["Authorization"] = f"Bearer {server.token}"
    patient = SmartPatient.read(server.patient_id, smart.server)
    assert patient.name[0].given == ["Maja"]
    _valid(patient.as_json())
    found = SmartObservation.where(struct={"patient": server.patient_id}).perform_resources(smart.server)
    assert len(found) == 7 and all(_valid(o.as_json())["status"] == "final" for o in found)

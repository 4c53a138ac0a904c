from factories import auth, make_org, make_patient, make_staff, make_token


def test_read_patient_through_api(session, client):
    org = make_org(session)
    coordinator = make_staff(session, org)
    patient = make_patient(session, org, coordinator, given_name="Zoë", family_name="Müller")
    token = make_token(session, coordinator)
    session.commit()
    response = client.get(f"/api/v1/patients/{patient.id}", headers=auth(token))
    assert response.status_code == 200, response.text
    assert response.json()["given_name"] == "Zoë"
    assert response.headers["etag"] == 'W/"1"'

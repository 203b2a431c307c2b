"""The daphne fixture serves the ASGI app and shares the test database."""

import httpx
import pytest


@pytest.mark.django_db(transaction=True)
def test_daphne_serves_health_and_sees_rows_the_test_writes(daphne_server, django_user_model):
    assert httpx.get(f"{daphne_server.url}/health").json() == {"status": "ok"}
    django_user_model.objects.create_superuser("boss", "b@example.com", "correct horse battery")
    with httpx.Client(base_url=daphne_server.url, follow_redirects=False) as http:
        page = http.get("/admin/login/")
        assert page.status_code == 200
        token = http.cookies["csrftoken"]
        response = http.post(
            "/admin/login/?next=/admin/",
            data={
                "username": "boss",
                "password": "correct horse battery",
                "csrfmiddlewaretoken": token,
                "next": "/admin/",
            },
            headers={"Referer": f"{daphne_server.url}/admin/login/"},
        )
        assert response.status_code == 302 and response.headers["location"] == "/admin/"
        assert "Site administration" in http.get("/admin/").text

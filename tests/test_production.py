"""Production settings: PostgreSQL, the Redis channel layer, and a deploy-clean configuration."""

import os
import subprocess
import sys

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.production
@pytest.mark.production_only
def test_production_mode_uses_postgresql_and_redis():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert settings.CELERY_BROKER_URL.startswith("redis://") and not settings.CELERY_TASK_ALWAYS_EAGER


@pytest.mark.production
@pytest.mark.production_only
def test_redis_channel_layer_delivers_a_message():
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    async def round_trip():
        name = await layer.new_channel()
        await layer.send(name, {"type": "call.update", "status": "in_progress"})
        return await layer.receive(name)

    assert async_to_sync(round_trip)() == {"type": "call.update", "status": "in_progress"}


@pytest.mark.production
@pytest.mark.production_only
@pytest.mark.django_db(transaction=True)
def test_daphne_on_postgresql_sees_the_test_database(daphne_server, django_user_model):
    django_user_model.objects.create_user("someone", password="x" * 12)
    assert httpx.get(f"{daphne_server.url}/health").json() == {"status": "ok"}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "x9!" + "k" * 60 + "Zq#2",
        "ALLOWED_HOSTS": "cc.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_COOKIES": "1",
        "REQUIRE_SECRET_KEY": "1",
        "DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_in_production_says_what_to_do(tmp_path):
    env = {**os.environ, "DEBUG": "0", "REQUIRE_SECRET_KEY": "1", "SECRET_KEY": "", "DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr

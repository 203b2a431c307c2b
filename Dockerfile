FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends flite && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contactcenter contactcenter
COPY agents agents
COPY calls calls
COPY engine engine
COPY telephony telephony
COPY campaigns campaigns
COPY emulators emulators
COPY templates templates
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --system --home /app cc && mkdir -p /data && chown cc /data
ENV DATA_DIR=/data PYTHONUNBUFFERED=1 LOG_FORMAT=json REQUIRE_SECRET_KEY=1
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput
USER cc
EXPOSE 8000
CMD ["python", "-m", "contactcenter.serve", "-b", "0.0.0.0", "-p", "8000", "contactcenter.asgi:application"]

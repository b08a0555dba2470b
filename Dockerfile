FROM python:3.11-slim
# gunicorn binds loopback unless told: inside the container it listens on all interfaces (compose publishes the
# port on the host's loopback only)
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HAIC_CACHE_DIR=/var/cache/haic HAIC_BIND=0.0.0.0:8050
RUN apt-get update && apt-get install -y --no-install-recommends chromium && rm -rf /var/lib/apt/lists/*
ENV BROWSER_PATH=/usr/bin/chromium
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app haic && mkdir -p /var/cache/haic && chown haic /var/cache/haic
USER haic
EXPOSE 8050
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:server"]

# responses-gateway as a small, non-root container.
#   docker build -t responses-gateway .
#   docker run -p 8000:8000 -e RESPONSES_GATEWAY_BASE_URL=https://api.deepseek.com/v1 \
#     -e RESPONSES_GATEWAY_UPSTREAM_API_KEY -e RESPONSES_GATEWAY_API_KEYS=your-client-key \
#     responses-gateway
# docs/deployment.md has the details (compose file, systemd unit, several replicas).

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Wheels for the package and every dependency, so the final stage needs no compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[redis,postgres]"

FROM python:3.12-slim
# A fixed, unprivileged user; the data directory (SQLite store, reasoning key) is its home.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/responses-gateway \
        --create-home --shell /usr/sbin/nologin gateway \
    && chmod 0700 /var/lib/responses-gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "responses-gateway[redis,postgres]" \
    && rm -rf /wheels
USER gateway:gateway
WORKDIR /var/lib/responses-gateway
ENV PYTHONUNBUFFERED=1 \
    RESPONSES_GATEWAY_HOST=0.0.0.0 \
    RESPONSES_GATEWAY_PORT=8000 \
    RESPONSES_GATEWAY_DATA_DIR=/var/lib/responses-gateway
EXPOSE 8000
VOLUME ["/var/lib/responses-gateway"]
# /health answers 200 while the gateway and its store work (no key needed).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"]
# SIGTERM lets streams finish, then stops (see docs/deployment.md).
STOPSIGNAL SIGTERM
ENTRYPOINT ["responses-gateway"]
